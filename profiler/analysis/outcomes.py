"""How each agent run ended, and the part of the window's CPU that belongs to the completed ones.

Headline figures come from completed agent runs only: a run that failed did less (or other)
work than the workload does, and a run cut off by Ctrl-C or a crash stopped midway, so
neither may feed a per-run figure. Failed runs are listed with their first error line;
interrupted ones are "incomplete", not failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from profiler.analysis.traces import AgentRun
from profiler.store import fields
from profiler.store.spans import SpanRecord

COMPLETED, FAILED, INCOMPLETE = "completed", "failed", "incomplete"


def root_outcome(root: SpanRecord) -> str:
    """COMPLETED, FAILED or INCOMPLETE, from an agent run's `invoke_agent` span."""
    if not root.is_error:
        return COMPLETED
    if root.attributes.get(fields.INCOMPLETE) or root.status_message == fields.INTERRUPTED:
        return INCOMPLETE
    return FAILED


@dataclass(frozen=True)
class Outcomes:
    runs: Sequence[AgentRun]  # every agent run that started, in start order

    def of(self, outcome: str) -> list[AgentRun]:
        return [run for run in self.runs if root_outcome(run.root) == outcome]

    @property
    def completed(self) -> list[AgentRun]:
        return self.of(COMPLETED)

    def listed(self, outcome: str) -> list[dict[str, object]]:
        """The runs that ended so, numbered from 1 in start order (as the HTML and `--agent-run` do)."""
        return [
            {
                "agent_run": number,
                "task": run.root.attributes.get("orchestrace.task.id"),
                **({"error": run.root.status_message or "failed (no message recorded)"} if outcome == FAILED else {}),
            }
            for number, run in enumerate(self.runs, 1)
            if root_outcome(run.root) == outcome
        ]

    def completed_cpu_share(self) -> float:
        """The completed runs' share of the runs' CPU (their spans' inclusive CPU; by count if none recorded).

        Process CPU not inside any span (the event loop, the exporter) is apportioned the same way.
        """
        done = self.completed
        if not self.runs:
            return 0.0
        total = sum(_inclusive(run) for run in self.runs)
        if total <= 0:
            return len(done) / len(self.runs)
        return sum(_inclusive(run) for run in done) / total


def _inclusive(run: AgentRun) -> float:
    return float(run.root.attributes.get(fields.CPU_INCLUSIVE, 0.0))


def no_headline_reason(outcomes: Outcomes) -> str | None:
    """Why there is no headline figure, or None when at least one agent run completed."""
    if outcomes.completed:
        return None
    if not outcomes.runs:
        return "no agent run was recorded"
    failed, incomplete = len(outcomes.of(FAILED)), len(outcomes.of(INCOMPLETE))
    parts = [f"{failed} failed"] * bool(failed) + [f"{incomplete} incomplete (interrupted)"] * bool(incomplete)
    return "no agent run completed: " + ", ".join(parts)
