"""A run is made of parts: one workload process on one host, with its CPU window, process
series and stack samples.

A local run has one part, `main`, whose files sit at the run directory's root (as every run
written before parts did); a fleet run adds a part per worker process under `parts/<id>/`. The
spans and trajectories of every part share the run's `spans.jsonl` and `trajectories.jsonl`
(each span's resource names its host and process). The manifest lists the parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from profiler.store.cpuwindow import CpuWindow
from profiler.store.processseries import ProcessRow
from profiler.store.values import count

PARTS = "parts"  # the folder of the parts after the first
MAIN = "main"  # the part whose files sit at the run directory's root


@dataclass(frozen=True)
class PartInfo:
    """What the manifest records of a part: which process on which host, and where its files are."""

    id: str
    host: str
    pid: int | None = None
    dir: str = ""  # relative to the run directory; "" for the root
    worker: str | None = None  # the fleet worker that ran it (e.g. a Ray actor id)
    cores: int | None = None  # the CPUs its host let it use (its affinity): a fleet is sized on these

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "host": self.host,
            "pid": self.pid,
            "dir": self.dir,
            "worker": self.worker,
            "cores": self.cores,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartInfo:
        pid, cores = data.get("pid"), data.get("cores")
        return cls(
            id=str(data["id"]),
            host=str(data.get("host", "")),
            pid=pid if isinstance(pid, int) else None,
            dir=str(data.get("dir", "")),
            worker=str(data["worker"]) if data.get("worker") is not None else None,
            cores=count(cores) or None,
        )


@dataclass
class Part:
    """A part as loaded: its CPU window (`cpu.json`), psutil series and py-spy stacks."""

    info: PartInfo
    cpu: CpuWindow | None = None
    process: list[ProcessRow] = field(default_factory=list)
    samples: list[Any] = field(default_factory=list)  # StackSample (store.session)


def part_dir(part_id: str) -> str:
    """Where a part's files go, relative to the run directory."""
    return "" if part_id == MAIN else f"{PARTS}/{part_id}"
