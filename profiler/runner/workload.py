"""The workload process: builds the graph and runs the agent tasks under instrumentation.

Started by `orchestrace run` with a JSON config; reports progress as JSON lines on the
file descriptor named by ORCHESTRACE_PROGRESS_FD. Its stdout/stderr go to workload.log.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import random
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanContext

from profiler.errors import UsageError
from profiler.instrument.agentrun import agent_run_span, first_line
from profiler.instrument.callbacks import SpanCallbackHandler
from profiler.instrument.probe import ProcessProbe
from profiler.instrument.telemetry import resource_for
from profiler.lifeline import die_with_parent
from profiler.modelserver.trajectory import SCRIPT_BAGGAGE_KEY
from profiler.runner.processes import PROGRESS_FD_ENV, SPAN_FD_ENV
from profiler.store.cpuwindow import CpuWindow
from profiler.store.rundir import CPU_FILE, SPANS, write_json_atomic
from profiler.store.spanfile import append_line
from profiler.store.trajectories import TRAJECTORIES


class Progress:
    """JSON lines to the parent; silent if there is no channel."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def send(self, event: str, **fields: Any) -> None:
        if self._fd is None:
            return
        try:
            append_line(self._fd, (json.dumps({"event": event, **fields}) + "\n").encode())
        except OSError:
            self._fd = None  # parent gone: keep working, the run directory is what matters


@dataclass(frozen=True)
class AgentRun:
    index: int
    key: str
    input: dict[str, Any]
    scripted: bool = False
    parent: SpanContext | None = None  # a fleet driver's traceparent: the trace this run goes in


class Workload:
    def __init__(self, config: dict[str, Any], progress: Progress, span_fd: int | None = None) -> None:
        self.config = config
        self.progress = progress
        self.probe = ProcessProbe(
            resource_for(f"orchestrace-{config['label']}", config["run_id"], {"orchestrace.agent": config["label"]}),
            span_fd=span_fd,
            spans_path=Path(config["run_dir"]) / SPANS,
            trajectories=Path(config["run_dir"]) / TRAJECTORIES,
        )
        self.tracer = self.probe.tracer
        self.errors = 0
        self.completed = 0
        self.window: dict[str, Any] | None = None
        self.bare = bool(config.get("bare"))  # no instrumentation at all: the baseline of `orchestrace overhead`

    def build(self) -> tuple[Any, SpanCallbackHandler, str]:
        from profiler.models import chat_model
        from profiler.runner.graphs import build_graph

        cfg = self.config
        api_key = os.environ.get(cfg["api_key_env"]) if cfg.get("api_key_env") else None
        model = chat_model(
            cfg["base_url"],
            cfg["model_name"],
            api_key=api_key,
            timeout_s=cfg["request_timeout_s"],
            max_retries=cfg["max_retries"],
        )
        graph, name = build_graph(cfg.get("agent"), cfg.get("graph"), model)
        return graph, self.probe.handler(name), name

    @contextlib.contextmanager
    def agent_run(self, name: str, run: AgentRun) -> Iterator[None]:
        """One agent run: baggage for the simulated server's script, the invoke_agent span, its outcome."""
        token = otel_context.attach(baggage.set_baggage(SCRIPT_BAGGAGE_KEY, run.key)) if run.scripted else None
        started = time.perf_counter()
        error: str | None = None
        try:
            if self.bare:
                yield
            else:
                with agent_run_span(self.tracer, name, run.key, run.index, run.parent):
                    yield
        except Exception as exc:  # recorded on the span; the other agent runs go on
            error = first_line(exc)
        finally:
            if token is not None:
                otel_context.detach(token)
        if error:
            self.errors += 1
        else:
            self.completed += 1
        self.progress.send(
            "run",
            index=run.index,
            key=run.key,
            ok=error is None,
            error=error,
            wall_s=round(time.perf_counter() - started, 6),
        )

    def _config(self, handler: SpanCallbackHandler) -> dict[str, Any]:
        return {"callbacks": [] if self.bare else [handler], "recursion_limit": self.config["recursion_limit"]}

    async def run_one(self, graph: Any, handler: SpanCallbackHandler, name: str, run: AgentRun) -> None:
        """One agent run on this loop; its outcome goes to the progress channel."""
        with self.agent_run(name, run):
            await graph.ainvoke(run.input, self._config(handler))

    async def run_all(self, graph: Any, handler: SpanCallbackHandler, name: str, runs: list[AgentRun]) -> None:
        """Run the agent runs `concurrency` at a time: tasks on this loop, or threads calling `invoke`."""
        pending = collections.deque(runs)  # popleft is atomic: safe for tasks and threads alike

        async def worker() -> None:
            while pending:
                await self.run_one(graph, handler, name, pending.popleft())

        stopping = threading.Event()

        def sync_worker() -> None:
            while not stopping.is_set():  # threads cannot be cancelled: stop taking new runs
                try:
                    run = pending.popleft()
                except IndexError:
                    return
                with self.agent_run(name, run):
                    graph.invoke(run.input, self._config(handler))

        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():  # signal handlers only work there
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        if self.config.get("loop") == "uvloop":
            loop.set_task_factory(self.probe.meter.task_factory())
        concurrency = self.config["concurrency"]
        started = (time.time(), time.monotonic(), time.process_time())
        if not self.bare:
            self.probe.start()
        try:
            if self.config.get("mode") == "sync":
                with ThreadPoolExecutor(concurrency, thread_name_prefix="agent-run") as pool:
                    try:
                        await asyncio.gather(*(loop.run_in_executor(pool, sync_worker) for _ in range(concurrency)))
                    finally:
                        stopping.set()
            else:
                await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            self.window = _bare_window(started) if self.bare else self.probe.stop()


def _bare_window(started: tuple[float, float, float]) -> dict[str, Any]:
    """The measured window of an uninstrumented run: what its clocks say, nothing attributed."""
    unix, monotonic, process = started
    return {
        "window": {
            "start_unix": unix,
            "end_unix": time.time(),
            "wall_s": time.monotonic() - monotonic,
            "process_cpu_s": time.process_time() - process,
            "startup_cpu_s": process,
        },
    }


def main(argv: list[str]) -> int:
    # the runner stops us with SIGINT: take it even where it came ignored (a shell's background job
    # starts with SIGINT ignored, and the runner's children inherit that)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    die_with_parent(signal.SIGINT)  # the runner died: stop as on Ctrl-C, flushing what was recorded
    config = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    fd = os.environ.get(PROGRESS_FD_ENV)
    progress = Progress(int(fd) if fd else None)
    random.seed(config["seed"])
    workload = Workload(config, progress, int(os.environ[SPAN_FD_ENV]) if SPAN_FD_ENV in os.environ else None)
    runs = [  # a replay keeps the recorded runs' indices
        AgentRun(r.get("index", i), r["key"], r["input"], r.get("scripted", False))
        for i, r in enumerate(config["runs"])
    ]
    handler: SpanCallbackHandler | None = None
    status = "completed"
    write_error: str | None = None
    try:
        try:
            graph, handler, name = workload.build()
        except UsageError as exc:
            progress.send("fatal", message=str(exc))
            return 1
        if not workload.bare:
            workload.probe.calibrate()
        progress.send("started", total=len(runs), agent=name)
        if config.get("loop") == "uvloop":
            import uvloop

            uvloop.run(workload.run_all(graph, handler, name, runs))
        else:
            asyncio.run(workload.run_all(graph, handler, name, runs))
    except (KeyboardInterrupt, asyncio.CancelledError):
        status = "interrupted"
    except Exception as exc:
        traceback.print_exc()
        progress.send("fatal", message=f"workload crashed: {first_line(exc)} (see workload.log)")
        status = "failed"
    finally:
        incomplete = handler.end_open_spans(status) if handler is not None else 0
        workload.probe.close()
        if workload.window is not None:
            try:
                write_json_atomic(Path(config["run_dir"]) / CPU_FILE, cpu_file(workload, status).to_json())
            except OSError as exc:  # a full disk: the runner reports it
                write_error = f"{CPU_FILE}: {exc.strerror or exc}"
        progress.send(
            "finished",
            status=status,
            completed=workload.completed,
            errors=workload.errors,
            incomplete_spans=incomplete,
            spans_written=_exported(workload),
            write_error=write_error,
        )
    return {"completed": 0, "interrupted": 130}.get(status, 1)


def cpu_file(workload: Workload, status: str) -> CpuWindow:
    """`cpu.json` of a finished window: the probe's figures, how the window ended, spans exported."""
    assert workload.window is not None
    return CpuWindow.from_meter(workload.window, workload.config.get("loop", "asyncio"), status, _exported(workload))


def _exported(workload: Workload) -> int:
    exporter = workload.probe.telemetry.exporter
    return exporter.exported if exporter is not None else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
