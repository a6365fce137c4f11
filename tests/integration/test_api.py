"""The Python API on a hand-written graph: sync and async, a failing graph, profile_graph over inputs."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from profiler import profile, profile_graph
from profiler.analysis.report import build_report
from profiler.analysis.traces import agent_runs
from profiler.store.session import load_session

pytestmark = pytest.mark.integration

BURN_S = 0.05


@tool
def burn(seconds: float) -> str:
    """Use this much CPU."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    return "done"


class ToolCallingFake(GenericFakeChatModel):
    """A local chat model: one tool call, then an answer (no HTTP)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def _replies() -> Any:
    return iter(
        [
            AIMessage("", tool_calls=[{"name": "burn", "args": {"seconds": BURN_S}, "id": "call-1"}]),
            AIMessage("finished"),
        ]
    )


def build(model: Any) -> Any:
    bound = model.bind_tools([burn])

    def call(state: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("model", call)
    graph.add_node("tools", ToolNode([burn]))
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", tools_condition)
    graph.add_edge("tools", "model")
    return graph.compile(name="hand-written")


def _check(run_dir, status: str = "completed") -> dict[str, Any]:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == status
    session = load_session(run_dir)
    assert not [p for p in session.problems if "missing" in p], session.problems
    report = build_report(session)
    runs = agent_runs(session.span_list())
    assert len(runs) == 1
    burns = [s for s in runs[0].spans if s.attributes.get("gen_ai.tool.name") == "burn"]
    assert len(burns) == 1
    assert burns[0].attributes["orchestrace.cpu.inclusive_s"] == pytest.approx(BURN_S, abs=0.005)
    assert 0.9 <= report.cpu_s.coverage <= 1.1
    return report


def test_sync_context_manager_profiles_a_hand_written_graph(tmp_path):
    graph = build(ToolCallingFake(messages=_replies()))
    with profile(out=tmp_path, name="mine", sampler=False) as run:
        result = graph.invoke({"messages": [HumanMessage("go")]})
    assert result["messages"][-1].content == "finished"
    report = _check(run.run_dir)
    assert run.report.to_json() == json.loads((run.run_dir / "report.json").read_text())
    assert report.tools[0].name == "burn"
    trajectory = [json.loads(line) for line in (run.run_dir / "trajectories.jsonl").read_text().splitlines()]
    assert [c["tool_calls"] for c in trajectory] == [[{"name": "burn", "args": {"seconds": BURN_S}}], []]


def test_async_context_manager_profiles_a_hand_written_graph(tmp_path):
    graph = build(ToolCallingFake(messages=_replies()))

    async def main() -> Any:
        async with profile(out=tmp_path, name="mine-async", sampler=False) as run:
            await graph.ainvoke({"messages": [HumanMessage("go")]})
        return run

    run = asyncio.run(main())
    _check(run.run_dir)


def test_a_failing_graph_propagates_unchanged_and_leaves_a_complete_failed_run(tmp_path):
    class Boom(RuntimeError):
        pass

    @tool
    def explode() -> str:
        """Fails."""
        raise Boom("tool exploded")

    fake = ToolCallingFake(messages=iter([AIMessage("", tool_calls=[{"name": "explode", "args": {}, "id": "c"}])]))
    graph = StateGraph(MessagesState)
    graph.add_node("model", lambda state: {"messages": [fake.invoke(state["messages"])]})
    graph.add_node("tools", ToolNode([explode], handle_tool_errors=False))
    graph.add_edge(START, "model")
    graph.add_edge("model", "tools")
    compiled = graph.compile()
    raised = None
    try:
        with profile(out=tmp_path, name="failing", sampler=False) as run:
            compiled.invoke({"messages": [HumanMessage("go")]})
    except Boom as exc:
        raised = exc
    assert isinstance(raised, Boom) and str(raised) == "tool exploded"
    manifest = json.loads((run.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "tool exploded" in manifest["message"]
    for name in ("spans.jsonl", "cpu.json", "report.json", "trajectories.jsonl", "process.jsonl"):
        assert (run.run_dir / name).exists(), name
    spans = load_session(run.run_dir).span_list()
    failed = [s for s in spans if s.name == "execute_tool explode"]
    assert failed and failed[0].status_code == 2


def test_profile_graph_runs_inputs_concurrently_and_keeps_failures_per_run(tmp_path):
    def make() -> Any:
        return build(ToolCallingFake(messages=_replies()))

    graphs = {}

    class PerInput:
        """One fake model per input (a fake's replies are a single iterator)."""

        async def ainvoke(self, value: dict[str, Any], config: Any = None) -> Any:
            key = value["messages"][0].content
            if key == "bad":
                raise ValueError("bad input")
            graphs.setdefault(key, make())
            return await graphs[key].ainvoke(value, config)

    inputs = [{"messages": [HumanMessage(f"task {i}")]} for i in range(3)] + [{"messages": [HumanMessage("bad")]}]
    session, results = profile_graph(PerInput(), inputs, concurrency=2, out=tmp_path, name="many", sampler=False)
    assert isinstance(results[3], ValueError)
    assert all(r["messages"][-1].content == "finished" for r in results[:3])
    report = build_report(load_session(session.run_dir))
    assert report.agent_runs == 4 and report.errors == 1
    config = json.loads((session.run_dir / "workload.json").read_text())
    assert config["concurrency"] == 2 and len(config["runs"]) == 4


def test_bad_arguments_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="concurrency"):
        profile_graph(object(), [{}], concurrency=0, out=tmp_path)
    with pytest.raises(ValueError, match="empty"):
        profile_graph(object(), [], out=tmp_path)
    with pytest.raises(ValueError, match="sample_rate"):
        profile(out=tmp_path, sample_rate=0)
    assert not list(tmp_path.iterdir())


def test_a_callers_own_current_span_does_not_swallow_the_agent_runs(tmp_path):
    """An already-instrumented service has its own span current: each agent run still gets its own trace."""
    from opentelemetry.sdk.trace import TracerProvider

    outer = TracerProvider().get_tracer("the caller's web framework")
    graph = build(ToolCallingFake(messages=_replies()))
    with outer.start_as_current_span("POST /ask"), profile(out=tmp_path, name="inside", sampler=False) as run:
        graph.invoke({"messages": [HumanMessage("go")]})
    _check(run.run_dir)


def test_overlapping_profiles_are_refused_clearly(tmp_path):
    second = profile(out=tmp_path, name="second", sampler=False)
    with profile(out=tmp_path, name="first", sampler=False), pytest.raises(RuntimeError, match="another profile"):
        second.__enter__()
    with profile(out=tmp_path, name="after", sampler=False) as run:  # the first one released it
        pass
    assert json.loads((run.run_dir / "manifest.json").read_text())["status"] == "completed"
