"""A simulated server too starved to keep its timing says so in the report, never silently."""

from pathlib import Path

from profiler.analysis.report import build_report
from profiler.store.manifest import Manifest
from profiler.store.report import Report
from profiler.store.session import Session
from profiler.store.spans import KIND_CLIENT, KIND_SERVER, SpanRecord

S = 1_000_000_000


def run_with_lateness(late_s: float) -> Report:
    spans = [
        SpanRecord("t", "a", None, "invoke_agent x", 1, 0, 2 * S, {"gen_ai.operation.name": "invoke_agent"}),
        SpanRecord("t", "c", "a", "chat m", KIND_CLIENT, 0, 2 * S, {"gen_ai.operation.name": "chat"}),
        SpanRecord("t", "s", "c", "chat m", KIND_SERVER, 0, 2 * S, {"orchestrace.server.lateness_s": late_s}),
    ]
    return build_report(Session(Path("run"), Manifest(), spans))


def test_a_server_late_by_a_fifth_of_model_time_is_a_problem_line():
    (problem,) = [p for p in run_with_lateness(0.4).problems if "simulated server fell behind" in p]
    assert "by 0.40 s in all (20% of model time" in problem and "model wait is overstated" in problem


def test_a_server_on_time_is_not():
    assert not [p for p in run_with_lateness(0.01).problems if "fell behind" in p]
