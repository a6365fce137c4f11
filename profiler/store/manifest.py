"""`manifest.json` as the views read it: the run's identity, workload, model, profiling and host.

Writers build and update the file as a dict while the run goes (`runner.run.new_manifest`,
`RunDir.update_manifest`: several processes add to it); a loaded run's manifest comes back
through `Manifest.from_json` after `validate.check_manifest` checked the fields read here.
`data` keeps the whole file for what no view reads (checks, summary, versions…).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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

    @property
    def name(self) -> str | None:
        return self.agent or self.graph


@dataclass(frozen=True)
class Manifest:
    schema: int = SCHEMA
    run_id: str | None = None
    status: str | None = None  # running, completed, completed_with_errors, incomplete, failed, interrupted
    started_at: str | None = None
    workload: WorkloadInfo = field(default_factory=WorkloadInfo)
    model: dict[str, Any] | None = None  # kind, preset (name and speeds) or endpoint: shown whole in the report
    sampler: bool | None = None  # py-spy asked for (None: not recorded)
    sample_rate: int = 100  # py-spy's samples per second
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
        workload, profiling = fields_of(data.get("workload")), fields_of(data.get("profiling"))
        result = fields_of(data.get("workload_result"))
        model, sampler = data.get("model"), profiling.get("sampler")
        return cls(
            schema=count(data.get("schema")) or SCHEMA,
            run_id=text(data.get("run_id")),
            status=text(data.get("status")),
            started_at=text(data.get("started_at")),
            workload=WorkloadInfo(
                agent=text(workload.get("agent")),
                graph=text(workload.get("graph")),
                concurrency=count(workload.get("concurrency")) or 1,
                agent_runs=count(workload.get("agent_runs")),
            ),
            model=model if isinstance(model, dict) else None,
            sampler=sampler if isinstance(sampler, bool) else None,
            sample_rate=count(profiling.get("sample_rate")) or 100,
            host=fields_of(data.get("host")),
            degraded=tuple(entry for entry in items(data.get("degraded")) if isinstance(entry, Mapping)),
            lost_runs=tuple(run for run in items(result.get("lost")) if isinstance(run, Mapping) and "index" in run),
            data=data,
        )
