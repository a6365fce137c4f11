"""Measured sweep: the same workload against several presets, predictions from the first checked."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from profiler.accelerators.presets import Preset
from profiler.sizing.measured import measure
from profiler.sizing.model import Demand, Targets, cores_per_accelerator, cpu_share
from profiler.sizing.plan import Recording
from profiler.sizing.simulate import simulate
from profiler.sizing.units import Replay, cores, cores_unit, replay_of
from profiler.store.session import load_session


def _ratio(d_cpu: float, preset: Preset, demand: Demand, targets: Targets) -> float | None:
    """Cores per accelerator; none for a synthetic preset, which has no accelerator time."""
    return None if preset.synthetic else cores_per_accelerator(d_cpu, demand.accelerator_s(preset), targets)


def compare(
    reference: Demand, measured: list[tuple[Preset, Demand, float | None]], targets: Targets
) -> list[dict[str, Any]]:
    """Per preset: CPU share and cores per accelerator, measured in its own run vs predicted from the reference."""
    rows = []
    for preset, demand, measured_share in measured:
        predicted_share = cpu_share(reference.t_cpu_s, reference.model_time(preset))
        predicted_ratio = _ratio(reference.d_cpu_s, preset, reference, targets)
        measured_ratio = _ratio(demand.d_cpu_s, preset, demand, targets)
        rows.append(
            {
                "preset": preset.name,
                "synthetic": preset.synthetic,
                "decode_tok_s": preset.decode_tok_s,
                "measured_cpu_share": measured_share,
                "predicted_cpu_share": predicted_share,
                "predicted_t_model_s": reference.model_time(preset),
                "error_pp": (
                    100 * (predicted_share - measured_share)
                    if predicted_share is not None and measured_share is not None
                    else None
                ),
                "measured_cores_per_accelerator": measured_ratio,
                "predicted_cores_per_accelerator": predicted_ratio,
                "d_cpu_s": demand.d_cpu_s,
                "d_acc_s": None if preset.synthetic else demand.accelerator_s(preset),
                "t_model_s": demand.measured_model_wait_s,
            }
        )
    return rows


def simulated(
    replay: Replay, preset: Preset, own: Recording, demand: Demand, share: float | None, targets: Targets
) -> dict[str, Any]:
    """The reference run replayed at `preset`, next to that preset's own run. As a diagnostic, also
    replayed with the other processes taking the CPU as often as they did in that run."""
    result = simulate(replay.recording, preset, replay.machine, replay.assumptions)
    interference = own.interference  # the machine during that preset's own run
    same_machine = replace(replay.recording, interference=interference)
    matched = simulate(same_machine, preset, replay.machine, replay.assumptions).cpu_share
    reference = replay.demand
    return {
        "simulated_cpu_share": result.cpu_share,
        "simulated_error_pp": (
            100 * (result.cpu_share - share) if result.cpu_share is not None and share is not None else None
        ),
        "interference": interference,
        "simulated_at_its_interference": matched,
        "simulated_d_cpu_s": replay.d_cpu_s(result),
        "cores_unit": cores_unit(preset),
        "measured_cores": cores(demand.d_cpu_s, demand, preset, targets),
        "simulated_cores": cores(replay.d_cpu_s(result), reference, preset, targets),
        "closed_form_cores": cores(reference.d_cpu_s, reference, preset, targets),
    }


@dataclass(frozen=True)
class PresetRun:
    """One run of the sweep: the preset it ran at and its run directory."""

    preset: Preset
    run_dir: Path
    status: str


def sweep(runs: list[PresetRun], targets: Targets) -> dict[str, Any]:
    """Compare every run with the first one's prediction (closed form and simulated) at its preset."""
    sessions = [load_session(run.run_dir) for run in runs]
    figures = [measure(session) for session in sessions]
    measured = [
        (run.preset, own.demand, own.report.cpu_share_of_latency) for run, own in zip(runs, figures, strict=True)
    ]
    reference = figures[0].demand
    replay = replay_of(sessions[0], reference, figures[0].recording)
    rows = compare(reference, measured, targets)
    for row, (preset, demand, share), own in zip(rows, measured, figures, strict=True):
        row.update(simulated(replay, preset, own.recording, demand, share, targets))
    return {
        "reference_preset": runs[0].preset.name,
        "reference_t_cpu_s": reference.t_cpu_s,
        "runs": [{"preset": r.preset.name, "run_dir": str(r.run_dir), "status": r.status} for r in runs],
        "targets": vars(targets),
        "rows": rows,
        "method": "predictions use the reference run's CPU time on the critical path and its tokens; "
        "model time at each preset is recomputed from those tokens at per-stream speed",
        "simulation": "the reference run's agent runs replayed at each preset (model calls re-timed, CPU "
        "scheduled on the run's cores and one event loop); " + "; ".join(replay.assumptions.describe(replay.recording)),
    }
