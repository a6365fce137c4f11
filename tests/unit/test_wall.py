"""The critical-path wall decomposition on hand-made spans (exact figures)."""

import pytest

from profiler.analysis.traces import agent_runs, critical_path
from profiler.analysis.wall import decompose
from profiler.store.spans import KIND_CLIENT, KIND_INTERNAL, KIND_SERVER, SpanRecord

S = 1_000_000_000


def span(span_id, parent, name, start, end, kind=KIND_INTERNAL, **attributes):
    return SpanRecord("t1", span_id, parent, name, kind, int(start * S), int(end * S), attributes)


def run_of(*spans):
    (run,) = agent_runs(list(spans))
    return run


def test_sequential_run_splits_exactly():
    run = run_of(
        span(
            "a",
            None,
            "invoke_agent x",
            0,
            10,
            **{"gen_ai.operation.name": "invoke_agent", "orchestrace.cpu.self_s": 0.5},
        ),
        span("c", "a", "chat m", 1, 5, KIND_CLIENT, **{"gen_ai.operation.name": "chat", "orchestrace.cpu.self_s": 0.3}),
        span("s", "c", "chat m", 1.2, 4.8, KIND_SERVER),
        span(
            "t",
            "a",
            "execute_tool f",
            6,
            9,
            **{"gen_ai.operation.name": "execute_tool", "orchestrace.cpu.self_s": 1.0, "orchestrace.ready_wait_s": 0.5},
        ),
    )
    parts = decompose(run).parts
    assert parts["model_wait"] == pytest.approx(3.6)  # the server worked 1.2..4.8
    assert parts["orchestration_cpu"] == pytest.approx(0.3 + 0.5)  # chat client + agent self
    assert parts["contention"] == pytest.approx((4 - 3.6 - 0.3) + 0.5)  # the chat's remainder + the tool's wait
    assert parts["tool_cpu"] == pytest.approx(1.0)
    assert parts["tool_wait"] == pytest.approx(1.5)
    assert parts["other_wait"] == pytest.approx(3 - 0.5)  # the agent's 3 s of self time minus its CPU
    assert sum(parts.values()) == pytest.approx(10)


def test_parallel_branches_count_once():
    run = run_of(
        span("a", None, "invoke_agent x", 0, 10, **{"gen_ai.operation.name": "invoke_agent"}),
        span(
            "t1",
            "a",
            "execute_tool f",
            0,
            10,
            **{"gen_ai.operation.name": "execute_tool", "orchestrace.cpu.self_s": 2.0},
        ),
        span(
            "t2",
            "a",
            "execute_tool g",
            0,
            8,
            **{"gen_ai.operation.name": "execute_tool", "orchestrace.cpu.self_s": 8.0},
        ),
    )
    path = critical_path(run)
    assert [seg.span.span_id for seg in path] == ["t1"]
    parts = decompose(run).parts
    assert parts["tool_cpu"] == pytest.approx(2.0)  # t2's CPU is off the critical path
    assert sum(parts.values()) == pytest.approx(10)


def test_chat_without_server_span_is_client_side():
    run = run_of(
        span("a", None, "invoke_agent x", 0, 4, **{"gen_ai.operation.name": "invoke_agent"}),
        span(
            "c",
            "a",
            "chat m",
            0,
            4,
            KIND_CLIENT,
            **{"gen_ai.operation.name": "chat", "orchestrace.cpu.self_s": 0.5, "orchestrace.ready_wait_s": 0.25},
        ),
    )
    parts = decompose(run).parts
    assert parts == pytest.approx(
        {
            "model_wait": 3.25,
            "tool_cpu": 0,
            "tool_wait": 0,
            "orchestration_cpu": 0.5,
            "contention": 0.25,
            "other_wait": 0,
        }
    )


def test_cpu_figures_larger_than_the_time_are_capped():
    run = run_of(
        span(
            "a",
            None,
            "invoke_agent x",
            0,
            1,
            **{"gen_ai.operation.name": "invoke_agent", "orchestrace.cpu.self_s": 5.0, "orchestrace.ready_wait_s": 5.0},
        ),
    )
    parts = decompose(run).parts
    assert parts["orchestration_cpu"] == pytest.approx(1.0)
    assert sum(parts.values()) == pytest.approx(1.0)
