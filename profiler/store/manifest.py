"""`manifest.json`: the run's identity, workload, model, profiling and host.

A run starts it from typed parts (`WorkloadInfo`, `ProfilingInfo`: `runner.run.new_manifest`), then
several processes add to it while the run goes (`RunDir.update_manifest`, `RunDir.finish`); a loaded
run's manifest comes back through `Manifest.from_json` after `validate.check_manifest` checked the
fields read here. `data` keeps the whole file for what no view reads (checks, summary, versions…).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from profiler.store.rundir import SCHEMA
from profiler.store.values import count, fields_of, items, text


@dataclass(frozen=True)
class WorkloadInfo:
    """What ran: a sample agent or a graph factory, how many agent runs, how many at a time."""

    agent: str | None = None
    graph: str | None = None  # MODULE:FACTORY (or the name given to the Python API)
    concurrency: int = 1  # agent runs in flight per workload process
    agent_runs: int | None = None
    inputs: str | None = None  # the --inputs file
    seed: int | None = None
    replay_of: str | None = None  # the run whose model behaviour was replayed

    @property
    def name(self) -> str | None:
        return self.agent or self.graph

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WorkloadInfo:
        seed = data.get("seed")
        return cls(
            agent=text(data.get("agent")),
            graph=text(data.get("graph")),
            concurrency=count(data.get("concurrency")) or 1,
            agent_runs=count(data.get("agent_runs")),
            inputs=text(data.get("inputs")),
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            replay_of=text(data.get("replay_of")),
        )


@dataclass(frozen=True)
class ProfilingInfo:
    """How the run was profiled: py-spy asked for or not, at what rate; the workload's loop and mode."""

    sampler: bool | None = None  # None: not recorded
    sample_rate: int = 100  # py-spy's samples per second
    sample_children: bool | None = None  # py-spy followed the workload's child processes
    loop: str | None = None  # asyncio or uvloop
    mode: str | None = None  # async or sync

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProfilingInfo:
        sampler, children = data.get("sampler"), data.get("sample_children")
        return cls(
            sampler=sampler if isinstance(sampler, bool) else None,
            sample_rate=count(data.get("sample_rate")) or 100,
            sample_children=children if isinstance(children, bool) else None,
            loop=text(data.get("loop")),
            mode=text(data.get("mode")),
        )


@dataclass(frozen=True)
class Manifest:
    schema: int = SCHEMA
    run_id: str | None = None
    status: str | None = None  # running, completed, completed_with_errors, incomplete, failed, interrupted
    started_at: str | None = None
    workload: WorkloadInfo = field(default_factory=WorkloadInfo)
    model: dict[str, Any] | None = None  # kind, preset (name and speeds) or endpoint: shown whole in the report
    profiling: ProfilingInfo = field(default_factory=ProfilingInfo)
    host: Mapping[str, Any] = field(default_factory=dict)  # hostname, cores, CPU model, memory
    degraded: tuple[Mapping[str, str], ...] = ()  # what could not be measured, and why
    lost_runs: tuple[Mapping[str, Any], ...] = ()  # a fleet's agent runs lost with their worker
    data: Mapping[str, Any] = field(default_factory=dict)  # the whole file as loaded

    @property
    def preset(self) -> dict[str, Any] | None:
        """The simulated model's accelerator preset, if the run had one."""
        preset = (self.model or {}).get("preset")
        return preset if isinstance(preset, dict) else None

    @property
    def simulated(self) -> bool:
        return (self.model or {}).get("kind") == "simulated"

    def to_json(self) -> dict[str, Any]:
        return dict(self.data)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Manifest:
        result = fields_of(data.get("workload_result"))
        model = data.get("model")
        return cls(
            schema=count(data.get("schema")) or SCHEMA,
            run_id=text(data.get("run_id")),
            status=text(data.get("status")),
            started_at=text(data.get("started_at")),
            workload=WorkloadInfo.from_json(fields_of(data.get("workload"))),
            model=model if isinstance(model, dict) else None,
            profiling=ProfilingInfo.from_json(fields_of(data.get("profiling"))),
            host=fields_of(data.get("host")),
            degraded=tuple(entry for entry in items(data.get("degraded")) if isinstance(entry, Mapping)),
            lost_runs=tuple(run for run in items(result.get("lost")) if isinstance(run, Mapping) and "index" in run),
            data=data,
        )
