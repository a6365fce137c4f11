"""Exact text search with numpy: BM25 over an inverted index, and dense hashed TF-IDF cosine."""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np

_TOKEN = re.compile(r"[a-z0-9_]+")
STOPWORDS = frozenset(
    """
    a an and are as at be but by for from has have if in into is it its of on or that the this to
    was were will with not no can which when what how do does than then there these those their they you your we
    """.split()
)
DENSE_DIM = 2048


def tokenize(text: str) -> list[str]:
    return [t for t in _TOKEN.findall(text.lower()) if len(t) > 1 and t not in STOPWORDS]


def _bucket(term: str) -> int:
    return zlib.crc32(term.encode()) % DENSE_DIM


class TextIndex:
    """BM25 (k1=1.5, b=0.75) and L2-normalised hashed TF-IDF vectors over the same documents."""

    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        token_lists = [tokenize(t) for t in texts]
        self.size = len(token_lists)
        self.doc_len = np.array([len(t) for t in token_lists], dtype=np.float32)
        self.avg_len = float(self.doc_len.mean()) if self.size else 0.0
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for doc_id, tokens in enumerate(token_lists):
            for term, tf in Counter(tokens).items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(doc_id)
                tfs.append(tf)
        self.postings = {
            t: (np.array(i, dtype=np.int32), np.array(f, dtype=np.float32)) for t, (i, f) in postings.items()
        }
        df = {t: len(ids) for t, (ids, _) in postings.items()}
        self.idf = {t: float(np.log(1 + (self.size - n + 0.5) / (n + 0.5))) for t, n in df.items()}
        self.vectors = np.zeros((self.size, DENSE_DIM), dtype=np.float32)
        for doc_id, tokens in enumerate(token_lists):
            self.vectors[doc_id] = self._embed(tokens)

    def _embed(self, tokens: list[str]) -> np.ndarray:
        vec = np.zeros(DENSE_DIM, dtype=np.float32)
        for term, tf in Counter(tokens).items():
            vec[_bucket(term)] += (1 + np.log(tf)) * self.idf.get(term, 1.0)
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def bm25(self, query: str, k: int = 5) -> list[tuple[int, float]]:
        scores = np.zeros(self.size, dtype=np.float32)
        for term in set(tokenize(query)):
            if term not in self.postings:
                continue
            ids, tf = self.postings[term]
            norm = self.k1 * (1 - self.b + self.b * self.doc_len[ids] / self.avg_len)
            scores[ids] += self.idf[term] * tf * (self.k1 + 1) / (tf + norm)
        return _top(scores, k)

    def dense(self, query: str, k: int = 5) -> list[tuple[int, float]]:
        return _top(self.vectors @ self._embed(tokenize(query)), k)


def _top(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    k = min(k, len(scores))
    if k <= 0:
        return []
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [(int(i), float(scores[i])) for i in best if scores[i] > 0]


def split_sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|\n\s*\n", text)
    return [p.strip().replace("\n", " ") for p in parts if len(p.strip()) > 20]


def lexrank(sentences: Sequence[str], n: int, threshold: float = 0.1, iterations: int = 50) -> list[int]:
    """Indices of the `n` most central sentences (LexRank with a similarity threshold), in text order."""
    if not sentences:
        return []
    index = TextIndex(sentences)
    sim = index.vectors @ index.vectors.T
    adjacency = (sim > threshold).astype(np.float32)
    degree = adjacency.sum(axis=1, keepdims=True)
    degree[degree == 0] = 1
    transition = adjacency / degree
    size = len(sentences)
    rank = np.full(size, 1.0 / size, dtype=np.float32)
    damping = 0.85
    for _ in range(iterations):
        new = (1 - damping) / size + damping * transition.T @ rank
        if float(np.abs(new - rank).sum()) < 1e-6:
            rank = new
            break
        rank = new
    best = np.argsort(-rank, kind="stable")[:n]
    return sorted(int(i) for i in best)
