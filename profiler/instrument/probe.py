"""Everything orchestrace puts inside a profiled process: spans, the CPU meter, window figures.

The measurement window covers the agent runs only; CPU before it (imports, graph building)
is reported as startup. At the end of the window the probe reconciles the meter's buckets
with the process's CPU clock and each thread's CPU clock, and records its own cost.
"""

from __future__ import annotations

import os
import resource
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from profiler.instrument import modelwait, toolfn
from profiler.instrument.callbacks import SpanCallbackHandler, install_token_fast_path
from profiler.instrument.cpumeter import MeterCosts, SpanCpuMeter, calibrate
from profiler.instrument.telemetry import Telemetry
from profiler.instrument.trajectory import TrajectoryObserver
from profiler.store.trajectories import TrajectoryRecorder

TELEMETRY_THREAD_PREFIX = "OtelBatch"  # the span processor's export thread


def _thread_cpu_ns(ident: int) -> int | None:
    try:
        return time.clock_gettime_ns(time.pthread_getcpuclockid(ident))
    except (OSError, ProcessLookupError):
        return None


def _thread_clocks() -> dict[int, tuple[str, int, int]]:
    """ident -> (name, native id, CPU ns) for every live Python thread."""
    clocks = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        cpu = _thread_cpu_ns(thread.ident)
        if cpu is not None:
            clocks[thread.ident] = (thread.name, thread.native_id or 0, cpu)
    return clocks


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _task_cpu_ns() -> dict[int, int]:
    """CPU of every OS thread of this process from /proc (10 ms ticks), native threads included."""
    result = {}
    for entry in Path("/proc/self/task").iterdir() if Path("/proc/self/task").exists() else []:
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            result[int(entry.name)] = (int(fields[11]) + int(fields[12])) * 1_000_000_000 // _CLOCK_TICKS
        except (OSError, ValueError, IndexError):
            continue
    return result


def _children_cpu_ns() -> int:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return int((usage.ru_utime + usage.ru_stime) * 1e9)


def calibrate_passthrough_cost(pairs: int = 5_000) -> float:
    """Measured CPU ns of one callback for a LangChain run the handler does not emit a span for."""
    handler = SpanCallbackHandler(TracerProvider().get_tracer("calibration"))
    parent = uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(pairs)]
    start = time.thread_time_ns()
    for run_id in ids:
        handler.on_chain_start(None, None, run_id=run_id, parent_run_id=parent, name="step")
        handler.on_chain_end(None, run_id=run_id)
    return (time.thread_time_ns() - start) / (2 * pairs)


class ProcessProbe:
    """Spans + CPU meter for this process; `start()` / `stop()` bracket the measured window."""

    def __init__(
        self,
        resource_: Resource,
        *,
        span_fd: int | None = None,
        spans_path: str | Path | None = None,
        extra_exporters: list[Any] | None = None,
        trajectories: Path | None = None,
    ) -> None:
        self.meter = SpanCpuMeter()
        self.recorder = TrajectoryRecorder(trajectories) if trajectories is not None else None
        self.telemetry = Telemetry(
            resource_,
            span_fd=span_fd,
            spans_path=spans_path,
            processors=[self.meter],
            extra_exporters=extra_exporters,
            extra_attributes=self.meter.span_figures,
        )
        self.tracer = self.telemetry.provider.get_tracer("orchestrace")
        exporter = self.telemetry.exporter
        if exporter is not None:  # while it exports, it holds the GIL: a workload thread waiting is ours
            exporter.export = self.meter.while_exporting(exporter.export)  # type: ignore[method-assign,assignment]
        self._start: dict[str, Any] = {}
        self.costs = MeterCosts(0.0, 0.0, 0.0)
        self._undo: list[Any] = []
        self.passthrough_cost_ns = 0.0
        self._handlers: list[SpanCallbackHandler] = []

    def handler(self, agent_name: str) -> SpanCallbackHandler:
        chats = TrajectoryObserver(self.recorder) if self.recorder is not None else None
        handler = SpanCallbackHandler(self.tracer, agent_name=agent_name, meter=self.meter, chats=chats)
        self._handlers.append(handler)
        return handler

    def calibrate(self) -> None:
        """Measure the costs the probe cannot time as it runs (outside any running event loop)."""
        self.costs = calibrate()
        self.passthrough_cost_ns = calibrate_passthrough_cost()

    def start(self) -> None:
        """Install the meter and read every clock."""
        self._start = {
            "unix": time.time(),
            "wall_ns": time.monotonic_ns(),
            "process_ns": time.process_time_ns(),
            "children_ns": _children_cpu_ns(),
            "threads": _thread_clocks(),
            "tasks": _task_cpu_ns(),
        }
        self.meter.install()
        self._undo = [toolfn.install(self.meter), modelwait.install(self.meter), install_token_fast_path()]

    def stop(self) -> dict[str, Any]:
        """Uninstall the meter and return the window's figures (for `cpu.json`)."""
        meter = self.meter
        meter.flush()
        for undo in reversed(self._undo):
            undo()
        self._undo = []
        meter.uninstall()
        end_threads = _thread_clocks()
        # every thread known to Python (a finished worker can linger in /proc for a moment)
        python_tids = {native_id for _, native_id, _ in end_threads.values()}
        python_tids |= {native_id for _, native_id, _ in self._start["threads"].values()}
        python_tids |= {state.native_id for state in meter.threads}
        native_ns = sum(
            cpu - self._start["tasks"].get(tid, 0) for tid, cpu in _task_cpu_ns().items() if tid not in python_tids
        )
        process_ns = time.process_time_ns() - self._start["process_ns"]
        children_ns = _children_cpu_ns() - self._start["children_ns"]
        metered = {state.ident: state.charged for state in meter.threads}
        threads = []
        telemetry_threads_ns = 0
        for ident, (name, native_id, cpu) in end_threads.items():
            before = self._start["threads"].get(ident)
            window_ns = cpu - (before[2] if before else 0)
            threads.append(
                {
                    "name": name,
                    "native_id": native_id,
                    "cpu_s": window_ns / 1e9,
                    "metered_s": metered.get(ident, 0) / 1e9,
                }
            )
            if name.startswith(TELEMETRY_THREAD_PREFIX):
                telemetry_threads_ns += window_ns
        # a checkpoint call (attach/detach, loop iteration, thread-pool item) costs about what a
        # handle's hook does; bucket switches and CPU-clock reconciliations come on top
        costs = self.costs
        overhead_ns = (
            (meter.handles + meter.checkpoints) * costs.handle_ns
            + meter.switches * costs.switch_ns
            + meter.reconciles * costs.reconcile_ns
        )
        passthrough = sum(h.passthrough_calls for h in self._handlers)
        return {
            "window": {
                "start_unix": self._start["unix"],
                "end_unix": time.time(),
                "wall_s": (time.monotonic_ns() - self._start["wall_ns"]) / 1e9,
                "process_cpu_s": process_ns / 1e9,
                "startup_cpu_s": self._start["process_ns"] / 1e9,  # process CPU before the window
            },
            "buckets_s": {name: ns / 1e9 for name, ns in meter.bucket_totals().items()},
            "children_cpu_s": {"reaped": children_ns / 1e9, "attributed": meter.children_total() / 1e9},
            "threads": threads,
            "telemetry_threads_s": telemetry_threads_ns / 1e9,
            # threads without a Python thread state (BLAS, native libraries): measured, not attributable
            "native_threads_s": max(0, native_ns) / 1e9,
            "meter": {
                "other_checkpoints": meter.checkpoints,
                "handles": meter.handles,
                "switches": meter.switches,
                "reconciles": meter.reconciles,
                "handle_cost_ns": costs.handle_ns,
                "switch_cost_ns": costs.switch_ns,
                "reconcile_cost_ns": costs.reconcile_ns,
                "overhead_estimate_s": max(0.0, overhead_ns) / 1e9,
                "passthrough_callbacks": passthrough,
                "passthrough_cost_ns": self.passthrough_cost_ns,
                "passthrough_estimate_s": passthrough * self.passthrough_cost_ns / 1e9,
            },
        }

    def close(self) -> None:
        self.telemetry.shutdown()
        if self.recorder is not None:
            self.recorder.close()
