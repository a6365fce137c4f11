"""Spans grouped by trace as a span file is read, holding only the traces still open.

`spans.jsonl` lines are export batches in the order spans ended, from every process of the run.
A trace is handed on once its root span has been read and `settle_lines` more lines have gone
by: a SERVER span (another process, its own export batches) can land a line or two after the
root that closes its trace. A span that arrives for one of the last
`REMEMBERED` traces handed on is counted as late, never silently double counted (older ones form
a trace without a root, which is no agent run).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from profiler.store.spans import SpanRecord

SETTLE_LINES = 16  # lines read after a trace's root before the trace is complete
REMEMBERED = 8_192  # closed traces remembered to tell a late span (~170k spans back; memory stays flat beyond)


@dataclass
class TraceGrouper:
    """Feed it the spans of each line in file order; it yields every trace once, complete."""

    settle_lines: int = SETTLE_LINES
    late_spans: int = 0
    _open: dict[str, list[SpanRecord]] = field(default_factory=dict)
    _rooted_at: dict[str, int] = field(default_factory=dict)  # trace -> line its root arrived on
    _done: set[str] = field(default_factory=set)
    _done_order: deque[str] = field(default_factory=deque)
    _line: int = 0

    def feed(self, spans: Iterable[SpanRecord]) -> Iterator[list[SpanRecord]]:
        """Take one line's spans; yield the traces that are now complete."""
        self._line += 1
        for span in spans:
            if span.trace_id in self._done:
                self.late_spans += 1
                continue
            self._open.setdefault(span.trace_id, []).append(span)
            if span.parent_id is None:
                self._rooted_at.setdefault(span.trace_id, self._line)
        settled = [t for t, line in self._rooted_at.items() if self._line - line >= self.settle_lines]
        for trace_id in settled:
            yield self._close(trace_id)

    def finish(self) -> Iterator[list[SpanRecord]]:
        """The end of the file: every trace still open, rooted or not."""
        for trace_id in list(self._open):
            yield self._close(trace_id)

    def _close(self, trace_id: str) -> list[SpanRecord]:
        self._rooted_at.pop(trace_id, None)
        self._done.add(trace_id)
        self._done_order.append(trace_id)
        if len(self._done_order) > REMEMBERED:
            self._done.discard(self._done_order.popleft())
        return self._open.pop(trace_id)


def grouped(lines: Iterable[Iterable[SpanRecord]], settle_lines: int = SETTLE_LINES) -> Iterator[list[SpanRecord]]:
    """Every trace of a span file, complete, in the order they settled (see `TraceGrouper`)."""
    grouper = TraceGrouper(settle_lines)
    for spans in lines:
        yield from grouper.feed(spans)
    yield from grouper.finish()
