"""What a sample agent is: a graph factory, a task set with trajectory scripts, a description."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


@dataclass(frozen=True)
class Task:
    """One agent run: the graph input, and the script the simulated model follows for it."""

    id: str
    input: dict[str, Any]
    script: dict[str, Any] | None = None


@dataclass(frozen=True)
class AgentSpec:
    name: str
    description: str
    workload_class: str  # the published workload class it mirrors (DESIGN.md §3.7)
    build: Callable[[BaseChatModel], Any]  # model -> compiled LangGraph graph
    tasks: Callable[[], list[Task]]


def user_input(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def tool_turn(tokens: int, *calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "args": args} for name, args in calls], "output_tokens": tokens}


def answer_turn(text: str, tokens: int) -> dict[str, Any]:
    return {"content": text, "output_tokens": tokens}


def lazy_build(target: str) -> Callable[[BaseChatModel], Any]:
    """A graph factory imported on first call, so listing agents and tasks stays cheap."""

    def build(model: BaseChatModel) -> Any:
        module, _, name = target.partition(":")
        return getattr(import_module(module), name)(model)

    return build
