"""`run --ray`: the agent runs spread over Ray actors, recorded into one ordinary run directory.

Each actor (`rayworker.FleetWorker`) is one profiled workload process and becomes one part of
the run (`ray-<host>-<pid>`); a helper per node (`rayhelper.NodeObserver`) samples and polls it
there. The driver keeps at most `concurrency` agent runs in flight per worker, hands each run a
W3C traceparent naming the trace it goes in, and writes the spans every result brings back into
the run's span writer. A worker that dies loses only the runs it had in flight; the others go
on, and the run says which runs were lost.
"""

from __future__ import annotations

import collections
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.trace import format_span_id, format_trace_id

from profiler.errors import UsageError
from profiler.instrument.telemetry import PrivateIdGenerator
from profiler.lifeline import signals_deferred
from profiler.runner.raycluster import LOCAL, RayCluster
from profiler.runner.rayhelper import NodeObserver
from profiler.runner.rayworker import FleetWorker
from profiler.runner.ui import RunDisplay
from profiler.store.parts import PartInfo, part_dir
from profiler.store.processseries import ProcessRow
from profiler.store.rundir import SAMPLER_LOG, WORKLOAD_SAMPLES, RunDir
from profiler.store.spanfile import append_line
from profiler.store.trajectories import TRAJECTORIES
from profiler.store.validate import check_process
from profiler.store.values import json_lines

START_TIMEOUT_S = 300.0  # imports, graph building and the meter's calibration on a busy node
FINISH_TIMEOUT_S = 60.0
WAIT_S = 0.25
WORKER_DIED = "worker died"  # why an agent run was lost: its worker died with it in flight


@dataclass(frozen=True)
class FleetSettings:
    address: str  # raycluster.LOCAL, or HOST:PORT
    workers: int
    concurrency: int  # agent runs in flight per worker
    sampler: bool
    sample_rate: int


@dataclass
class FleetOutcome:
    """How the fleet's agent runs went, in the shape `run` records for a workload."""

    status: str
    message: str
    finished: dict[str, Any]
    degraded: list[dict[str, str]] = field(default_factory=list)


@dataclass
class _Worker:
    handle: Any
    info: PartInfo
    node: str
    folder: str  # its private folder on its node
    inflight: int = 0
    alive: bool = True


def traceparent(ids: PrivateIdGenerator) -> tuple[str, str]:
    """A fresh trace for one agent run, named by the driver: (trace id, W3C traceparent)."""
    trace_id = format_trace_id(ids.generate_trace_id())
    return trace_id, f"00-{trace_id}-{format_span_id(ids.generate_span_id())}-01"


def run_on_ray(
    settings: FleetSettings,
    config: dict[str, Any],
    run_dir: RunDir,
    span_fd: int,
    display: RunDisplay,
    extra_roles: dict[str, int],
) -> FleetOutcome:
    """Start the workers, dispatch every agent run of `config`, collect the parts; Ray is stopped
    (or disconnected) whatever happens."""
    with RayCluster(settings.address) as ray:
        fleet = _Fleet(ray, settings, config, run_dir, span_fd, display)
        try:
            fleet.start(extra_roles)
            return fleet.run()
        finally:
            with signals_deferred([]):  # what the helpers saw is kept, and no actor outlives the run
                fleet.stop()


class _Fleet:
    def __init__(
        self,
        ray: Any,
        settings: FleetSettings,
        config: dict[str, Any],
        run_dir: RunDir,
        span_fd: int,
        display: RunDisplay,
    ) -> None:
        self.ray = ray
        self.settings = settings
        # a replay's runs keep their recorded index: the one spans, traces and lost runs are named by
        self.runs = [{**run, "index": run.get("index", i)} for i, run in enumerate(config["runs"])]
        self.config = {key: value for key, value in config.items() if key != "runs"}
        self.run_dir = run_dir
        self.span_fd = span_fd
        self.display = display
        self.workers: list[_Worker] = []
        self.observers: dict[str, Any] = {}  # node id -> its NodeObserver actor
        self.ids = PrivateIdGenerator()
        self.traces: dict[int, str] = {}  # agent run index -> the trace id it was given
        self.inflight: dict[Any, tuple[_Worker, dict[str, Any]]] = {}  # call -> its worker and agent run
        self.lost: list[dict[str, Any]] = []
        self.outcomes = collections.Counter[str]()
        self.degraded: list[dict[str, str]] = []
        self._trajectories = open(run_dir.file(TRAJECTORIES), "ab")  # noqa: SIM115 - closed in stop()

    def start(self, extra_roles: dict[str, int]) -> None:
        remote = self.ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(FleetWorker)
        where = "a local Ray instance" if self.settings.address == LOCAL else f"Ray at {self.settings.address}"
        self.display.note(f"starting {self.settings.workers} worker(s) on {where}: imports, graph, calibration")
        handles = [
            remote.options(scheduling_strategy="SPREAD").remote(self.config) for _ in range(self.settings.workers)
        ]
        calls = [h.identity.remote() for h in handles]
        self.ray.wait(calls, num_returns=len(calls), timeout=START_TIMEOUT_S)  # each started, or failed
        try:
            identities = self.ray.get(calls, timeout=START_TIMEOUT_S)
        except Exception as exc:  # a --graph mistake is the user's: its own words, as without Ray
            self._discard(handles, calls)
            cause = _cause(exc)
            usage = cause.partition(f"{UsageError.__module__}.{UsageError.__name__}: ")[2]
            raise UsageError(usage or f"the Ray workers did not start: {cause}") from None
        for handle, me in zip(handles, identities, strict=True):
            part = f"ray-{me['host']}-{me['pid']}"
            info = PartInfo(part, me["host"], me["pid"], part_dir(part), me["actor_id"], me["cores"])
            self.workers.append(_Worker(handle, info, me["node_id"], me["folder"]))
            self.run_dir.add_part(info)
        self._observe(extra_roles)
        self.ray.get([w.handle.start.remote() for w in self.workers], timeout=START_TIMEOUT_S)

    def _discard(self, handles: list[Any], calls: list[Any]) -> None:
        """The workers that did start, when others did not: their private folders go too."""
        for handle, call in zip(handles, calls, strict=True):
            try:
                self.ray.get(call, timeout=0)
                self.ray.get(handle.discard.remote(), timeout=FINISH_TIMEOUT_S)
            except Exception:  # that one failed to start, and cleaned up after itself
                continue

    def _observe(self, extra_roles: dict[str, int]) -> None:
        """A helper pinned to each node the workers run on watches them there (py-spy, psutil); the
        first worker on this host also gets this host's other processes (the model server)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = self.ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(NodeObserver)
        for node in dict.fromkeys(w.node for w in self.workers):
            pinned = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
            self.observers[node] = remote.options(scheduling_strategy=pinned).remote(
                self.settings.sampler, self.settings.sample_rate
            )
        here = next((w for w in self.workers if w.info.host == socket.gethostname()), None)
        calls = [
            self.observers[w.node].watch.remote(w.info.id, w.info.pid, extra_roles if w is here else {})
            for w in self.workers
        ]
        try:
            self.ray.get(calls, timeout=START_TIMEOUT_S)
        except Exception as exc:  # the run goes on unobserved: its span CPU is measured in the workers
            for observer in self.observers.values():
                self.ray.kill(observer)
            self.observers = {}
            self.degraded.append({"component": "node helpers (py-spy, psutil)", "reason": _cause(exc)})

    def run(self) -> FleetOutcome:
        """Dispatch, then collect each worker's part; Ctrl-C stops dispatching and keeps what ran.

        Signals are noted, not raised, and acted on between results: one landing while a result is
        taken in would lose spans the worker already counted as sent."""
        self.display.note(f"run directory: {self.run_dir.path}")
        self.display.start(len(self.runs), self.config["label"])
        status, message = "completed", ""
        noted: list[str] = []
        with signals_deferred(noted):
            try:
                self._dispatch(noted)
            finally:
                self.display.close()
            if noted:
                status, message = (
                    "interrupted",
                    "interrupted by the user" if noted[0] == "SIGINT" else f"interrupted by {noted[0]}",
                )
                for ref in self.inflight:  # the runs in flight end as interrupted; their workers stay
                    self.ray.cancel(ref)
            finished = self._finish_parts(status)
        if self.lost and status == "completed":
            status = "incomplete"
        if self.lost:
            message = "; ".join(filter(None, [message, lost_message(self.lost)]))
        return FleetOutcome(status, message, finished, self.degraded)

    def _dispatch(self, noted: list[str]) -> None:
        pending = collections.deque(self.runs)
        inflight = self.inflight
        while not noted:
            for worker in self.workers:
                while worker.alive and worker.inflight < self.settings.concurrency and pending:
                    run = pending.popleft()
                    self.traces[run["index"]], parent = traceparent(self.ids)
                    ref = worker.handle.run.remote(
                        run["index"], run["key"], run["input"], run.get("scripted", False), parent
                    )
                    inflight[ref] = (worker, run)
                    worker.inflight += 1
            if not inflight:
                break
            ready, _ = self.ray.wait(list(inflight), num_returns=1, timeout=WAIT_S)
            if not ready:
                self.display.tick()
            for ref in ready:
                worker, run = inflight.pop(ref)
                worker.inflight -= 1
                self._collect(ref, worker, run)
        if not noted:
            for run in pending:  # every worker died before these started
                self._lose(run, None, "never started")

    def _lose(self, run: dict[str, Any], worker: _Worker | None, reason: str) -> None:
        part = worker.info.id if worker is not None else None
        self.lost.append({"index": run["index"], "key": run["key"], "part": part, "reason": reason})

    def _collect(self, ref: Any, worker: _Worker, run: dict[str, Any]) -> None:
        try:
            result = self.ray.get(ref)
        except self.ray.exceptions.RayActorError as exc:
            if worker.alive:  # Ray's own account of the death goes to stdout as a `(raylet)` line
                self.display.note(
                    f"worker {worker.info.id} died ({type(exc).__name__}): its agent runs in flight are lost, "
                    "the others go on"
                )
            worker.alive = False
            self._lose(run, worker, WORKER_DIED)
            self.display.advance(False, f"lost with worker {worker.info.id}")
            return
        except self.ray.exceptions.RayTaskError as exc:  # orchestrace's own code failed in the worker
            reason = f"the worker failed it: {_cause(exc)}"
            self._lose(run, worker, reason)
            self.display.advance(False, reason)
            return
        self._keep(result)
        self.outcomes["completed" if result["ok"] else "errors"] += 1
        self.display.advance(result["ok"], result.get("error"))

    def _keep(self, data: dict[str, Any]) -> None:
        """A result's spans go to the span writer (relay frames), its trajectory lines to the file."""
        if data["spans"]:
            append_line(self.span_fd, data["spans"])
        if data["trajectories"]:
            self._trajectories.write(data["trajectories"])
            self._trajectories.flush()

    def _finish_parts(self, status: str) -> dict[str, Any]:
        """Each live worker closes its window; its `cpu.json` becomes its part's."""
        spans = 0
        alive = [w for w in self.workers if w.alive]
        refs = [w.handle.finish.remote(status) for w in alive]
        for worker, ref in zip(alive, refs, strict=True):
            try:
                part = self.ray.get(ref, timeout=FINISH_TIMEOUT_S)
            except Exception as exc:
                self.degraded.append({"component": f"part {worker.info.id}", "reason": f"no CPU window: {_cause(exc)}"})
                continue
            self._keep(part)
            spans += part["cpu"].spans or 0
            self.run_dir.write_part(worker.info, part["cpu"], [], {})
        everyone = len(alive) == len(self.workers)
        return {
            "status": status,
            "completed": self.outcomes["completed"],
            "errors": self.outcomes["errors"],
            "spans_written": spans if everyone else None,  # a dead worker's count died with it
            "lost": self.lost,
            "traces": self.traces,
            "workers": [w.info.to_json() | {"alive": w.alive} for w in self.workers],
        }

    def stop(self) -> None:
        """What the helpers saw first (py-spy stops while its target is still there), then the actors go."""
        infos = {worker.info.id: worker.info for worker in self.workers}
        for node, observer in self.observers.items():
            dead = [w.folder for w in self.workers if w.node == node and not w.alive]
            try:
                watched = self.ray.get(observer.collect.remote(dead), timeout=FINISH_TIMEOUT_S)
            except Exception as exc:
                self.degraded.append({"component": f"node helper on {node}", "reason": _cause(exc)})
                continue
            for part, seen in watched.items():
                self._keep_observed(infos[part], seen)
        for actor in [*self.observers.values(), *(worker.handle for worker in self.workers)]:
            self.ray.kill(actor)
        self._trajectories.close()

    def _keep_observed(self, info: PartInfo, seen: dict[str, Any]) -> None:
        rows = [ProcessRow.from_json(row) for row in check_process(json_lines(seen["process"].splitlines())[0], [])]
        samples = {Path(WORKLOAD_SAMPLES).name: seen["samples"]} if seen["samples"] else {}
        self.run_dir.write_part(info, None, rows, samples)
        if seen["sampler_log"]:
            with open(self.run_dir.file(SAMPLER_LOG), "a", encoding="utf-8") as log:
                log.write(seen["sampler_log"])
        if seen["unavailable"] and self.settings.sampler:
            self.degraded.append({"component": f"sampler of part {info.id}", "reason": seen["unavailable"]})
        if seen["poller_error"]:
            self.degraded.append({"component": f"psutil series of part {info.id}", "reason": seen["poller_error"]})


def lost_message(lost: list[dict[str, Any]]) -> str:
    """`agent runs lost: 6, 7 (worker ray-vm-123 died); 19 (never started)`."""
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for entry in lost:
        why = f"worker {entry['part']} died" if entry["reason"] == WORKER_DIED else entry["reason"]
        groups[why].append(str(entry["index"]))
    return "agent runs lost: " + "; ".join(f"{', '.join(indices)} ({why})" for why, indices in groups.items())


def _cause(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"[:300]
