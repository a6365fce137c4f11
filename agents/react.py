"""The tool-calling loop the sample agents share: model node <-> tool node, as a LangGraph graph."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import SystemMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import BaseTool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition


def dual(sync: Callable[[Any], Any], async_: Callable[[Any], Awaitable[Any]]) -> RunnableLambda[Any, Any]:
    """A node that runs under `graph.invoke` (`--mode sync`) and `graph.ainvoke` alike."""
    return RunnableLambda(sync, afunc=async_, name=async_.__name__)


def model_node(bound: Runnable[Any, Any], system_prompt: str) -> RunnableLambda[Any, Any]:
    """The model step: the system prompt, then the conversation so far."""

    def call_model(state: Any) -> dict[str, Any]:
        return {"messages": [bound.invoke([SystemMessage(system_prompt), *state["messages"]])]}

    async def acall_model(state: Any) -> dict[str, Any]:
        return {"messages": [await bound.ainvoke([SystemMessage(system_prompt), *state["messages"]])]}

    return dual(call_model, acall_model)


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
    graph = StateGraph(state_schema)
    graph.add_node("model", model_node(bound, system_prompt))
    graph.add_node("tools", ToolNode(list(tools)))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph.compile(name=name)
