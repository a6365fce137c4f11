"""CPU-seconds per span that stay right under asyncio and thread pools: the checkpoint meter.

Reading a thread's CPU clock at span start and end is wrong when tasks interleave on one
thread (each span gets the CPU of every task that ran meanwhile) and misses work handed to
thread pools. Instead each thread keeps (last CPU reading, bucket being charged). At every
point where the thread's current span can change, the meter reads `thread_time_ns`, charges
the delta to the previous bucket and switches:

- OTel `context.attach` / `detach` (spans made current);
- `asyncio.events.Handle._run` (every task step and callback; the span comes from the
  handle's context; time between handles goes to the `asyncio-loop` bucket);
- `concurrent.futures.thread._WorkItem.run` (the span comes from the submitted
  `Context.run`, also inside `functools.partial`; idle time goes to `executor-idle`);
- for uvloop, whose handles cannot be patched, a task factory wrapping coroutine steps.

A span that ended but is still current in some context (LangChain ends async runs from a
shielded task, so the starting context keeps it) is resolved to its nearest open ancestor.
The meter also measures run-queue delay (a task ready but not running because the loop is
busy: contention) and, as a bucket of its own, the CPU of orchestrace's callback handler.
"""

from __future__ import annotations

import asyncio
import collections.abc
import concurrent.futures.thread
import contextvars
import functools
import os
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import opentelemetry.context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace.propagation import _SPAN_KEY

LOOP = "asyncio-loop"
EXECUTOR_IDLE = "executor-idle"
NO_SPAN = "no-span"
TELEMETRY = "telemetry"
LATE = "after-export"  # CPU reaching a span after its figures were exported (tiny, kept for totals)

Key = int | str  # a span id, or a named bucket

_thread_time_ns = time.thread_time_ns
_monotonic_ns = time.monotonic_ns
_OTEL_VAR: contextvars.ContextVar[Context] = otel_context._RUNTIME_CONTEXT._current_context  # type: ignore[attr-defined]
_COMPACT_AT = 4096


@dataclass(eq=False)
class ThreadMeter:
    """One thread's accounting; only its own thread writes it."""

    ident: int
    native_id: int
    name: str
    last: int
    current: Key = NO_SPAN
    cpu: dict[Key, int] = field(default_factory=dict)
    ready_wait: dict[Key, int] = field(default_factory=dict)
    children: dict[Key, int] = field(default_factory=dict)  # CPU of child processes reaped here
    telemetry_depth: int = 0
    context_changed: bool = False
    start_cpu: int = 0
    handles: int = 0
    switches: int = 0  # handles and checkpoints that changed the bucket (the others skip the clock read)
    checkpoints: int = 0  # checkpoint calls outside the loop-handle path
    compact_at: int = _COMPACT_AT


class SpanCpuMeter(SpanProcessor):
    """Charges each thread's CPU to the span current on it; also a SpanProcessor to know span ends."""

    def __init__(self) -> None:
        self._local = threading.local()
        self.threads: list[ThreadMeter] = []
        self._threads_lock = threading.Lock()
        self._parents: dict[int, int] = {}
        self._ended: set[int] = set()
        self._exported: set[int] = set()
        self._trace_spans: dict[int, list[int]] = {}
        self._child_inclusive: dict[int, int] = {}
        self._ready_at: dict[asyncio.Handle, int] = {}
        self._installed: list[tuple[Any, str, Any]] = []

    # ---- per-thread state and the checkpoint itself ------------------------------------

    def _thread(self) -> ThreadMeter:
        try:
            state: ThreadMeter = self._local.state
            return state
        except AttributeError:
            current = threading.current_thread()
            now = _thread_time_ns()
            state = ThreadMeter(current.ident or 0, threading.get_native_id(), current.name, now, start_cpu=now)
            self._local.state = state
            with self._threads_lock:
                self.threads.append(state)
            return state

    def checkpoint(self, key: Key) -> None:
        """Charge this thread's CPU since the last checkpoint to its bucket; switch to `key`.

        Staying in the same bucket needs no clock read: the next switch charges the whole interval.
        """
        state = self._thread()
        counted = not state.telemetry_depth  # inside a section its cost is measured as telemetry already
        state.checkpoints += counted
        if key == state.current:
            return
        self._charge(state)
        state.current = key
        state.switches += counted

    def flush(self) -> None:
        """Charge this thread's CPU up to now (the end of a window)."""
        self._charge(self._thread())

    def _charge(self, state: ThreadMeter) -> None:
        """Charge the CPU since the last reading: to telemetry inside a section, else to the current bucket."""
        now = _thread_time_ns()
        charged = state.current
        if state.telemetry_depth:
            charged = TELEMETRY
        elif charged in self._exported:
            charged = LATE
        cpu = state.cpu
        cpu[charged] = cpu.get(charged, 0) + now - state.last
        state.last = now
        if len(cpu) > state.compact_at:
            self._compact(state)

    def _compact(self, state: ThreadMeter) -> None:
        """Fold the figures of exported spans into one `exported-spans` bucket, to bound memory."""
        done = [k for k in state.cpu if k.__class__ is int and k in self._exported]
        total = 0
        for k in done:
            total += state.cpu.pop(k)
            state.ready_wait.pop(k, None)
        state.cpu["exported-spans"] = state.cpu.get("exported-spans", 0) + total
        state.compact_at = len(state.cpu) + _COMPACT_AT  # amortised, even if many spans are still open

    @property
    def handles(self) -> int:
        return sum(t.handles for t in self.threads)

    @property
    def switches(self) -> int:
        return sum(t.switches for t in self.threads)

    @property
    def checkpoints(self) -> int:
        """Checkpoint calls outside the loop-handle path (attach/detach, loop iterations, thread-pool items)."""
        return sum(t.checkpoints for t in self.threads)

    def key_of(self, ctx: Context | None) -> Key:
        """The bucket for an OTel context: its current span, or the nearest ancestor still open."""
        span = trace.get_current_span(ctx)
        span_id = span.get_span_context().span_id
        if not span_id:
            return NO_SPAN
        while span_id in self._ended:
            span_id = self._parents.get(span_id, 0)
        return span_id if span_id in self._parents else NO_SPAN  # not ours, or its run is over

    def current_key(self) -> Key:
        return self.key_of(None)

    def enter_telemetry(self) -> None:
        """Start a section of orchestrace's own instrumentation on this thread.

        Sections are bracketed by thread-clock readings (~0.4 µs each here): timing them on the
        wall clock instead would charge GIL waits and descheduling inside a section (a span end
        can wake the exporter thread) as telemetry CPU, taken from the spans.
        """
        state = self._thread()
        if not state.telemetry_depth:
            self._charge(state)
        state.telemetry_depth += 1

    def exit_telemetry(self) -> None:
        """Move the section's CPU to the telemetry bucket; switch to the span now current."""
        state = self._thread()
        if state.telemetry_depth > 1:
            state.telemetry_depth -= 1
            return
        self._charge(state)
        state.telemetry_depth = 0
        if state.context_changed:  # a span was made current (or left) inside the section
            state.context_changed = False
            state.current = self.current_key()

    # ---- SpanProcessor: span starts and ends --------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        ctx = span.get_span_context()
        parent = span.parent
        self._parents[ctx.span_id] = parent.span_id if parent is not None and not parent.is_remote else 0
        self._trace_spans.setdefault(ctx.trace_id, []).append(ctx.span_id)

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.get_span_context()
        if ctx is None:
            return
        self._ended.add(ctx.span_id)
        if self._thread().current == ctx.span_id:  # the span ends here while still current
            self.checkpoint(self.current_key())
        if self._parents.get(ctx.span_id) == 0:  # a local root: its trace's contexts are done
            for span_id in self._trace_spans.pop(ctx.trace_id, []):
                self._ended.discard(span_id)
                self._parents.pop(span_id, None)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    # ---- figures for the exporter --------------------------------------------------------

    def span_figures(self, span: ReadableSpan) -> dict[str, Any]:
        """Self and inclusive CPU (and run-queue wait) of an ended span, as span attributes.

        Called on the exporter thread in end order, so children come before their parent.
        """
        ctx = span.get_span_context()
        if ctx is None:
            return {}
        span_id = ctx.span_id
        own = sum(t.cpu.get(span_id, 0) for t in self.threads)
        wait = sum(t.ready_wait.get(span_id, 0) for t in self.threads)
        children = sum(t.children.get(span_id, 0) for t in self.threads)
        self._exported.add(span_id)
        inclusive = own + children + self._child_inclusive.pop(span_id, 0)
        parent = span.parent
        if parent is not None and not parent.is_remote:
            self._child_inclusive[parent.span_id] = self._child_inclusive.get(parent.span_id, 0) + inclusive
        duration = (span.end_time or 0) - (span.start_time or 0)
        return {
            "orchestrace.cpu.self_s": own / 1e9,
            "orchestrace.cpu.inclusive_s": inclusive / 1e9,
            "orchestrace.wait_s": max(0, duration - inclusive) / 1e9,
            "orchestrace.ready_wait_s": wait / 1e9,
            "orchestrace.cpu.children_s": children / 1e9,
        }

    def children_total(self) -> int:
        return sum(sum(t.children.values()) for t in self.threads)

    def bucket_totals(self) -> dict[str, int]:
        """CPU ns per named bucket, plus all span buckets together under `spans`."""
        totals: dict[str, int] = {}
        for state in self.threads:
            for key, ns in list(state.cpu.items()):
                name = "spans" if key.__class__ is int or key == "exported-spans" else str(key)
                totals[name] = totals.get(name, 0) + ns
        return totals

    # ---- hooks ----------------------------------------------------------------------------

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._installed.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)

    def install(self) -> None:
        """Patch the checkpoint points (call once, before running the workload)."""
        meter = self
        original_attach = otel_context.attach
        original_detach = otel_context.detach
        original_run = asyncio.events.Handle._run
        original_work = concurrent.futures.thread._WorkItem.run
        original_call_soon = asyncio.base_events.BaseEventLoop._call_soon  # type: ignore[attr-defined]
        original_run_once = asyncio.base_events.BaseEventLoop._run_once  # type: ignore[attr-defined]
        transport = asyncio.transports.BaseTransport
        timer_handle = asyncio.events.TimerHandle

        def attach(ctx: Context) -> object:
            token = original_attach(ctx)
            state = meter._thread()
            if state.telemetry_depth:
                state.context_changed = True  # resolved when the section ends
            else:
                meter.checkpoint(meter.key_of(ctx))
            return token

        def detach(token: object) -> None:
            original_detach(token)  # type: ignore[arg-type]
            state = meter._thread()
            if state.telemetry_depth:
                state.context_changed = True
            else:
                meter.checkpoint(meter.key_of(None))

        def try_wait(popen: subprocess.Popen[Any], wait_flags: int) -> tuple[int, int]:
            """Popen's reaping step via wait4, which also returns the child's CPU usage."""
            try:
                pid, status, usage = os.wait4(popen.pid, wait_flags)
            except ChildProcessError:
                return popen.pid, 0
            if pid == popen.pid:
                state = meter._thread()
                key = meter.current_key()
                spent = int((usage.ru_utime + usage.ru_stime) * 1e9)
                state.children[key] = state.children.get(key, 0) + spent
            return pid, status

        local = self._local
        thread_state = self._thread
        ready_at = self._ready_at
        exported = self._exported
        ended = self._ended
        parents = self._parents

        def handle_run(handle: asyncio.Handle) -> None:
            # The hot path (every task step), so the checkpoint is inlined. The next switch,
            # or the next loop iteration's checkpoint, closes this one's interval.
            try:
                state = local.state
            except AttributeError:
                state = thread_state()
            key: Key
            if isinstance(getattr(handle._callback, "__self__", None), transport):  # type: ignore[attr-defined]
                key = LOOP  # socket callbacks keep the context of whoever opened the connection
            else:
                context = handle._context  # type: ignore[attr-defined]
                otel = context.get(_OTEL_VAR) if context is not None else None
                span = otel.get(_SPAN_KEY) if otel else None
                span_id = span.get_span_context().span_id if span is not None else 0
                while span_id in ended:
                    span_id = parents.get(span_id, 0)
                key = span_id if span_id in parents else NO_SPAN
            state.handles += 1
            if key != state.current:
                now = _thread_time_ns()
                cpu = state.cpu
                current = state.current
                if current in exported:
                    current = LATE
                cpu[current] = cpu.get(current, 0) + now - state.last
                state.last = now
                state.current = key
                state.switches += 1
            # run-queue delay: since call_soon, or since a timer was due (a busy loop runs timers late)
            ready = ready_at.pop(handle, None)
            if ready is None and handle.__class__ is timer_handle:
                ready = int(handle.when() * 1e9)
            if ready is not None:
                waits = state.ready_wait
                waits[key] = waits.get(key, 0) + _monotonic_ns() - ready
            original_run(handle)

        def run_once(loop: asyncio.BaseEventLoop) -> None:
            meter.checkpoint(LOOP)  # select, I/O events and timers between the handles
            original_run_once(loop)

        def call_soon(loop: asyncio.AbstractEventLoop, callback: Any, args: Any, context: Any) -> asyncio.Handle:
            handle: asyncio.Handle = original_call_soon(loop, callback, args, context)
            ready_at[handle] = _monotonic_ns()
            return handle

        def work_run(item: Any, *args: Any, **kwargs: Any) -> None:
            fn = item.fn.func if isinstance(item.fn, functools.partial) else item.fn
            owner = getattr(fn, "__self__", None)
            ctx = owner.get(_OTEL_VAR) if isinstance(owner, contextvars.Context) else None
            meter.checkpoint(meter.key_of(ctx) if ctx is not None else NO_SPAN)
            try:
                original_work(item, *args, **kwargs)
            finally:
                meter.checkpoint(EXECUTOR_IDLE)

        self._patch(otel_context, "attach", attach)
        self._patch(otel_context, "detach", detach)
        self._patch(asyncio.events.Handle, "_run", handle_run)
        self._patch(asyncio.base_events.BaseEventLoop, "_call_soon", call_soon)
        self._patch(asyncio.base_events.BaseEventLoop, "_run_once", run_once)
        self._patch(concurrent.futures.thread._WorkItem, "run", work_run)
        self._patch(subprocess.Popen, "_try_wait", try_wait)
        self.flush()
        self._thread().current = self.current_key()

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._installed):
            setattr(owner, name, original)
        self._installed.clear()

    def task_factory(self) -> Callable[..., asyncio.Task[Any]]:
        """For loops whose handles cannot be patched (uvloop): meter each coroutine step."""
        meter = self

        def factory(
            loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
        ) -> asyncio.Task[Any]:
            return asyncio.Task(_MeteredCoroutine(coro, meter), loop=loop, **kwargs)

        return factory


@dataclass(frozen=True)
class MeterCosts:
    """CPU ns the meter adds per event-loop handle, and per bucket switch on top of that."""

    handle_ns: float
    switch_ns: float


def calibrate(handles: int = 10_000) -> MeterCosts:
    """Measure the meter's own costs on this machine (before it is installed for real).

    Handles carry span contexts and their scheduling is timed too, as in a workload: once all
    in one span (no switch), once alternating between two (every handle switches).
    """
    meter = SpanCpuMeter()
    contexts = []
    for span_id in (1, 2):
        meter._parents[span_id] = 0
        span = trace.NonRecordingSpan(trace.SpanContext(1, span_id, is_remote=False))
        ctx = contextvars.copy_context()
        ctx.run(_OTEL_VAR.set, trace.set_span_in_context(span, Context()))
        contexts.append(ctx)

    def loop_cpu(switching: bool) -> int:
        loop = asyncio.new_event_loop()
        try:
            start = _thread_time_ns()
            for i in range(handles):
                loop.call_soon(int, context=contexts[i % 2 if switching else 0])
            loop.call_soon(loop.stop)
            loop.run_forever()
            return _thread_time_ns() - start
        finally:
            loop.close()

    def added(switching: bool) -> float:
        """Bare and metered loops alternate (the host's speed drifts); the fastest of each counts."""
        bare, metered = [], []
        for _ in range(5):
            bare.append(loop_cpu(switching))
            meter.install()
            try:
                metered.append(loop_cpu(switching))
            finally:
                meter.uninstall()
        return max(0.0, (min(metered) - min(bare)) / handles)

    handle_ns = added(False)
    return MeterCosts(handle_ns, max(0.0, added(True) - handle_ns))


class _MeteredCoroutine(collections.abc.Coroutine):  # type: ignore[type-arg]
    """Checkpoints around every step of a task's coroutine (the loop runs it in the task's context)."""

    __slots__ = ("_coro", "_meter")

    def __init__(self, coro: Coroutine[Any, Any, Any], meter: SpanCpuMeter) -> None:
        self._coro = coro
        self._meter = meter

    def send(self, value: Any) -> Any:
        self._meter.checkpoint(self._meter.current_key())
        try:
            return self._coro.send(value)
        finally:
            self._meter.checkpoint(LOOP)

    def throw(self, *args: Any) -> Any:
        self._meter.checkpoint(self._meter.current_key())
        try:
            return self._coro.throw(*args)
        finally:
            self._meter.checkpoint(LOOP)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Any:
        return self._coro.__await__()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coro, name)
