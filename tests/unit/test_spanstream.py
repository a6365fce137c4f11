"""Traces handed on complete, once, while a span file is read (fixed inputs, no files)."""

from profiler.store.spans import SpanRecord
from profiler.store.spanstream import TraceGrouper, grouped


def span(trace: str, span_id: str, parent: str | None = None) -> SpanRecord:
    return SpanRecord(trace, span_id, parent, "s", 1, 0, 1, {})


def test_a_trace_is_handed_on_once_its_root_has_settled():
    grouper = TraceGrouper(settle_lines=2)
    assert list(grouper.feed([span("a", "1", "0r"), span("b", "1", "0r")])) == []
    assert list(grouper.feed([span("a", "0r")])) == []  # a's root: a settles two lines later
    assert list(grouper.feed([span("a", "srv", "1")])) == []  # a late SERVER span still joins a
    [trace] = list(grouper.feed([]))
    assert {s.span_id for s in trace} == {"1", "0r", "srv"}
    assert [[s.trace_id for s in t] for t in grouper.finish()] == [["b"]]  # rootless: handed on at the end


def test_a_span_after_its_trace_was_handed_on_is_counted_late_not_added():
    lines = [[span("a", "0r")], [], [span("a", "x", "0r")]]
    traces = list(grouped(lines, settle_lines=1))
    assert [[s.span_id for s in t] for t in traces] == [["0r"]]
    grouper = TraceGrouper(settle_lines=1)
    for line in lines:
        list(grouper.feed(line))
    assert grouper.late_spans == 1


def test_only_open_traces_are_held():
    grouper = TraceGrouper(settle_lines=1)
    for i in range(10_000):
        list(grouper.feed([span(f"t{i}", "0r")]))
        assert len(grouper._open) <= 2
