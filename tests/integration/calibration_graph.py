"""Calibration workloads with known truth: tools that burn a set amount of thread CPU or wait."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition


def burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


@tool
def burn_cpu(ms: int) -> str:
    """Burn `ms` milliseconds of CPU (in a worker thread)."""
    burn(ms / 1000)
    return f"burnt {ms} ms"


@tool
def wait_io(ms: int) -> str:
    """Block for `ms` milliseconds, like I/O."""
    time.sleep(ms / 1000)
    return f"waited {ms} ms"


@tool
async def burn_cpu_async(ms: int) -> str:
    """Burn `ms` milliseconds of CPU on the event loop."""
    burn(ms / 1000)
    return f"burnt {ms} ms"


@tool
async def wait_io_async(ms: int) -> str:
    """Await `ms` milliseconds, like async I/O."""
    await asyncio.sleep(ms / 1000)
    return f"waited {ms} ms"


def _react(model: Any, tools: list[Any], use_async: bool) -> Any:
    bound = model.bind_tools(tools)
    graph = StateGraph(MessagesState)
    if use_async:

        async def call(state: MessagesState) -> dict[str, Any]:
            return {"messages": [await bound.ainvoke([SystemMessage("calibrate"), *state["messages"]])]}

        graph.add_node("model", call)
    else:

        def call_sync(state: MessagesState) -> dict[str, Any]:
            return {"messages": [bound.invoke([SystemMessage("calibrate"), *state["messages"]])]}

        graph.add_node("model", call_sync)
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph.compile(name="calibration")


def build_async(model: Any) -> Any:
    """Async nodes and async tools: every wait and burn is a task step on the loop."""
    return _react(model, [burn_cpu_async, wait_io_async], use_async=True)


def build_sync(model: Any) -> Any:
    """Sync nodes and sync tools (run with --mode sync: threads calling graph.invoke)."""
    return _react(model, [burn_cpu, wait_io], use_async=False)


class _FakeModel(FakeMessagesListChatModel):
    def bind_tools(self, tools: Any, **kwargs: Any) -> _FakeModel:
        return self

    def _reply(self, messages: list[Any]) -> AIMessage:
        turn = sum(isinstance(m, AIMessage) for m in messages)
        if turn < 3:
            return AIMessage("", tool_calls=[{"name": "wait_io_async", "args": {"ms": 0}, "id": f"c{turn}"}])
        return AIMessage("done")

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    async def _agenerate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        return self._generate(messages)


def build_local_fake(model: Any) -> Any:
    """Ignores the HTTP model: a local fake answers instantly, so there is nothing to wait for."""
    return _react(_FakeModel(responses=[AIMessage("unused")]), [wait_io_async], use_async=True)
