"""A user-style graph module for `orchestrace run --graph` tests."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import SystemMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition


@tool
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def build(model: Any, tools: tuple[Any, ...] = (word_count, add)) -> Any:
    bound = model.bind_tools(list(tools))

    async def call(state: MessagesState) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke([SystemMessage("be brief"), *state["messages"]])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call)
    graph.add_node("tools", ToolNode(list(tools)))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph.compile(name="user-graph")


def build_plain(model: Any) -> Any:
    """The same graph on the user's own client: a plain ChatOpenAI(streaming=True), which asks for no
    token usage and (with recent openai releases) sends through httpx2, not httpx."""
    plain = ChatOpenAI(base_url=model.openai_api_base, api_key="unused", model=model.model_name, streaming=True)
    return build(plain)


def build_without_word_count(model: Any) -> Any:
    """The same graph after a change that dropped a tool: replays of older recordings must say so."""
    return build(model, (add,))


def not_a_graph(model: Any) -> int:
    return 42


def uncompiled(model: Any) -> StateGraph:
    return StateGraph(MessagesState)


def raises(model: Any) -> Any:
    raise RuntimeError("factory broke")
