"""`rag`: retrieval-augmented QA over the standard library docs (BM25 + dense search, read, assemble)."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from agents.rag.tools import library, make_tools
from agents.react import react_graph

SYSTEM_PROMPT = (
    "You answer questions about the Python standard library. Search the documentation with both "
    "search tools, read the most relevant entries, assemble the supporting sentences, then answer "
    "with citations to document ids."
)


def build(model: BaseChatModel) -> Any:
    return react_graph(model, make_tools(library()), SYSTEM_PROMPT, name="rag")
