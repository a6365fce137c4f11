"""The tool-calling loop the sample agents share: model node <-> tool node, as a LangGraph graph."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import SystemMessage
from langchain_core.tools import BaseTool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition


def react_graph(
    model: BaseChatModel,
    tools: Sequence[BaseTool],
    system_prompt: str,
    *,
    state_schema: type[Any] = MessagesState,
    name: str = "agent",
) -> Any:
    """START -> model -> (tool calls? tools -> model : END); the model sees a system prompt first."""
    bound = model.bind_tools(list(tools))

    async def call_model(state: Any) -> dict[str, Any]:
        reply = await bound.ainvoke([SystemMessage(system_prompt), *state["messages"]])
        return {"messages": [reply]}

    graph = StateGraph(state_schema)
    graph.add_node("model", call_model)
    graph.add_node("tools", ToolNode(list(tools)))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph.compile(name=name)
