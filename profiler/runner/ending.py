"""How every run ends, `orchestrace run` and the Python API alike: the manifest's ending, then
report.json and the `latest` link. A run's data stays whatever analysis does."""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from profiler.analysis.summary import RunSummary, summarize
from profiler.sizing.headline import report_and_headline
from profiler.store.manifest import Manifest
from profiler.store.report import Headline, Report
from profiler.store.rundir import REPORT, REPORT_ERROR, RunDir, iso, write_json_atomic
from profiler.store.session import Session, load_session


@dataclass(frozen=True)
class Ending:
    """What the manifest records of how a run ended."""

    status: str  # completed | completed_with_errors | incomplete | failed | interrupted
    message: str
    wall_s: float
    summary: RunSummary
    degraded: list[dict[str, str]] = field(default_factory=list)  # what could not be measured
    workload_result: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # what only some runs have (checks, export, replay)


def recorded_summary(run_dir: RunDir) -> RunSummary:
    """Agent runs, errors and tool calls as the span file has them (none if it was never written)."""
    return summarize(Session(run_dir.path, Manifest(), None if run_dir.spans.exists() else []))


def with_errors(status: str, summary: RunSummary) -> str:
    """A run that completed with failed agent runs says so."""
    return "completed_with_errors" if status == "completed" and summary.errors else status


def record_ending(run_dir: RunDir, ending: Ending) -> None:
    """The manifest's last update (into the space kept back for it: a full disk cannot stop it)."""
    now = time.time()
    run_dir.finish(
        status=ending.status,
        message=ending.message,
        degraded=ending.degraded,
        ended_at=iso(now),
        ended_unix=now,
        wall_s=ending.wall_s,
        workload_result=ending.workload_result,
        **ending.extra,
        summary=asdict(ending.summary),
    )


def conclude(run_dir: RunDir, analyse: bool = True) -> tuple[Report | None, Headline | None]:
    """The ended run's report (written to report.json) and headline; `latest` points at the run."""
    report, summary = _analyse(run_dir) if analyse else (None, None)
    run_dir.mark_latest()
    return report, summary


def _analyse(run_dir: RunDir) -> tuple[Report | None, Headline | None]:
    try:
        session = load_session(run_dir.path)
        report, summary = report_and_headline(session)
    except Exception as exc:  # a bug in analysis must not cost the recorded run
        with contextlib.suppress(OSError):
            run_dir.file(REPORT_ERROR).write_text(f"{type(exc).__name__}: {exc}\n", encoding="utf-8")
        return None, None
    try:
        write_json_atomic(run_dir.file(REPORT), report.to_json())
    except OSError as exc:  # a full disk: the report is still shown, `orchestrace report` can redo it
        report = replace(report, problems=(*report.problems, f"{REPORT} not written: {exc.strerror or exc}"))
    return report, summary
