"""A recorded run as sizing reads it: its report, its demand per agent run and its replay plans,
from one pass over its traces."""

from __future__ import annotations

from dataclasses import dataclass

from profiler.analysis.passes import fold
from profiler.analysis.report import ReportTally
from profiler.sizing.model import Demand, DemandTally
from profiler.sizing.plan import PlanTally, Recording
from profiler.sizing.units import loop_work_s
from profiler.store.report import Report
from profiler.store.session import Session


@dataclass(frozen=True)
class Measured:
    report: Report
    demand: Demand
    recording: Recording


def measure(session: Session) -> Measured:
    """A UsageError when no agent run completed or the run has no CPU window (nothing to size)."""
    report, demand, plans = ReportTally(session), DemandTally(session), PlanTally(loop_work_s(session))
    fold(session.traces(), report, demand, plans)
    built = report.result()
    return Measured(built, demand.result(built), plans.result())
