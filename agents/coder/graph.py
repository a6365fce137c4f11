"""`coder`: SWE-style agent that reads, searches and edits a workspace and runs tests in child processes."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from agents.coder.tools import make_tools
from agents.react import dual, model_node

SYSTEM_PROMPT = (
    "You are a software engineering agent working in a Python project. Locate the code for the bug "
    "report, run its tests, make the smallest correct edit, re-run the tests, then report the fix."
)


WORKSPACES_PREFIX = "orchestrace-coder-"
_workspaces: Path | None = None


class CoderState(MessagesState):
    workspace: str


def workspaces() -> Path:
    """This process's folder of run workspaces: removed at exit, or by the next process if this one was killed."""
    global _workspaces
    if _workspaces is None:
        for stale in Path(tempfile.gettempdir()).glob(f"{WORKSPACES_PREFIX}*-*"):
            owner = stale.name.removeprefix(WORKSPACES_PREFIX).split("-")[0]
            if owner.isdigit() and not _alive(int(owner)):
                shutil.rmtree(stale, ignore_errors=True)
        _workspaces = Path(tempfile.mkdtemp(prefix=f"{WORKSPACES_PREFIX}{os.getpid()}-"))
        atexit.register(shutil.rmtree, _workspaces, ignore_errors=True)
    return _workspaces


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's
        pass
    return True


def _template() -> str:
    return str(resources.files("agents.coder").joinpath("workspace"))


def build(model: BaseChatModel) -> Any:
    tools = make_tools()
    bound = model.bind_tools(tools)

    def setup(state: CoderState) -> dict[str, Any]:
        workspace = tempfile.mkdtemp(dir=workspaces())
        shutil.copytree(_template(), workspace, dirs_exist_ok=True)
        return {"workspace": workspace}

    step = model_node(bound, SYSTEM_PROMPT)

    def forget(state: CoderState) -> None:  # the run ends here: its workspace goes with it
        shutil.rmtree(state["workspace"], ignore_errors=True)

    def call_model(state: CoderState) -> dict[str, Any]:
        try:
            result: dict[str, Any] = step.invoke(state)
        except BaseException:
            forget(state)
            raise
        return result

    async def acall_model(state: CoderState) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await step.ainvoke(state)
        except BaseException:
            forget(state)
            raise
        return result

    def cleanup(state: CoderState) -> dict[str, Any]:
        forget(state)
        return {}

    def route(state: CoderState) -> str:
        last = state["messages"][-1]
        return "tools" if getattr(last, "tool_calls", None) else "cleanup"

    graph = StateGraph(CoderState)
    graph.add_node("setup", setup)
    graph.add_node("model", dual(call_model, acall_model))
    graph.add_node("tools", ToolNode(tools))
    graph.add_node("cleanup", cleanup)
    graph.add_edge(START, "setup")
    graph.add_edge("setup", "model")
    graph.add_conditional_edges("model", route, ["tools", "cleanup"])
    graph.add_edge("tools", "model")
    graph.add_edge("cleanup", END)
    return graph.compile(name="coder")
