"""`orchestrace overhead`: the profiler's total cost on the user's own workload, measured.

An in-run figure can only count the profiler's direct costs (its callbacks, span export, the
meter's hooks); LangChain dispatching to a handler at all, caches and garbage collection slow
the workload's own code too. The only honest total is an A/B: the same workload, in fresh
processes, alternately instrumented (exactly as `run` does) and bare (no handler, no meter, no
spans, no py-spy), for a few rounds, comparing the workload process's CPU and wall over its
agent runs. The order alternates round by round so the host's drift cancels; figures are medians
of the paired per-round ratios, with their spread.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from profiler.errors import UsageError
from profiler.render.text import plural
from profiler.runner.plan import RunOptions
from profiler.runner.run import RunResult
from profiler.store.cpuwindow import CpuWindow
from profiler.store.report import Report
from profiler.store.rundir import CPU_FILE, REPORT

Execute = Callable[[RunOptions], RunResult]
Progress = Callable[[str], None]


def _round_figures(result: RunResult, instrumented: bool) -> dict[str, Any]:
    """What one run measured: agent runs, the workload's CPU and wall over them, py-spy's CPU."""
    manifest = result.run_dir.read_manifest()
    finished = manifest.get("workload_result") or {}
    if result.status not in ("completed", "completed_with_errors") or not finished.get("completed"):
        detail = result.message or f"{plural(finished.get('errors', 0), 'agent run')} failed"
        raise UsageError(f"the {'instrumented' if instrumented else 'bare'} run did not complete: {detail}")
    if finished.get("errors"):
        raise UsageError(
            f"{plural(finished['errors'], 'agent run')} failed in the "
            f"{'instrumented' if instrumented else 'bare'} run: overhead is measured on completed runs only; "
            "fix the workload first (see `orchestrace run`)"
        )
    window = CpuWindow.from_json(json.loads(result.run_dir.file(CPU_FILE).read_text(encoding="utf-8")))
    runs = int(finished["completed"])
    wall = window.wall_s if window.wall_s is not None else window.span_s
    assert wall is not None, "a finished window has its wall time"
    figures: dict[str, Any] = {"agent_runs": runs, "cpu_s": window.process_cpu_s / runs, "wall_s": wall / runs}
    if instrumented:
        overhead = Report.from_json(json.loads(result.run_dir.file(REPORT).read_text(encoding="utf-8"))).overhead
        figures["direct_cpu_s"] = (overhead.telemetry_cpu_s or 0.0) / runs
        figures["sampler_core_fraction"] = overhead.sampler.core_fraction if overhead.sampler else None
    return figures


def _paired(bare: list[dict[str, Any]], instrumented: list[dict[str, Any]], key: str) -> dict[str, float]:
    ratios = [i[key] / b[key] for b, i in zip(bare, instrumented, strict=True) if b[key] > 0]
    base = statistics.median(b[key] for b in bare)
    median_ratio = statistics.median(ratios)
    return {
        "bare_per_run_s": base,
        "instrumented_per_run_s": statistics.median(i[key] for i in instrumented),
        "added_per_run_s": (median_ratio - 1) * base,
        "added_fraction": median_ratio - 1,
        "spread": [min(ratios) - 1, max(ratios) - 1],
    }


def measure_overhead(options: RunOptions, rounds: int, execute: Execute, progress: Progress) -> dict[str, Any]:
    """A/B rounds of the workload, bare and instrumented; the profiler's total added CPU and wall."""
    if rounds < 2:
        raise UsageError(f"--rounds must be >= 2 (the spread needs more than one pair), got {rounds}")
    if options.replay is not None or options.otlp_endpoint is not None:
        raise UsageError("orchestrace overhead measures the workload itself: drop --replay and --otlp-endpoint")
    bare: list[dict[str, Any]] = []
    instrumented: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="orchestrace-overhead-") as tmp:
        for index in range(rounds):
            for profiled in (False, True) if index % 2 == 0 else (True, False):
                kind = "instrumented" if profiled else "bare"
                progress(f"round {index + 1}/{rounds}: {kind}")
                result = execute(replace(options, out=Path(tmp), bare=not profiled))
                (instrumented if profiled else bare).append(_round_figures(result, profiled))
    fractions = [r["sampler_core_fraction"] for r in instrumented if r["sampler_core_fraction"] is not None]
    return {
        "workload": {
            "agent": options.agent,
            "graph": options.graph,
            "agent_runs_per_round": bare[0]["agent_runs"],
            "concurrency": options.concurrency,
            "model": options.model or options.endpoint,
            "sampler": options.sampler,
            "sample_rate": options.sample_rate if options.sampler else None,
        },
        "rounds": rounds,
        "cpu": _paired(bare, instrumented, "cpu_s"),
        "wall": _paired(bare, instrumented, "wall_s"),
        "direct_cpu_per_run_s": statistics.median(r["direct_cpu_s"] for r in instrumented),
        "sampler_core_fraction": statistics.median(fractions) if fractions else None,
        "per_round": {"bare": bare, "instrumented": instrumented},
        "note": "workload-process CPU and wall over its agent runs, medians of paired per-round ratios; "
        "py-spy runs in its own process: its CPU is apart (share of one core)",
    }
