"""CPU-seconds per span, and what each span waited for, under asyncio and thread pools.

Reading a thread's CPU clock at span start and end is wrong when tasks interleave on one
thread, and misses work handed to thread pools. Instead each thread keeps the bucket it is
charging (a span, or a named bucket such as the event loop's own work) and, at every point
where that can change, a *checkpoint* moves the time since the last one to the old bucket:

- OTel `context.attach` / `detach` (spans made current);
- `asyncio.events.Handle._run` (every task step and callback; the span comes from the
  handle's context), `BaseEventLoop._run_once` (the loop's own work, or idling in select);
- `concurrent.futures.thread._WorkItem.run` (the span comes from the submitted
  `Context.run`, also inside `functools.partial`);
- for uvloop, whose handles cannot be patched, a task factory wrapping coroutine steps.

Checkpoints read the monotonic clock (a vDSO call, ~0.05 µs). The thread's CPU clock (a system
call here, ~0.7-2 µs) is read at *reconciliation* points only: every context attach/detach and
work item off the loop, each loop iteration once 1 ms of work has accumulated (each one while
worker threads run), and the window's end. A window's CPU is shared among the buckets it
touched in proportion to their time; where the thread was off the CPU for part of it, that part
is classified (proportionally too): run-queue delay from `/proc/thread-self/schedstat` (the OS
ran something else), waiting for the GIL (only while another thread could hold it; a GIL waiter
wakes at least every switch interval, so at most voluntary switches × interval), a model
request in flight on this span, or blocked in a system call (I/O, sleep).

Ready waits are blamed on what ran instead: when a handle is scheduled (`call_soon`) the
loop's running totals are noted — per agent run (trace) and kind of CPU, the loop's own work,
its idling — and when it runs, the differences say how much of the wait was this run's own
parallel branches (orchestration, tool, model client, profiler), other agent runs, or the
runtime. While a span has a model request in flight (marked by `modelwait`) the time its task
had nothing to do is model wait. The user's tool function (`toolfn`) and orchestrace's own
callback sections are sub-buckets of their span.

A span that ended but is still current in some context (LangChain ends async runs from a
shielded task, so the starting context keeps it) is resolved to its nearest open ancestor.
"""

from __future__ import annotations

import asyncio
import collections.abc
import concurrent.futures.thread
import contextvars
import ctypes
import functools
import os
import resource
import subprocess
import sys
import threading
import time
from asyncio import format_helpers
from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import opentelemetry.context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.util.types import Attributes, AttributeValue

from profiler.store import fields
from profiler.store.fields import EXECUTOR_IDLE, LATE, LOOP, NO_SPAN, TELEMETRY

Key = int | str  # a span id (or a sub-bucket of one), or a named bucket

LOOP_IDLE = "loop-idle"  # the loop waiting in select with nothing ready: not CPU
IDLE_KEYS = frozenset((LOOP_IDLE, EXECUTOR_IDLE))
TOOL_FN = 1 << 64  # sub-bucket offset: the user's tool function inside a tool span
PROFILER = 2 << 64  # sub-bucket offset: orchestrace's callback sections while a span is current
SPAN_BITS = (1 << 64) - 1

# kinds of CPU on the loop, for blaming ready waits (indices into a trace's running totals)
ORCH, TOOL, CHAT, PROF = range(4)
# per-bucket figures (indices into a figures list), in ns; the R_ ones are the loop's running totals
# over the bucket's ready waits (this run's work by kind, all work, the loop's own work), turned
# into blame at export
CPU, GIL, HOST, BLOCKED, MODEL, READY, R_ORCH, R_TOOL, R_CHAT, R_PROF, R_ALL, R_RUNTIME, R_OTHER = range(13)
OVERLAP_CPU, OVERLAP_READY = 13, 14  # the part of CPU and of ready waits hidden behind the model
HANDOFF = 15  # waiting for a worker thread to take the span's work, and for the loop to take it back
PROFILER_GIL = 16  # waiting for the GIL while only orchestrace's span exporter held it
_FIGURES = 17
# a span's model requests in flight (indices into its flight counters): how many; the end of its
# task's last slice; the start of the current stretch the model is working through (the request
# leaving, or the task being woken after it waited); ready waits in that stretch (ns)
FLIGHTS, LAST_END, STRETCH, STRETCH_READY = range(4)

_SUBMITTED = "_orchestrace_submitted"  # monotonic ns a thread-pool work item was submitted, set on it
LOOP_HANDLES_PRUNE_AT = 32  # socket handles kept before cancelled ones are dropped (they hold contexts)
RECONCILE_NS = 2_000_000  # on the loop: read the CPU clock once this much time went by (a quarter
# of it while worker threads run, as the GIL then makes time off the CPU likely)
NOISE_NS = 20_000  # off-CPU time below this in a window is not worth classifying (host noise)
SCHEDSTAT_EVERY = 32  # reconciliations between readings of the run-queue delay when nothing was off-CPU

_thread_time_ns = time.thread_time_ns
_process_time_ns = time.process_time_ns
_mono_ns = time.monotonic_ns  # the event loop's clock: TimerHandle.when() is on it
_OTEL_VAR: contextvars.ContextVar[Context] = otel_context._RUNTIME_CONTEXT._current_context  # type: ignore[attr-defined]


class ToolFnSpan(trace.Span):
    """The tool span, seen from inside the user's tool function: same ids, its own CPU bucket.

    Everything is delegated to the tool span (attributes set by tool code land there, its
    `traceparent` propagates); only the meter tells them apart.
    """

    def __init__(self, span: trace.Span, key: int) -> None:
        self.span = span
        self.key = key

    def get_span_context(self) -> trace.SpanContext:
        return self.span.get_span_context()

    def is_recording(self) -> bool:
        return self.span.is_recording()

    def set_attributes(self, attributes: Mapping[str, AttributeValue]) -> None:
        self.span.set_attributes(attributes)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.span.set_attribute(key, value)

    def add_event(self, name: str, attributes: Attributes = None, timestamp: int | None = None) -> None:
        self.span.add_event(name, attributes, timestamp)

    def update_name(self, name: str) -> None:
        self.span.update_name(name)

    def set_status(self, status: Any, description: str | None = None) -> None:
        self.span.set_status(status, description)

    def record_exception(self, exception: BaseException, *args: Any, **kwargs: Any) -> None:
        self.span.record_exception(exception, *args, **kwargs)

    def end(self, end_time: int | None = None) -> None:  # the tool span's owner ends it
        pass


Entry = tuple[int, list[int], int]  # a span's bucket: (key, its trace's loop totals, kind of CPU)


try:  # the two hottest hooks in C (built at install when a compiler is there)
    from profiler.instrument import _fastloop
except ImportError:  # pragma: no cover - depends on the build
    _fastloop = None  # type: ignore[assignment]


class _HotFields:
    """The pure-Python twin of `_fastloop.State`: a thread's fields the hot hooks touch."""

    __slots__ = (
        "charged",
        "context_changed",
        "cpu0",
        "cum_runtime",
        "cum_total",
        "current",
        "current_entry",
        "figures",
        "handed_off",
        "handles",
        "idle",
        "idle_end",
        "in_work",
        "is_loop",
        "nvcsw0",
        "pending",
        "proc0",
        "reconciles",
        "run_delay0",
        "sched_fd",
        "section_cpu0",
        "section_key",
        "section_return",
        "section_totals",
        "switches",
        "telemetry_depth",
        "wall0",
        "window0",
    )
    charged: int
    context_changed: bool
    section_cpu0: int
    section_key: Key
    section_return: Key
    section_totals: Any
    telemetry_depth: int
    cpu0: int
    cum_runtime: int
    cum_total: int
    current: Key
    current_entry: Entry | None
    figures: dict[Key, Any]
    handed_off: set[Key]
    handles: int
    idle: bool
    idle_end: int
    in_work: bool
    is_loop: bool
    nvcsw0: int
    pending: dict[Key, int]
    proc0: int
    reconciles: int
    run_delay0: int
    sched_fd: int
    switches: int
    wall0: int
    window0: int


if TYPE_CHECKING:
    _StateBase = _HotFields
else:
    _StateBase = _fastloop.State if _fastloop is not None else _HotFields


class ThreadMeter(_StateBase):
    """One thread's accounting; only its own thread writes it (the exporter pops finished spans).

    Hot fields (in the base): `current` bucket and its `current_entry`, `pending` (bucket -> ns
    since the last reconciliation), `figures` (bucket -> figures list), `wall0` (monotonic ns of
    the last checkpoint), `cum_total` / `cum_runtime` (loop threads: ns of everything, and of the
    loop's own work and idling, since start), `handles`, `switches`, `idle`, `is_loop`.
    """

    __slots__ = (
        "checkpoints",
        "children",
        "ident",
        "name",
        "native_id",
        "sched_buffer",
    )

    def __init__(self, ident: int, native_id: int, name: str, now: int, cpu: int) -> None:
        self.ident, self.native_id, self.name = ident, native_id, name
        self.current: Key = NO_SPAN
        self.current_entry: Entry | None = None
        self.pending: dict[Key, int] = {}
        self.figures: dict[Key, list[float]] = {}
        self.children: dict[Key, int] = {}  # CPU of child processes reaped here
        self.handed_off: set[Key] = set()  # spans that handed work to a thread pool this window
        self.wall0 = self.window0 = now  # last checkpoint, last reconciliation (monotonic ns)
        self.cpu0 = cpu  # thread CPU ns at the last reconciliation
        self.proc0 = _process_time_ns()  # and the process's
        self.cum_total = self.cum_runtime = self.idle_end = 0
        self.charged = 0  # CPU ns distributed so far
        self.handles = self.switches = self.reconciles = self.checkpoints = 0
        self.telemetry_depth = 0
        self.section_return: Key = NO_SPAN
        self.section_cpu0 = 0
        self.section_key: Key = TELEMETRY
        self.section_totals: Any = None
        self.context_changed = self.idle = self.is_loop = self.in_work = False
        self.sched_fd, self.run_delay0 = _open_schedstat()
        self.sched_buffer = _buffer()
        self.nvcsw0 = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw


# os.pread releases the GIL, and another thread may then keep it for a switch interval: read
# /proc through ctypes.PyDLL, which holds it (~2 µs)
_libc = ctypes.PyDLL(None)
_pread = _libc.pread
_pread.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long]
_pread.restype = ctypes.c_ssize_t
_SCHEDSTAT_BUFFER = 64


def _buffer() -> Any:
    return ctypes.create_string_buffer(_SCHEDSTAT_BUFFER)


def _read_run_delay(fd: int, buffer: Any) -> int:
    """The run-queue delay (ns) field of a schedstat file; -1 if it cannot be read."""
    size = _pread(fd, buffer, _SCHEDSTAT_BUFFER, 0)
    try:
        return int(buffer.raw[:size].split()[1]) if size > 0 else -1
    except (ValueError, IndexError):
        return -1


def _open_schedstat() -> tuple[int, int]:
    """This thread's schedstat (run-queue delay), opened once; (-1, 0) where there is none."""
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return -1, 0
    delay = _read_run_delay(fd, _buffer())
    if delay < 0:
        os.close(fd)
        return -1, 0
    return fd, delay


def _blame(figures: list[float]) -> tuple[float, float, float, float, float, float]:
    """A bucket's ready wait split by what the loop ran meanwhile, from the running totals noted.

    (this run's orchestration, tool, model client and profiler work, other agent runs, the loop's
    own work and waking). The loop's own work is shared between this run and the others in
    proportion to their work; totals that ran ahead of the wait (the handle was scheduled from
    inside a running step, or by another thread) are scaled down to it.
    """
    same = figures[R_ORCH] + figures[R_TOOL] + figures[R_CHAT] + figures[R_PROF]
    runtime = figures[R_RUNTIME]
    other = max(0.0, figures[R_ALL] - runtime - same - figures[R_OTHER]) + figures[R_OTHER]
    own = same / (same + other) if same + other > 0 else 1.0
    parts = [figures[R_ORCH], figures[R_TOOL], figures[R_CHAT], figures[R_PROF]]
    parts += [other + runtime * (1 - own), runtime * own]
    blamed, waited = sum(parts), figures[READY]
    if blamed > waited > 0:
        parts = [p * waited / blamed for p in parts]
    elif waited > blamed:
        parts[-1] += waited - blamed
    return parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]


def _woken_in_flight(figures: Any, flight: Any, ready: float, now: int, idle_end: float, others_open: bool) -> None:
    """A span's task, with a model request in flight, is ready since `ready` and runs `now`.

    A stream arrives chunk by chunk while the model keeps generating. When the task had nothing
    to do and the loop itself waited for I/O meanwhile (its last wait ended at `idle_end`), the
    stretch since the task last waited was the model's: the client's work and run-queue delays
    inside it ran while the model was still generating, so the stream would not have ended
    sooner without them. They count as model wait, noted as overlapped (`OVERLAP_CPU`,
    `OVERLAP_READY`) so the wall split does not count them twice. If the loop never waited, the
    data may have been there all along (the client was behind): the time stays the client's, and
    the loop's work after its last wait is a run-queue delay (other runs', if any are open).
    """
    if idle_end > flight[LAST_END] and ready > flight[LAST_END]:
        end = min(ready, idle_end)
        stretch = end - flight[STRETCH]
        if stretch > 0:
            figures[MODEL] += stretch
            figures[OVERLAP_READY] += flight[STRETCH_READY]
            figures[OVERLAP_CPU] += max(0.0, stretch - (end - flight[LAST_END]) - flight[STRETCH_READY])
        late = ready - end
        if late > 0:
            figures[READY] += late
            figures[R_ALL] += late
            figures[R_OTHER if others_open else R_RUNTIME] += late
        flight[STRETCH] = end
        flight[STRETCH_READY] = now - end
    else:
        flight[STRETCH_READY] += now - ready


def _float_list(size: int) -> list[float]:
    return [0.0] * size


def _report_callback_error(handle: asyncio.Handle, exc: BaseException) -> None:
    """What asyncio's `Handle._run` does with an exception that escapes a callback."""
    callback, args = handle._callback, handle._args  # type: ignore[attr-defined]
    try:
        source = format_helpers._format_callback_source(callback, args, debug=handle._loop.get_debug())  # type: ignore[attr-defined,call-arg]
    except TypeError:  # before 3.13 there is no `debug`
        source = format_helpers._format_callback_source(callback, args)
    context: dict[str, Any] = {"message": f"Exception in callback {source}", "exception": exc, "handle": handle}
    if handle._source_traceback:  # type: ignore[attr-defined]
        context["source_traceback"] = handle._source_traceback  # type: ignore[attr-defined]
    handle._loop.call_exception_handler(context)  # type: ignore[attr-defined]


class SpanCpuMeter(SpanProcessor):
    """Charges each thread's time to the span current on it; also a SpanProcessor to know span ends.

    `accelerated` picks the C hooks (`_fastloop`) when they were built (the default), else the
    pure-Python ones; both are the same accounting.
    """

    def __init__(self, accelerated: bool | None = None) -> None:
        if accelerated and _fastloop is None:
            raise RuntimeError("the C hooks of the CPU meter were not built (no compiler at install)")
        self.accelerated = _fastloop is not None if accelerated is None else accelerated
        self._state_key = f"orchestrace.meter.{id(self)}"
        # running totals and figures: C arrays of doubles with the C hooks, lists without
        self._counters: Callable[[int], Any] = _fastloop.Counters if self.accelerated else _float_list
        self._local = threading.local()
        self.threads: list[ThreadMeter] = []
        self._threads_lock = threading.Lock()
        self._entries: dict[object, Entry] = {}  # span object (or tool-function marker) -> its bucket
        self._info: dict[Key, Entry] = {}  # bucket -> its entry, for open spans and their sub-buckets
        self._parents: dict[int, int] = {}
        self._objects: dict[int, Any] = {}  # span id -> span object
        self._markers: dict[int, ToolFnSpan] = {}
        # open local roots (agent runs) -> their spans; two local roots under one foreign parent
        # share a trace id but not their lifetimes
        self._trace_spans: dict[int, list[int]] = {}
        self._root_of: dict[int, int] = {}  # span id -> its local root's span id
        self._foreign_parent: set[int] = set()  # local roots whose parent is another provider's span
        self._exported: set[Key] = set()
        self._exported_by_trace: dict[int, list[Key]] = {}
        self._child_inclusive: dict[int, float] = {}
        self._ready_at: dict[asyncio.Handle, tuple[Any, ...]] = {}
        self._loop_handles: set[asyncio.Handle] = set()  # socket readers and writers: the loop's own work
        self._loop_states: dict[asyncio.AbstractEventLoop, ThreadMeter] = {}
        self._inflight: dict[Key, Any] = {}  # span with model requests in flight -> its flight counters
        self._done_at: dict[Key, int] = {}  # span -> when a worker thread finished work it handed over
        self._outstanding: dict[Key, int] = {}  # span -> work items it handed to a thread pool, not done
        self._model_requests: dict[int, int] = {}
        self._installed: list[tuple[Any, str, Any]] = []
        self.busy_workers = 0
        self.loops_busy = 0
        self.exporting = 0  # orchestrace's own span export running (on its thread)
        self.exported_cpu = 0.0
        self.exported_profiler_cpu = 0.0
        self._switch_interval_ns = int(sys.getswitchinterval() * 1e9)

    # ---- per-thread state --------------------------------------------------------------

    def _thread(self) -> ThreadMeter:
        """This thread's accounting, created on first use."""
        if self.accelerated:
            found = _fastloop.get_state(self._state_key)
            if found is not None:
                return found  # type: ignore[no-any-return]
        else:
            try:
                state: ThreadMeter = self._local.state
                return state
            except AttributeError:
                pass
        current = threading.current_thread()
        state = ThreadMeter(current.ident or 0, threading.get_native_id(), current.name, _mono_ns(), _thread_time_ns())
        if self.accelerated:
            _fastloop.set_state(self._state_key, state)
        else:
            self._local.state = state
        with self._threads_lock:
            self.threads.append(state)
        return state

    def _figures(self, state: ThreadMeter, key: Key) -> list[float]:
        if key in self._exported:
            key = LATE
        figures = state.figures.get(key)
        if figures is None:
            figures = state.figures[key] = self._counters(_FIGURES)
        return figures

    # ---- checkpoints ---------------------------------------------------------------------

    def _switch(self, state: ThreadMeter, key: Key, now: int) -> None:
        """Move the time since the last checkpoint to the current bucket; `key` becomes current."""
        prev = state.current
        spent = now - state.wall0
        state.wall0 = now
        pending = state.pending
        pending[prev] = pending.get(prev, 0) + spent
        if state.is_loop:
            entry = state.current_entry
            if entry is not None:
                entry[1][entry[2]] += spent
                state.cum_total += spent
                if self._inflight and prev in self._inflight:
                    self._inflight[prev][LAST_END] = now
            else:
                state.cum_runtime += spent
                state.cum_total += spent
        state.current = key
        state.current_entry = self._info.get(key)
        state.switches += 1

    def checkpoint(self, key: Key, reconcile: bool = False) -> None:
        """Switch this thread to `key`; with `reconcile`, also read its CPU clock."""
        state = self._thread()
        state.checkpoints += 1
        now = _mono_ns()
        if key != state.current:
            self._switch(state, key, now)
        if reconcile:
            self._reconcile(state, now)

    def flush(self) -> None:
        """Charge this thread's CPU up to now (the end of a window)."""
        self._reconcile(self._thread(), _mono_ns())

    def _reconcile(self, state: ThreadMeter, now: int) -> None:
        """Share the CPU the thread used since the last reconciliation among the buckets it ran.

        (With the C hooks installed, `_fastloop.reconcile` does this, and calls `_share_offcpu`.)
        """
        if now > state.wall0:
            self._switch(state, state.current, now)
        cpu_now = _thread_time_ns()
        used = cpu_now - state.cpu0
        state.cpu0 = cpu_now
        state.window0 = now
        state.reconciles += 1
        state.charged += used
        voluntary = 0
        if not state.is_loop:
            switches = resource.getrusage(resource.RUSAGE_THREAD).ru_nvcsw
            voluntary, state.nvcsw0 = switches - state.nvcsw0, switches
        process_now = _process_time_ns()
        others_cpu, state.proc0 = process_now - state.proc0 - used, process_now
        pending = state.pending
        busy = 0
        idle_key: Key | None = None
        for key, spent in pending.items():
            if key in IDLE_KEYS:
                idle_key = key
            else:
                busy += spent
        if used < busy:
            self._share_offcpu(state, used, busy, voluntary, others_cpu)
            return
        for key, spent in pending.items():
            if key not in IDLE_KEYS:
                self._figures(state, key)[CPU] += spent
        if used > busy:  # CPU of the idle waits themselves (select, a queue's get)
            self._figures(state, idle_key if idle_key is not None else state.current)[CPU] += used - busy
        pending.clear()
        self._prune_handed_off(state)
        if not state.reconciles % SCHEDSTAT_EVERY:
            self._run_delay(state)  # keep the baseline fresh: run delays while idle are no window's

    def _share_offcpu(self, state: ThreadMeter, used: int, busy: int, voluntary: int, others_cpu: int) -> None:
        """A window with less CPU than time: share the CPU, classify the rest, in proportion."""
        gil, ours, host, blocked = self._classify(state, busy - used, self._run_delay(state), voluntary, others_cpu)
        ratio = used / busy
        inflight = self._inflight
        for key, spent in state.pending.items():
            if key in IDLE_KEYS:
                continue
            share = spent / busy
            figures = self._figures(state, key)
            figures[CPU] += spent * ratio
            figures[HOST] += host * share
            figures[GIL] += gil * share
            figures[PROFILER_GIL] += ours * share
            waiting_on = MODEL if key in inflight else (HANDOFF if key in state.handed_off else BLOCKED)
            figures[waiting_on] += blocked * share
        state.pending.clear()
        self._prune_handed_off(state)

    def _prune_handed_off(self, state: ThreadMeter) -> None:
        """Keep, of the spans that handed work to a thread pool in this window, those still waiting."""
        if state.handed_off:
            state.handed_off.intersection_update(self._outstanding)

    def _run_delay(self, state: ThreadMeter) -> int:
        """The thread's run-queue delay since the last reading (schedstat; 0 where there is none).

        Done only for windows with off-CPU time to classify, and now and then to stay fresh.
        """
        if state.sched_fd < 0:
            return 0
        delay = _read_run_delay(state.sched_fd, state.sched_buffer)
        if delay < 0:
            return 0
        delta, state.run_delay0 = delay - state.run_delay0, delay
        return delta

    def _classify(
        self, state: ThreadMeter, offcpu: int, run_delay: int, voluntary: int, others_cpu: int
    ) -> tuple[float, float, float, float]:
        """Split a window's off-CPU time: (GIL wait, the same while only orchestrace's exporter
        could hold it, OS run-queue delay, blocked in a system call).

        Waiting for the GIL needs another thread holding it: at most the CPU the process's other
        threads used meanwhile, and a GIL waiter wakes at least every switch interval.
        """
        if offcpu < NOISE_NS:
            return 0.0, 0.0, float(offcpu), 0.0
        host = max(0, min(offcpu, run_delay))
        asleep = offcpu - host
        workload = self.busy_workers - state.in_work + (0 if state.is_loop else self.loops_busy)
        gil = 0
        if asleep > 0 and workload + self.exporting > 0:
            gil = min(asleep, max(0, others_cpu))  # the loop does not sleep inside its handles otherwise
            if not state.is_loop:
                gil = min(gil, voluntary * self._switch_interval_ns)
        if workload <= 0:  # only the exporter was there to hold it: the profiler's
            return 0.0, float(gil), float(host), float(asleep - gil)
        return float(gil), 0.0, float(host), float(asleep - gil)

    def while_exporting(self, export: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """`export`, counted as orchestrace's export running (its GIL is ours)."""

        def exporting(spans: Any) -> Any:
            self.exporting += 1
            try:
                return export(spans)
            finally:
                self.exporting -= 1

        return exporting

    # ---- which bucket a context charges ----------------------------------------------------

    def key_of(self, ctx: Context | None) -> Key:
        """The bucket for an OTel context: its current span, or the nearest ancestor still open."""
        span = (ctx if ctx is not None else _OTEL_VAR.get()).get(_SPAN_KEY)
        entry = self._entries.get(span) if span is not None else None
        return NO_SPAN if entry is None else entry[0]

    def current_key(self) -> Key:
        return self.key_of(None)

    def _current_span_id(self) -> int | None:
        """The span current on this thread, without its sub-buckets."""
        key = self.current_key()
        return key & SPAN_BITS if key.__class__ is int else None

    # ---- orchestrace's own sections --------------------------------------------------------

    def enter_telemetry(self) -> None:
        """Start a section of orchestrace's own work; its time is charged as the profiler's.

        A section is cut out of the thread's window and timed on its own CPU-clock reads: a span
        end inside one can hand the GIL to the exporter thread, and that wait must be the
        profiler's, not smeared over the spans around it.
        """
        state = self._thread()
        if not state.telemetry_depth:
            now = _mono_ns()
            if not state.is_loop:  # spans start and end in sections: there, windows end at span bounds
                self._reconcile(state, now)
            elif now > state.wall0:
                self._switch(state, state.current, now)
            returned = state.section_return = state.current
            state.section_key, state.section_totals = TELEMETRY, None
            base = self._info.get(returned & SPAN_BITS) if returned.__class__ is int else None
            if base is not None:
                state.section_key, state.section_totals = base[0] + PROFILER, base[1]
                self._info.setdefault(state.section_key, (state.section_key, base[1], PROF))
            state.section_cpu0 = _thread_time_ns()
        state.telemetry_depth += 1

    def exit_telemetry(self) -> None:
        """End the section: its CPU (and time off the CPU) go to the profiler's bucket of the span."""
        state = self._thread()
        state.telemetry_depth -= 1
        if state.telemetry_depth:
            return
        cpu = _thread_time_ns()
        now = _mono_ns()
        used = cpu - state.section_cpu0
        spent = now - state.wall0
        if state.is_loop and state.section_totals is not None:
            state.section_totals[PROF] += spent
        figures = self._figures(state, state.section_key)
        figures[CPU] += used
        if spent > used:
            others = self.busy_workers - state.in_work + (0 if state.is_loop else self.loops_busy)
            figures[GIL if others > 0 else BLOCKED] += spent - used
        state.cpu0 += used  # the section is not part of the window around it
        state.charged += used
        if state.is_loop:
            state.cum_total += spent
        state.wall0 = now
        returned = state.section_return
        if state.context_changed or returned not in self._info:
            state.context_changed = False
            returned = self.current_key()
        state.current = returned
        state.current_entry = self._info.get(returned)

    # ---- tool functions and model requests (from `toolfn` and `modelwait`) ------------------

    def tool_fn_span(self, span: trace.Span) -> ToolFnSpan | None:
        """The marker that charges a tool span's own function to its sub-bucket (None if not ours)."""
        span_id = span.get_span_context().span_id
        entry = self._info.get(span_id)
        if entry is None:
            return None
        marker = self._markers.get(span_id)
        if marker is None:
            key = span_id + TOOL_FN
            fn_entry = (key, entry[1], TOOL)
            self._info[key] = fn_entry
            marker = self._markers[span_id] = ToolFnSpan(span, key)
            self._entries[marker] = fn_entry
            # dropped with its trace's contexts, as the span is (contexts may hold it after the end)
            self._objects[key] = marker
            self._trace_spans.setdefault(self._root_of.get(span_id, span_id), []).append(key)
        return marker

    def request_started(self) -> int | None:
        """A request leaves under the current span: a model request if that is a chat span."""
        span_id = self._current_span_id()
        entry = self._info.get(span_id) if span_id is not None else None
        if span_id is None or entry is None or entry[2] != CHAT:
            return None
        state = self._thread()
        self._model_requests[span_id] = self._model_requests.get(span_id, 0) + 1
        if not state.is_loop:  # a blocking client: the window up to now was client CPU
            self.checkpoint(state.current, reconcile=True)
        flight = self._inflight.get(span_id)
        if flight is None:
            flight = self._inflight[span_id] = self._counters(4)
            flight[LAST_END] = flight[STRETCH] = _mono_ns()
        flight[FLIGHTS] += 1
        return span_id

    def request_ended(self, key: int) -> None:
        if key not in self._inflight:
            return
        state = self._thread()
        if not state.is_loop:  # the blocking client's off-CPU time so far was the request
            self._reconcile(state, _mono_ns())
        flight = self._inflight[key]
        flight[FLIGHTS] -= 1
        if flight[FLIGHTS] <= 0:
            del self._inflight[key]

    # ---- SpanProcessor: span starts and ends --------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        ctx = span.get_span_context()
        span_id = ctx.span_id
        parent = span.parent
        # a parent this meter does not know (another provider's span) makes this a local root
        parent_id = parent.span_id if parent is not None and parent.span_id in self._parents else 0
        parent_entry = self._info.get(parent_id)
        totals = parent_entry[1] if parent_entry is not None else self._counters(4)  # a new trace: its own
        if (span.attributes or {}).get(gen_ai.GEN_AI_OPERATION_NAME) == "chat":
            kind = CHAT
        else:
            kind = parent_entry[2] if parent_entry is not None and parent_entry[2] in (TOOL, CHAT) else ORCH
            ambient = _OTEL_VAR.get().get(_SPAN_KEY)
            if ambient is not None and ambient is self._markers.get(parent_id):
                kind = TOOL  # started by the tool function itself
        entry = (span_id, totals, kind)
        self._parents[span_id] = parent_id
        self._objects[span_id] = span
        self._info[span_id] = entry
        self._entries[span] = entry
        root = span_id if parent_id == 0 else self._root_of.get(parent_id, parent_id)
        if parent is not None and parent_id == 0:
            self._foreign_parent.add(span_id)
        self._root_of[span_id] = root
        self._trace_spans.setdefault(root, []).append(span_id)

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.get_span_context()
        if ctx is None:
            return
        span_id = ctx.span_id
        # contexts that still hold the span (or its tool marker) charge its nearest open ancestor
        ancestor = self._parents.get(span_id, 0)
        while ancestor and ancestor not in self._info:
            ancestor = self._parents.get(ancestor, 0)
        for key in (span_id, span_id + TOOL_FN, span_id + PROFILER):
            self._info.pop(key, None)
        replacement = self._info.get(ancestor)
        for obj in (self._objects.get(span_id), self._markers.pop(span_id, None)):
            if obj is None:
                continue
            if replacement is None:
                self._entries.pop(obj, None)
            else:
                self._entries[obj] = replacement
        state = self._thread()
        if state.current.__class__ is int and state.current & SPAN_BITS == span_id and not state.telemetry_depth:
            self.checkpoint(self.current_key())  # it ends here while still current
        if self._parents.get(span_id) == 0:  # a local root: its spans' contexts are done
            for member in self._trace_spans.pop(span_id, []):
                self._root_of.pop(member, None)
                self._parents.pop(member, None)
                obj = self._objects.pop(member, None)
                if obj is not None:
                    self._entries.pop(obj, None)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    # ---- figures for the exporter --------------------------------------------------------

    def span_figures(self, span: ReadableSpan) -> dict[str, Any]:
        """A span's CPU, waits and what it waited for, as span attributes (exporter thread, end order)."""
        ctx = span.get_span_context()
        if ctx is None:
            return {}
        span_id = ctx.span_id
        keys = (span_id, span_id + TOOL_FN, span_id + PROFILER)
        totals = [[0.0] * _FIGURES for _ in keys]
        children = 0
        for state in self.threads:
            for total, key in zip(totals, keys, strict=True):
                figures = state.figures.pop(key, None)
                if figures is not None:
                    for i, value in enumerate(figures):
                        total[i] += value
            children += state.children.pop(span_id, 0)
        exported = self._exported_by_trace.setdefault(ctx.trace_id, [])
        for key in keys:
            self._exported.add(key)
            exported.append(key)
        own, tool_fn, profiler = totals
        merged = [a + b for a, b in zip(own, tool_fn, strict=True)]
        self_cpu = own[CPU] + tool_fn[CPU]
        self.exported_cpu += self_cpu
        self.exported_profiler_cpu += profiler[CPU]
        requests = self._model_requests.pop(span_id, 0)
        inclusive = self_cpu + children + self._child_inclusive.pop(span_id, 0)
        parent = span.parent
        foreign = span_id in self._foreign_parent
        self._foreign_parent.discard(span_id)
        if parent is not None and not parent.is_remote and not foreign:
            self._child_inclusive[parent.span_id] = self._child_inclusive.get(parent.span_id, 0) + inclusive
        else:  # a root is exported after its whole trace: forget that trace's keys
            for exported_key in self._exported_by_trace.pop(ctx.trace_id, []):
                self._exported.discard(exported_key)
        duration = (span.end_time or 0) - (span.start_time or 0)
        result: dict[str, Any] = {
            fields.CPU_SELF: self_cpu / 1e9,
            fields.CPU_INCLUSIVE: inclusive / 1e9,
            fields.CPU_CHILDREN: children / 1e9,
            fields.CPU_PROFILER: profiler[CPU] / 1e9,
            fields.PROFILER_WAIT: (profiler[GIL] + profiler[HOST] + profiler[BLOCKED] + merged[PROFILER_GIL]) / 1e9,
            fields.WAIT: max(0.0, duration - inclusive) / 1e9,
            fields.READY_WAIT: merged[READY] / 1e9,
            fields.OFFCPU_GIL: merged[GIL] / 1e9,
            fields.OFFCPU_HOST: merged[HOST] / 1e9,
            fields.OFFCPU_BLOCKED: merged[BLOCKED] / 1e9,
            fields.MODEL_WAIT: merged[MODEL] / 1e9,
            fields.MODEL_OVERLAP_CPU: merged[OVERLAP_CPU] / 1e9,
            fields.MODEL_OVERLAP_READY: merged[OVERLAP_READY] / 1e9,
            fields.HANDOFF: merged[HANDOFF] / 1e9,
        }
        for name, value in zip(fields.READY_BLAME, _blame(merged), strict=True):
            result[name] = value / 1e9
        if (span.attributes or {}).get(gen_ai.GEN_AI_OPERATION_NAME) == "execute_tool":
            result[fields.CPU_TOOL_FN] = tool_fn[CPU] / 1e9
        if requests:
            result[fields.MODEL_REQUESTS] = requests
        return result

    def children_total(self) -> int:
        return sum(sum(t.children.values()) for t in self.threads)

    def bucket_totals(self) -> dict[str, int]:
        """CPU ns per named bucket, all spans' own CPU together under `spans`."""
        totals: dict[str, int] = {
            fields.SPANS_BUCKET: int(self.exported_cpu),
            TELEMETRY: int(self.exported_profiler_cpu),
        }
        for state in self.threads:
            for key, figures in list(state.figures.items()):
                name = str(key)
                if key.__class__ is int:
                    name = TELEMETRY if key >= PROFILER else fields.SPANS_BUCKET
                totals[name] = totals.get(name, 0) + int(figures[CPU])
        return totals

    @property
    def handles(self) -> int:
        return sum(t.handles for t in self.threads)

    @property
    def switches(self) -> int:
        return sum(t.switches for t in self.threads)

    @property
    def reconciles(self) -> int:
        return sum(t.reconciles for t in self.threads)

    @property
    def checkpoints(self) -> int:
        """Checkpoint calls outside the loop-handle path (attach/detach, loop iterations, work items)."""
        return sum(t.checkpoints for t in self.threads)

    # ---- hooks ----------------------------------------------------------------------------

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._installed.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)

    def install(self) -> None:
        """Patch the checkpoint points (call once, before running the workload)."""
        selector_loop = asyncio.selector_events.BaseSelectorEventLoop
        base_loop = asyncio.base_events.BaseEventLoop
        self._patch(otel_context, "attach", self._attach_hook(otel_context.attach))
        self._patch(otel_context, "detach", self._detach_hook(otel_context.detach))
        if self.accelerated:
            run, call_soon, run_once = _fastloop.configure(
                self,
                self._entries,
                self._loop_handles,
                self._ready_at,
                self._inflight,
                self._done_at,
                self._outstanding,
                self._loop_states,
                self._trace_spans,
                _OTEL_VAR,
                _SPAN_KEY,
                LOOP,
                LOOP_IDLE,
                NO_SPAN,
                asyncio.events.TimerHandle,
                asyncio.events.Handle,
                self._thread,
                self._figures,
                self._late,
                self._become_loop,
                _report_callback_error,
                self._state_key,
                base_loop._run_once,  # type: ignore[attr-defined]
                self._exported,
                IDLE_KEYS,
                LATE,
                self._info,
                TELEMETRY,
                PROFILER,
                SPAN_BITS,
                PROF,
                base_loop,
                RECONCILE_NS,
                SCHEDSTAT_EVERY,
                NOISE_NS,
                self._switch_interval_ns,
            )
            self._reconcile = _fastloop.reconcile  # type: ignore[method-assign]
            self.enter_telemetry = _fastloop.section_enter  # type: ignore[method-assign]
            self.exit_telemetry = _fastloop.section_exit  # type: ignore[method-assign]
        else:
            run, call_soon = self._handle_hook(), self._call_soon_hook()
            run_once = self._run_once_hook(base_loop._run_once)  # type: ignore[attr-defined]
        self._patch(asyncio.events.Handle, "_run", run)
        self._patch(base_loop, "_call_soon", call_soon)
        self._patch(base_loop, "_run_once", run_once)
        for name in ("_add_reader", "_add_writer"):
            self._patch(selector_loop, name, self._io_handle_hook(getattr(selector_loop, name)))
        work_item = concurrent.futures.thread._WorkItem
        self._patch(work_item, "__init__", self._work_item_init(work_item.__init__))
        self._patch(work_item, "run", self._work_hook(work_item.run))
        meter = self

        def _try_wait(popen: subprocess.Popen[Any], wait_flags: int) -> tuple[int, int]:
            return meter._try_wait(popen, wait_flags)

        self._patch(subprocess.Popen, "_try_wait", _try_wait)
        state = self._thread()
        self._reconcile(state, _mono_ns())
        self._switch(state, self.current_key(), _mono_ns())

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._installed):
            setattr(owner, name, original)
        self._installed.clear()
        for name in ("_reconcile", "enter_telemetry", "exit_telemetry"):  # the C ones, while installed
            self.__dict__.pop(name, None)

    def _attach_hook(self, original: Callable[[Context], object]) -> Callable[[Context], object]:
        meter = self

        def attach(ctx: Context) -> object:
            token = original(ctx)
            state = meter._thread()
            if state.telemetry_depth:
                state.context_changed = True  # resolved when the section ends
            else:
                meter.checkpoint(meter.key_of(ctx), reconcile=not state.is_loop)
            return token

        return attach

    def _detach_hook(self, original: Callable[[Any], None]) -> Callable[[Any], None]:
        meter = self

        def detach(token: object) -> None:
            original(token)
            state = meter._thread()
            if state.telemetry_depth:
                state.context_changed = True
            else:
                meter.checkpoint(meter.key_of(None), reconcile=not state.is_loop)

        return detach

    def _try_wait(self, popen: subprocess.Popen[Any], wait_flags: int) -> tuple[int, int]:
        """Popen's reaping step via wait4, which also returns the child's CPU usage."""
        try:
            pid, status, usage = os.wait4(popen.pid, wait_flags)
        except ChildProcessError:
            return popen.pid, 0
        if pid == popen.pid:
            state = self._thread()
            span_id = self._current_span_id()
            key: Key = span_id if span_id is not None else NO_SPAN
            spent = int((usage.ru_utime + usage.ru_stime) * 1e9)
            state.children[key] = state.children.get(key, 0) + spent
        return pid, status

    def _io_handle_hook(self, original: Callable[..., asyncio.Handle]) -> Callable[..., asyncio.Handle]:
        """Socket readiness callbacks keep the context of whoever opened the connection: the loop's own work."""
        loop_handles = self._loop_handles
        prune_at = LOOP_HANDLES_PRUNE_AT

        def add(loop: Any, fd: Any, callback: Any, *args: Any) -> asyncio.Handle:
            nonlocal prune_at
            handle = original(loop, fd, callback, *args)
            if isinstance(handle, asyncio.Handle):
                if len(loop_handles) >= prune_at:  # removed or replaced readers are cancelled: drop them
                    loop_handles.difference_update([h for h in loop_handles if h.cancelled()])
                    prune_at = max(LOOP_HANDLES_PRUNE_AT, 2 * len(loop_handles))
                loop_handles.add(handle)
            return handle

        return add

    def _handle_hook(self) -> Callable[[asyncio.Handle], None]:
        """`Handle._run` with the checkpoint inlined: the hot path (every task step and callback).

        It replaces asyncio's method rather than wrapping it (one Python frame less per handle);
        the body after the checkpoint is asyncio's own (the same in 3.11-3.13).
        """
        local = self._local
        thread_state = self._thread
        entries = self._entries
        ready_at = self._ready_at
        loop_handles = self._loop_handles
        inflight = self._inflight
        done_at = self._done_at
        trace_spans = self._trace_spans
        late = self._late
        new_figures = self._figures
        timer_handle = asyncio.events.TimerHandle
        meter = self

        def _run(self: asyncio.Handle) -> None:
            try:
                state = local.state
            except AttributeError:
                state = thread_state()
            now = _mono_ns()
            entry = None
            key: Key = NO_SPAN
            if self in loop_handles:
                key = LOOP
            else:
                otel = self._context.get(_OTEL_VAR)  # type: ignore[attr-defined]
                if otel:
                    entry = entries.get(otel.get(_SPAN_KEY))
                    if entry is not None:
                        key = entry[0]
            state.handles += 1
            if state.idle:
                state.idle = False
                state.idle_end = now
                meter.loops_busy += 1
            prev = state.current
            if key != prev:
                if now - state.window0 >= RECONCILE_NS:  # a long window closes here (as in _fastloop)
                    meter._reconcile(state, now)
                spent = now - state.wall0
                state.wall0 = now
                pending = state.pending
                pending[prev] = pending.get(prev, 0) + spent
                prev_entry = state.current_entry
                state.cum_total += spent
                if prev_entry is not None:
                    prev_entry[1][prev_entry[2]] += spent
                    if inflight and prev in inflight:
                        inflight[prev][LAST_END] = now
                else:
                    state.cum_runtime += spent
                state.current = key
                state.current_entry = entry
                state.switches += 1
            if entry is not None:
                ready = ready_at.pop(self, None)
                if ready is not None:
                    at, total0, runtime0, totals, orch0, tool0, chat0, prof0 = ready
                    figures = state.figures.get(key) or new_figures(state, key)
                    figures[READY] += now - at
                    figures[R_ORCH] += totals[0] - orch0
                    figures[R_TOOL] += totals[1] - tool0
                    figures[R_CHAT] += totals[2] - chat0
                    figures[R_PROF] += totals[3] - prof0
                    figures[R_ALL] += state.cum_total - total0
                    figures[R_RUNTIME] += state.cum_runtime - runtime0
                    if inflight and key in inflight:
                        _woken_in_flight(figures, inflight[key], at, now, state.idle_end, len(trace_spans) > 1)
                    if done_at and key in done_at:  # woken by work a worker thread finished
                        figures[HANDOFF] += max(0, at - done_at.pop(key))
                elif self.__class__ is timer_handle:
                    late(state, key, int(self._when * 1e9), now)  # type: ignore[attr-defined]
            try:
                self._context.run(self._callback, *self._args)  # type: ignore[attr-defined]
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                _report_callback_error(self, exc)
            self = None  # type: ignore[assignment]  # as asyncio: breaks cycles when an exception occurs

        return _run

    def _late(self, state: ThreadMeter, key: Key, due: int, now: int) -> None:
        """A timer that ran late: the loop was busy; with other agent runs open, with them."""
        figures = self._figures(state, key)
        waited = now - due
        if waited > 0:
            figures[READY] += waited
            figures[R_OTHER if len(self._trace_spans) > 1 else R_RUNTIME] += waited
            figures[R_ALL] += waited
        if self._inflight and key in self._inflight:
            _woken_in_flight(figures, self._inflight[key], due, now, state.idle_end, len(self._trace_spans) > 1)

    def _call_soon_hook(self) -> Callable[..., asyncio.Handle]:
        """`BaseEventLoop._call_soon` noting, for handles of our spans, the loop's running totals."""
        loop_states = self._loop_states
        ready_at = self._ready_at
        entries = self._entries
        handle_type = asyncio.events.Handle

        def _call_soon(self: Any, callback: Any, args: Any, context: Any) -> asyncio.Handle:
            handle = handle_type(callback, args, self, context)
            if handle._source_traceback:  # type: ignore[attr-defined]
                del handle._source_traceback[-1]  # type: ignore[attr-defined]
            self._ready.append(handle)
            otel = handle._context.get(_OTEL_VAR)  # type: ignore[attr-defined]
            if otel:
                entry = entries.get(otel.get(_SPAN_KEY))
                if entry is not None:
                    state = loop_states.get(self)
                    if state is not None:
                        totals = entry[1]
                        ready_at[handle] = (
                            _mono_ns(),
                            state.cum_total,
                            state.cum_runtime,
                            totals,
                            totals[0],
                            totals[1],
                            totals[2],
                            totals[3],
                        )
            return handle

        return _call_soon

    def _run_once_hook(self, original: Callable[[asyncio.BaseEventLoop], None]) -> Callable[..., None]:
        meter = self

        def run_once(loop: asyncio.BaseEventLoop) -> None:
            state = meter._thread()
            if not state.is_loop:
                meter._become_loop(state, loop)
            now = _mono_ns()
            idle = not loop._ready  # type: ignore[attr-defined]
            key = LOOP_IDLE if idle else LOOP
            if key != state.current:
                meter._switch(state, key, now)
            if idle != state.idle:
                state.idle = idle
                meter.loops_busy += -1 if idle else 1
            if now - state.window0 >= (RECONCILE_NS // 4 if meter.busy_workers else RECONCILE_NS):
                meter._reconcile(state, now)
            original(loop)

        return run_once

    def _become_loop(self, state: ThreadMeter, loop: asyncio.AbstractEventLoop) -> None:
        """This thread runs an event loop from now on."""
        state.is_loop = True
        self._loop_states[loop] = state
        self.loops_busy += 1

    def _work_hook(self, original: Callable[..., None]) -> Callable[..., None]:
        meter = self

        def work_run(item: Any, *args: Any, **kwargs: Any) -> None:
            fn = item.fn.func if isinstance(item.fn, functools.partial) else item.fn
            owner = getattr(fn, "__self__", None)
            ctx = owner.get(_OTEL_VAR) if isinstance(owner, contextvars.Context) else None
            key = meter.key_of(ctx) if ctx is not None else NO_SPAN
            state = meter._thread()
            meter.checkpoint(key, reconcile=True)
            submitted, submitter = getattr(item, _SUBMITTED, (None, None))
            if submitted is not None and key.__class__ is int:
                meter._figures(state, key)[HANDOFF] += max(0, state.wall0 - submitted)
            state.in_work = True
            meter.busy_workers += 1
            try:
                original(item, *args, **kwargs)
            finally:
                meter.checkpoint(EXECUTOR_IDLE, reconcile=True)
                if key.__class__ is int:
                    meter._done_at[key] = state.wall0  # the loop's pickup of the result is a hand-off too
                if submitter is not None:
                    left = meter._outstanding.get(submitter, 1) - 1
                    if left > 0:
                        meter._outstanding[submitter] = left
                    else:
                        meter._outstanding.pop(submitter, None)
                state.in_work = False
                meter.busy_workers -= 1

        return work_run

    def _work_item_init(self, original: Callable[..., None]) -> Callable[..., None]:
        """Note when and by whom work is handed to a thread pool: a thread blocked while its work
        runs elsewhere is waiting on that hand-off, not on I/O of its own."""
        meter = self

        def __init__(item: Any, *args: Any, **kwargs: Any) -> None:
            original(item, *args, **kwargs)
            state = meter._thread()
            submitter = state.current if state.current.__class__ is int else None
            setattr(item, _SUBMITTED, (_mono_ns(), submitter))
            if submitter is not None:
                meter._outstanding[submitter] = meter._outstanding.get(submitter, 0) + 1
                state.handed_off.add(submitter)

        return __init__

    def task_factory(self) -> Callable[..., asyncio.Task[Any]]:
        """For loops whose handles cannot be patched (uvloop): meter each coroutine step."""
        meter = self

        def factory(
            loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any
        ) -> asyncio.Task[Any]:
            return asyncio.Task(_MeteredCoroutine(coro, meter), loop=loop, **kwargs)

        return factory

    def step(self, key: Key) -> None:
        """A coroutine step starts or ends on a loop that cannot be patched (uvloop)."""
        state = self._thread()
        state.is_loop = True
        now = _mono_ns()
        if key != state.current:
            self._switch(state, key, now)
        if now - state.window0 >= RECONCILE_NS:
            self._reconcile(state, now)


@dataclass(frozen=True)
class MeterCosts:
    """CPU ns the meter adds per event-loop handle (scheduling included), per bucket switch, per reconciliation."""

    handle_ns: float
    switch_ns: float
    reconcile_ns: float


def calibrate(handles: int = 10_000) -> MeterCosts:
    """Measure the meter's own costs on this machine (before it is installed for real).

    Handles carry span contexts and their scheduling is timed too, as in a workload: once all
    in one span (no switch), once alternating between two (every handle switches).
    """
    meter = SpanCpuMeter()
    contexts = []
    totals = meter._counters(4)
    for span_id in (1, 2):
        span = trace.NonRecordingSpan(trace.SpanContext(1, span_id, is_remote=False))
        meter._info[span_id] = meter._entries[span] = (span_id, totals, ORCH)
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

    def reconcile_cost(rounds: int = 2_000) -> float:
        state = meter._thread()
        start = _thread_time_ns()
        for i in range(rounds):
            state.pending[i % 4 + 1] = 1
            meter._reconcile(state, _mono_ns())
        return max(0.0, (_thread_time_ns() - start) / rounds)

    handle_ns = added(False)
    switch_ns = max(0.0, added(True) - handle_ns)
    return MeterCosts(handle_ns, switch_ns, reconcile_cost())


class _MeteredCoroutine(collections.abc.Coroutine):  # type: ignore[type-arg]
    """Checkpoints around every step of a task's coroutine (the loop runs it in the task's context)."""

    __slots__ = ("_coro", "_meter")

    def __init__(self, coro: Coroutine[Any, Any, Any], meter: SpanCpuMeter) -> None:
        self._coro = coro
        self._meter = meter

    def send(self, value: Any) -> Any:
        self._meter.step(self._meter.current_key())
        try:
            return self._coro.send(value)
        finally:
            self._meter.step(LOOP)

    def throw(self, *args: Any) -> Any:
        self._meter.step(self._meter.current_key())
        try:
            return self._coro.throw(*args)
        finally:
            self._meter.step(LOOP)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, Any, Any]:
        return self._coro.__await__()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coro, name)
