"""Measured sweep: the same workload against several presets, predictions from the first checked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from profiler.analysis.report import build_report
from profiler.errors import UsageError
from profiler.modelserver.presets import Preset
from profiler.runner.plan import RunOptions
from profiler.runner.run import RunResult
from profiler.sizing.model import Demand, Targets, cores_per_accelerator, cpu_share, measure_demand
from profiler.sizing.plan import plan_runs
from profiler.sizing.simulate import simulate
from profiler.sizing.units import Replay, cores, cores_unit, replay_of
from profiler.store.session import Session, load_session


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
    replay: Replay, preset: Preset, session: Session, demand: Demand, share: float | None, targets: Targets
) -> dict[str, Any]:
    """The reference run replayed at `preset`, next to that preset's own run. As a diagnostic, also
    replayed with the other processes taking the CPU as often as they did in that run."""
    result = simulate(replay.recording, preset, replay.machine, replay.assumptions)
    interference = plan_runs(session.spans).interference  # the machine during that run
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


def sweep(
    options: RunOptions, presets: list[Preset], targets: Targets, execute: Callable[[RunOptions], RunResult]
) -> dict[str, Any]:
    """Run the workload at the first preset, replay its trajectories at the others; compare against the first."""
    if len(presets) < 2:
        raise UsageError("--presets needs at least two presets to compare")
    if presets[0].synthetic:
        raise UsageError(
            f"--presets: the first preset is the reference the others are predicted from, and {presets[0].name} is "
            "synthetic (no model time); put a real preset first"
        )
    targets.check()
    measured: list[tuple[Preset, Demand, float | None]] = []
    sessions: list[Session] = []
    runs = []
    recording: RunOptions | None = None
    for preset in presets:
        result = execute(replace(recording or options, model=preset.name))
        if result.status == "interrupted":
            raise KeyboardInterrupt
        if result.status == "failed":
            raise UsageError(f"the run at preset {preset.name} failed: {result.message}; see {result.run_dir.path}")
        if recording is None:  # the other presets replay this run's trajectories
            recording = replace(options, replay=result.run_dir.path, agent=None, inputs=None, tasks=None, script=None)
        if result.report is None:
            raise UsageError(f"the run at preset {preset.name} produced no report; see {result.run_dir.path}")
        session = load_session(result.run_dir.path)
        report = build_report(session)
        measured.append((preset, measure_demand(session, report), report["cpu_share_of_latency"]))
        sessions.append(session)
        runs.append({"preset": preset.name, "run_dir": str(result.run_dir.path), "status": result.status})
    reference = measured[0][1]
    replay = replay_of(sessions[0], reference)
    rows = compare(reference, measured, targets)
    for row, (preset, demand, share), session in zip(rows, measured, sessions, strict=True):
        row.update(simulated(replay, preset, session, demand, share, targets))
    return {
        "reference_preset": presets[0].name,
        "reference_t_cpu_s": reference.t_cpu_s,
        "runs": runs,
        "targets": vars(targets),
        "rows": rows,
        "method": "predictions use the reference run's CPU time on the critical path and its tokens; "
        "model time at each preset is recomputed from those tokens at per-stream speed",
        "simulation": "the reference run's agent runs replayed at each preset (model calls re-timed, CPU "
        "scheduled on the run's cores and one event loop); " + "; ".join(replay.assumptions.describe(replay.recording)),
    }
