"""A comparison of two runs as rich tables: A, B, B − A and B / A per row."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from profiler.render.text import CPU_LABELS, WALL_LABELS, plural

HEADLINE_LABELS = {
    "cpu_share_of_latency": "CPU share of latency",
    "wall_per_run_s": "wall time per agent run, s",
    "model_wait_per_run_s": "model wait per agent run, s",
    "cpu_per_run_s": "CPU per agent run, core-s",
    "cores_per_accelerator": "cores per accelerator (estimate)",
    "llm_calls_per_run": "LLM calls per agent run",
    "input_tokens_per_run": "input tokens per agent run",
    "output_tokens_per_run": "output tokens per agent run",
    "ttft_p50_s": "time to first token p50, s",
    "overhead_fraction": "profiler overhead (share of CPU)",
    "agent_runs": "agent runs",
    "completed": "completed agent runs",
    "errors": "failed agent runs",
}
ROW_LABELS = {
    **HEADLINE_LABELS,
    **WALL_LABELS,
    **CPU_LABELS,
    "total": "total",
    "process_total": "total in the measured window",
    "coverage": "meter coverage of process CPU",
}
_DIGITS = {"s": 3, "ms": 1, "cores": 1, "count": 1, "n": 0}


def value(unit: str, number: float | None) -> str:
    if number is None:
        return "–"
    if unit == "fraction":
        return f"{100 * number:.1f}%"
    return f"{number:,.{_DIGITS[unit]}f}"


def delta(unit: str, number: float | None) -> str:
    if number is None:
        return "–"
    if unit == "fraction":
        return f"{100 * number:+.1f} pp"
    return f"{number:+,.{_DIGITS[unit]}f}"


def ratio(number: float | None) -> str:
    return "–" if number is None else f"{number:.2f}×"


def _rows_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("", "A", "B", "B − A", "B / A"):
        table.add_column(column, justify="left" if not column else "right")
    for row in rows:
        unit = row["unit"]
        label = ROW_LABELS.get(row["key"], row["key"])
        table.add_row(
            label, value(unit, row["a"]), value(unit, row["b"]), delta(unit, row["delta"]), ratio(row["ratio"])
        )
    return table


def _named_table(title: str, named: dict[str, Any]) -> RenderableType:
    if not named["rows"]:
        return Text(f"{title}: no names in common", style="dim")
    table = Table(title=title, title_justify="left")
    table.add_column("name", no_wrap=True)
    for column in ("calls/run", "CPU ms/call", "B / A", "wall ms/call", "B / A"):
        table.add_column(column, justify="right")
    for item in named["rows"]:
        calls, cpu, wall = item["calls_per_run"], item["cpu_ms_per_call"], item["wall_ms_per_call"]
        table.add_row(
            escape(item["name"]),
            f"{value('count', calls['a'])} → {value('count', calls['b'])}",
            f"{value('ms', cpu['a'])} → {value('ms', cpu['b'])}",
            ratio(cpu["ratio"]),
            f"{value('ms', wall['a'])} → {value('ms', wall['b'])}",
            ratio(wall["ratio"]),
        )
    only = [
        f"only in {side.upper()}: {', '.join(named[f'only_in_{side}'])}" for side in "ab" if named[f"only_in_{side}"]
    ]
    if only:
        table.caption = escape("; ".join(only))
    return table


def render_comparison(comparison: dict[str, Any]) -> RenderableType:
    a, b = comparison["a"], comparison["b"]
    header = Text.assemble(
        ("Comparison", "bold"),
        " (B against A; figures per completed agent run)\n",
        f"A: run {a['run_id']}  agent {a['agent']}  ·  {a['model']}  ·  {plural(a['agent_runs'], 'agent run')}\n",
        f"B: run {b['run_id']}  agent {b['agent']}  ·  {b['model']}  ·  {plural(b['agent_runs'], 'agent run')}",
    )
    parts: list[RenderableType] = [
        header,
        _rows_table("Headline", comparison["headline"]),
        _rows_table("Where the wall time went (critical path, mean s per agent run)", comparison["wall_per_run_s"]),
        _rows_table("Where the CPU went (ms per agent run)", comparison["cpu_per_run_ms"]),
        _named_table("LangGraph nodes (names in both runs; values A → B)", comparison["nodes"]),
        _named_table("Tools (names in both runs; values A → B)", comparison["tools"]),
    ]
    if comparison["notes"]:
        parts.append(Text.from_markup("\n".join(f"[yellow]note[/]: {escape(n)}" for n in comparison["notes"])))
    return Group(*parts)
