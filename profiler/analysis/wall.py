"""Where each agent run's wall time went, along its critical path.

Every instant of a run's wall clock lies on the critical path and belongs to the self time of
exactly one span there (parallel branches count once). That self time is split by what the
meter measured the span doing, scaled to the part of its self time that is on the path:

- running on a CPU: the span's own CPU — `tool_cpu` for the user's tool function (and the child
  processes it waited for) and for spans inside a tool, `orchestration_cpu` otherwise (the
  framework, LangChain's tool wrapper, the model client);
- orchestrace's own sections in the span: `profiler`;
- ready to run while the event loop ran something else: this run's own parallel branches
  (their kind of CPU), other agent runs (`contention`), the loop's own work (this run's share
  is `orchestration_cpu`); handing work to a worker thread and back (the runtime's, so
  `orchestration_cpu` too);
- running but off the CPU: waiting for the GIL (`gil_wait`), the OS running something else
  (`contention`), blocked in a system call (`tool_wait` in tools, `other_wait` elsewhere);
- a model request in flight: `model_wait`. Where the server joins the trace (the simulated
  server), its own working time, taken first: the client's work meanwhile was hidden behind it.
  Otherwise as measured at the HTTP transport: every stretch the model was working through,
  from the request leaving (or the task last waiting for it) to the task waiting for it again,
  with the client's work and run-queue delays inside it, which ran while the model was still
  generating (the stream would not have ended sooner without them);
- nothing to do otherwise: `tool_wait` in tools (async I/O), `other_wait` elsewhere; in a chat
  call that was retried (more than one HTTP attempt), the back-off between attempts: `retry_wait`.

Parts are taken in that order, each capped by what is left of the window, so a run's parts add
up to its wall time exactly. Runs recorded by an older orchestrace (no per-span blame) are split
the old way: client CPU, run-queue delay as contention, the rest as waiting.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from profiler.analysis.traces import (
    CHAT,
    TOOL,
    AgentRun,
    Segment,
    critical_path,
    model_attempts,
    overlap_ns,
    self_time_s,
    span_kind,
)
from profiler.store import fields
from profiler.store.spans import SpanRecord

# every category of an agent run's wall time: key -> (short name, what it means)
CATEGORIES: dict[str, tuple[str, str]] = {
    "model_wait": ("model wait", "waiting on the model (a request in flight)"),
    "orchestration_cpu": ("orchestration CPU", "framework, runtime and model-client work of this run"),
    "tool_cpu": ("tool CPU", "the tool functions' own CPU (and their child processes)"),
    "tool_wait": ("tool wait", "tools waiting on I/O and subprocesses"),
    "contention": ("contention", "ready, but the CPU ran other agent runs or processes"),
    "gil_wait": ("GIL wait", "a thread waiting for the GIL another thread held"),
    "profiler": ("profiler", "orchestrace's own work on the critical path"),
    "other_wait": ("other wait", "waiting that nothing measured explains"),
    "retry_wait": ("retry wait", "a retried model call backing off between attempts"),
}
KEYS = tuple(CATEGORIES)


@dataclass(frozen=True)
class WallSplit:
    total: float
    parts: dict[str, float]


def _figure(span: SpanRecord, name: str) -> float:
    return float(span.attributes.get(name, 0.0))


class _Window:
    """A span's share of the critical path, handed out part by part until none is left."""

    def __init__(self, seconds: float, share: float, parts: dict[str, float]) -> None:
        self.left = seconds
        self.share = share
        self.parts = parts

    def take(self, key: str, measured: float, scaled: bool = True) -> None:
        amount = max(0.0, min(measured * self.share if scaled else measured, self.left))
        self.parts[key] += amount
        self.left -= amount

    def rest(self, key: str) -> None:
        self.parts[key] += self.left
        self.left = 0.0


def _server_seconds(run: AgentRun, span: SpanRecord, segments: list[Segment]) -> float:
    """The time a SERVER span of this chat call was working, inside the call's path segments."""
    return (
        sum(
            overlap_ns(seg.start_ns, seg.end_ns, server.start_ns, server.end_ns)
            for seg in segments
            for server in run.server.get(span.span_id, [])
        )
        / 1e9
    )


def decompose(run: AgentRun, path: list[Segment] | None = None) -> WallSplit:
    """The run's wall time split along its critical path (`path`, when already worked out)."""
    parts = dict.fromkeys(KEYS, 0.0)
    on_path: dict[str, list[Segment]] = defaultdict(list)
    for segment in critical_path(run) if path is None else path:
        on_path[segment.span.span_id].append(segment)
    for span_id, segments in on_path.items():
        span = run.by_id.get(span_id) or run.root
        seconds = sum(s.duration_s for s in segments)
        full_self = self_time_s(run, span)
        window = _Window(seconds, min(1.0, seconds / full_self) if full_self > 0 else 1.0, parts)
        if fields.READY_OTHER_RUNS in span.attributes:
            _split(run, span, segments, window)
        else:
            _split_recorded_before_blame(run, span, segments, window)
    return WallSplit(run.wall_s, parts)


def _split(run: AgentRun, span: SpanRecord, segments: list[Segment], window: _Window) -> None:
    kind = span_kind(span)
    in_tool = run.category_of(span) == TOOL
    own = _figure(span, fields.CPU_SELF)
    hidden_cpu = hidden_ready = 0.0  # client work and delays inside the model's stretches
    if kind == CHAT and run.server.get(span.span_id):
        # the server joined the trace: its working time is the model's, exactly; the client's work
        # while it worked was hidden behind it (taken first, the rest is capped by what is left)
        window.take("model_wait", _server_seconds(run, span, segments), scaled=False)
    elif kind == CHAT:
        window.take("model_wait", _figure(span, fields.MODEL_WAIT))
        hidden_cpu = _figure(span, fields.MODEL_OVERLAP_CPU)
        hidden_ready = _figure(span, fields.MODEL_OVERLAP_READY)
    if kind == TOOL:
        tool_fn = _figure(span, fields.CPU_TOOL_FN)
        window.take("tool_cpu", tool_fn + _figure(span, fields.CPU_CHILDREN))
        window.take("orchestration_cpu", own - tool_fn)  # LangChain's tool wrapper
    else:
        cpu = own - hidden_cpu + _figure(span, fields.CPU_CHILDREN)
        window.take("tool_cpu" if in_tool else "orchestration_cpu", cpu)
    window.take("profiler", _figure(span, fields.CPU_PROFILER) + _figure(span, fields.PROFILER_WAIT))
    ready = _figure(span, fields.READY_WAIT)
    kept = max(0.0, ready - hidden_ready) / ready if ready > 0 else 1.0
    blame = {name: _figure(span, name) * kept for name in fields.READY_BLAME}
    window.take("orchestration_cpu", blame[fields.READY_ORCHESTRATION] + blame[fields.READY_MODEL_CLIENT])
    window.take("tool_cpu", blame[fields.READY_TOOL])
    window.take("profiler", blame[fields.READY_PROFILER])
    window.take("contention", blame[fields.READY_OTHER_RUNS])
    window.take("orchestration_cpu", blame[fields.READY_RUNTIME] + _figure(span, fields.HANDOFF))
    window.take("gil_wait", _figure(span, fields.OFFCPU_GIL))
    window.take("contention", _figure(span, fields.OFFCPU_HOST))
    idle = "tool_wait" if in_tool else "other_wait"
    if kind == CHAT and model_attempts(run, span)[0] > 1:
        idle = "retry_wait"  # asleep between attempts (a sync client's sleep is a blocking system call)
    window.take(idle, _figure(span, fields.OFFCPU_BLOCKED))
    window.rest(idle)


def _split_recorded_before_blame(run: AgentRun, span: SpanRecord, segments: list[Segment], window: _Window) -> None:
    """Runs recorded before per-span blame: client CPU, run-queue delay as contention, waits."""
    kind = span_kind(span)
    own = _figure(span, fields.CPU_SELF)
    ready = _figure(span, fields.READY_WAIT)
    if kind == CHAT and run.server.get(span.span_id):
        window.take("model_wait", _server_seconds(run, span, segments), scaled=False)
        window.take("orchestration_cpu", own)
        window.rest("contention")
    elif kind == CHAT:
        window.take("contention", ready)
        window.take("orchestration_cpu", own)
        window.rest("model_wait")
    elif kind == TOOL:
        window.take("tool_cpu", own + _figure(span, fields.CPU_CHILDREN))
        window.take("contention", ready)
        window.rest("tool_wait")
    else:
        window.take("orchestration_cpu", own)
        window.take("contention", ready)
        window.rest("other_wait")
