"""A Ray actor that is one profiled workload process: the local workload's code, fed one agent run
per call.

Ray is not imported here: the driver (`runner.fleet`) wraps `FleetWorker` with `ray.remote`. The
actor keeps its spans (relay frames) and trajectories in a private temporary folder and returns
what each agent run added with that run's result: a worker killed later keeps everything it
already returned (objects it made itself would die with it).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from opentelemetry import propagate, trace

from profiler.runner import environment
from profiler.runner.workload import AgentRun, Progress, Workload, cpu_file
from profiler.store.rundir import SPANS
from profiler.store.spanrelay import FRAME_HEADER
from profiler.store.trajectories import TRAJECTORIES


def whole_frames(data: bytes) -> int:
    """How many leading bytes of `data` are complete length-prefixed relay frames."""
    end = 0
    while end + FRAME_HEADER.size <= len(data):
        (length,) = FRAME_HEADER.unpack_from(data, end)
        if end + FRAME_HEADER.size + length > len(data):
            break
        end += FRAME_HEADER.size + length
    return end


def whole_lines(data: bytes) -> int:
    return data.rfind(b"\n") + 1


class Spool:
    """What a file grew by since the last `take`, cut at the last whole record (the exporter thread
    may be writing the next one)."""

    def __init__(self, path: Path, whole: Callable[[bytes], int]) -> None:
        self.path = path
        self.whole = whole
        self.offset = 0

    def take(self) -> bytes:
        if not self.path.exists():
            return b""
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        cut = self.whole(data)
        self.offset += cut
        return data[:cut]


class _Outcomes(Progress):
    """The workload's progress events kept by agent run, for the call that ran it to return."""

    def __init__(self) -> None:
        super().__init__(None)
        self.runs: dict[int, dict[str, Any]] = {}

    def send(self, event: str, **fields: Any) -> None:
        if event == "run":
            self.runs[int(fields["index"])] = fields


def parent_of(traceparent: str) -> trace.SpanContext | None:
    """The span context a driver's W3C `traceparent` names (None if it names none)."""
    context = propagate.extract({"traceparent": traceparent})
    span_context = trace.get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None


class FleetWorker:
    """Builds the graph and calibrates the meter at creation; `start`, `run`... `finish` bracket the window."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="orchestrace-worker-"))
        config = {**config, "run_dir": str(self.folder)}
        random.seed(config["seed"])
        span_fd = os.open(self.folder / SPANS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.outcomes = _Outcomes()
        self.workload = Workload(config, self.outcomes, span_fd)
        try:
            self.graph, self.handler, self.name = self.workload.build()
        except BaseException:  # a --graph mistake: the driver says why; nothing left here
            self.workload.probe.close()
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        # the calibration runs event loops of its own: not on the actor's loop thread
        calibration = threading.Thread(target=self.workload.probe.calibrate, name="orchestrace-calibrate")
        calibration.start()
        calibration.join()
        self.spans = Spool(self.folder / SPANS, whole_frames)
        self.trajectories = Spool(self.folder / TRAJECTORIES, whole_lines)

    async def identity(self) -> dict[str, Any]:
        """Where this worker runs: the part it makes is named after it."""
        import ray

        context = ray.get_runtime_context()
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "actor_id": context.get_actor_id(),
            "node_id": context.get_node_id(),
            "folder": str(self.folder),  # its node's helper removes it if this worker dies
            "cores": environment.usable_cores(),
        }

    async def start(self) -> None:
        self.workload.probe.start()

    async def run(
        self, index: int, key: str, graph_input: dict[str, Any], scripted: bool, traceparent: str
    ) -> dict[str, Any]:
        """One agent run; its outcome with the spans and trajectory lines recorded since the last call."""
        run = AgentRun(index, key, graph_input, scripted, parent_of(traceparent))
        await self.workload.run_one(self.graph, self.handler, self.name, run)
        await asyncio.to_thread(self.workload.probe.telemetry.flush)  # the run's spans, off the loop
        outcome = self.outcomes.runs.pop(index, {"ok": False, "error": "no outcome recorded"})
        return {**outcome, "spans": self.spans.take(), "trajectories": self.trajectories.take()}

    async def discard(self) -> None:
        """The run did not start (another worker could not): nothing to keep."""
        self.workload.probe.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    async def finish(self, status: str) -> dict[str, Any]:
        """Close the window: the part's `cpu.json` and the last spans; the worker is done after this."""
        probe = self.workload.probe
        self.workload.window = probe.stop()
        incomplete = self.handler.end_open_spans(status)
        probe.close()
        try:
            return {
                "cpu": cpu_file(self.workload, status),
                "completed": self.workload.completed,
                "errors": self.workload.errors,
                "incomplete_spans": incomplete,
                "spans": self.spans.take(),
                "trajectories": self.trajectories.take(),
            }
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
