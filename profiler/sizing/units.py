"""Per preset, figures that mean the same on every accelerator, from the recorded run replayed there.

The simulation (`simulate`) gives each preset's wall time per agent run and CPU share of latency;
D_cpu at a preset is the measured D_cpu with the stream reads re-counted there (see
`Assumptions`). From them:

- cores per concurrent session: a session starts its next run when one ends (closed loop), so it
  needs D_cpu / W cores (W the simulated wall time per run), at the CPU utilisation target;
- agent runs/s per core: ρ_cpu / D_cpu;
- cores per 1,000 output tokens/s: the runs that make that many tokens, times D_cpu / ρ_cpu;
- cores per accelerator only where the preset says what one accelerator is (an API's replica is
  not a unit anyone can buy);
- cost per 1,000 agent runs, CPU and inference apart: inference at the preset's published price
  per token (APIs) or per accelerator-hour (self-hosted), the work itself at full utilisation.

Every preset field an assumption drives a figure with is listed with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profiler.accelerators.presets import TIMING_FIELDS, Preset
from profiler.sizing.model import DEFAULT_CORE_HOUR, Demand, Targets, cores_per_accelerator
from profiler.sizing.plan import Recording
from profiler.sizing.simulate import Assumptions, Machine, Simulated, faster, simulate
from profiler.store import fields
from profiler.store.session import Session

SESSIONS = 100  # cores are shown per this many concurrent sessions


@dataclass(frozen=True)
class Replay:
    """A recorded run, ready to be simulated at any preset on `machine`."""

    demand: Demand
    recording: Recording
    machine: Machine
    assumptions: Assumptions

    def d_cpu_s(self, simulated: Simulated) -> float:
        """D_cpu with the streams' client CPU as simulated in place of the recorded."""
        return max(0.0, self.demand.d_cpu_s + simulated.stream_cpu_change_s / len(self.recording.runs))


def loop_work_s(session: Session) -> float:
    """CPU of the event loop's own work and of code outside spans, from the CPU meter's buckets."""
    window = session.cpu
    buckets = window.buckets_s if window is not None else {}
    return buckets.get(fields.LOOP, 0.0) + buckets.get(fields.NO_SPAN, 0.0)


def replay_of(
    session: Session, demand: Demand, recording: Recording, cores: float | None = None, concurrency: int | None = None
) -> Replay:
    """The recorded plans on the run's own machine and concurrency, unless given: one process per
    part, on the cores of the hosts its parts ran on (a fleet's hosts as one pool), `concurrency`
    runs per process."""
    processes = max(1, len(session.parts))
    return Replay(
        demand=demand,
        recording=recording,
        machine=Machine(
            cores=cores or run_cores(session),
            processes=processes,
            concurrency=(concurrency or demand.concurrency) * processes,
        ),
        assumptions=Assumptions(),
    )


def run_cores(session: Session) -> float:
    """The cores the run's workload processes could use: each host's once (a part written before
    parts recorded them: the run's host, from the manifest)."""
    host = session.manifest.host
    fallback = host.get("cpu_affinity") or host.get("logical_cores") or 1
    per_host: dict[str, float] = {}
    for part in session.parts:  # a host's first part says, as in the report's per-host rows
        per_host.setdefault(part.info.host, part.info.cores or fallback)
    return float(sum(per_host.values()) or fallback)


def cores_per_1k_output_tok_s(d_cpu: float, demand: Demand, targets: Targets) -> float | None:
    """Cores for the agent runs that make 1,000 output tokens/s, at the CPU utilisation target."""
    return 1000 / demand.output_tokens * d_cpu / targets.cpu_utilisation if demand.output_tokens else None


def cores_unit(preset: Preset) -> str:
    return "per accelerator" if preset.accelerator else "per 1k output tok/s"


def cores(d_cpu: float, demand: Demand, preset: Preset, targets: Targets) -> float | None:
    """Cores per accelerator where the preset names it, else per 1,000 output tokens/s."""
    if preset.accelerator:
        return cores_per_accelerator(d_cpu, demand.accelerator_s(preset), targets)
    return cores_per_1k_output_tok_s(d_cpu, demand, targets)


def _inference_cost(demand: Demand, preset: Preset) -> dict[str, Any]:
    price = preset.price
    if price is None:
        return {"usd": None, "basis": "no published price"}
    if price.per_accelerator_hour is not None:
        usd = demand.accelerator_s(preset) * price.per_accelerator_hour / 3600
        basis = f"${price.per_accelerator_hour:g} per accelerator-hour (estimate: tokens at saturated throughput)"
    else:
        assert price.input_per_mtok is not None and price.output_per_mtok is not None
        usd = (demand.input_tokens * price.input_per_mtok + demand.output_tokens * price.output_per_mtok) / 1e6
        basis = f"${price.input_per_mtok:g} in / ${price.output_per_mtok:g} out per million tokens"
    return {"usd": 1000 * usd, "basis": basis, "source": price.source, "date": price.date}


def preset_units(replay: Replay, preset: Preset, targets: Targets) -> dict[str, Any]:
    simulated = simulate(replay.recording, preset, replay.machine, replay.assumptions)
    d_cpu = replay.d_cpu_s(simulated)
    demand, rho = replay.demand, targets.cpu_utilisation
    core_hour = DEFAULT_CORE_HOUR if targets.core_hour is None else targets.core_hour
    per_session = d_cpu / simulated.mean_wall_s / rho if simulated.mean_wall_s > 0 else None
    return {
        "preset": preset.name,
        "cpu_share_of_latency": simulated.cpu_share,
        "wall_per_run_s": simulated.mean_wall_s,
        "d_cpu_s": d_cpu,
        "cores_per_sessions": SESSIONS * per_session if per_session is not None else None,
        "runs_per_core_s": rho / d_cpu if d_cpu > 0 else None,
        "cores_per_1k_output_tok_s": cores_per_1k_output_tok_s(d_cpu, demand, targets),
        "accelerator": preset.accelerator or None,
        "cores_per_accelerator": (
            cores_per_accelerator(d_cpu, demand.accelerator_s(preset), targets) if preset.accelerator else None
        ),
        "cost_per_1k_runs": {
            "cpu_usd": 1000 * d_cpu * core_hour / 3600,
            "core_hour_is_default": targets.core_hour is None,
            "inference": _inference_cost(demand, preset),
        },
        "assumed": preset.assumed(*TIMING_FIELDS, "price"),
    }


def simulated_what_if(replay: Replay, base: Preset, factors: tuple[float, ...]) -> list[float | None]:
    """CPU share of latency with inference k× faster than `base`, for each k."""
    return [simulate(replay.recording, faster(base, k), replay.machine, replay.assumptions).cpu_share for k in factors]


def units(replay: Replay, presets: list[Preset], targets: Targets) -> dict[str, Any]:
    return {
        "sessions": SESSIONS,
        "machine": vars(replay.machine),
        "assumptions": replay.assumptions.describe(replay.recording),
        "rows": [preset_units(replay, preset, targets) for preset in presets],
    }
