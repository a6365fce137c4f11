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


def test_sequential_run_recorded_before_blame_splits_exactly():
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
            "gil_wait": 0,
            "profiler": 0,
            "other_wait": 0,
            "retry_wait": 0,
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


# ---- runs recorded with per-span blame (what the meter measures now) ----------------------------

BLAME = (
    "orchestrace.ready.orchestration_s",
    "orchestrace.ready.tool_s",
    "orchestrace.ready.model_client_s",
    "orchestrace.ready.profiler_s",
    "orchestrace.ready.other_runs_s",
    "orchestrace.ready.runtime_s",
)


def measured(**figures):
    """Span attributes as the meter writes them: every blame figure present, the given ones set."""
    return dict.fromkeys(BLAME, 0.0) | figures


def test_each_measured_part_lands_in_its_category():
    agent = {"gen_ai.operation.name": "invoke_agent"} | measured(
        **{"orchestrace.cpu.self_s": 0.4, "orchestrace.ready.other_runs_s": 0.3, "orchestrace.ready.runtime_s": 0.1}
    )
    chat = {"gen_ai.operation.name": "chat", "orchestrace.model.requests": 1} | measured(
        **{
            "orchestrace.cpu.self_s": 0.2,
            "orchestrace.model.wait_s": 2.5,
            "orchestrace.cpu.profiler_s": 0.05,
            "orchestrace.profiler.wait_s": 0.05,
            "orchestrace.ready.orchestration_s": 0.1,  # a parallel branch of this run ran meanwhile
        }
    )
    tool = {"gen_ai.operation.name": "execute_tool"} | measured(
        **{
            "orchestrace.cpu.self_s": 0.5,
            "orchestrace.cpu.tool_fn_s": 0.3,  # the function; 0.2 is LangChain's wrapper
            "orchestrace.offcpu.gil_s": 0.4,
            "orchestrace.offcpu.host_s": 0.1,
            "orchestrace.offcpu.blocked_s": 0.6,
        }
    )
    run = run_of(
        span("a", None, "invoke_agent x", 0, 6, **agent),
        span("c", "a", "chat m", 1, 4, KIND_CLIENT, **chat),  # a real endpoint: no server span
        span("t", "a", "execute_tool f", 4, 6, **tool),
    )
    parts = decompose(run).parts
    assert parts["model_wait"] == pytest.approx(2.5)
    assert parts["profiler"] == pytest.approx(0.1)
    assert parts["tool_cpu"] == pytest.approx(0.3)
    assert parts["gil_wait"] == pytest.approx(0.4)
    # agent self (1 s): 0.4 CPU, 0.1 loop; chat: 0.2 client CPU, 0.1 sibling branch; tool: 0.2 wrapper
    assert parts["orchestration_cpu"] == pytest.approx(0.4 + 0.1 + 0.2 + 0.1 + 0.2)
    assert parts["contention"] == pytest.approx(0.3 + 0.1)
    assert parts["tool_wait"] == pytest.approx(0.6 + 0.4)  # blocked, then not ready (async I/O)
    assert parts["other_wait"] == pytest.approx(1 - 0.4 - 0.3 - 0.1 + 3 - 0.2 - 2.5 - 0.1 - 0.1)
    assert sum(parts.values()) == pytest.approx(6)


def test_an_in_process_model_has_no_model_wait():
    chat = {"gen_ai.operation.name": "chat"} | measured(**{"orchestrace.cpu.self_s": 0.9})
    run = run_of(
        span("a", None, "invoke_agent x", 0, 1, **{"gen_ai.operation.name": "invoke_agent"} | measured()),
        span("c", "a", "chat m", 0, 1, KIND_CLIENT, **chat),
    )
    parts = decompose(run).parts
    assert parts["model_wait"] == 0
    assert parts["orchestration_cpu"] == pytest.approx(0.9)
    assert parts["other_wait"] == pytest.approx(0.1)


def test_spans_inside_a_tool_are_tool_time():
    tool = {"gen_ai.operation.name": "execute_tool"} | measured(
        **{"orchestrace.cpu.self_s": 0.1, "orchestrace.cpu.tool_fn_s": 0.0}
    )
    node = {"gen_ai.node.name": "inner"} | measured(
        **{"orchestrace.cpu.self_s": 0.6, "orchestrace.offcpu.blocked_s": 0.4}
    )
    run = run_of(
        span("a", None, "invoke_agent x", 0, 2, **{"gen_ai.operation.name": "invoke_agent"} | measured()),
        span("t", "a", "execute_tool sub", 0, 2, **tool),
        span("n", "t", "invoke_node inner", 0.5, 1.5, **node),  # a subgraph the tool function ran
    )
    parts = decompose(run).parts
    assert parts["tool_cpu"] == pytest.approx(0.6)
    assert parts["tool_wait"] == pytest.approx(0.4 + 1.0 - 0.1)  # the node blocked; the tool span idled
    assert parts["orchestration_cpu"] == pytest.approx(0.1)


def test_a_server_span_gives_the_model_time_and_hides_the_client_work_meanwhile():
    chat = {"gen_ai.operation.name": "chat", "orchestrace.model.requests": 1} | measured(
        **{"orchestrace.cpu.self_s": 0.9, "orchestrace.model.wait_s": 1.5}  # 0.7 of the CPU while it streamed
    )
    run = run_of(
        span("a", None, "invoke_agent x", 0, 3, **{"gen_ai.operation.name": "invoke_agent"} | measured()),
        span("c", "a", "chat m", 0, 3, KIND_CLIENT, **chat),
        span("s", "c", "chat m", 0.5, 2.5, KIND_SERVER),
    )
    parts = decompose(run).parts
    assert parts["model_wait"] == pytest.approx(2.0)  # the server's working time, not the transport's view
    assert parts["orchestration_cpu"] == pytest.approx(0.9)  # capped by what the model left: 3 - 2 = 1
    assert parts["other_wait"] == pytest.approx(0.1)
