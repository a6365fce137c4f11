"""The callback handler's span tree, attributes and isolation under concurrency (in-process)."""

import asyncio

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from profiler.instrument.callbacks import CAPTURE_CONTENT_ENV, SpanCallbackHandler
from tests.unit.fakes import TaskEchoModel, react_graph


@pytest.fixture
def tracing():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test"), exporter


def tree(spans):
    by_id = {s.context.span_id: s for s in spans}
    return {s.name: (by_id[s.parent.span_id].name if s.parent else None) for s in spans}, by_id


def invoke(graph, handler, text):
    return graph.ainvoke({"messages": [{"role": "user", "content": text}]}, {"callbacks": [handler]})


def test_span_tree_kinds_and_attributes(tracing):
    tracer, exporter = tracing
    handler = SpanCallbackHandler(tracer, agent_name="demo")
    asyncio.run(invoke(react_graph(TaskEchoModel()), handler, "alpha"))
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    assert names.count("invoke_node model") == 2 and names.count("chat unknown") == 2
    parents, _ = tree(spans)
    assert parents["invoke_agent demo"] is None
    assert parents["invoke_node model"] == "invoke_agent demo"
    assert parents["chat unknown"] == "invoke_node model"
    assert parents["execute_tool lookup"] == "invoke_node tools"
    assert len({s.context.trace_id for s in spans}) == 1
    chat = next(s for s in spans if s.name.startswith("chat"))
    assert chat.kind == SpanKind.CLIENT
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 10
    assert chat.attributes["gen_ai.usage.output_tokens"] == 5
    tool_span = next(s for s in spans if s.name == "execute_tool lookup")
    assert tool_span.attributes["gen_ai.tool.call.id"] == "call-alpha"
    assert tool_span.attributes["gen_ai.tool.name"] == "lookup"
    node = next(s for s in spans if s.name == "invoke_node tools")
    assert node.attributes["gen_ai.node.name"] == "tools"


def test_content_is_not_recorded_unless_opted_in(tracing, monkeypatch):
    tracer, exporter = tracing
    monkeypatch.delenv(CAPTURE_CONTENT_ENV, raising=False)
    asyncio.run(invoke(react_graph(TaskEchoModel()), SpanCallbackHandler(tracer), "secret-text"))
    for span in exporter.get_finished_spans():
        for value in span.attributes.values():
            assert "secret-text" not in str(value) or span.name.startswith("execute_tool")
        assert "gen_ai.input.messages" not in span.attributes
        assert "gen_ai.tool.call.arguments" not in span.attributes
    exporter.clear()
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    asyncio.run(invoke(react_graph(TaskEchoModel()), SpanCallbackHandler(tracer), "secret-text"))
    chat = next(s for s in exporter.get_finished_spans() if s.name.startswith("chat"))
    assert "secret-text" in chat.attributes["gen_ai.input.messages"]


def test_concurrent_runs_on_one_loop_do_not_cross_wire(tracing):
    tracer, exporter = tracing
    handler = SpanCallbackHandler(tracer, agent_name="demo")
    graph = react_graph(TaskEchoModel(delay_s=0.01))
    keys = [f"task{i}" for i in range(16)]

    async def main():
        await asyncio.gather(*(invoke(graph, handler, key) for key in keys))

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 16
    by_id = {s.context.span_id: s for s in spans}
    for span in spans:
        if span.parent is not None:
            parent = by_id[span.parent.span_id]  # no orphans
            assert parent.context.trace_id == span.context.trace_id
    for root in roots:
        in_trace = [s for s in spans if s.context.trace_id == root.context.trace_id]
        tools = [s for s in in_trace if s.name == "execute_tool lookup"]
        assert len(tools) == 1 and len(in_trace) == 7
        call_id = tools[0].attributes["gen_ai.tool.call.id"]
        # every span of a trace belongs to the same task: the tool id names the task's own input
        assert call_id.startswith("call-task")
    assert len({s.attributes["gen_ai.tool.call.id"] for s in spans if s.name == "execute_tool lookup"}) == 16


def test_tool_error_is_recorded_on_its_span(tracing):
    tracer, exporter = tracing
    with pytest.raises(ValueError, match="tool exploded"):
        asyncio.run(invoke(react_graph(TaskEchoModel()), SpanCallbackHandler(tracer), "explode"))
    spans = {s.name: s for s in exporter.get_finished_spans()}
    failed = spans["execute_tool lookup"]
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["error.type"] == "ValueError"
    assert any(e.name == "exception" for e in failed.events)
    assert spans["invoke_agent agent"].status.status_code == StatusCode.ERROR


def test_runs_under_an_agent_span_reuse_it(tracing):
    tracer, exporter = tracing
    handler = SpanCallbackHandler(tracer, agent_name="demo")

    async def main():
        with tracer.start_as_current_span("invoke_agent outer", attributes={"gen_ai.operation.name": "invoke_agent"}):
            await invoke(react_graph(TaskEchoModel()), handler, "x")

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans if s.parent is None] == ["invoke_agent outer"]
    assert sum(s.name.startswith("invoke_agent") for s in spans) == 1


def test_open_spans_are_closed_and_marked_incomplete(tracing):
    tracer, exporter = tracing
    handler = SpanCallbackHandler(tracer)
    from uuid import uuid4

    run = uuid4()
    handler.on_chain_start({}, {}, run_id=run, name="LangGraph")
    handler.on_tool_start({}, "x", run_id=uuid4(), parent_run_id=run, name="lookup")
    assert handler.end_open_spans("interrupted") == 2
    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    assert all(s.attributes["orchestrace.incomplete"] for s in spans)
