from profiler.analysis.stacks import NO_FRAMES, classify, stack_breakdown
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
    result = stack_breakdown(samples, rate=100, workload_pid=10, process_cpu_s=0.25)
    assert result["by_category_s"] == {"model_client": 0.3}
    assert result["idle_samples_dropped"] == 50
    assert result["coverage"] == 0.3 / 0.25
    assert result["child_processes_s"] == {"python -m unittest": 0.1}
