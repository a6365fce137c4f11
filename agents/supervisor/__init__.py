"""`supervisor`: a planner fans out to parallel researcher sub-agents (LangGraph Send) and merges them."""

from agents.base import AgentSpec, lazy_build
from agents.supervisor.tasks import tasks

SPEC = AgentSpec(
    name="supervisor",
    description="Multi-agent: a planner fans out to 3 parallel researcher sub-agents (Send), then merges",
    workload_class="multi-agent orchestration (LangGraph supervisor; Kim et al. 2026)",
    build=lazy_build("agents.supervisor.graph:build"),
    tasks=tasks,
)
