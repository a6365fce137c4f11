"""What each recorded agent run did, as steps a simulation can replay at another speed.

A span's lifetime is its self time (gaps) around its children; children whose lifetimes overlap
ran in parallel (a fork, joined when the last ends). Each gap gets the span's share of:

- loop CPU: the span's own CPU and orchestrace's sections in it: it needs the workload process's
  one loop (the GIL) and a core;
- inherent waiting: the rest of its self time apart from delays (I/O, sleeps, subprocesses,
  whose CPU needs a core but not the loop).

Delays are not replayed: run-queue delays and GIL waits came from sharing the loop and the GIL,
which the simulation recomputes, and the time the OS ran other processes instead is kept as the
recording's `interference` (per second of loop work), a property of the machine it ran on, as is
the event loop's own work between steps (`loop_overhead`).

A chat span is a model call: client CPU before the request and after the reply, and the
streaming CPU between. The streaming CPU is the client CPU the pre/post gaps cannot hold (at the
span's ratio of delays to CPU); the simulation re-times the call and the reads of its stream.
Nothing here reads a clock.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from profiler.accelerators.timing import DEFAULT_FLUSH_INTERVAL_S
from profiler.analysis.passes import Seen, fold
from profiler.analysis.traces import CHAT, AgentRun, span_kind
from profiler.store import fields
from profiler.store.spans import KIND_SERVER, SpanRecord

# the meter's figures a plan is made of (seconds; delays are recomputed, not replayed)
_CPU_SELF, _CPU_PROFILER, _CHILDREN = fields.CPU_SELF, fields.CPU_PROFILER, fields.CPU_CHILDREN
_READY, _HOST, _GIL, _PROFILER_WAIT = fields.READY_WAIT, fields.OFFCPU_HOST, fields.OFFCPU_GIL, fields.PROFILER_WAIT


MAX_PLANS = 1000  # agent runs a longer run's sample holds at least (and fewer than twice as many)


class Cpu(NamedTuple):
    """CPU work: on the process's event loop (`loop`), or in a child process (a core only)."""

    seconds: float
    loop: bool = True


class Wait(NamedTuple):
    seconds: float


class Call(NamedTuple):
    """A model call, with its stream's client CPU at the recorded preset, the deliveries it read
    there and how many streams shared each delivery on average (`reads` is None without the
    server's span: the stream's CPU is then kept as recorded)."""

    input_tokens: int
    output_tokens: int
    stream_cpu_s: float
    reads: float | None
    sharing: float = 1.0


class Fork(NamedTuple):
    branches: tuple[tuple[Step, ...], ...]


Step = Cpu | Wait | Call | Fork


class RunPlan(NamedTuple):
    steps: tuple[Step, ...]
    recorded_wall_s: float
    start_ns: int = 0


@dataclass(frozen=True)
class Recording:
    """A run's agent runs as plans (an even sample of them in a long run), with what the machine and
    the server did to them."""

    runs: tuple[RunPlan, ...]
    interference: float  # time the OS ran other processes per second of loop work
    loop_overhead: float  # the event loop's own work (between steps, outside spans) per second of span work
    delivery_interval_s: float  # between a stream's writes (the server's flush period), as recorded
    completed: int  # the completed agent runs recorded: `runs` holds all of them, or a sample


def reads(output_tokens: int, decode_s: float, delivery_interval_s: float) -> float:
    """Reads of a streamed reply: the server delivers what was decoded every interval, at most a
    token per delivery, the first token on its own."""
    return max(1.0, min(float(output_tokens), 1.0 + decode_s / delivery_interval_s))


def _start(span: SpanRecord) -> int:
    return span.start_ns


def _gap(steps: list[Step], cpu: float, wait: float, child_cpu: float = 0.0) -> None:
    """A span's self time: its loop CPU, then waiting, during which its child processes ran. Loop CPU
    right after loop CPU, or a wait after a wait, adds to the step before."""
    last = steps[-1] if steps else None
    if cpu > 0:
        if type(last) is Cpu and last.loop:
            steps[-1] = Cpu(last.seconds + cpu)
        else:
            steps.append(Cpu(cpu))
    if child_cpu > 0:
        steps.append(Cpu(child_cpu, loop=False))
    wait -= child_cpu
    if wait > 0:
        last = steps[-1] if steps else None
        if type(last) is Wait:
            steps[-1] = Wait(last.seconds + wait)
        else:
            steps.append(Wait(wait))


class _Decoding:
    """How many streams the server was decoding at once, on average over the stretches of the planned
    calls: every server span's decode window is kept (two floats), the stretches' overlaps with them
    added up once the sample of runs is settled."""

    def __init__(self) -> None:
        self.starts = array("d")
        self.ends = array("d")

    def add(self, window: tuple[float, float]) -> None:
        self.starts.append(window[0])
        self.ends.append(window[1])

    def means(self, stretches: Iterable[tuple[float, float]]) -> dict[tuple[float, float], float]:
        """Each stretch's mean number of streams decoding (at least one: its own).

        The streams decoding at t, integrated up to x, is Σ max(0, x − start) − Σ max(0, x − end) over
        the windows: with both sorted and summed once, each stretch is two lookups (times are taken
        from the first window's start, so the sums keep their precision)."""
        queries = list(set(stretches))
        if not queries:
            return {}
        origin = self.starts[0] if self.starts else 0.0
        starts = np.frombuffer(self.starts, dtype=np.float64) - origin
        ends = np.maximum(np.frombuffer(self.ends, dtype=np.float64) - origin, starts)  # no negative windows
        starts.sort()
        ends.sort()
        summed_starts = np.concatenate(([0.0], np.cumsum(starts)))
        summed_ends = np.concatenate(([0.0], np.cumsum(ends)))

        def decoded(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
            begun, over = np.searchsorted(starts, x, side="right"), np.searchsorted(ends, x, side="right")
            return (begun * x - summed_starts[begun]) - (over * x - summed_ends[over])

        bounds = np.array(queries, dtype=np.float64) - origin
        area = decoded(bounds[:, 1]) - decoded(bounds[:, 0])
        return {
            (start, end): max(1.0, float(area[index]) / (end - start)) if end > start else 1.0
            for index, (start, end) in enumerate(queries)
        }


class _Sample:
    """An even sample of at most 2 × MAX_PLANS agent runs in the order they come: every `stride`-th,
    the stride doubling (every other one kept dropped) whenever the sample is full."""

    def __init__(self) -> None:
        self.stride = 1
        self.seen = 0
        self.kept: dict[int, tuple[RunPlan, list[tuple[float, float]]]] = {}  # plan, stretches; by place

    def offer(self, plan: RunPlan, stretches: list[tuple[float, float]]) -> None:
        """Count the next run; keep it when it falls on the stride."""
        place, self.seen = self.seen, self.seen + 1
        if place % self.stride:
            return
        self.kept[place] = (plan, stretches)
        if len(self.kept) >= 2 * MAX_PLANS:
            self.stride *= 2
            self.kept = {place: kept for place, kept in self.kept.items() if place % self.stride == 0}


def _decode_window(server: SpanRecord) -> tuple[float, float]:
    end = server.end_ns / 1e9
    return end - float(server.attributes.get(fields.SERVER_DECODE, 0.0)), end


@dataclass
class _Machine:
    """What the machine and the server did to the planned runs (every completed one)."""

    busy: float = 0.0  # loop CPU
    host: float = 0.0  # the OS running other processes instead
    decode_s: float = 0.0  # of streams whose writes were recorded
    intervals: float = 0.0  # their writes after the first


class _Planner:
    def __init__(self, nominal_interval_s: float, machine: _Machine) -> None:
        self.nominal_interval_s = nominal_interval_s
        self.machine = machine  # added to
        self.stretches: list[tuple[float, float]] = []  # each call's decoding, in step order (see `_shared`)

    def chat(self, steps: list[Step], run: AgentRun, span: SpanRecord, busy: float, delays: float) -> None:
        servers = run.server.get(span.span_id, [])
        input_tokens = int(span.attributes.get("gen_ai.usage.input_tokens", 0))
        output_tokens = int(span.attributes.get("gen_ai.usage.output_tokens", 0))
        if not servers:  # a real endpoint: no gaps to place client CPU in, no chunking to re-time
            steps.append(Call(input_tokens, output_tokens, busy, None))
            return
        windows = [_decode_window(s) for s in servers]
        first, last = min(s.start_ns for s in servers), max(s.end_ns for s in servers)
        pre, post = max(0, first - span.start_ns) / 1e9, max(0, span.end_ns - last) / 1e9
        outside = min(busy, (pre + post) / (1 + delays / busy)) if busy > 0 else 0.0
        writes = sum(int(s.attributes.get(fields.SERVER_WRITES, 0)) for s in servers)
        decode = sum(end - start for start, end in windows)
        if writes:
            self.machine.decode_s += decode
            self.machine.intervals += writes - 1
        count = float(writes) if writes else reads(output_tokens, decode, self.nominal_interval_s)
        self.stretches.append((min(w[0] for w in windows), max(w[1] for w in windows)))
        share = pre / (pre + post) if pre + post > 0 else 0.5
        _gap(steps, outside * share, 0.0)
        steps.append(Call(input_tokens, output_tokens, busy - outside, count))  # sharing: once all is read
        _gap(steps, outside * (1 - share), 0.0)

    def span(self, steps: list[Step], run: AgentRun, span: SpanRecord) -> None:
        """Add the steps of `span` to `steps`."""
        get = span.attributes.get
        busy = get(_CPU_SELF, 0.0) + get(_CPU_PROFILER, 0.0)
        host = get(_HOST, 0.0)
        delays = host + get(_READY, 0.0) + get(_GIL, 0.0) + get(_PROFILER_WAIT, 0.0)
        self.machine.busy += busy
        self.machine.host += host
        if span_kind(span) == CHAT:
            self.chat(steps, run, span, busy, delays)
            return
        children = run.children.get(span.span_id)
        if not children:
            wait = max(0.0, span.duration_s - busy - delays)
            _gap(steps, busy, wait, min(get(_CHILDREN, 0.0), wait))
            return
        clusters: list[tuple[int, list[SpanRecord]]] = []  # end, members
        for child in sorted(children, key=_start):
            if clusters and child.start_ns < clusters[-1][0]:
                end, members = clusters[-1]
                members.append(child)
                clusters[-1] = (max(end, child.end_ns), members)
            else:
                clusters.append((child.end_ns, [child]))
        gaps, reach = [], span.start_ns
        for end, members in clusters:
            gaps.append(max(0, members[0].start_ns - reach) / 1e9)
            reach = max(reach, end)
        gaps.append(max(0, span.end_ns - reach) / 1e9)
        self_time = sum(gaps)
        wait = max(0.0, self_time - busy - delays)
        child_cpu = min(get(_CHILDREN, 0.0), wait)
        for index, gap in enumerate(gaps):
            share = gap / self_time if self_time > 0 else (1.0 if index == 0 else 0.0)
            _gap(steps, busy * share, wait * share, child_cpu * share)
            if index < len(clusters):
                members = clusters[index][1]
                if len(members) == 1:
                    self.span(steps, run, members[0])
                else:
                    steps.append(Fork(tuple(self.steps(run, member) for member in members)))

    def steps(self, run: AgentRun, span: SpanRecord) -> tuple[Step, ...]:
        steps: list[Step] = []
        self.span(steps, run, span)
        return tuple(steps)


class PlanTally:
    """The completed agent runs' plans, told the run's traces one at a time (`passes.fold`): an even
    sample of MAX_PLANS to twice that many in a longer run, so memory stays flat but for two floats
    per model request; what the machine did (interference, loop overhead, the server's write
    interval) from every completed run. `loop_work_s`: the CPU the event loop spent on its own and outside spans in
    the run (the CPU meter's buckets). Streams whose writes the server did not record are taken as
    delivered every `nominal_interval_s`."""

    def __init__(self, loop_work_s: float = 0.0, nominal_interval_s: float = DEFAULT_FLUSH_INTERVAL_S) -> None:
        self.loop_work_s = loop_work_s
        self.nominal_interval_s = nominal_interval_s
        self.decoding = _Decoding()
        self.sample = _Sample()
        self.machine = _Machine()  # of every completed run, as `loop_work_s` is of the whole run

    def add(self, seen: Seen) -> None:
        for span in seen.trace:
            if span.kind == KIND_SERVER:
                self.decoding.add(_decode_window(span))
        run = seen.run
        if run is None or not seen.completed:
            return
        planner = _Planner(self.nominal_interval_s, self.machine)
        self.sample.offer(RunPlan(planner.steps(run, run.root), run.wall_s, run.root.start_ns), planner.stretches)

    def result(self) -> Recording:
        """The plans in the order the runs started."""
        kept = sorted(self.sample.kept.values(), key=lambda item: item[0].start_ns)
        sharing = self.decoding.means(stretch for _, stretches in kept for stretch in stretches)
        machine = self.machine
        busy = machine.busy
        return Recording(
            runs=tuple(
                plan._replace(steps=_shared(plan.steps, iter([sharing[s] for s in stretches])))
                for plan, stretches in kept
            ),
            interference=machine.host / busy if busy > 0 else 0.0,
            loop_overhead=self.loop_work_s / busy if busy > 0 else 0.0,
            delivery_interval_s=(
                machine.decode_s / machine.intervals if machine.intervals > 0 else self.nominal_interval_s
            ),
            completed=self.sample.seen,
        )


def plan_runs(traces: Iterable[list[SpanRecord]], loop_work_s: float = 0.0) -> Recording:
    """The plans of these traces' completed agent runs (see `PlanTally`)."""
    tally = PlanTally(loop_work_s)
    fold(traces, tally)
    return tally.result()


def _shared(steps: tuple[Step, ...], sharing: Iterator[float]) -> tuple[Step, ...]:
    """The steps with each served call's mean sharing of the server's decoding, in step order."""
    return tuple(
        step._replace(sharing=next(sharing))
        if type(step) is Call and step.reads is not None
        else Fork(tuple(_shared(branch, sharing) for branch in step.branches))
        if type(step) is Fork
        else step
        for step in steps
    )
