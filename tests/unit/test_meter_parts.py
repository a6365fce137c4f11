"""The meter's rules on fixed inputs (exact), and its hooks on real tools, children and HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import httpx
import pytest
from langchain_core.tools import tool
from opentelemetry.sdk.trace import TracerProvider

from profiler.instrument import cpumeter, modelwait, toolfn
from profiler.instrument.cpumeter import (
    FLIGHTS,
    LAST_END,
    MODEL,
    OVERLAP_CPU,
    OVERLAP_READY,
    R_ALL,
    R_OTHER,
    R_RUNTIME,
    READY,
    STRETCH,
    STRETCH_READY,
    SpanCpuMeter,
    ThreadMeter,
    _blame,
    _float_list,
    _woken_in_flight,
)

IMPLEMENTATIONS = [False, *([True] if cpumeter._fastloop is not None else [])]
MS = 1_000_000


def figures(**values):
    """A bucket's figures list with the named ones set (`READY=10` sets figures[cpumeter.READY])."""
    result = _float_list(cpumeter._FIGURES)
    for name, value in values.items():
        result[getattr(cpumeter, name)] = value
    return result


def test_blame_splits_the_ready_wait_by_what_ran_and_shares_the_loop_work():
    # waited 10: this run's branches ran 2 (orchestration) + 1 (tool), 4 of other runs, 2 of loop
    parts = _blame(figures(READY=10, R_ORCH=2, R_TOOL=1, R_ALL=9, R_RUNTIME=2))
    orch, tool, chat, prof, other, runtime = parts
    assert (orch, tool, chat, prof) == (2, 1, 0, 0)
    own = 3 / (3 + 4)  # the loop's own work is shared between this run and the others
    assert other == pytest.approx(4 + 2 * (1 - own))
    assert runtime == pytest.approx(2 * own + 1)  # plus the part nothing ran (the loop woke)
    assert sum(parts) == pytest.approx(10)


def test_blame_never_exceeds_the_wait():
    parts = _blame(figures(READY=5, R_ORCH=4, R_CHAT=4, R_PROF=2, R_ALL=10))
    assert sum(parts) == pytest.approx(5)
    assert parts[0] == pytest.approx(2) and parts[2] == pytest.approx(2) and parts[3] == pytest.approx(1)


def flight(start):
    counters = _float_list(4)
    counters[FLIGHTS], counters[LAST_END], counters[STRETCH] = 1, start, start
    return counters


def test_a_stream_the_client_keeps_up_with_is_all_model_wait():
    f, fl = figures(), flight(0)
    # request at 0; the loop idles until 50, the task wakes at 50 and runs 50..52
    _woken_in_flight(f, fl, ready=50, now=50, idle_end=50, others_open=False)
    fl[LAST_END] = 52
    # next chunk: the loop waited again (idle ended at 60), the task is ready at 60, runs at 61
    _woken_in_flight(f, fl, ready=60, now=61, idle_end=60, others_open=False)
    assert f[MODEL] == 60  # 0..60: the model's stretches, the client's work inside them included
    assert f[OVERLAP_CPU] == 2  # the client's handling of the first chunk, hidden behind the model
    assert f[OVERLAP_READY] == 0
    assert fl[STRETCH] == 60 and fl[STRETCH_READY] == 1


def test_when_the_loop_never_waited_the_data_may_have_been_there_all_along():
    f, fl = figures(), flight(0)
    fl[LAST_END] = 10
    # woken at 30, but the loop was busy from 5 on (another run's CPU): not proven to be the model
    _woken_in_flight(f, fl, ready=30, now=31, idle_end=5, others_open=True)
    assert f[MODEL] == 0
    assert fl[STRETCH_READY] == 1  # its run-queue delay stays in the stretch


def test_the_loop_busy_after_its_wait_is_a_run_queue_delay_not_the_model():
    f, fl = figures(), flight(0)
    fl[LAST_END] = 10
    # the loop waited until 40, then ran other runs' work until the wake-up was scheduled at 70
    _woken_in_flight(f, fl, ready=70, now=72, idle_end=40, others_open=True)
    assert f[MODEL] == 40
    assert f[READY] == 30 and f[R_ALL] == 30 and f[R_OTHER] == 30
    _woken_in_flight(f2 := figures(), flight(0), ready=70, now=72, idle_end=40, others_open=False)
    assert f2[R_RUNTIME] == 70 - 40  # with no other run open, the loop's own work


def classified(meter, state, offcpu, run_delay=0, voluntary=100, others_cpu=10**9):
    return meter._classify(state, offcpu, run_delay, voluntary, others_cpu)


def thread_meter(loop):
    state = ThreadMeter(1, 1, "t", 0, 0)
    state.is_loop = loop
    return state


def test_off_cpu_time_is_run_queue_delay_first_then_gil_only_while_another_thread_ran():
    meter = SpanCpuMeter(accelerated=False)
    worker = thread_meter(loop=False)
    worker.in_work = True
    meter.busy_workers = 1  # only this worker: nothing else could hold the GIL
    assert classified(meter, worker, 10 * MS, run_delay=3 * MS) == (0, 0, 3 * MS, 7 * MS)
    meter.busy_workers = 2  # another worker ran Python
    gil, ours, host, blocked = classified(meter, worker, 10 * MS, run_delay=3 * MS, others_cpu=4 * MS)
    assert (gil, ours, host, blocked) == (4 * MS, 0, 3 * MS, 3 * MS)  # at most the others' CPU
    # a waiter wakes every switch interval: one voluntary switch bounds a GIL wait to one interval
    interval = meter._switch_interval_ns
    assert classified(meter, worker, 50 * MS, voluntary=1)[0] == interval
    meter.busy_workers = 1
    meter.exporting = 1  # only orchestrace's span exporter could hold it: the profiler's
    assert classified(meter, worker, 10 * MS, others_cpu=2 * MS) == (0, 2 * MS, 0, 8 * MS)
    assert classified(meter, worker, cpumeter.NOISE_NS - 1) == (0, 0, cpumeter.NOISE_NS - 1, 0)


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda c: "c-hooks" if c else "python-hooks")
def installed(request):
    meter = SpanCpuMeter(accelerated=request.param)
    provider = TracerProvider()
    provider.add_span_processor(meter)
    meter.install()
    undo = [toolfn.install(meter), modelwait.install(meter)]
    yield meter, provider.get_tracer("test")
    for step in undo:
        step()
    meter.uninstall()


def burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


@tool
def heavy(ms: int) -> str:
    """Burn `ms` of CPU."""
    burn(ms / 1000)
    return "done"


def test_the_tool_function_is_its_own_bucket_inside_the_tool_span(installed):
    meter, tracer = installed
    heavy.invoke({"ms": 0})  # LangChain builds the tool's schema and validators on first use
    with tracer.start_as_current_span(
        "execute_tool heavy", attributes={"gen_ai.operation.name": "execute_tool"}
    ) as span:
        burn(0.010)  # the framework's wrapper around the call
        heavy.invoke({"ms": 30})
    got = meter.span_figures(span)
    assert got["orchestrace.cpu.tool_fn_s"] == pytest.approx(0.030, abs=0.004)
    wrapper = got["orchestrace.cpu.self_s"] - got["orchestrace.cpu.tool_fn_s"]
    assert 0.009 <= wrapper <= 0.010 + 0.010  # our 10 ms around the call, and LangChain's tool wrapper


def test_an_ended_agent_run_leaves_nothing_in_the_meter(installed):
    """Spans, tool markers and contexts of a finished trace must not be kept (they leaked before)."""
    meter, tracer = installed
    tool_span = {"attributes": {"gen_ai.operation.name": "execute_tool"}}
    with (
        tracer.start_as_current_span("invoke_agent a"),
        tracer.start_as_current_span("invoke_node tools"),
        tracer.start_as_current_span("execute_tool heavy", **tool_span),
    ):
        heavy.invoke({"ms": 1})
    assert meter._entries == {}
    assert meter._objects == {}, meter._objects
    assert meter._trace_spans == {}, meter._trace_spans
    assert meter._info == {}, meter._info


def test_closed_socket_handles_are_dropped(installed):
    """The loop's reader/writer handles hold their contexts: cancelled ones must not pile up."""
    meter, _ = installed

    async def connections(n: int) -> None:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        for _ in range(n):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()

    asyncio.run(connections(4 * cpumeter.LOOP_HANDLES_PRUNE_AT))
    assert len(meter._loop_handles) <= 2 * cpumeter.LOOP_HANDLES_PRUNE_AT


def test_child_process_cpu_is_charged_to_the_span_that_waited_for_it(installed):
    meter, tracer = installed
    child = "import time\nend = time.process_time() + 0.05\nwhile time.process_time() < end: pass"
    with tracer.start_as_current_span("run") as span:
        subprocess.run([sys.executable, "-c", child], check=True)
    assert meter.span_figures(span)["orchestrace.cpu.children_s"] >= 0.05


def test_a_model_request_in_flight_is_model_wait_not_idle(installed):
    meter, tracer = installed

    async def model_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.05)  # the "model" thinking
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def main() -> dict:
        server = await asyncio.start_server(model_server, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with httpx.AsyncClient() as client:
            with tracer.start_as_current_span("chat m", attributes={"gen_ai.operation.name": "chat"}) as span:
                await client.get(f"http://127.0.0.1:{port}/v1")
            with tracer.start_as_current_span(
                "execute_tool fetch", attributes={"gen_ai.operation.name": "execute_tool"}
            ) as other:
                await client.get(f"http://127.0.0.1:{port}/page")
        server.close()
        return {"chat": meter.span_figures(span), "tool": meter.span_figures(other)}

    got = asyncio.run(main())
    assert got["chat"]["orchestrace.model.requests"] == 1
    assert got["chat"]["orchestrace.model.wait_s"] == pytest.approx(0.05, abs=0.02)
    assert "orchestrace.model.requests" not in got["tool"]  # a tool's HTTP is the tool's wait
    assert got["tool"]["orchestrace.model.wait_s"] == 0


def test_uninstalled_meter_leaves_threads_alone():
    meter = SpanCpuMeter(accelerated=False)
    done = threading.Event()
    threading.Thread(target=done.set).start()
    assert done.wait(1)
    assert meter.threads == []
