"""`coder`: SWE-style agent that reads, searches and edits a workspace and runs tests in child processes."""

from __future__ import annotations

import shutil
import tempfile
from importlib import resources
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from agents.coder.tools import make_tools
from agents.react import model_node

SYSTEM_PROMPT = (
    "You are a software engineering agent working in a Python project. Locate the code for the bug "
    "report, run its tests, make the smallest correct edit, re-run the tests, then report the fix."
)


class CoderState(MessagesState):
    workspace: str


def _template() -> str:
    return str(resources.files("agents.coder").joinpath("workspace"))


def build(model: BaseChatModel) -> Any:
    tools = make_tools()
    bound = model.bind_tools(tools)

    def setup(state: CoderState) -> dict[str, Any]:
        workspace = tempfile.mkdtemp(prefix="orchestrace-coder-")
        shutil.copytree(_template(), workspace, dirs_exist_ok=True)
        return {"workspace": workspace}

    def cleanup(state: CoderState) -> dict[str, Any]:
        shutil.rmtree(state["workspace"], ignore_errors=True)
        return {}

    def route(state: CoderState) -> str:
        last = state["messages"][-1]
        return "tools" if getattr(last, "tool_calls", None) else "cleanup"

    graph = StateGraph(CoderState)
    graph.add_node("setup", setup)
    graph.add_node("model", model_node(bound, SYSTEM_PROMPT))
    graph.add_node("tools", ToolNode(tools))
    graph.add_node("cleanup", cleanup)
    graph.add_edge(START, "setup")
    graph.add_edge("setup", "model")
    graph.add_conditional_edges("model", route, ["tools", "cleanup"])
    graph.add_edge("tools", "model")
    graph.add_edge("cleanup", END)
    return graph.compile(name="coder")
