"""Sample agent workloads: LangGraph tool-calling graphs with task sets and trajectory scripts."""

from __future__ import annotations

from importlib import import_module

from agents.base import AgentSpec, Task

AGENT_NAMES = ("rag", "web", "coder", "supervisor")


def get_agent(name: str) -> AgentSpec:
    """The sample agent called `name` (imported on demand)."""
    if name not in AGENT_NAMES:
        raise KeyError(name)
    spec: AgentSpec = import_module(f"agents.{name}").SPEC
    return spec


def all_agents() -> list[AgentSpec]:
    return [get_agent(n) for n in AGENT_NAMES]


__all__ = ["AGENT_NAMES", "AgentSpec", "Task", "all_agents", "get_agent"]
