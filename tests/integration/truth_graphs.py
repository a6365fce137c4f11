"""Graphs written by others, in the shapes they publish, with work of known cost.

- `fanout`: LangGraph's own `fanout_to_subgraph` benchmark (libs/langgraph/bench): a `Send` per
  subject to a compiled subgraph that loops edit -> generate -> bump until the joke has ten " a".
- `react_fake` / `react_fake_async`: LangGraph's `react_agent` benchmark: the prebuilt ReAct
  agent with an in-process fake chat model making ten tool calls of a trivial tool, then answering.
- `agent_with_middleware`: langchain v1 `create_agent` with a node-style `before_model`
  middleware, a sync CPU-bound tool (run in a worker thread) and an async I/O tool.

Each `--graph` factory receives orchestrace's chat model; the in-process ones ignore it.
"""

from __future__ import annotations

import asyncio
import operator
import time
from typing import Annotated, Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import StructuredTool, tool
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from typing_extensions import TypedDict

TOOL_CALLS = 10  # as in LangGraph's react_agent benchmark
CPU_TOOL_MS = 40
IO_TOOL_MS = 100


# ---- fanout_to_subgraph ----------------------------------------------------------------------


class OverallState(TypedDict):
    subjects: list[str]
    jokes: Annotated[list[str], operator.add]


class JokeInput(TypedDict):
    subject: str


class JokeOutput(TypedDict):
    jokes: list[str]


class JokeState(JokeInput, JokeOutput): ...


def fanout(model: Any) -> Any:
    async def continue_to_jokes(state: OverallState) -> list[Send]:
        return [Send("generate_joke", {"subject": subject}) for subject in state["subjects"]]

    async def edit(state: JokeInput) -> dict[str, Any]:
        return {"subject": f"{state['subject']} - hohoho"}

    async def generate(state: JokeInput) -> dict[str, Any]:
        return {"jokes": [f"Joke about {state['subject']}"]}

    async def bump(state: JokeOutput) -> dict[str, Any]:
        return {"jokes": [state["jokes"][0] + " a"]}

    async def bump_loop(state: JokeOutput) -> str:
        return END if state["jokes"][0].endswith(" a" * 10) else "bump"

    subgraph = StateGraph(JokeState, input_schema=JokeInput, output_schema=JokeOutput)
    subgraph.add_node("edit", edit)
    subgraph.add_node("generate", generate)
    subgraph.add_node("bump", bump)
    subgraph.set_entry_point("edit")
    subgraph.add_edge("edit", "generate")
    subgraph.add_edge("generate", "bump")
    subgraph.add_conditional_edges("bump", bump_loop)
    subgraph.set_finish_point("generate")
    builder = StateGraph(OverallState)
    builder.add_node("generate_joke", subgraph.compile())
    builder.add_conditional_edges(START, continue_to_jokes)
    builder.add_edge("generate_joke", END)
    return builder.compile(name="fanout")


# ---- react_agent ---------------------------------------------------------------------------


class FakeFunctionChatModel(FakeMessagesListChatModel):
    """The benchmark's fake model, replying by turn (the benchmark's shared counter would mix up
    concurrent agent runs): a tool call per turn, then the answer."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> FakeFunctionChatModel:
        return self

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        turn = sum(isinstance(m, AIMessage) for m in messages)
        return self.responses[min(turn, len(self.responses) - 1)].model_copy()  # type: ignore[return-value]

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])


class AsyncFakeFunctionChatModel(FakeFunctionChatModel):
    async def _agenerate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        return self._generate(messages)


def _react(model_type: type[FakeFunctionChatModel]) -> Any:
    from langgraph.prebuilt import create_react_agent

    echo = StructuredTool.from_function(lambda query: f"result for query: {query}" * 10, name="echo", description="")
    responses = [
        AIMessage("", tool_calls=[{"id": f"call-{i}", "name": "echo", "args": {"query": f"q{i}" * 100}}])
        for i in range(TOOL_CALLS)
    ]
    model = model_type(responses=[*responses, AIMessage("answer" * 100)])
    return create_react_agent(model, [echo], name="react")


def react_fake(model: Any) -> Any:
    """The fake model is sync: under `ainvoke` LangChain runs it in a worker thread."""
    return _react(FakeFunctionChatModel)


def react_fake_async(model: Any) -> Any:
    return _react(AsyncFakeFunctionChatModel)


# ---- langchain v1 create_agent with middleware -----------------------------------------------


def spin(seconds: float) -> None:
    """Pure-Python work: holds the GIL, as most tool code does."""
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        x += 1


@tool
def crunch(n: int) -> str:
    """Crunch numbers (CPU-bound, sync: LangGraph runs it in a worker thread)."""
    spin(CPU_TOOL_MS / 1000)
    return f"crunched {n}"


@tool
async def fetch(url: str) -> str:
    """Fetch a page (I/O-bound, async)."""
    await asyncio.sleep(IO_TOOL_MS / 1000)
    return f"fetched {url}"


def agent_with_middleware(model: Any) -> Any:
    from langchain.agents import create_agent
    from langchain.agents.middleware import AgentState, before_model
    from langgraph.runtime import Runtime

    @before_model
    def trim_history(state: AgentState, runtime: Runtime) -> dict[str, Any] | None:
        """Node-style middleware: keeps the conversation short before every model call."""
        return None if len(state["messages"]) < 40 else {"messages": state["messages"][-40:]}

    return create_agent(model, [crunch, fetch], middleware=[trim_history], name="middleware-agent")


def agent_script() -> dict[str, Any]:
    """fetch, crunch, fetch, crunch, answer: each tool alone in its step, so all are on the path."""
    turns: list[dict[str, Any]] = []
    for i in range(2):
        turns.append({"tool_calls": [{"name": "fetch", "args": {"url": f"https://example.test/{i}"}}]})
        turns.append({"tool_calls": [{"name": "crunch", "args": {"n": i}}]})
    turns.append({"content": "done", "output_tokens": 5})
    for turn in turns[:-1]:
        turn["output_tokens"] = 10
    return {"turns": turns}
