import pytest

from profiler.analysis.stacks import NO_FRAMES, Window, classify, stack_breakdown
from profiler.store.session import StackSample, parse_raw_stacks


def frames(*names):
    return tuple(names)


def test_precedence_and_idle_leaves():
    tool = frames(
        "Pregel.ainvoke (langgraph/pregel/main.py:1)",
        "BaseTool.run (langchain_core/tools/base.py:764)",
        "dumps (json/__init__.py:231)",
    )
    assert classify(tool) == "tool"  # json called from a tool is tool work
    client = frames("Pregel.ainvoke (langgraph/pregel/main.py:1)", "construct_type (openai/_models.py:695)")
    assert classify(client) == "model_client"
    framework = frames("Pregel.ainvoke (langgraph/pregel/main.py:1)", "BaseModel.__init__ (pydantic/main.py:280)")
    assert classify(framework) == "framework"
    assert classify(frames("Handle._run (asyncio/events.py:80)", "EpollSelector.select (selectors.py:468)")) is None
    assert classify(()) == NO_FRAMES
    meter_wrapper = frames(
        "SpanCpuMeter.install.<locals>.handle_run (profiler/instrument/cpumeter.py:290)",
        "Handle._run (asyncio/events.py:80)",
        "AsyncStream.__aiter__ (openai/_streaming.py:167)",
    )
    assert classify(meter_wrapper) == "model_client"  # the meter's wrapper frame is a caller, not the cost
    meter_leaf = frames(
        "Handle._run (asyncio/events.py:80)", "SpanCpuMeter.checkpoint (profiler/instrument/cpumeter.py:1)"
    )
    assert classify(meter_leaf) == "telemetry"


def test_a_ray_worker_waiting_for_tasks_is_idle_and_ray_itself_is_runtime():
    ray_main = "<module> (ray/_private/workers/default_worker.py:323)"
    assert classify(frames(ray_main, "Worker.main_loop (ray/_private/worker.py:1069)")) is None
    wrapper = "async_span_wrapper._resume_span (ray/util/tracing/tracing_helper.py:460)"
    assert classify(frames(wrapper, "FleetWorker.run (profiler/runner/rayworker.py:1)")) == "runtime"
    assert classify(frames(wrapper, "BaseModel.__init__ (pydantic/main.py:280)")) == "framework"


def test_raw_parsing_and_breakdown_with_children():
    raw = (
        'process 10:"python -m agent";thread (10);main (app.py:1);construct_type (openai/_models.py:695) 30\n'
        'process 10:"python -m agent";thread (11);_worker (concurrent/futures/thread.py:81) 50\n'
        'process 22:"python -m unittest";thread (22);main (unittest/main.py:1) 10\n'
        "garbage line\n"
    )
    samples = parse_raw_stacks(raw)
    assert samples[0] == StackSample(
        10, "python -m agent", 10, frames("main (app.py:1)", "construct_type (openai/_models.py:695)"), 30
    )
    result = stack_breakdown(samples, rate=100, workload_pid=10, window=Window(cpu_s=0.25))
    assert result.by_category_s == {"model_client": 0.3}
    assert result.idle_samples_dropped == 50
    assert result.coverage == 0.3 / 0.25
    assert result.child_processes_s == {"python -m unittest": 0.1}


DRIVER = ("_run_module_as_main (<frozen runpy>:198)", "<module> (profiler/runner/workload.py:256)")
LOOP = ("main (profiler/runner/workload.py:216)", "run (asyncio/runners.py:190)", "Runner.run (asyncio/runners.py:118)")


def test_without_subprocesses_the_samples_are_the_workloads_and_start_up_is_apart():
    """py-spy names no process without --subprocesses; start-up, exit and the window are told apart by stack."""
    raw = "\n".join(
        [
            # imports and building the graph, before the window
            ";".join(["thread (7)", *DRIVER[:1], "<module> (profiler/runner/workload.py:31)", "_find_and_load "
                      "(<frozen importlib._bootstrap>:1176)"]) + " 40",
            ";".join(["thread (7)", *DRIVER, "main (profiler/runner/workload.py:200)",
                      "Workload.build (profiler/runner/workload.py:90)", "build (agents/rag/graph.py:20)"]) + " 20",
            "thread (7) 10",  # the interpreter starting or exiting: no Python frame on the main thread
            # the agent runs, in the event loop, and a worker thread
            ";".join(["thread (7)", *DRIVER, *LOOP, "construct_type (openai/_models.py:695)"]) + " 50",
            ";".join(["thread (9)", "Thread.run (threading.py:1)", "dumps (json/__init__.py:231)"]) + " 10",
        ]
    )  # fmt: skip
    samples = parse_raw_stacks(raw)
    assert {s.pid for s in samples} == {0}
    result = stack_breakdown(samples, rate=100, workload_pid=7, window=Window(cpu_s=0.6))
    assert result.by_category_s == {"model_client": 0.5, "framework": 0.1}
    assert result.startup_s == pytest.approx(0.7) and result.child_processes_s == {}
    assert result.coverage == pytest.approx(1.0) and result.coverage_note is None


@pytest.mark.parametrize(
    ("window", "sampled", "why"),
    [
        (Window(cpu_s=0.875), 70, "70 samples count the CPU only to ±12%"),
        (Window(cpu_s=10.0, sampler_errors=100), 600, "py-spy failed to read 100 samples (14%)"),
        (Window(cpu_s=10.0, run_delay_s=8.0), 1500, "waited 8.00 s for a CPU in the window"),
        (Window(cpu_s=None), 100, "no CPU figures for the measured window"),
    ],
)
def test_coverage_outside_the_range_says_why(window, sampled, why):
    samples = [StackSample(7, "python", 7, ("main (app.py:1)", "dumps (json/__init__.py:231)"), sampled)]
    result = stack_breakdown(samples, rate=100, workload_pid=7, window=window)
    assert why in result.coverage_note
