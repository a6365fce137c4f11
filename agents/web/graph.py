"""`web`: research agent over a loopback documentation site (search, fetch + HTML parsing, LexRank)."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from agents.react import react_graph
from agents.web.tools import Site, make_tools

SYSTEM_PROMPT = (
    "You are a web research agent. Search the documentation site, fetch the most relevant pages, "
    "summarise the key page, then write a short report citing the URLs you used."
)


def build(model: BaseChatModel) -> Any:
    return react_graph(model, make_tools(Site()), SYSTEM_PROMPT, name="web")
