"""`coder`: SWE-style agent that reads, searches and edits a workspace and runs tests in child processes."""

from agents.base import AgentSpec, lazy_build
from agents.coder.tasks import tasks

SPEC = AgentSpec(
    name="coder",
    description="SWE-style bug fixing in a temp workspace: read/search/edit files, unittest in sandboxed subprocesses",
    workload_class="SWE agent (SWE-agent; Raj et al. 2025)",
    build=lazy_build("agents.coder.graph:build"),
    tasks=tasks,
)
