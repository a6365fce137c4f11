"""Ground truth for the checkpoint meter: known CPU burnt by concurrent tasks, threads and pools."""

import asyncio
import concurrent.futures
import contextvars
import time

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from profiler.instrument import cpumeter
from profiler.instrument.cpumeter import EXECUTOR_IDLE, LOOP, SpanCpuMeter

TOLERANCE_S = 0.004  # burn loops overshoot by a clock read; the scheduler adds a little


def burn(seconds: float) -> None:
    """Spin until this thread used `seconds` of CPU."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


IMPLEMENTATIONS = [False, *([True] if cpumeter._fastloop is not None else [])]


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda c: "c-hooks" if c else "python-hooks")
def meter(request):
    meter = SpanCpuMeter(accelerated=request.param)
    provider = TracerProvider()
    provider.add_span_processor(meter)
    meter.install()
    yield meter, provider.get_tracer("test")
    meter.uninstall()


def test_interleaved_async_tasks_get_their_own_cpu(meter):
    meter, tracer = meter
    ended = []

    async def task(name: str, steps: int, per_step: float) -> None:
        with tracer.start_as_current_span(name) as span:
            for _ in range(steps):
                burn(per_step)
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.02)
        ended.append(span)

    async def main() -> None:
        with tracer.start_as_current_span("root") as root:
            await asyncio.gather(task("A", 3, 0.010), task("B", 1, 0.010), task("C", 0, 0.0))
        ended.append(root)

    asyncio.run(main())
    got = {s.name: meter.span_figures(s) for s in ended}
    assert got["A"]["orchestrace.cpu.self_s"] == pytest.approx(0.030, abs=TOLERANCE_S)
    assert got["B"]["orchestrace.cpu.self_s"] == pytest.approx(0.010, abs=TOLERANCE_S)
    assert got["C"]["orchestrace.cpu.self_s"] == pytest.approx(0.0, abs=TOLERANCE_S)
    # reading the thread clock at span start/end would give A ~40 ms and C ~20 ms here
    assert got["root"]["orchestrace.cpu.inclusive_s"] == pytest.approx(0.040, abs=3 * TOLERANCE_S)
    assert got["C"]["orchestrace.wait_s"] >= 0.02


def test_a_step_the_os_took_the_core_from_gets_its_own_cpu_not_a_share_by_wall_time(meter):
    """Two long steps of different spans in one loop iteration, the first one partly off the CPU
    (a blocking sleep stands in for the OS running something else): each keeps its own CPU."""
    meter, tracer = meter
    ended = []

    async def task(name: str, off_cpu: float) -> None:
        with tracer.start_as_current_span(name) as span:
            await asyncio.sleep(0)  # both steps below become ready in the same loop iteration
            burn(0.020)
            time.sleep(off_cpu)
        ended.append(span)

    async def main() -> None:
        await asyncio.gather(task("descheduled", 0.030), task("next", 0.0))

    asyncio.run(main())
    got = {s.name: meter.span_figures(s) for s in ended}
    # a share by wall time would give the first 0.040 * 50/70 = 29 ms and the second 11 ms
    assert got["descheduled"]["orchestrace.cpu.self_s"] == pytest.approx(0.020, abs=TOLERANCE_S)
    assert got["next"]["orchestrace.cpu.self_s"] == pytest.approx(0.020, abs=TOLERANCE_S)


def test_agent_runs_under_another_providers_span_keep_their_own_cpu(meter):
    """An application's own tracing around the agent: our roots share its trace, not their lifetimes
    (the first root to end used to take the other's contexts with it: that run read 0 CPU)."""
    meter, tracer = meter
    ended = []
    app_span = TracerProvider().get_tracer("the application's").start_span("request")

    async def agent_run(name: str, steps: int) -> None:
        with tracer.start_as_current_span(name) as span:
            for _ in range(steps):
                await asyncio.sleep(0.001)
                burn(0.010)
        ended.append(span)

    async def main() -> None:
        await asyncio.gather(agent_run("short", 1), agent_run("long", 3))

    with trace.use_span(app_span, end_on_exit=True):
        asyncio.run(main())
    got = {s.name: meter.span_figures(s) for s in ended}
    assert got["short"]["orchestrace.cpu.self_s"] == pytest.approx(0.010, abs=TOLERANCE_S)
    assert got["long"]["orchestrace.cpu.self_s"] == pytest.approx(0.030, abs=TOLERANCE_S)
    assert got["long"]["orchestrace.cpu.inclusive_s"] == pytest.approx(0.030, abs=TOLERANCE_S)


def test_to_thread_and_thread_pool_work_is_charged_to_the_submitting_span(meter):
    meter, tracer = meter
    ended = []

    async def offload() -> None:
        with tracer.start_as_current_span("D") as span:
            await asyncio.to_thread(burn, 0.020)
        ended.append(span)

    asyncio.run(offload())

    with tracer.start_as_current_span("pool-parent") as parent:
        pool = concurrent.futures.ThreadPoolExecutor(2)

        def node(name: str, seconds: float) -> None:
            with tracer.start_as_current_span(name) as span:
                burn(seconds)
            ended.append(span)

        futures = [pool.submit(contextvars.copy_context().run, node, n, s) for n, s in (("E15", 0.015), ("E25", 0.025))]
        for future in futures:
            future.result()
        pool.shutdown()
    ended.append(parent)
    got = {s.name: meter.span_figures(s) for s in ended}
    assert got["D"]["orchestrace.cpu.self_s"] == pytest.approx(0.020, abs=TOLERANCE_S)
    assert got["E15"]["orchestrace.cpu.self_s"] == pytest.approx(0.015, abs=TOLERANCE_S)
    assert got["E25"]["orchestrace.cpu.self_s"] == pytest.approx(0.025, abs=TOLERANCE_S)
    assert got["pool-parent"]["orchestrace.cpu.inclusive_s"] == pytest.approx(0.040, abs=3 * TOLERANCE_S)


def test_ended_span_still_current_in_a_context_resolves_to_its_parent(meter):
    meter, tracer = meter
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    with tracer.start_as_current_span("parent") as parent:
        child = tracer.start_span("child")
        otel_context.attach(trace.set_span_in_context(child))  # never detached, like LangChain's async ends
        child.end()
        burn(0.010)  # the context still says "child", but child ended
    figures = meter.span_figures(child), meter.span_figures(parent)
    assert figures[0]["orchestrace.cpu.self_s"] < 0.002
    assert figures[1]["orchestrace.cpu.self_s"] == pytest.approx(0.010, abs=TOLERANCE_S)


def test_buckets_reconcile_with_process_cpu(meter):
    meter, tracer = meter
    start_process = time.process_time_ns()
    before = sum(meter.bucket_totals().values())

    async def run() -> None:
        async def one(i: int) -> None:
            with tracer.start_as_current_span(f"run{i}"):
                burn(0.005)
                await asyncio.to_thread(burn, 0.005)
                await asyncio.sleep(0.001)

        await asyncio.gather(*(one(i) for i in range(8)))

    asyncio.run(run())
    meter.checkpoint(meter.current_key())
    accounted = sum(meter.bucket_totals().values()) - before
    process = time.process_time_ns() - start_process
    assert 0.9 <= accounted / process <= 1.05
    totals = meter.bucket_totals()
    assert totals.get(LOOP, 0) > 0 and totals.get(EXECUTOR_IDLE, 0) >= 0


def test_run_queue_delay_is_measured_as_contention(meter):
    meter, tracer = meter
    ended = []

    async def waiter() -> None:
        with tracer.start_as_current_span("waiter") as span:
            for _ in range(3):
                await asyncio.sleep(0)  # ready at once, but the hog holds the loop
        ended.append(span)

    async def hog() -> None:
        with tracer.start_as_current_span("hog") as span:
            for _ in range(3):
                burn(0.010)
                await asyncio.sleep(0)
        ended.append(span)

    async def main() -> None:
        await asyncio.gather(waiter(), hog())

    asyncio.run(main())
    got = {s.name: meter.span_figures(s) for s in ended}
    assert got["waiter"]["orchestrace.ready_wait_s"] >= 0.025
    assert got["waiter"]["orchestrace.cpu.self_s"] < 0.003


def test_uvloop_task_factory():
    uvloop = pytest.importorskip("uvloop")
    meter = SpanCpuMeter()
    provider = TracerProvider()
    provider.add_span_processor(meter)
    meter.install()
    tracer = provider.get_tracer("test")
    ended = []
    try:

        async def task(name: str, steps: int) -> None:
            with tracer.start_as_current_span(name) as span:
                for _ in range(steps):
                    burn(0.010)
                    await asyncio.sleep(0.001)
                await asyncio.sleep(0.02)
            ended.append(span)

        async def main() -> None:
            asyncio.get_running_loop().set_task_factory(meter.task_factory())
            await asyncio.gather(task("A", 3), task("B", 1), task("C", 0))

        uvloop.run(main())
    finally:
        meter.uninstall()
    got = {s.name: meter.span_figures(s) for s in ended}
    assert got["A"]["orchestrace.cpu.self_s"] == pytest.approx(0.030, abs=TOLERANCE_S)
    assert got["B"]["orchestrace.cpu.self_s"] == pytest.approx(0.010, abs=TOLERANCE_S)
    assert got["C"]["orchestrace.cpu.self_s"] == pytest.approx(0.0, abs=TOLERANCE_S)


def test_a_telemetry_section_that_waits_and_ends_a_span_leaves_no_bucket_negative(meter):
    """A span end inside the handler can hand the GIL to the exporter thread: wall time, not CPU."""
    from profiler.instrument.cpumeter import TELEMETRY

    meter, tracer = meter
    with tracer.start_as_current_span("parent") as parent:
        burn(0.002)
        child = tracer.start_span("child")
        with trace.use_span(child):
            burn(0.010)
            meter.enter_telemetry()
            burn(0.001)
            child.end()  # ends while current: the meter switches to the parent inside the section
            time.sleep(0.030)  # descheduled inside the section
            meter.exit_telemetry()
        burn(0.002)
    figures = {s.name: meter.span_figures(s) for s in (child, parent)}
    assert figures["child"]["orchestrace.cpu.self_s"] == pytest.approx(0.010, abs=TOLERANCE_S)
    assert figures["parent"]["orchestrace.cpu.self_s"] == pytest.approx(0.004, abs=TOLERANCE_S)
    # the section's CPU is the profiler's, on the span it interrupted; the sleep is no one's CPU
    assert 0.0005 < figures["child"]["orchestrace.cpu.profiler_s"] < 0.001 + TOLERANCE_S
    assert meter.bucket_totals()[TELEMETRY] / 1e9 == pytest.approx(figures["child"]["orchestrace.cpu.profiler_s"])
    assert figures["child"]["orchestrace.profiler.wait_s"] == pytest.approx(0.030, abs=TOLERANCE_S)  # the profiler's
