"""A part's CPU window (`cpu.json`): what its workload process measured while the agent runs ran.

The CPU meter hands its figures over as a dict (`CpuWindow.from_meter`); `cpu.json` is
`to_json()` of it; a loaded run's windows come back through `from_json` after `validate`
checked the figures the analysis reads. Windows of parts that ran side by side add up (`merge`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from profiler.store.values import fields_of, items, number

SCHEMA = 1
# meter figures that are a cost per event, not a total: the highest of merged windows is kept
_PER_EVENT = frozenset({"handle_cost_ns", "switch_cost_ns", "reconcile_cost_ns", "passthrough_cost_ns"})


@dataclass(frozen=True)
class ThreadCpu:
    """One thread of the process: its CPU in the window, and how much of it the meter attributed."""

    name: str
    native_id: int | None
    cpu_s: float
    metered_s: float

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "native_id": self.native_id, "cpu_s": self.cpu_s, "metered_s": self.metered_s}


@dataclass(frozen=True)
class CpuWindow:
    """CPU-seconds of one workload process (or of several, merged) over the measurement window."""

    process_cpu_s: float  # the process and the children it reaped, in the window
    start_unix: float | None = None
    end_unix: float | None = None
    wall_s: float | None = None
    startup_cpu_s: float = 0.0  # before the window: imports, building the graph
    buckets_s: Mapping[str, float] = field(default_factory=dict)  # the meter's buckets (store.fields)
    children_reaped_s: float = 0.0
    children_attributed_s: float = 0.0  # of the reaped, what tool spans were charged
    telemetry_threads_s: float = 0.0  # the exporter's threads
    native_threads_s: float = 0.0  # threads without a Python thread state (BLAS, compiled libraries)
    meter: Mapping[str, float] = field(default_factory=dict)  # the meter's own counts and costs
    threads: tuple[ThreadCpu, ...] = ()
    loop: str = "asyncio"
    status: str = ""  # how the window ended (completed, interrupted, failed)
    spans: int | None = None  # spans the process exported

    @property
    def span_s(self) -> float | None:
        """Wall time from the window's start to its end (of merged windows: first start to last end)."""
        if self.start_unix is None or self.end_unix is None or self.end_unix <= self.start_unix:
            return None
        return self.end_unix - self.start_unix

    def to_json(self) -> dict[str, Any]:
        window = {"start_unix": self.start_unix, "end_unix": self.end_unix, "wall_s": self.wall_s}
        return {
            "schema": SCHEMA,
            "loop": self.loop,
            "status": self.status,
            "window": {
                **{key: value for key, value in window.items() if value is not None},
                "process_cpu_s": self.process_cpu_s,
                "startup_cpu_s": self.startup_cpu_s,
            },
            "buckets_s": dict(self.buckets_s),
            "children_cpu_s": {"reaped": self.children_reaped_s, "attributed": self.children_attributed_s},
            "threads": [thread.to_json() for thread in self.threads],
            "telemetry_threads_s": self.telemetry_threads_s,
            "native_threads_s": self.native_threads_s,
            "meter": dict(self.meter),
            "spans": self.spans,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CpuWindow:
        """`cpu.json` as written (its figures checked by `validate.check_cpu`; the rest read with care)."""
        window = data["window"]
        children = data.get("children_cpu_s", {})
        spans = data.get("spans")
        return cls(
            process_cpu_s=float(window["process_cpu_s"]),
            start_unix=number(window.get("start_unix")),
            end_unix=number(window.get("end_unix")),
            wall_s=number(window.get("wall_s")),
            startup_cpu_s=number(window.get("startup_cpu_s")) or 0.0,
            buckets_s={str(key): float(value) for key, value in data.get("buckets_s", {}).items()},
            children_reaped_s=number(children.get("reaped")) or 0.0,
            children_attributed_s=number(children.get("attributed")) or 0.0,
            telemetry_threads_s=number(data.get("telemetry_threads_s")) or 0.0,
            native_threads_s=number(data.get("native_threads_s")) or 0.0,
            meter={str(k): float(v) for k, v in fields_of(data.get("meter")).items() if number(v) is not None},
            threads=tuple(thread for raw in items(data.get("threads")) if (thread := _thread(raw)) is not None),
            loop=str(data.get("loop", "asyncio")),
            status=str(data.get("status", "")),
            spans=spans if isinstance(spans, int) and not isinstance(spans, bool) else None,
        )

    @classmethod
    def from_meter(cls, measured: Mapping[str, Any], loop: str, status: str, spans: int | None) -> CpuWindow:
        """The meter's figures at the end of a window, with how it ended."""
        return cls.from_json({**measured, "loop": loop, "status": status, "spans": spans})


def merge(windows: Iterable[CpuWindow | None]) -> CpuWindow | None:
    """The windows of parts that ran side by side as one: CPU-seconds and counts add up, the window
    spans from the earliest start to the latest end, per-event costs are the highest."""
    present = [w for w in windows if w is not None]
    if not present:
        return None
    merged = present[0]
    for window in present[1:]:
        merged = _merge_two(merged, window)
    return merged


def _merge_two(a: CpuWindow, b: CpuWindow) -> CpuWindow:
    return replace(
        a,
        process_cpu_s=a.process_cpu_s + b.process_cpu_s,
        start_unix=_extreme(min, a.start_unix, b.start_unix),
        end_unix=_extreme(max, a.end_unix, b.end_unix),
        wall_s=_extreme(max, a.wall_s, b.wall_s),
        startup_cpu_s=a.startup_cpu_s + b.startup_cpu_s,
        buckets_s=_add(a.buckets_s, b.buckets_s),
        children_reaped_s=a.children_reaped_s + b.children_reaped_s,
        children_attributed_s=a.children_attributed_s + b.children_attributed_s,
        telemetry_threads_s=a.telemetry_threads_s + b.telemetry_threads_s,
        native_threads_s=a.native_threads_s + b.native_threads_s,
        meter={
            key: max(a.meter.get(key, 0.0), b.meter.get(key, 0.0)) if key in _PER_EVENT else value
            for key, value in _add(a.meter, b.meter).items()
        },
        threads=a.threads + b.threads,
        spans=None if a.spans is None or b.spans is None else a.spans + b.spans,
    )


def _add(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    return {key: a.get(key, 0.0) + b.get(key, 0.0) for key in {**a, **b}}


def _extreme(pick: Any, a: float | None, b: float | None) -> float | None:
    present = [v for v in (a, b) if v is not None]
    return pick(present) if present else None


def _thread(raw: Any) -> ThreadCpu | None:
    if not isinstance(raw, Mapping):
        return None
    cpu, metered, native = number(raw.get("cpu_s")), number(raw.get("metered_s")), raw.get("native_id")
    if cpu is None:
        return None
    return ThreadCpu(str(raw.get("name", "")), native if isinstance(native, int) else None, cpu, metered or 0.0)
