"""`orchestrace sweep`'s runs: the workload at the first preset, its trajectories replayed at the others."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from profiler.accelerators.presets import Preset
from profiler.errors import UsageError
from profiler.runner.plan import RunOptions
from profiler.runner.run import RunResult
from profiler.sizing.sweep import PresetRun


def run_at_presets(
    options: RunOptions, presets: list[Preset], execute: Callable[[RunOptions], RunResult]
) -> list[PresetRun]:
    """One run per preset; the first is the reference, the others replay its recorded trajectories."""
    if len(presets) < 2:
        raise UsageError("--presets needs at least two presets to compare")
    if presets[0].synthetic:
        raise UsageError(
            f"--presets: the first preset is the reference the others are predicted from, and {presets[0].name} is "
            "synthetic (no model time); put a real preset first"
        )
    runs: list[PresetRun] = []
    recording: RunOptions | None = None
    for preset in presets:
        result = execute(replace(recording or options, model=preset.name))
        if result.status == "interrupted":
            raise KeyboardInterrupt
        if result.status == "failed":
            raise UsageError(f"the run at preset {preset.name} failed: {result.message}; see {result.run_dir.path}")
        if result.report is None:
            raise UsageError(f"the run at preset {preset.name} produced no report; see {result.run_dir.path}")
        if recording is None:  # the other presets replay this run's trajectories
            recording = replace(options, replay=result.run_dir.path, agent=None, inputs=None, tasks=None, script=None)
        runs.append(PresetRun(preset, result.run_dir.path, result.status))
    return runs
