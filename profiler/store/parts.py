"""A run is made of parts: one workload process on one host, with its CPU window, process
series and stack samples.

A local run has one part, `main`, whose files sit at the run directory's root (as every run
written before parts did); a fleet run adds a part per worker process under `parts/<id>/`. The
spans and trajectories of every part share the run's `spans.jsonl` and `trajectories.jsonl`
(each span's resource names its host and process). The manifest lists the parts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PARTS = "parts"  # the folder of the parts after the first
MAIN = "main"  # the part whose files sit at the run directory's root

# when windows of parts that ran side by side are added up, these are not sums
_EARLIEST = {"start_unix"}
_LATEST = {"end_unix", "wall_s"}
_PER_EVENT = {"handle_cost_ns", "switch_cost_ns", "reconcile_cost_ns", "passthrough_cost_ns"}


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
            cores=cores if isinstance(cores, int) and not isinstance(cores, bool) and cores > 0 else None,
        )


@dataclass
class Part:
    """A part as loaded: its CPU window (`cpu.json`), psutil series and py-spy stacks."""

    info: PartInfo
    cpu: dict[str, Any] | None = None
    process: list[dict[str, Any]] = field(default_factory=list)
    samples: list[Any] = field(default_factory=list)  # StackSample (store.session)


def part_dir(part_id: str) -> str:
    """Where a part's files go, relative to the run directory."""
    return "" if part_id == MAIN else f"{PARTS}/{part_id}"


def merge_windows(windows: Iterable[dict[str, Any] | None]) -> dict[str, Any] | None:
    """The CPU windows of parts that ran side by side as one: CPU-seconds and counts add up, the
    window spans from the earliest start to the latest end, per-event costs are the highest."""
    present = [w for w in windows if w is not None]
    if not present:
        return None
    merged = present[0]
    for window in present[1:]:
        merged = _merge(merged, window)
    return merged


def _merge(a: Any, b: Any, key: str = "") -> Any:
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _merge(a[k], b[k], k) if k in a and k in b else a.get(k, b.get(k)) for k in {**a, **b}}
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        if key in _EARLIEST:
            return min(a, b)
        if key in _LATEST or key in _PER_EVENT:
            return max(a, b)
        return a + b
    return a
