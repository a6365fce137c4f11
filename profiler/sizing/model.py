"""Capacity sizing from a measured run: cores, accelerators, cores per accelerator, what-ifs.

Per agent run, D_cpu is the measured CPU core-seconds of the workload (its process and the
child processes it waited for) minus the profiler's own measured cost; D_acc is the
accelerator-seconds the run's tokens take at a preset's saturated throughput (an estimate by
construction). Cores ≥ X·D_cpu/ρ_cpu, accelerators ≥ X·D_acc/ρ_acc, so cores per accelerator =
(D_cpu/D_acc)·(ρ_acc/ρ_cpu): an accelerator k× faster multiplies it by k. For latency, the
critical-path time not spent waiting on the model (T_cpu) is measured, and the model time of the
same calls is recomputed at each preset: f_cpu = T_cpu / (T_cpu + T_model).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from profiler.accelerators.presets import Preset
from profiler.analysis.outcomes import COMPLETED, OutcomeTally
from profiler.analysis.passes import Seen, fold
from profiler.analysis.tokens import ESTIMATED, HOW_TO_GET_USAGE, run_usage
from profiler.analysis.traces import CHAT, span_kind
from profiler.errors import UsageError
from profiler.sizing.queueing import in_flight, servers_for_wait, servers_needed
from profiler.store.report import Report
from profiler.store.session import Session

VLLM_FLOOR_NOTE = "vLLM asks for at least 2 + N physical cores for N GPUs (docs: 'CPU Resources for GPU Deployments')"
# Price defaults (USD per hour), used only when no price is given; see README "Sizing" for sources.
DEFAULT_ACCELERATOR_HOUR = 3.50  # H100 on-demand after the 2025 price cuts: ~3.00 (GCP A3) to ~3.90 (AWS)
DEFAULT_CORE_HOUR = 0.04  # on-demand vCPU-hour, planning range 0.03-0.05
WHAT_IF_FACTORS = (1, 2, 3, 5, 10, 20, 30, 50, 100)
HARDWARE_CORES_PER_ACCELERATOR = {"DGX H100 (2x56 cores / 8 GPUs)": 14, "GB200 NVL72 (Grace)": 36, "GH200": 72}


@dataclass(frozen=True)
class Demand:
    """What one agent run of the measured workload needs, with where each figure came from."""

    runs: int
    d_cpu_s: float  # core-seconds per run, profiler overhead removed
    d_cpu_measured_s: float  # as measured, profiler included
    d_cpu_by_category: dict[str, float]
    input_tokens: float  # per run
    output_tokens: float
    llm_calls: float
    t_cpu_s: float  # critical-path time per run not waiting on the model
    path_calls: float  # chat calls on the critical path, per run
    path_input_tokens: float
    path_output_tokens: float
    measured_wall_s: float
    measured_model_wait_s: float
    rss_per_run_bytes: float | None
    model_time_source: str
    concurrency: int
    tokens_estimated: bool = False  # the endpoint reported no usage: token counts are ~4 characters per token

    def model_time(self, preset: Preset) -> float:
        """Model wait on the critical path per run, recomputed at `preset` (per-stream speeds)."""
        return (
            self.path_calls * preset.ttft_s
            + self.path_input_tokens / preset.prefill_tok_s
            + max(0.0, self.path_output_tokens - self.path_calls) / preset.decode_tok_s
        )

    def accelerator_s(self, preset: Preset) -> float:
        """Accelerator-seconds per run at the preset's saturated operating point (an estimate)."""
        return preset.accelerators_per_replica * (
            self.output_tokens / preset.aggregate_tok_s + self.input_tokens / preset.prefill_tok_s
        )


def _rss_per_run(session: Session, concurrency: int) -> float | None:
    """Memory an extra in-flight run costs: RSS growth during the window over the concurrency."""
    window = session.cpu
    if window is None or window.start_unix is None or window.end_unix is None:
        return None
    start, end = window.start_unix, window.end_unix
    rss = [
        float(row.workload.rss)
        for row in session.process
        if row.workload is not None and row.workload.rss is not None and start <= row.t <= end
    ]
    if len(rss) < 2 or concurrency < 1:
        return None
    return max(0.0, (max(rss) - rss[0]) / concurrency)


class DemandTally:
    """Per completed agent run, told the run's traces one at a time (`passes.fold`); failed and
    cut-off runs' share of the window's CPU is left out."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.outcomes = OutcomeTally()
        self.sums = dict.fromkeys(("t_cpu", "wall", "model_wait", "path_calls", "path_in", "path_out"), 0.0)
        self.calls = self.input_tokens = self.output_tokens = 0
        self.estimated = False

    def add(self, seen: Seen) -> None:
        if seen.run is None:
            return
        self.outcomes.add(seen.run)
        if seen.split is None or seen.path is None:  # not completed
            return
        run, split, path, sums = seen.run, seen.split, seen.path, self.sums
        # the critical path's time not waiting on the model, without the profiler's own part of it
        sums["t_cpu"] += split.total - split.parts["model_wait"] - split.parts["profiler"]
        sums["wall"] += split.total
        sums["model_wait"] += split.parts["model_wait"]
        usage = run_usage(self.session, run)
        on_path = {seg.span.span_id: seg.span for seg in path if span_kind(seg.span) == CHAT}
        sums["path_calls"] += len(on_path)  # a call counts once per run
        sums["path_in"] += sum(usage[span_id].input for span_id in on_path)
        sums["path_out"] += sum(usage[span_id].output for span_id in on_path)
        self.calls += len(usage)
        self.input_tokens += sum(u.input for u in usage.values())
        self.output_tokens += sum(u.output for u in usage.values())
        self.estimated = self.estimated or any(u.source == ESTIMATED for u in usage.values())

    def result(self, report: Report) -> Demand:
        """The demand per completed run; a UsageError when none completed or the CPU window is missing."""
        runs = self.outcomes.counts[COMPLETED]
        if not runs:
            first = next((f"; first error: {run.error}" for run in report.failed_runs), "")
            raise UsageError(f"nothing to size in {self.session.path}: {report.no_headline}{first}")
        cpu = report.cpu_s
        if not cpu.process_total:
            raise UsageError(f"{self.session.path} has no CPU window figures (cpu.json): cannot size CPU demand")
        per_run = self.outcomes.completed_cpu_share() / runs  # of a window-wide figure, one completed run's part
        overhead = report.overhead.telemetry_cpu_s or 0.0
        categories = {
            key: (cpu.seconds(key) or 0.0) * per_run
            for key in ("orchestration", "model_client", "tool", "runtime", "other")
        }
        concurrency = self.session.manifest.workload.concurrency
        return Demand(
            runs=runs,
            d_cpu_s=max(0.0, (cpu.process_total - overhead) * per_run),
            d_cpu_measured_s=cpu.process_total * per_run,
            d_cpu_by_category=categories,
            input_tokens=self.input_tokens / runs,
            output_tokens=self.output_tokens / runs,
            llm_calls=self.calls / runs,
            t_cpu_s=self.sums["t_cpu"] / runs,
            path_calls=self.sums["path_calls"] / runs,
            path_input_tokens=self.sums["path_in"] / runs,
            path_output_tokens=self.sums["path_out"] / runs,
            measured_wall_s=self.sums["wall"] / runs,
            measured_model_wait_s=self.sums["model_wait"] / runs,
            rss_per_run_bytes=_rss_per_run(self.session, concurrency),
            model_time_source=report.inference.source,
            concurrency=concurrency,
            tokens_estimated=self.estimated,
        )


def measure_demand(session: Session, report: Report) -> Demand:
    """The demand of one pass over the run's traces."""
    tally = DemandTally(session)
    fold(session.traces(), tally)
    return tally.result(report)


@dataclass(frozen=True)
class Targets:
    rate: float = 10.0  # agent runs per second
    cpu_utilisation: float = 0.6
    accelerator_utilisation: float = 0.8
    latency_target_ms: float | None = None  # CPU queueing delay target (Erlang C)
    accelerator_hour: float | None = None
    core_hour: float | None = None

    def __post_init__(self) -> None:
        """Impossible targets are refused when made, so no sizing ever runs on them."""
        if self.rate < 0:
            raise UsageError(f"--target-rps must be >= 0, got {self.rate}")
        for name, value in (("--cpu-util", self.cpu_utilisation), ("--acc-util", self.accelerator_utilisation)):
            if not 0 < value < 1:
                raise UsageError(f"{name} must be between 0 and 1 (exclusive), got {value}")
        if self.latency_target_ms is not None and self.latency_target_ms <= 0:
            raise UsageError(
                f"--latency-target-ms must be > 0 (a mean CPU queueing delay in ms), got {self.latency_target_ms:g}"
            )
        for name, price in (("--accelerator-hour", self.accelerator_hour), ("--core-hour", self.core_hour)):
            if price is not None and price < 0:
                raise UsageError(f"{name} must be >= 0, got {price}")


def cores_per_accelerator(d_cpu: float, d_acc: float, targets: Targets) -> float | None:
    """(D_cpu/D_acc)·(ρ_acc/ρ_cpu): cores that keep pace with one accelerator at the targets."""
    return (d_cpu / d_acc) * (targets.accelerator_utilisation / targets.cpu_utilisation) if d_acc else None


def cpu_share(t_cpu: float, t_model: float) -> float | None:
    total = t_cpu + t_model
    return t_cpu / total if total > 0 else None


def size_preset(demand: Demand, preset: Preset, targets: Targets) -> dict[str, Any]:
    """Cores, accelerators, ratio, latency share, queueing and cost for one preset."""
    # a synthetic preset (`instant`) has no accelerator time: no accelerator count, no ratio
    d_acc = None if preset.synthetic else demand.accelerator_s(preset)
    cores = servers_needed(targets.rate, demand.d_cpu_s, targets.cpu_utilisation)
    accelerators = None if d_acc is None else servers_needed(targets.rate, d_acc, targets.accelerator_utilisation)
    ratio = cores_per_accelerator(demand.d_cpu_s, d_acc, targets) if d_acc else None
    whole_accelerators = math.ceil(accelerators) if accelerators else 0
    floor = 2 + whole_accelerators if preset.self_hosted and whole_accelerators else 0
    t_model = demand.model_time(preset)
    residence = demand.t_cpu_s + t_model
    result: dict[str, Any] = {
        "preset": preset.name,
        "d_acc_s": d_acc,
        "cores": cores,
        "cores_whole": math.ceil(cores),
        "accelerators": accelerators,
        "accelerators_whole": whole_accelerators,
        "cores_per_accelerator": ratio,
        "accelerator_unit": preset.accelerator or None,  # without one, the ratio is per API replica
        "engine_floor_cores": floor,
        "cores_per_accelerator_with_floor": ((cores + floor) / accelerators) if accelerators else None,
        "t_model_s": t_model,
        "cpu_share_of_latency": cpu_share(demand.t_cpu_s, t_model),
        "in_flight_runs": in_flight(targets.rate, residence),
        "memory_bytes": (
            in_flight(targets.rate, residence) * demand.rss_per_run_bytes
            if demand.rss_per_run_bytes is not None
            else None
        ),
    }
    if preset.synthetic:
        result["note"] = f"{preset.name} is synthetic (no model time): no accelerators or cores per accelerator"
    if targets.latency_target_ms is not None:
        result["cores_for_latency_target"] = servers_for_wait(
            targets.rate, demand.d_cpu_s, targets.latency_target_ms / 1000
        )
        # both targets must hold: the utilisation target's cores and the queueing-delay target's
        result["cores_to_provision"] = max(result["cores_whole"], result["cores_for_latency_target"])
    accelerator_hour = DEFAULT_ACCELERATOR_HOUR if targets.accelerator_hour is None else targets.accelerator_hour
    core_hour = DEFAULT_CORE_HOUR if targets.core_hour is None else targets.core_hour
    d_acc = d_acc or 0.0
    result["cost"] = {
        "per_run_usd": demand.d_cpu_s * core_hour / 3600 + d_acc * accelerator_hour / 3600,
        "cpu_share_of_cost": (demand.d_cpu_s * core_hour) / (demand.d_cpu_s * core_hour + d_acc * accelerator_hour)
        if (demand.d_cpu_s * core_hour + d_acc * accelerator_hour) > 0
        else None,
        "per_hour_usd": (cores + floor) * core_hour + (accelerators or 0.0) * accelerator_hour,
        "prices_are_defaults": targets.accelerator_hour is None or targets.core_hour is None,
    }
    return result


def what_if(demand: Demand, base: Preset, targets: Targets) -> dict[str, Any]:
    """Inference k× faster than `base` (model time and accelerator-seconds ÷ k)."""
    t_model, d_acc = demand.model_time(base), demand.accelerator_s(base)
    rows = []
    for k in WHAT_IF_FACTORS:
        ratio = cores_per_accelerator(demand.d_cpu_s, d_acc / k, targets)
        rows.append(
            {
                "speedup": k,
                "cpu_share_of_latency": cpu_share(demand.t_cpu_s, t_model / k),
                "cores_per_accelerator": ratio,
            }
        )
    knee = t_model / demand.t_cpu_s if demand.t_cpu_s > 0 else None
    exceeds = {}
    if d_acc:
        base_ratio = cores_per_accelerator(demand.d_cpu_s, d_acc, targets)
        for name, cores in HARDWARE_CORES_PER_ACCELERATOR.items():
            exceeds[name] = cores / base_ratio if base_ratio else None
    return {
        "base_preset": base.name,
        "base_t_model_s": t_model,  # model wait on the critical path per run at the base preset
        "t_cpu_s": demand.t_cpu_s,
        "rows": rows,
        "knee_speedup": knee,  # where CPU time equals model time (f_cpu = 50%)
        "speedup_exceeding_hardware": exceeds,
    }


def per_host(report: Report) -> list[dict[str, Any]]:
    """A fleet's hosts as measured: CPU per agent run on each (profiler included; failed runs'
    share too) and the cores its workload processes used of those they could."""
    rows = []
    for row in report.hosts:
        total = row.cpu_s.process_total
        per_run = total / row.agent_runs if total is not None and row.agent_runs else None
        rows.append(
            {
                "host": row.host,
                "agent_runs": row.agent_runs,
                "cpu_per_run_s": per_run,
                "cores_used": row.cores_used,
                "cores": row.cores,
            }
        )
    return rows


def size(
    session: Session,
    presets: list[Preset],
    targets: Targets,
    base: Preset,
    cores: float | None = None,
    concurrency: int | None = None,
) -> dict[str, Any]:
    """The closed form per preset and k× faster, and the recorded run replayed (on the run's own
    machine and concurrency unless `cores` or `concurrency` say otherwise)."""
    from profiler.sizing.measured import measure  # here: measured builds on this module's Demand
    from profiler.sizing.units import replay_of, simulated_what_if, units

    if cores is not None and cores <= 0:
        raise UsageError(f"--cores must be > 0, got {cores}")
    if concurrency is not None and concurrency < 1:
        raise UsageError(f"--concurrency must be >= 1, got {concurrency}")
    measured = measure(session)
    report, demand = measured.report, measured.demand
    estimates = [
        "D_acc and accelerator counts are estimates: tokens at each preset's saturated throughput",
        "latency share at other presets recomputes model time from the same calls' tokens at "
        "per-stream speed; CPU time is as measured",
    ]
    if demand.tokens_estimated:
        estimates.append(f"no token usage reported: tokens are ~4 characters per token; {HOW_TO_GET_USAGE}")
    if demand.model_time_source != "server spans":
        estimates.append("no SERVER spans: the measured model wait is client-side (it includes the network)")
    if demand.rss_per_run_bytes is not None:
        estimates.append("memory per in-flight run is estimated from RSS growth over the concurrency")
    replay = replay_of(session, demand, measured.recording, cores, concurrency)
    estimates.append(
        "'simulated' figures replay the recorded agent runs at each preset (a simulation; its assumptions "
        "are listed with them)"
    )
    closed_form = what_if(demand, base, targets)
    for row, share in zip(closed_form["rows"], simulated_what_if(replay, base, WHAT_IF_FACTORS), strict=True):
        row["simulated_cpu_share_of_latency"] = share
    return {
        "run_id": session.run_id,
        "targets": asdict(targets),
        "demand": asdict(demand),
        "presets": [size_preset(demand, preset, targets) for preset in presets],
        "base": size_preset(demand, base, targets),  # the headline: the run's own preset (or --base)
        "what_if": closed_form,
        "hosts": per_host(report),
        "units": units(replay, presets, targets),
        "estimates": estimates,
        "notes": [
            VLLM_FLOOR_NOTE + " — added to self-hosted presets",
            "context (vendor claims, not measurements): Intel — agentic approaching 1 CPU socket per GPU; "
            "Arm — 30M to 120M CPU cores per GW; NVIDIA GTC 2026 — ~33 cores per GPU for agentic/RL; "
            "shipping systems 14 (DGX H100) to 72 (GH200) cores per GPU",
        ],
    }
