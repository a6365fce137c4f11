"""A comparison of two runs as one self-contained HTML page (same figures as the text view)."""

from __future__ import annotations

from html import escape
from typing import Any

from profiler.analysis.compare import CPU_KEYS
from profiler.analysis.wall import KEYS as WALL_KEYS
from profiler.render import charts, page
from profiler.render.compare import ROW_LABELS, delta, ratio, value
from profiler.render.page import Cell
from profiler.render.text import plural

CPU_PARTS = tuple(key for key in CPU_KEYS if key != "process_total")


def _parts(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows that add up to the total (for the stacked bars)."""
    return [r for r in rows if r["key"] in keys]


def _cells(item: dict[str, Any]) -> list[Cell]:
    unit = item["unit"]
    return [
        Cell(escape(value(unit, item["a"])), item["a"]),
        Cell(escape(value(unit, item["b"])), item["b"]),
        Cell(escape(delta(unit, item["delta"])), item["delta"]),
        Cell(escape(ratio(item["ratio"])), item["ratio"]),
    ]


def _rows_table(rows: list[dict[str, Any]]) -> str:
    return page.table(
        ["figure", "A", "B", "B − A", "B / A"],
        [[Cell(escape(ROW_LABELS.get(r["key"], r["key"]))), *_cells(r)] for r in rows],
        sortable=False,
    )


def _named_table(title: str, named: dict[str, Any]) -> str:
    only = [
        f"only in {side.upper()}: {', '.join(named[f'only_in_{side}'])}" for side in "ab" if named[f"only_in_{side}"]
    ]
    if not named["rows"]:
        return f"<h3>{title}</h3><p class='caption'>no names in common. {escape('; '.join(only))}</p>"
    rows = []
    for item in named["rows"]:
        calls, cpu, wall = (_cells(item[key]) for key in ("calls_per_run", "cpu_ms_per_call", "wall_ms_per_call"))
        rows.append([Cell(escape(item["name"]), css="name"), calls[0], calls[1], *cpu, wall[0], wall[1], wall[3]])
    columns = ["name", "calls/run A", "B", "CPU ms/call A", "B", "B − A", "B / A", "wall ms/call A", "B", "B / A"]
    return f"<h3>{title}</h3>" + page.table(columns, rows, caption="; ".join(only))


def _bar_names(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, str]:
    """What tells the runs apart: their models (presets) where they differ, else their agents, else their ids."""
    for key in ("model", "agent", "run_id"):
        if a[key] != b[key]:
            return f"A: {a[key]}", f"B: {b[key]}"
    return "A", "B"


def render_compare_html(comparison: dict[str, Any], simulated: bool, regenerate: str) -> str:
    a, b = comparison["a"], comparison["b"]
    meta = [
        f"<b>A</b>: run <b>{escape(a['run_id'])}</b> · agent {escape(str(a['agent']))} · {escape(a['model'])} · "
        f"{plural(a['agent_runs'], 'agent run')}",
        f"<b>B</b>: run <b>{escape(b['run_id'])}</b> · agent {escape(str(b['agent']))} · {escape(b['model'])} · "
        f"{plural(b['agent_runs'], 'agent run')}",
        "B against A; every figure is per agent run, so runs with different task counts line up",
    ]
    figures = page.Figures()
    names = _bar_names(a, b)
    notes = page.notes([("not comparable / note", n) for n in comparison["notes"]])
    body = [
        page.section("headline", "Headline", "", _rows_table(comparison["headline"]), notes),
        page.section(
            "wall",
            "Where the wall time went",
            "Critical-path parts, mean seconds per agent run.",
            figures(
                charts.stacked_pair(_parts(comparison["wall_per_run_s"], WALL_KEYS), charts.WALL_NAMES, *names, "s")
            ),
            _rows_table(comparison["wall_per_run_s"]),
        ),
        page.section(
            "cpu",
            "Where the CPU went",
            "CPU categories of the in-process meter, ms per agent run.",
            figures(
                charts.stacked_pair(_parts(comparison["cpu_per_run_ms"], CPU_PARTS), charts.CPU_NAMES, *names, "ms")
            ),
            _rows_table(comparison["cpu_per_run_ms"]),
        ),
        page.section(
            "nodes",
            "Nodes and tools",
            "Names both runs have; click a header to sort.",
            _named_table("LangGraph nodes", comparison["nodes"]),
            _named_table("Tools", comparison["tools"]),
        ),
    ]
    return page.page(
        f"orchestrace comparison {a['run_id']} vs {b['run_id']}",
        page.header("orchestrace comparison", meta, simulated=simulated),
        body,
        regenerate,
    )
