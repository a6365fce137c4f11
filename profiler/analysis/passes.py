"""One pass over a run's traces feeding every tally a command needs.

Reading and checking the spans is most of a report's time, so the report, the sizing demand, the
HTML page's run index and the replay's plans are tallies told the same traces in one pass, each
trace's agent run, outcome and wall split worked out once for all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol

from profiler.analysis.outcomes import COMPLETED, root_outcome
from profiler.analysis.traces import AgentRun, Segment, critical_path, run_of
from profiler.analysis.wall import WallSplit, decompose
from profiler.store.spans import SpanRecord


class Seen(NamedTuple):
    """One trace of the pass, with what the tallies read of it."""

    trace: list[SpanRecord]
    run: AgentRun | None  # None: the trace is no agent run (no single local invoke_agent root)
    outcome: str | None  # the run's (completed, failed, incomplete)
    split: WallSplit | None  # where a completed run's wall time went; None for the others
    path: list[Segment] | None  # a completed run's critical path; None for the others

    @property
    def completed(self) -> bool:
        return self.outcome == COMPLETED


class Tally(Protocol):
    def add(self, seen: Seen) -> None: ...


def seen_of(trace: list[SpanRecord]) -> Seen:
    run = run_of(trace)
    outcome = root_outcome(run.root) if run is not None else None
    if run is None or outcome != COMPLETED:
        return Seen(trace, run, outcome, None, None)
    path = critical_path(run)
    return Seen(trace, run, outcome, decompose(run, path), path)


def fold(traces: Iterable[list[SpanRecord]], *tallies: Tally) -> None:
    """Tell every tally each trace (a session's `traces()`: in the order they settle)."""
    for trace in traces:
        seen = seen_of(trace)
        for tally in tallies:
            tally.add(seen)
