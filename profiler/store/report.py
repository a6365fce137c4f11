"""`report.json` as the views read it: the analysis of a run (DESIGN.md §1, "Report JSON").

`analysis.report.build_report` makes a `Report`; report.json is its `to_json()`. Every section's
fields are named and ordered as the file's keys, so most of its JSON is its fields as they are;
keys the file has only sometimes (`tokens_note`, `native_threads`, the overhead's parts) are left
out as they always were. `from_json` reads a report back, a missing or damaged value read as its
default (`store.values`): a report.json from disk never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from profiler.store.values import count, fields_of, items, number, text

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

REPORT_SCHEMA = 1
HOST_CPU_KEYS = ("orchestration", "model_client", "tool", "telemetry", "runtime", "process_total")
OVERHEAD_NOTE = (
    "direct costs in the profiled process: span callbacks and span export are measured; the "
    "meter's own cost and callbacks for LangGraph-internal runnables are estimated from costs "
    "calibrated at start-up. Indirect costs (LangChain dispatching to a handler at all, caches, "
    "garbage collection) are not in it: `orchestrace overhead` measures the total on your "
    "workload. py-spy's own CPU (`sampler`) is in its own process, not in the workload's."
)

R = TypeVar("R")


def _seconds(data: Any) -> dict[str, float]:
    """Seconds by name (py-spy's categories, child processes), damaged entries left out."""
    return {str(key): value for key, raw in fields_of(data).items() if (value := number(raw)) is not None}


def _optional(read: Callable[[Any], R], data: Any) -> R | None:
    """A section the file may hold as null: None then (and when it is not an object)."""
    return read(data) if isinstance(data, Mapping) else None


def _rows(read: Callable[[Any], R], data: Any) -> tuple[R, ...]:
    """The objects of a list, each read with `read` (anything else in it left out)."""
    return tuple(read(row) for row in items(data) if isinstance(row, Mapping))


def _json(value: Any) -> Any:
    """A field's value in JSON: a section by its own `to_json`, tuples as lists, mappings copied."""
    if isinstance(value, _Section):
        return value.to_json()
    if isinstance(value, tuple):
        return [_json(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _json(item) for key, item in value.items()}
    return value


class _Section:
    """A part of report.json. By default its JSON is its fields, in order, and it reads back as
    numbers (a missing or damaged one, and any field that is not a number, keeps its default);
    a section holding other values, or keys only sometimes, says how."""

    def to_json(self) -> dict[str, Any]:
        return {f.name: _json(getattr(self, f.name)) for f in fields(cast("DataclassInstance", self))}

    @classmethod
    def from_json(cls, data: Any) -> Self:
        values = fields_of(data)
        read = {f.name: number(values.get(f.name)) for f in fields(cast("type[DataclassInstance]", cls))}
        return cls(**{name: value for name, value in read.items() if value is not None})


@dataclass(frozen=True)
class Spread(_Section):
    """A per-run figure over the completed agent runs: mean, median, 95th percentile."""

    mean: float | None = None
    p50: float | None = None
    p95: float | None = None


@dataclass(frozen=True)
class Percentiles(_Section):
    """Time to first token over the calls: median and 95th percentile."""

    p50: float | None = None
    p95: float | None = None


@dataclass(frozen=True)
class Lateness(_Section):
    """How far behind its timing model the simulated server delivered, over its replies."""

    total: float = 0.0
    p50: float | None = None
    p95: float | None = None


@dataclass(frozen=True)
class WallTime(_Section):
    """The completed agent runs' wall time along their critical paths: the `parts` (keyed and
    ordered by `analysis.wall.KEYS`) add up to `total`; `per_run` has the total and each part."""

    total: float = 0.0
    parts: Mapping[str, float] = field(default_factory=dict)
    per_run: Mapping[str, Spread] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            **self.parts,
            "per_run": {key: spread.to_json() for key, spread in self.per_run.items()},
        }

    @classmethod
    def from_json(cls, data: Any) -> WallTime:
        values = fields_of(data)
        return cls(
            total=number(values.get("total")) or 0.0,
            parts={key: part for key, raw in values.items() if key != "total" and (part := number(raw)) is not None},
            per_run={str(key): Spread.from_json(value) for key, value in fields_of(values.get("per_run")).items()},
        )


@dataclass(frozen=True)
class CpuSplit(_Section):
    """The workload's CPU-seconds in the measurement window by category (`analysis.cpu`). Without a
    CPU window (no cpu.json) only the spans' categories are known: the others are None."""

    orchestration: float = 0.0
    model_client: float = 0.0
    tool: float = 0.0
    telemetry: float | None = None
    runtime: float | None = None
    startup: float | None = None  # before the window: imports, building the graph
    other: float | None = None
    native_threads: float | None = None  # in `other`: threads without a Python thread state (BLAS…)
    accounted: float = 0.0  # what the meter attributed
    process_total: float | None = None
    coverage: float | None = None  # accounted / process_total

    def seconds(self, category: str) -> float | None:
        """A category by name, for views that list the categories in an order of their own."""
        return cast("float | None", getattr(self, category))

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in super().to_json().items() if key != "native_threads" or value is not None}


@dataclass(frozen=True)
class InferencePerRun(_Section):
    """Means over the completed agent runs; HTTP attempts, failed ones and retries also p50/p95."""

    calls: float | None = None
    input_tokens: float | None = None
    output_tokens: float | None = None
    attempts: Spread = Spread()
    failed_attempts: Spread = Spread()
    retries: Spread = Spread()

    @classmethod
    def from_json(cls, data: Any) -> InferencePerRun:
        values = fields_of(data)
        return replace(
            super().from_json(values),
            attempts=Spread.from_json(values.get("attempts")),
            failed_attempts=Spread.from_json(values.get("failed_attempts")),
            retries=Spread.from_json(values.get("retries")),
        )


@dataclass(frozen=True)
class Inference(_Section):
    """The model calls of every agent run: counts, tokens, time to first token, model time."""

    calls: int = 0
    errors: int = 0
    attempts: int = 0  # HTTP requests of the model client
    failed_attempts: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_estimated_calls: int = 0  # the endpoint reported no usage: ~4 characters per token
    tokens_unknown_calls: int = 0
    ttft_s: Percentiles = Percentiles()
    per_run: InferencePerRun = InferencePerRun()
    source: str = "client spans"  # of model time: "server spans" where the simulated server joined the trace
    server_lateness_s: Lateness | None = None
    model_time_s: float = 0.0
    tokens_note: str | None = None  # why token counts are estimated or unknown (not in the JSON when None)
    accelerator_s: float | None = None  # an estimate at the run's preset; None without a preset

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        note, accelerator = data.pop("tokens_note"), data.pop("accelerator_s")
        return {
            **data,
            **({"tokens_note": note} if note is not None else {}),
            "accelerator_s": accelerator,
            **({"accelerator_s_is_estimate": True} if accelerator is not None else {}),
        }

    @classmethod
    def from_json(cls, data: Any) -> Inference:
        values = fields_of(data)

        def whole(key: str) -> int:
            return count(values.get(key)) or 0

        return cls(
            calls=whole("calls"),
            errors=whole("errors"),
            attempts=whole("attempts"),
            failed_attempts=whole("failed_attempts"),
            retries=whole("retries"),
            input_tokens=whole("input_tokens"),
            output_tokens=whole("output_tokens"),
            tokens_estimated_calls=whole("tokens_estimated_calls"),
            tokens_unknown_calls=whole("tokens_unknown_calls"),
            ttft_s=Percentiles.from_json(values.get("ttft_s")),
            per_run=InferencePerRun.from_json(values.get("per_run")),
            source=text(values.get("source")) or "client spans",
            server_lateness_s=_optional(Lateness.from_json, values.get("server_lateness_s")),
            model_time_s=number(values.get("model_time_s")) or 0.0,
            tokens_note=text(values.get("tokens_note")),
            accelerator_s=number(values.get("accelerator_s")),
        )


@dataclass(frozen=True)
class SamplerCost(_Section):
    """py-spy's own CPU, in its own process: seconds, and the share of one core."""

    cpu_s: float = 0.0
    core_fraction: float = 0.0


@dataclass(frozen=True)
class Overhead(_Section):
    """The profiler's own cost in the workload process. Without a CPU window `telemetry_cpu_s` is
    None and the parts are unknown: the JSON then has `telemetry_cpu_s`, `fraction` and `sampler` only."""

    telemetry_cpu_s: float | None = None
    fraction: float | None = None  # of the process's CPU
    callbacks_s: float | None = None
    span_export_s: float | None = None
    meter_s_estimated: float | None = None
    passthrough_callbacks_s_estimated: float | None = None
    meter_handle_cost_us: float | None = None
    meter_switch_cost_us: float | None = None
    sampler: SamplerCost | None = None

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if self.telemetry_cpu_s is None:
            return {"telemetry_cpu_s": None, "fraction": self.fraction, "sampler": data["sampler"]}
        return {**data, "note": OVERHEAD_NOTE}

    @classmethod
    def from_json(cls, data: Any) -> Overhead:
        values = fields_of(data)
        return replace(super().from_json(values), sampler=_optional(SamplerCost.from_json, values.get("sampler")))


@dataclass(frozen=True)
class Stacks(_Section):
    """py-spy's samples of the workload process by category, in the window and at start-up,
    set against the process's measured CPU (`analysis.stacks`)."""

    pid: int = 0
    rate_hz: int = 0
    samples: int = 0
    idle_samples_dropped: int = 0
    by_category_s: Mapping[str, float] = field(default_factory=dict)
    sampled_cpu_s: float = 0.0
    startup_s: float = 0.0
    startup_by_category_s: Mapping[str, float] = field(default_factory=dict)
    process_cpu_s: float | None = None
    run_delay_s: float | None = None
    sampler_errors: int | None = None
    coverage: float | None = None  # sampled / process CPU
    coverage_note: str | None = None  # why they differ by more than 10%
    child_processes_s: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any) -> Stacks:
        values = fields_of(data)
        return replace(
            super().from_json(values),
            pid=count(values.get("pid")) or 0,
            rate_hz=count(values.get("rate_hz")) or 0,
            samples=count(values.get("samples")) or 0,
            idle_samples_dropped=count(values.get("idle_samples_dropped")) or 0,
            by_category_s=_seconds(values.get("by_category_s")),
            startup_by_category_s=_seconds(values.get("startup_by_category_s")),
            sampler_errors=count(values.get("sampler_errors")),
            coverage_note=text(values.get("coverage_note")),
            child_processes_s=_seconds(values.get("child_processes_s")),
        )


@dataclass(frozen=True)
class TableRow(_Section):
    """A LangGraph node or a tool over every agent run; CPU inclusive of what ran under it."""

    name: str = ""
    calls: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    self_cpu_s: float = 0.0
    errors: int = 0
    cpu_per_call_ms: float = 0.0

    @classmethod
    def from_json(cls, data: Any) -> TableRow:
        values = fields_of(data)
        return replace(
            super().from_json(values),
            name=text(values.get("name")) or "",
            calls=count(values.get("calls")) or 0,
            errors=count(values.get("errors")) or 0,
        )


@dataclass(frozen=True)
class HostRow(_Section):
    """One host of a run of several parts (a fleet): its agent runs, CPU, the cores its workload
    processes used of those it let them use, its mean load."""

    host: str = ""
    parts: tuple[str, ...] = ()
    agent_runs: int = 0
    cpu_s: CpuSplit = CpuSplit()  # the JSON has HOST_CPU_KEYS of it
    cores: int | None = None
    cores_used: float | None = None
    host_cpu_percent: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "parts": list(self.parts),
            "agent_runs": self.agent_runs,
            "cpu_s": {key: self.cpu_s.seconds(key) for key in HOST_CPU_KEYS},
            "cores": self.cores,
            "cores_used": self.cores_used,
            "host_cpu_percent": self.host_cpu_percent,
        }

    @classmethod
    def from_json(cls, data: Any) -> HostRow:
        values = fields_of(data)
        return cls(
            host=text(values.get("host")) or "",
            parts=tuple(part for part in items(values.get("parts")) if isinstance(part, str)),
            agent_runs=count(values.get("agent_runs")) or 0,
            cpu_s=CpuSplit.from_json(values.get("cpu_s")),
            cores=count(values.get("cores")),
            cores_used=number(values.get("cores_used")),
            host_cpu_percent=number(values.get("host_cpu_percent")),
        )


@dataclass(frozen=True)
class RunOutcome(_Section):
    """A failed (with its first error line) or incomplete agent run, numbered from 1 in start order."""

    agent_run: int = 0
    task: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in super().to_json().items() if key != "error" or value is not None}

    @classmethod
    def from_json(cls, data: Any) -> RunOutcome:
        values = fields_of(data)
        return cls(count(values.get("agent_run")) or 0, text(values.get("task")), text(values.get("error")))


@dataclass(frozen=True)
class LostRun(_Section):
    """An agent run of a fleet lost with its worker, or never started (the manifest's `lost`)."""

    index: int = 0
    key: str | None = None
    part: str | None = None  # the worker's part
    reason: str = "lost"

    @classmethod
    def from_json(cls, data: Any) -> LostRun:
        values = fields_of(data)
        return cls(
            index=count(values.get("index")) or 0,
            key=text(values.get("key")),
            part=text(values.get("part")),
            reason=text(values.get("reason")) or "lost",
        )


@dataclass(frozen=True)
class Degraded(_Section):
    """What could not be measured, and why (the manifest's `degraded`)."""

    component: str = ""
    reason: str = ""

    @classmethod
    def from_json(cls, data: Any) -> Degraded:
        values = fields_of(data)
        return cls(text(values.get("component")) or "", text(values.get("reason")) or "")


@dataclass(frozen=True)
class Report(_Section):
    """A run's analysis. Headline figures (the wall split, the CPU share of latency, CPU per run)
    come from the completed agent runs only; `no_headline` says why there are none."""

    schema: int = REPORT_SCHEMA
    run_schema: int | None = None  # of the run directory
    run_id: str = ""
    status: str | None = None
    agent: str | None = None
    model: dict[str, Any] | None = None  # the manifest's, whole: kind, preset or endpoint
    agent_runs: int = 0
    completed: int = 0
    errors: int = 0  # failed agent runs
    incomplete: int = 0  # cut short (Ctrl-C, a crash)
    failed_runs: tuple[RunOutcome, ...] = ()
    incomplete_runs: tuple[RunOutcome, ...] = ()
    no_headline: str | None = None
    wall_s: WallTime = WallTime()
    cpu_s: CpuSplit = CpuSplit()
    cpu_per_run_s: float | None = None  # the completed runs' part of the window's CPU, per completed run
    inference: Inference = Inference()
    cpu_share_of_latency: float | None = None  # (wall - model wait) / wall
    overhead: Overhead = Overhead()
    stacks: Stacks | None = None  # none without py-spy samples
    nodes: tuple[TableRow, ...] = ()
    tools: tuple[TableRow, ...] = ()
    hosts: tuple[HostRow, ...] = ()  # none for a run of one part
    lost_runs: tuple[LostRun, ...] = ()
    degraded: tuple[Degraded, ...] = ()
    problems: tuple[str, ...] = ()  # what could not be read, and what the figures cannot be trusted for

    @classmethod
    def from_json(cls, data: Any) -> Report:
        values = fields_of(data)
        model = values.get("model")
        return cls(
            schema=count(values.get("schema")) or REPORT_SCHEMA,
            run_schema=count(values.get("run_schema")),
            run_id=text(values.get("run_id")) or "",
            status=text(values.get("status")),
            agent=text(values.get("agent")),
            model=model if isinstance(model, dict) else None,
            agent_runs=count(values.get("agent_runs")) or 0,
            completed=count(values.get("completed")) or 0,
            errors=count(values.get("errors")) or 0,
            incomplete=count(values.get("incomplete")) or 0,
            failed_runs=_rows(RunOutcome.from_json, values.get("failed_runs")),
            incomplete_runs=_rows(RunOutcome.from_json, values.get("incomplete_runs")),
            no_headline=text(values.get("no_headline")),
            wall_s=WallTime.from_json(values.get("wall_s")),
            cpu_s=CpuSplit.from_json(values.get("cpu_s")),
            cpu_per_run_s=number(values.get("cpu_per_run_s")),
            inference=Inference.from_json(values.get("inference")),
            cpu_share_of_latency=number(values.get("cpu_share_of_latency")),
            overhead=Overhead.from_json(values.get("overhead")),
            stacks=_optional(Stacks.from_json, values.get("stacks")),
            nodes=_rows(TableRow.from_json, values.get("nodes")),
            tools=_rows(TableRow.from_json, values.get("tools")),
            hosts=_rows(HostRow.from_json, values.get("hosts")),
            lost_runs=_rows(LostRun.from_json, values.get("lost_runs")),
            degraded=_rows(Degraded.from_json, values.get("degraded")),
            problems=tuple(problem for problem in items(values.get("problems")) if isinstance(problem, str)),
        )


@dataclass(frozen=True)
class Headline:
    """The figures a reader wants first (from the completed agent runs; None without one)."""

    cpu_share_of_latency: float | None
    cpu_per_run_s: float | None
    wall_per_run_s: float | None
    model_wait_per_run_s: float | None
    model_wait_note: str  # server-side, or client-side (the network included)
    cores_per_accelerator: float | None  # an estimate at the run's own preset
    cores_per_accelerator_note: str  # how it was estimated, or why there is none
