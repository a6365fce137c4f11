"""`web`: research agent over a loopback documentation site (search, fetch + HTML parsing, LexRank)."""

from agents.base import AgentSpec, lazy_build
from agents.web.tasks import tasks

SPEC = AgentSpec(
    name="web",
    description="Web research over a loopback docs site: search, fetch + HTML parsing, LexRank summaries",
    workload_class="web agent (LangChain web agent; Raj et al. 2025)",
    build=lazy_build("agents.web.graph:build"),
    tasks=tasks,
)
