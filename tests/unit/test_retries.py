"""Retried model calls: attempts counted per call and per agent run, back-off in its own wall category."""

from pathlib import Path

import pytest

from profiler.analysis.report import build_report
from profiler.analysis.traces import agent_runs
from profiler.analysis.wall import decompose
from profiler.store import fields
from profiler.store.manifest import Manifest
from profiler.store.session import Session
from profiler.store.spans import KIND_CLIENT, KIND_SERVER, STATUS_ERROR, SpanRecord

S = 1_000_000_000
CHAT = {"gen_ai.operation.name": "chat", fields.CPU_SELF: 0.1, fields.READY_OTHER_RUNS: 0.0}


def span(trace, span_id, parent, start, end, kind, status=0, **attributes):
    return SpanRecord(trace, span_id, parent, "x", kind, int(start * S), int(end * S), attributes, status)


def retried_run(trace: str, attempts: int) -> list[SpanRecord]:
    """One agent run, one chat call: `attempts - 1` failed attempts 1 s apart, then the answer."""
    end = attempts + 1.0
    spans = [
        span(trace, "a", None, 0, end, 1, **{"gen_ai.operation.name": "invoke_agent"}),
        span(trace, "c", "a", 0, end, KIND_CLIENT, **CHAT),
    ]
    for i in range(attempts - 1):
        spans.append(span(trace, f"s{i}", "c", i, i + 0.1, KIND_SERVER, STATUS_ERROR))
    spans.append(span(trace, "ok", "c", attempts - 1, end, KIND_SERVER))
    return spans


def test_backoff_between_attempts_is_retry_wait_not_contention_or_model_wait():
    session = Session(path=Path("run"), manifest=Manifest(), spans=retried_run("t1", 3))
    report = build_report(session)
    wall = report.wall_s.parts
    assert wall["model_wait"] == pytest.approx(0.1 + 0.1 + 2.0)  # the server working, each attempt
    assert wall["orchestration_cpu"] == pytest.approx(0.1)
    assert wall["retry_wait"] == pytest.approx(4.0 - 2.2 - 0.1)  # asleep between attempts
    assert wall["contention"] == wall["other_wait"] == 0


def test_a_call_answered_at_once_has_no_retry_wait():
    parts = decompose(agent_runs(retried_run("t1", 1))[0]).parts
    assert parts["retry_wait"] == 0 and parts["model_wait"] == pytest.approx(2.0)


def test_attempts_failures_and_retries_are_counted_per_agent_run():
    session = Session(path=Path("run"), manifest=Manifest(), spans=retried_run("t1", 3) + retried_run("t2", 1))
    inference = build_report(session).inference
    assert (inference.calls, inference.errors) == (2, 0)  # both calls answered in the end
    assert (inference.attempts, inference.failed_attempts, inference.retries) == (4, 2, 2)
    assert inference.per_run.retries.mean == 1.0 and inference.per_run.attempts.p95 == 3


def test_client_side_attempts_come_from_the_transport_count():
    spans = [
        span("t1", "a", None, 0, 3, 1, **{"gen_ai.operation.name": "invoke_agent"}),
        span("t1", "c", "a", 0, 3, KIND_CLIENT, **{**CHAT, fields.MODEL_REQUESTS: 3, fields.MODEL_WAIT: 0.5}),
    ]
    report = build_report(Session(path=Path("run"), manifest=Manifest(), spans=spans))
    assert report.inference.attempts == 3 and report.inference.retries == 2
    assert report.wall_s.parts["retry_wait"] == pytest.approx(3 - 0.5 - 0.1)
