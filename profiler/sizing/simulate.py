"""Replay recorded agent runs at another preset: a discrete-event simulation of their plans.

Workers take the next run when theirs ends (as `orchestrace run` does, `concurrency` at a time).
Model calls go to one simulated serving replica (the model server's own `Accelerator`: queueing
at `max_batch`, prefill, decode shared once the aggregate saturates). CPU runs on `cores`: each
workload process is one event loop, so its runs share one core at most (the GIL), split evenly
between the work ready on it (processor sharing, as the loop interleaves small steps); child
processes take a core each. When more loops and child processes want a core than there are
cores, each gets an equal share.

A streamed reply's client CPU is what it was at the recorded preset less its deliveries, plus its
deliveries at the target: one every interval the server flushed at in the recording, each costing
`Assumptions.delivery_cpu_s` shared by the streams decoding then (one loop wake-up serves them
all). It runs from the first token on (the loop shares it with the rest of the work meanwhile),
and the last read's share once the reply is complete.

The result per agent run: its wall time and the model's time on its critical path (the server's
time for each call on it; of parallel branches, the one that ended last), as the report measures
them. Pure: the clock is the simulation's own.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from profiler.accelerators.presets import Preset
from profiler.accelerators.timing import Accelerator, Event
from profiler.sizing.plan import Call, Cpu, Fork, Recording, Step, Wait, reads

_EPS = 1e-12


@dataclass(frozen=True)
class Assumptions:
    """What the simulation cannot take from the recording; shown wherever its figures are."""

    # client CPU per delivery of streamed replies (a loop wake-up, socket reads, SSE parsing,
    # LangChain's chunk path), shared by the streams a delivery reaches together: fitted on sweeps
    # of the four sample agents on the project's 2-vCPU machine (0.5-1.05 ms by agent; bench/sweep.py
    # prints each sweep's own fit)
    delivery_cpu_s: float = 0.0007

    def describe(self, recording: Recording) -> list[str]:
        sampled = len(recording.runs) < recording.completed
        return [
            *[
                f"the replay runs an even sample of {len(recording.runs):,} of the {recording.completed:,} completed "
                "agent runs (every one in the order they ended, thinned by half until few enough)"
            ]
            * sampled,
            f"client CPU per delivery of streamed replies: {1000 * self.delivery_cpu_s:g} ms, shared by the "
            "streams it reaches (assumed: fitted on sweeps on a 2-vCPU Xeon); the rest of a call's client CPU is as "
            "recorded",
            f"the server writes a stream every {1000 * recording.delivery_interval_s:.1f} ms, as recorded "
            "(each write one read)",
            f"other processes took the CPU from the event loop {100 * recording.interference:.0f}% of its "
            f"working time and the loop's own work between steps was {100 * recording.loop_overhead:.0f}% of it, "
            "as recorded",
        ]


@dataclass(frozen=True)
class Machine:
    cores: float
    processes: int = 1  # workload processes, one event loop each; agent runs go round-robin
    concurrency: int = 1

    def __post_init__(self) -> None:
        if self.cores <= 0 or self.processes < 1 or self.concurrency < 1:
            raise ValueError(f"a machine needs cores > 0, processes >= 1, concurrency >= 1: {self}")


@dataclass(frozen=True)
class Simulated:
    wall_s: tuple[float, ...]  # per agent run, in plan order
    model_wait_s: tuple[float, ...]  # model time on each run's critical path
    makespan_s: float
    stream_cpu_change_s: float  # client CPU of all streams here, less what it was in the recording

    @property
    def cpu_share(self) -> float | None:
        """Of all runs' wall time, the part not waiting on the model (the report's definition)."""
        total = sum(self.wall_s)
        return (total - sum(self.model_wait_s)) / total if total > 0 else None

    @property
    def mean_wall_s(self) -> float:
        return sum(self.wall_s) / len(self.wall_s) if self.wall_s else 0.0


class _Frame:
    """A sequence of steps under way; a fork's branches are frames whose parent is the fork's."""

    __slots__ = ("at", "branch_model_s", "model_s", "parent", "pending", "run", "steps")

    def __init__(self, steps: tuple[Step, ...], parent: _Frame | None, run: int) -> None:
        self.steps, self.at, self.parent, self.run = steps, 0, parent, run
        self.model_s = 0.0
        self.pending = 0
        self.branch_model_s = 0.0


_Then = Callable[[], None] | _Frame


class _Loop:
    """Processor sharing by virtual time: every piece of work on it has received `served` seconds."""

    __slots__ = ("queue", "served")

    def __init__(self) -> None:
        self.served = 0.0
        self.queue: list[tuple[float, int, _Then]] = []  # (served at finish, seq, then)


class _Stream:
    """A reply being streamed, and its client CPU: the reads while it streams, then the last."""

    __slots__ = ("call", "done", "frame", "last_s", "rid", "streamed", "submitted")

    def __init__(self, rid: str, frame: _Frame, submitted: float, call: Call) -> None:
        self.rid, self.frame, self.submitted, self.call = rid, frame, submitted, call
        self.last_s = 0.0
        self.streamed = self.done = False


class _Simulation:
    def __init__(self, recording: Recording, preset: Preset, machine: Machine, assumptions: Assumptions) -> None:
        self.plans, self.preset, self.machine, self.assumptions = recording.runs, preset, machine, assumptions
        self.stretch = 1 + recording.interference + recording.loop_overhead
        self.delivery_interval_s = recording.delivery_interval_s
        self.accelerator = Accelerator(preset)
        self.now = 0.0
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self.seq = itertools.count()
        self.loops = [_Loop() for _ in range(machine.processes)]
        self.busy: list[_Loop] = []  # loops (and child processes) with work
        self.streams: dict[str, _Stream] = {}
        self.started = [0.0] * len(self.plans)
        self.wall = [0.0] * len(self.plans)
        self.model = [0.0] * len(self.plans)
        self.next_run = 0
        self.stream_cpu_change = 0.0
        self.accelerator_at = math.inf  # the accelerator's next event

    # ---- the clock ---------------------------------------------------------------------------
    def _accelerator(self, events: list[Event]) -> None:
        """Note the accelerator's next event, then act on `events` (which may add requests)."""
        at = self.accelerator.next_event_at()
        self.accelerator_at = math.inf if at is None else at
        self._dispatch(events)

    def run(self) -> Simulated:
        for _ in range(min(self.machine.concurrency, len(self.plans))):
            self._start_next()
        timers, busy, cores, pop = self.timers, self.busy, self.machine.cores, heapq.heappop
        while True:
            # every loop (or child process) with work gets an equal share of the cores, at most one,
            # split between the work on it: the next piece to finish sets the next instant
            rate = min(1.0, cores / len(busy)) if busy else 0.0
            at = min(timers[0][0] if timers else math.inf, self.accelerator_at)
            for loop in busy:
                at = min(at, self.now + (loop.queue[0][0] - loop.served) * len(loop.queue) / rate)
            if at == math.inf:
                break
            elapsed, self.now = at - self.now, at
            for loop in busy:
                loop.served += rate * elapsed / len(loop.queue)
            if self.accelerator_at <= at:
                self._accelerator(self.accelerator.advance(at))
            for loop in list(busy):
                queue = loop.queue
                while queue and queue[0][0] <= loop.served * (1 + _EPS) + _EPS:
                    then = pop(queue)[2]
                    if not queue:
                        busy.remove(loop)
                    if isinstance(then, _Frame):
                        self._go(then)
                    else:
                        then()
            while timers and timers[0][0] <= at:
                pop(timers)[2]()
        return Simulated(tuple(self.wall), tuple(self.model), self.now, self.stream_cpu_change)

    # ---- work --------------------------------------------------------------------------------
    def _cpu(self, loop: _Loop | None, seconds: float, then: _Then) -> None:
        """Run `seconds` of CPU, then carry on with a frame or call `then`."""
        if loop is None:  # a child process: a loop of its own
            loop = _Loop()
        else:  # the loop holds for as long as the OS keeps it off the CPU, and does its own work besides
            seconds *= self.stretch
        if not loop.queue:
            self.busy.append(loop)
        heapq.heappush(loop.queue, (loop.served + seconds, next(self.seq), then))

    def _loop(self, frame: _Frame) -> _Loop:
        """The event loop of the process the frame's agent run is in (runs go round-robin)."""
        return self.loops[frame.run % len(self.loops)]

    def _after(self, seconds: float, then: Callable[[], None]) -> None:
        heapq.heappush(self.timers, (self.now + seconds, next(self.seq), then))

    def _start_next(self) -> None:
        if self.next_run < len(self.plans):
            run, self.next_run = self.next_run, self.next_run + 1
            self.started[run] = self.now
            self._go(_Frame(self.plans[run].steps, None, run))

    def _go(self, frame: _Frame) -> None:
        """Carry `frame` on until it has to wait (CPU, a timer, the model, a fork) or ends."""
        while frame.at < len(frame.steps):
            step = frame.steps[frame.at]
            frame.at += 1
            if isinstance(step, Cpu):
                self._cpu(self._loop(frame) if step.loop else None, step.seconds, frame)
                return
            if isinstance(step, Wait):
                self._after(step.seconds, lambda: self._go(frame))
                return
            if isinstance(step, Call):
                self._submit(frame, step)
                return
            if isinstance(step, Fork):
                frame.pending = len(step.branches)
                for branch in step.branches:
                    self._go(_Frame(branch, frame, frame.run))
                return
        self._end(frame)

    def _end(self, frame: _Frame) -> None:
        parent = frame.parent
        if parent is None:
            self.wall[frame.run] = self.now - self.started[frame.run]
            self.model[frame.run] = frame.model_s
            self._start_next()
            return
        parent.branch_model_s = frame.model_s  # the branch that ends last is on the critical path
        parent.pending -= 1
        if parent.pending == 0:
            parent.model_s += parent.branch_model_s
            self._go(parent)

    # ---- model calls -------------------------------------------------------------------------
    def _submit(self, frame: _Frame, call: Call) -> None:
        rid = str(next(self.seq))
        self.streams[rid] = _Stream(rid, frame, self.now, call)
        self._accelerator(self.accelerator.submit(rid, call.input_tokens, call.output_tokens, self.now)[1])

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            stream = self.streams.get(event.rid)
            if stream is None:
                continue
            if event.kind == "first_token":
                self._first_token(stream)
            elif event.kind == "done":
                stream.frame.model_s += event.at - stream.submitted
                stream.done = True
                self._last_read(stream)

    def _first_token(self, stream: _Stream) -> None:
        call = stream.call
        decode_s = max(0, call.output_tokens - 1) / self.preset.stream_rate(self.accelerator.busy_slots)
        cpu = call.stream_cpu_s
        count = reads(call.output_tokens, decode_s, self.delivery_interval_s)
        if call.reads is not None:  # the deliveries at this preset's speed in place of the recorded ones
            per_delivery = self.assumptions.delivery_cpu_s
            recorded = per_delivery * call.reads / call.sharing
            cpu = max(0.0, cpu - recorded) + per_delivery * count / max(1, self.accelerator.busy_slots)
            self.stream_cpu_change += cpu - call.stream_cpu_s
        stream.last_s = cpu / count

        def streamed() -> None:
            stream.streamed = True
            self._last_read(stream)

        self._cpu(self._loop(stream.frame), cpu - stream.last_s, streamed)

    def _last_read(self, stream: _Stream) -> None:
        if stream.streamed and stream.done:
            del self.streams[stream.rid]
            self._cpu(self._loop(stream.frame), stream.last_s, lambda: self._go(stream.frame))


def simulate(recording: Recording, preset: Preset, machine: Machine, assumptions: Assumptions) -> Simulated:
    """Replay the recorded runs on `machine` against one replica of `preset`."""
    return _Simulation(recording, preset, machine, assumptions).run()


def faster(preset: Preset, k: float) -> Preset:
    """`preset` with inference k× faster: TTFT ÷ k, every token rate × k."""
    return replace(
        preset,
        name=f"{preset.name} ×{k:g}",
        ttft_s=preset.ttft_s / k,
        prefill_tok_s=preset.prefill_tok_s * k,
        decode_tok_s=preset.decode_tok_s * k,
        aggregate_tok_s=preset.aggregate_tok_s * k,
    )
