"""Retrieval tools over the standard-library docstring corpus: BM25, dense TF-IDF, read, assemble."""

from __future__ import annotations

from functools import cache

import numpy as np
from langchain_core.tools import BaseTool, tool

from agents.corpus import Document, load_corpus
from agents.textindex import TextIndex, split_sentences, tokenize

MAX_DOC_CHARS = 4000


class Library:
    """The corpus plus its index, built once per process."""

    def __init__(self) -> None:
        self.docs = load_corpus()
        self.by_id = {d.id: d for d in self.docs}
        self.index = TextIndex([f"{d.id} {d.signature} {d.text}" for d in self.docs])

    def hits(self, ranked: list[tuple[int, float]]) -> str:
        lines = []
        for rank, (i, score) in enumerate(ranked, 1):
            doc = self.docs[i]
            first = doc.text.strip().splitlines()[0][:160]
            lines.append(f"{rank}. {doc.id} ({doc.kind}, score {score:.3f}): {first}")
        return "\n".join(lines) or "no matches"

    def read(self, doc_id: str) -> Document | None:
        return self.by_id.get(doc_id.strip())


@cache
def library() -> Library:
    return Library()


def make_tools(lib: Library) -> list[BaseTool]:
    @tool
    def search_bm25(query: str, k: int = 5) -> str:
        """Keyword search (BM25) over the Python standard library documentation. Returns ranked document ids."""
        return lib.hits(lib.index.bm25(query, max(1, min(k, 20))))

    @tool
    def search_dense(query: str, k: int = 5) -> str:
        """Similarity search (TF-IDF vectors, exact cosine) over the standard library documentation."""
        return lib.hits(lib.index.dense(query, max(1, min(k, 20))))

    @tool
    def read_document(doc_id: str) -> str:
        """Read one documentation entry by its id (for example 'json.dumps')."""
        doc = lib.read(doc_id)
        if doc is None:
            return f"no document with id {doc_id!r}"
        return f"{doc.id} [{doc.kind}] {doc.signature}\n\n{doc.text[:MAX_DOC_CHARS]}"

    @tool
    def assemble_answer(question: str, doc_ids: list[str]) -> str:
        """Extract the sentences from the given documents that best answer the question, with citations."""
        found = [d for d in (lib.read(i) for i in doc_ids) if d is not None]
        sentences = [(d.id, s) for d in found for s in split_sentences(d.text)]
        if not sentences:
            return "the documents contain no usable sentences"
        index = TextIndex([s for _, s in sentences] + [question])
        scores = index.vectors[:-1] @ index.vectors[-1]
        overlap = np.array([len(set(tokenize(s)) & set(tokenize(question))) for _, s in sentences])
        best = np.argsort(-(scores + 0.05 * overlap), kind="stable")[:5]
        return "\n".join(f"- {sentences[i][1]} [{sentences[i][0]}]" for i in sorted(best))

    return [search_bm25, search_dense, read_document, assemble_answer]
