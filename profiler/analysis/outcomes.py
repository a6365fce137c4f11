"""How each agent run ended, and the part of the window's CPU that belongs to the completed ones.

Headline figures come from completed agent runs only: a run that failed did less (or other)
work than the workload does, and a run cut off by Ctrl-C or a crash stopped midway, so
neither may feed a per-run figure. Failed runs are listed with their first error line;
interrupted ones are "incomplete", not failed.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from dataclasses import replace

from profiler.analysis.traces import AgentRun
from profiler.store import fields
from profiler.store.report import RunOutcome
from profiler.store.spans import SpanRecord

COMPLETED, FAILED, INCOMPLETE = "completed", "failed", "incomplete"


def root_outcome(root: SpanRecord) -> str:
    """COMPLETED, FAILED or INCOMPLETE, from an agent run's `invoke_agent` span."""
    if not root.is_error:
        return COMPLETED
    if root.attributes.get(fields.INCOMPLETE) or root.status_message == fields.INTERRUPTED:
        return INCOMPLETE
    return FAILED


LISTED = 1000  # failed (and incomplete) agent runs listed one by one; beyond, they are counted


class OutcomeTally:
    """How the agent runs ended, told one run at a time (memory stays flat: a start time per run)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._inclusive: dict[str, float] = defaultdict(float)  # the runs' inclusive CPU, by outcome
        self._starts = array("q")
        self._listed: dict[str, list[tuple[int, RunOutcome]]] = {FAILED: [], INCOMPLETE: []}  # by start

    def add(self, run: AgentRun) -> str:
        """Count the run; returns its outcome."""
        outcome = root_outcome(run.root)
        self.counts[outcome] += 1
        self._inclusive[outcome] += float(run.root.attributes.get(fields.CPU_INCLUSIVE, 0.0))
        self._starts.append(run.root.start_ns)
        if outcome != COMPLETED and len(self._listed[outcome]) < LISTED:
            error = (run.root.status_message or "failed (no message recorded)") if outcome == FAILED else None
            entry = RunOutcome(task=run.root.attributes.get("orchestrace.task.id"), error=error)
            self._listed[outcome].append((run.root.start_ns, entry))
        return outcome

    @property
    def runs(self) -> int:
        return len(self._starts)

    def listed(self, outcome: str) -> tuple[RunOutcome, ...]:
        """The runs that ended so (up to LISTED), numbered from 1 in start order (as the HTML and
        `--agent-run` do)."""
        rows = sorted(self._listed[outcome], key=lambda item: item[0])
        if not rows:
            return ()
        import numpy as np  # here, not at the top: only runs that list failures need it

        starts = np.sort(np.frombuffer(self._starts, dtype=np.int64))  # 8 bytes a run, not a list of ints
        before = np.searchsorted(starts, [start for start, _ in rows], side="left")
        return tuple(replace(entry, agent_run=int(at) + 1) for (_, entry), at in zip(rows, before, strict=True))

    def completed_cpu_share(self) -> float:
        """The completed runs' share of the runs' CPU (their spans' inclusive CPU; by count if none recorded).

        Process CPU not inside any span (the event loop, the exporter) is apportioned the same way.
        """
        if not self.runs:
            return 0.0
        total = sum(self._inclusive.values())
        if total <= 0:
            return self.counts[COMPLETED] / self.runs
        return self._inclusive[COMPLETED] / total

    def no_headline_reason(self) -> str | None:
        """Why there is no headline figure, or None when at least one agent run completed."""
        if self.counts[COMPLETED]:
            return None
        if not self.runs:
            return "no agent run was recorded"
        failed, incomplete = self.counts[FAILED], self.counts[INCOMPLETE]
        parts = [f"{failed} failed"] * bool(failed) + [f"{incomplete} incomplete (interrupted)"] * bool(incomplete)
        return "no agent run completed: " + ", ".join(parts)
