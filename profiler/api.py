"""Profile your own LangGraph/LangChain code in this process: `profile()` and `profile_graph()`.

    with profile(out="traces", name="my-agent") as run:
        graph.invoke({"messages": [...]})
    print(run.run_dir, run.report.cpu_share_of_latency)

Everything LangChain runs inside the block gets orchestrace's callback handler (through
LangChain's configure hook, so no `callbacks=` argument is needed), spans with CPU per span,
and a trajectory record; py-spy attaches to this process when ptrace is permitted, and psutil
is polled from a small child process. The run directory is complete whether the block
succeeds, raises (the exception propagates unchanged; the run is marked failed) or is
interrupted. Works with any chat model: the simulated server, vLLM, Ollama, OpenAI, a fake.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from langchain_core.messages import BaseMessage, convert_to_openai_messages
from langchain_core.tracers.context import register_configure_hook

from profiler.errors import UsageError
from profiler.instrument.agentrun import agent_run_span, first_line
from profiler.instrument.callbacks import SpanCallbackHandler
from profiler.instrument.probe import ProcessProbe
from profiler.instrument.telemetry import resource_for
from profiler.runner import environment
from profiler.runner.ending import Ending, conclude, record_ending, recorded_summary, with_errors
from profiler.runner.raycluster import LOCAL
from profiler.runner.run import RunResult, new_manifest
from profiler.runner.sampling import DEFAULT_SAMPLE_RATE, StackSampler
from profiler.store.cpuwindow import CpuWindow
from profiler.store.manifest import ProfilingInfo, WorkloadInfo
from profiler.store.parts import MAIN, PartInfo
from profiler.store.report import Report
from profiler.store.rundir import (
    CPU_FILE,
    PROCESS,
    SAMPLER_LOG,
    SAMPLES,
    WORKLOAD_CONFIG,
    WORKLOAD_SAMPLES,
    RunDir,
    write_json_atomic,
)
from profiler.store.trajectories import TRAJECTORIES

_ACTIVE: contextvars.ContextVar[SpanCallbackHandler | None] = contextvars.ContextVar(
    "orchestrace_handler", default=None
)
register_configure_hook(_ACTIVE, inheritable=True)
_ONE_AT_A_TIME = threading.Lock()


class profile:
    """Profile the LangChain/LangGraph work inside the block into a run directory (sync or async)."""

    def __init__(
        self,
        out: str | Path = "traces",
        name: str = "profile",
        *,
        sampler: bool = True,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
    ) -> None:
        if not name or "/" in name:
            raise ValueError(f"name must be a non-empty label without '/', got {name!r}")
        if not 1 <= sample_rate <= 1000:
            raise ValueError(f"sample_rate must be between 1 and 1000 samples/s, got {sample_rate}")
        self.out, self.name, self.sampler_wanted, self.sample_rate = Path(out), name, sampler, sample_rate
        self.run_dir: Path | None = None
        self.report: Report | None = None  # after the block: the run's analysis (report.json is its to_json())
        self.agent_runs = 0
        self._rundir: RunDir | None = None
        self._probe: ProcessProbe | None = None
        self._handler: SpanCallbackHandler | None = None
        self._token: contextvars.Token[SpanCallbackHandler | None] | None = None
        self._sampler: StackSampler | None = None
        self._poller: subprocess.Popen[bytes] | None = None
        self._started = 0.0

    # ---- the block -----------------------------------------------------------------

    def __enter__(self) -> profile:
        self._start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._finish(exc)

    async def __aenter__(self) -> profile:
        self._start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._finish(exc)

    @property
    def tracer(self) -> Any:
        """The tracer of this run (for your own spans; `agent_run()` wraps one agent run)."""
        assert self._probe is not None, "use inside `with profile(...)`"
        return self._probe.tracer

    def agent_run(self, key: str, index: int | None = None) -> Any:
        """An explicit `invoke_agent` span around one agent run (graph calls inside join it)."""
        index = self.agent_runs if index is None else index
        self.agent_runs += 1
        return agent_run_span(self.tracer, self.name, key, index)

    # ---- start and finish ------------------------------------------------------------

    def _start(self) -> None:
        if self._probe is not None:
            raise RuntimeError("this profile() is already in use; create a new one per block")
        if not _ONE_AT_A_TIME.acquire(blocking=False):
            raise RuntimeError(
                "another profile() is active in this process; the CPU meter patches the event loop and "
                "thread pools process-wide, so blocks cannot overlap: nest your work in one block"
            )
        try:
            self._begin()
        except BaseException:  # Ctrl-C in calibration, py-spy failing to spawn...: leave nothing behind
            self._cleanup_after_failed_start()
            raise

    def _begin(self) -> None:
        try:
            self._rundir = RunDir.create(self.out, self.name)
        except OSError as exc:
            raise OSError(f"cannot create a run directory under {self.out}: {exc.strerror or exc}") from exc
        self.run_dir = self._rundir.path
        self._rundir.write_manifest(self._manifest())
        self._rundir.add_part(PartInfo(MAIN, socket.gethostname(), os.getpid(), cores=environment.usable_cores()))
        self._probe = ProcessProbe(
            resource_for(f"orchestrace-{self.name}", self._rundir.run_id, {"orchestrace.agent": self.name}),
            spans_path=self._rundir.spans,
            trajectories=self._rundir.file(TRAJECTORIES),
        )
        # calibration runs an event loop of its own: never inside the caller's running loop
        calibrate = threading.Thread(target=self._probe.calibrate, name="orchestrace-calibrate")
        calibrate.start()
        calibrate.join()
        self._start_observers()
        self._handler = self._probe.handler(self.name)
        self._token = _ACTIVE.set(self._handler)
        self._started = time.monotonic()
        self._probe.start()

    def _start_observers(self) -> None:
        assert self._rundir is not None
        pid = str(os.getpid())
        self._poller = subprocess.Popen(
            [sys.executable, "-m", "profiler.runner.poll", pid, str(self._rundir.file(PROCESS))],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if self.sampler_wanted:
            self._rundir.file(SAMPLES).mkdir(exist_ok=True)
            self._sampler = StackSampler(
                int(pid),
                self._rundir.file(WORKLOAD_SAMPLES),
                self._rundir.file(SAMPLER_LOG),
                self.sample_rate,
            )
            self._sampler.check_started()

    def _cleanup_after_failed_start(self) -> None:
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None
        if self._probe is not None:
            self._probe.meter.uninstall()
            self._probe.close()
        self._stop_observers()
        if self._rundir is not None:
            self._rundir.finish(status="failed", message="profile() could not start")
        _ONE_AT_A_TIME.release()

    def _stop_observers(self) -> None:
        if self._sampler is not None:
            self._sampler.stop(target_exits=False)
        if self._poller is not None:
            try:
                self._poller.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                self._poller.kill()
                self._poller.wait()

    def _finish(self, exc: BaseException | None) -> None:
        """Stop measuring and write everything; never replaces the caller's exception."""
        try:
            self._write_run(exc)
        except Exception as problem:  # the caller's own exception comes first
            if self._rundir is not None:
                self._rundir.finish(status="failed", message=f"profile() could not finish: {problem}")
            if exc is None:
                raise
        finally:
            _ONE_AT_A_TIME.release()

    def _write_run(self, exc: BaseException | None) -> None:
        assert self._probe is not None and self._rundir is not None and self._handler is not None
        status = "completed" if exc is None else ("failed" if isinstance(exc, Exception) else "interrupted")
        wall = time.monotonic() - self._started
        try:
            window = self._probe.stop()
        finally:
            if self._token is not None:  # the handler never outlives the block
                _ACTIVE.reset(self._token)
                self._token = None
        incomplete = self._handler.end_open_spans(status)
        self._probe.close()
        exported = self._probe.telemetry.exporter.exported if self._probe.telemetry.exporter is not None else 0
        write_json_atomic(
            self._rundir.file(CPU_FILE), CpuWindow.from_meter(window, "asyncio", status, exported).to_json()
        )
        self._stop_observers()
        summary = recorded_summary(self._rundir)
        ending = Ending(
            with_errors(status, summary),
            first_line(exc) if exc is not None else "",
            wall,
            summary,
            self._degraded(),
            {"incomplete_spans": incomplete, "spans_written": exported},
        )
        record_ending(self._rundir, ending)
        self.report = conclude(self._rundir)[0]

    def _degraded(self) -> list[dict[str, str]]:
        if self._sampler is not None and self._sampler.unavailable:
            return [{"component": "sampler", "reason": self._sampler.unavailable}]
        return []

    def _manifest(self) -> dict[str, Any]:
        assert self._rundir is not None
        return new_manifest(
            self._rundir.run_id,
            ["python", "profiler.profile", self.name],
            WorkloadInfo(graph=self.name),
            {"kind": "in-process", "note": "your own chat model; model time from client-side spans"},
            ProfilingInfo(sampler=self.sampler_wanted, sample_rate=self.sample_rate, loop="asyncio"),
        )


def profile_graph(
    graph: Any,
    inputs: Iterable[dict[str, Any]],
    *,
    concurrency: int = 4,
    out: str | Path = "traces",
    name: str = "graph",
    config: dict[str, Any] | None = None,
    sampler: bool = True,
    graph_spec: str | None = None,
) -> tuple[profile, list[Any]]:
    """Run a compiled graph over `inputs`, `concurrency` at a time, under full profiling.

    The library form of `orchestrace run --graph`. Returns the finished profile (its
    `run_dir`, `report`) and one result per input: the graph's output, or the exception
    that agent run raised (the other runs go on). `graph_spec` ("module:factory") lets
    `orchestrace run --replay RUN` rebuild the graph later. Inside a running event loop,
    await `aprofile_graph` instead (same arguments).
    """
    return asyncio.run(
        aprofile_graph(
            graph,
            inputs,
            concurrency=concurrency,
            out=out,
            name=name,
            config=config,
            sampler=sampler,
            graph_spec=graph_spec,
        )
    )


async def aprofile_graph(
    graph: Any,
    inputs: Iterable[dict[str, Any]],
    *,
    concurrency: int = 4,
    out: str | Path = "traces",
    name: str = "graph",
    config: dict[str, Any] | None = None,
    sampler: bool = True,
    graph_spec: str | None = None,
) -> tuple[profile, list[Any]]:
    """`profile_graph` for async callers: the agent runs are tasks on the running loop."""
    items = list(inputs)
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if not items:
        raise ValueError("inputs is empty: give at least one graph input")
    results: list[Any] = [None] * len(items)
    session = profile(out=out, name=name, sampler=sampler)
    async with session:
        _write_workload(session, items, concurrency, graph_spec)
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            async with gate:
                try:
                    with session.agent_run(f"input-{index}", index):
                        results[index] = await graph.ainvoke(items[index], config)
                except Exception as exc:  # recorded on the agent run's span
                    results[index] = exc

        await asyncio.gather(*(one(i) for i in range(len(items))))
    return session, results


def profile_fleet(
    graph: str,
    inputs: Iterable[dict[str, Any]],
    *,
    ray_address: str = LOCAL,
    ray_workers: int = 2,
    concurrency: int = 4,
    out: str | Path = "traces",
    model: str | None = None,
    endpoint: str | None = None,
    model_name: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    sampler: bool = True,
) -> RunResult:
    """Spread agent runs over a Ray cluster, profiled into one run directory: `run --graph --ray`.

    A compiled graph cannot travel to other hosts, so `graph` is "module:factory" (or
    "path/to/file.py:factory"): each worker imports it and builds FACTORY(chat_model), the chat
    model talking to the simulated server of preset `model` (default h100-llama3.1-8b) or to
    `endpoint` as `model_name`. `ray_address` is "local" (a Ray instance for the run, or the one
    this process is connected to) or a head's "HOST:PORT". Progress goes to stderr. Returns the
    run's result (`run_dir`, `status`, `report`, `exit_code`); bad arguments raise UsageError.
    """
    from profiler.runner.plan import RunOptions
    from profiler.runner.run import execute
    from profiler.runner.ui import PlainDisplay

    try:
        values = tuple(_as_json(list(inputs)))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"inputs must be JSON (they travel to the Ray workers): {exc}") from None
    if not all(isinstance(value, dict) for value in values):
        raise UsageError("inputs must be graph inputs: one dict per agent run")
    options = RunOptions(
        graph=graph,
        input_values=values,
        concurrency=concurrency,
        model=model,
        endpoint=endpoint,
        model_name=model_name,
        api_key_env=api_key_env,
        out=Path(out),
        sampler=sampler,
        ray=ray_address,
        ray_workers=ray_workers,
        argv=("python", "profiler.profile_fleet", graph, ray_address),
    )
    return execute(options, PlainDisplay())


def _write_workload(session: profile, items: list[dict[str, Any]], concurrency: int, spec: str | None) -> None:
    """What replay needs to run the same inputs again (skipped when the inputs are not JSON)."""
    assert session._rundir is not None
    session._rundir.update_manifest(
        workload=WorkloadInfo(graph=spec or session.name, concurrency=concurrency, agent_runs=len(items)).to_json()
    )
    try:
        runs = _as_json([{"key": f"input-{i}", "input": item} for i, item in enumerate(items)])
    except (TypeError, ValueError):
        return
    config = {"agent": None, "graph": spec, "runs": runs, "concurrency": concurrency, "mode": "async"}
    write_json_atomic(session._rundir.file(WORKLOAD_CONFIG), config)


def _as_json(value: Any) -> Any:
    """`value` as it reads back from JSON (TypeError or ValueError where it cannot be written)."""
    return json.loads(json.dumps(value, default=_message_json))


def _message_json(value: Any) -> Any:
    """LangChain messages in inputs are stored in OpenAI form, which LangGraph accepts back."""
    if isinstance(value, BaseMessage):
        return convert_to_openai_messages(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
