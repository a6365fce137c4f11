"""Two runs side by side: the same figures, B against A, and what cannot be compared.

Figures are per completed agent run (means), so runs with different task counts line up. Each row has
`a`, `b`, `delta` = B − A and `ratio` = B / A (None when a side is missing, or A is 0).
Pure: it takes the reports and headlines of both runs, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from profiler.analysis.wall import KEYS as WALL_KEYS
from profiler.store.report import Headline, Report, TableRow

CPU_KEYS = ("orchestration", "model_client", "tool", "runtime", "telemetry", "other", "process_total")


def row(key: str, unit: str, a: float | None, b: float | None) -> dict[str, Any]:
    return {
        "key": key,
        "unit": unit,
        "a": a,
        "b": b,
        "delta": b - a if a is not None and b is not None else None,
        "ratio": b / a if a and b is not None else None,
    }


def _per(value: float | None, count: float | None, scale: float = 1.0) -> float | None:
    return scale * value / count if value is not None and count else None


def _cpu_per_run(report: Report, key: str) -> float | None:
    """ms of a CPU category per completed agent run: its window figure times one completed run's part
    (without window figures, the spans' CPU over the completed runs)."""
    value, total, per_run = report.cpu_s.seconds(key), report.cpu_s.process_total, report.cpu_per_run_s
    if value is not None and total and per_run:
        return float(1000 * value * per_run / total)
    return _per(value, report.completed, 1000)


def _headline_rows(a: Report, b: Report, ha: Headline, hb: Headline) -> list[Any]:
    def both(key: str, unit: str, pick: Callable[[Report, Headline], float | None]) -> dict[str, Any]:
        return row(key, unit, pick(a, ha), pick(b, hb))

    return [
        both("cpu_share_of_latency", "fraction", lambda r, h: r.cpu_share_of_latency),
        both("wall_per_run_s", "s", lambda r, h: h.wall_per_run_s),
        both("model_wait_per_run_s", "s", lambda r, h: h.model_wait_per_run_s),
        both("cpu_per_run_s", "s", lambda r, h: h.cpu_per_run_s),
        both("cores_per_accelerator", "cores", lambda r, h: h.cores_per_accelerator),
        both("llm_calls_per_run", "count", lambda r, h: r.inference.per_run.calls),
        both("input_tokens_per_run", "count", lambda r, h: r.inference.per_run.input_tokens),
        both("output_tokens_per_run", "count", lambda r, h: r.inference.per_run.output_tokens),
        both("ttft_p50_s", "s", lambda r, h: r.inference.ttft_s.p50),
        both("overhead_fraction", "fraction", lambda r, h: r.overhead.fraction),
        both("agent_runs", "n", lambda r, h: r.agent_runs),
        both("completed", "n", lambda r, h: r.completed),
        both("errors", "n", lambda r, h: r.errors),
    ]


def _named(a: Report, b: Report, pick: Callable[[Report], tuple[TableRow, ...]]) -> dict[str, Any]:
    """Per node or tool, for the names both runs have (in A's order): calls per run, per-call figures."""
    rows_a = {r.name: r for r in pick(a)}
    rows_b = {r.name: r for r in pick(b)}
    common = [name for name in rows_a if name in rows_b]
    rows = []
    for name in common:
        ra, rb = rows_a[name], rows_b[name]
        rows.append(
            {
                "name": name,
                "calls_per_run": row(
                    "calls_per_run", "count", _per(ra.calls, a.agent_runs), _per(rb.calls, b.agent_runs)
                ),
                "cpu_ms_per_call": row(
                    "cpu_ms_per_call", "ms", _per(ra.cpu_s, ra.calls, 1000), _per(rb.cpu_s, rb.calls, 1000)
                ),
                "wall_ms_per_call": row(
                    "wall_ms_per_call", "ms", _per(ra.wall_s, ra.calls, 1000), _per(rb.wall_s, rb.calls, 1000)
                ),
            }
        )
    return {
        "rows": rows,
        "only_in_a": [n for n in rows_a if n not in rows_b],
        "only_in_b": [n for n in rows_b if n not in rows_a],
    }


def _model_name(report: Report) -> str:
    model = report.model or {}
    if model.get("kind") == "simulated":
        return f"simulated {model.get('preset', {}).get('name')}"
    return str(model.get("model_name") or model.get("endpoint") or "unknown")


def _notes(a: Report, b: Report) -> list[str]:
    notes = []
    if a.agent != b.agent:
        notes.append(
            f"agents differ (A: {a.agent}, B: {b.agent}): the node and tool tables list only the names both runs have"
        )
    if a.run_schema != b.run_schema:
        notes.append(
            f"run-directory schemas differ (A: {a.run_schema}, B: {b.run_schema}): "
            "figures an older run did not record are blank"
        )
    for side, report in (("A", a), ("B", b)):
        if not report.agent_runs:
            notes.append(f"{side} has no agent runs: its per-run figures are blank")
        if report.cpu_s.process_total is None:
            notes.append(f"{side} has no CPU window figures (cpu.json missing): its CPU rows are blank")
    if a.inference.source != b.inference.source:
        notes.append(
            f"model wait is measured differently (A from {a.inference.source}, B from "
            f"{b.inference.source}); from client spans it includes the network"
        )
    if _model_name(a) != _model_name(b):
        notes.append(f"models differ (A: {_model_name(a)}, B: {_model_name(b)})")
    return notes


def _identity(report: Report) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "agent": report.agent,
        "model": _model_name(report),
        "agent_runs": report.agent_runs,
        "run_schema": report.run_schema,
    }


def compare_runs(a: Report, headline_a: Headline, b: Report, headline_b: Headline) -> dict[str, Any]:
    """B against A: headline, wall time and CPU per agent run, per node and per tool."""
    wall_a, wall_b = a.wall_s.per_run, b.wall_s.per_run
    return {
        "a": _identity(a),
        "b": _identity(b),
        "headline": _headline_rows(a, b, headline_a, headline_b),
        "wall_per_run_s": [row(key, "s", wall_a[key].mean, wall_b[key].mean) for key in (*WALL_KEYS, "total")],
        "cpu_per_run_ms": [row(key, "ms", _cpu_per_run(a, key), _cpu_per_run(b, key)) for key in CPU_KEYS]
        + [row("coverage", "fraction", a.cpu_s.coverage, b.cpu_s.coverage)],
        "nodes": _named(a, b, lambda report: report.nodes),
        "tools": _named(a, b, lambda report: report.tools),
        "notes": _notes(a, b)
        + [
            f"{side}: no cores per accelerator ({head.cores_per_accelerator_note})"
            for side, head in (("A", headline_a), ("B", headline_b))
            if head.cores_per_accelerator is None
        ],
    }
