"""Plotly figures of a run, with one colour per category across every chart.

The colours tie the wall-time parts, the CPU categories, the timeline and the flame graph
together: orchestration is blue, the model client light blue, tools orange, waiting on the
model grey, contention red.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from profiler.analysis.flame import FlameNode
from profiler.analysis.timeline import AGENT, NODE, OTHER, Bar
from profiler.analysis.traces import CHAT, TOOL
from profiler.analysis.wall import CATEGORIES, WallSplit
from profiler.analysis.wall import KEYS as WALL_KEYS
from profiler.render.page import FONT
from profiler.store.report import CpuSplit

COLOURS = {
    # wall-time parts
    "model_wait": "#b8c2cc",
    "orchestration_cpu": "#1f6fb2",
    "tool_cpu": "#e08e0b",
    "tool_wait": "#f4cf86",
    "contention": "#d1495b",
    "gil_wait": "#8f2d56",
    "profiler": "#7b8794",
    "other_wait": "#9b8dc7",
    "retry_wait": "#6c4f3d",
    # CPU categories (meter and py-spy)
    "orchestration": "#1f6fb2",
    "framework": "#1f6fb2",
    "model_client": "#5da9e9",
    "tool": "#e08e0b",
    "runtime": "#2a9d8f",
    "telemetry": "#7b8794",
    "other": "#9b8dc7",
    "startup": "#c8d6b9",
    "native (no Python frames)": "#a3a380",
}
WALL_NAMES = {key: name for key, (name, _) in CATEGORIES.items()}
CPU_NAMES = {
    "orchestration": "orchestration",
    "model_client": "model client",
    "tool": "tools",
    "runtime": "runtime",
    "telemetry": "telemetry",
    "other": "other",
}
# pale versions of the category colours for span bars, so the CPU bar drawn over them stands out
_PALE = {AGENT: "#a5c5e4", NODE: "#a5c5e4", OTHER: "#a5c5e4", CHAT: "#cfe5f8", TOOL: "#f3d39b"}
Figure = Any  # plotly ships no type information


def styled(figure: Figure, height: int, **layout: Any) -> Figure:
    defaults: dict[str, Any] = {
        "template": "plotly_white",
        "height": height,
        "font": {"family": FONT, "size": 13, "color": "#1f2933"},
        "margin": {"l": 10, "r": 10, "t": 64, "b": 10},  # the legend's row, under the mode bar
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0, "traceorder": "normal"},
        "hoverlabel": {"font": {"family": FONT}},
    }
    figure.update_layout(defaults | layout)
    return figure


def wall_per_run(runs: list[tuple[str, str, WallSplit]]) -> Figure:
    """Stacked critical-path parts per agent run, longest first; runs are (label, hover, split)."""
    ordered = sorted(runs, key=lambda r: -r[2].total)
    labels = [label for label, _, _ in ordered]
    figure = go.Figure()
    for key in WALL_KEYS:
        figure.add_bar(
            x=labels,
            y=[split.parts[key] for _, _, split in ordered],
            name=WALL_NAMES[key],
            marker_color=COLOURS[key],
            customdata=[hover for _, hover, _ in ordered],
            hovertemplate=f"%{{customdata}}<br>{WALL_NAMES[key]}: %{{y:.3f}} s<extra></extra>",
        )
    return styled(
        figure,
        380,
        barmode="stack",
        bargap=0.25,
        yaxis_title="seconds on the critical path",
        xaxis={"title": "agent run (sorted by wall time)", "type": "category"},
    )


def cpu_categories(cpu: CpuSplit, per_run: float) -> Figure:
    """The meter's CPU categories, in ms per agent run (`per_run`: one completed run's part of the window)."""
    measured = {k: seconds for k in CPU_NAMES if (seconds := cpu.seconds(k)) is not None}
    keys = list(measured)
    values = [1000 * seconds * per_run for seconds in measured.values()]
    total = cpu.process_total or sum(measured.values())
    shares = [f"{100 * seconds / total:.1f}%" if total else "" for seconds in measured.values()]
    figure = go.Figure(
        go.Bar(
            x=values,
            y=[CPU_NAMES[k] for k in keys],
            orientation="h",
            marker_color=[COLOURS[k] for k in keys],
            text=shares,
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.1f} ms per agent run (%{text})<extra></extra>",
        )
    )
    return styled(
        figure,
        300,
        showlegend=False,
        xaxis_title="CPU ms per agent run",
        yaxis={"autorange": "reversed"},
        margin={"l": 10, "r": 60, "t": 20, "b": 10},
    )


def _ms(value: float) -> float:
    return round(1000 * value, 3)


def timeline(bars: list[Bar]) -> Figure:
    """Spans of one agent run on its wall clock; a thin dark bar shows each span's own CPU time."""
    rows = list(range(len(bars)))
    # tick labels are right-aligned: padding on the right indents children under their parent
    deepest = max((bar.depth for bar in bars), default=0)
    labels = [bar.label + (" ✗" if bar.error else "") + "\u2003" * (deepest - bar.depth) for bar in bars]
    figure = go.Figure()

    def hover(bar: Bar) -> str:
        wall = bar.end_s - bar.start_s
        share = f" ({100 * bar.cpu_self_s / wall:.0f}% of its wall)" if wall > 0 else ""
        return (
            f"<b>{bar.label}</b><br>start {_ms(bar.start_s):.1f} ms · wall {_ms(wall):.1f} ms"
            f"<br>own CPU {_ms(bar.cpu_self_s):.1f} ms{share} · with children {_ms(bar.cpu_inclusive_s):.1f} ms"
        )

    groups = (("agent / node", (AGENT, NODE, OTHER)), ("chat (model client)", (CHAT,)), ("tool", (TOOL,)))
    for name, kinds in groups:
        chosen = [i for i in rows if bars[i].kind in kinds]
        if not chosen:
            continue
        figure.add_bar(
            y=chosen,
            x=[_ms(bars[i].end_s - bars[i].start_s) for i in chosen],
            base=[_ms(bars[i].start_s) for i in chosen],
            orientation="h",
            width=0.72,
            name=name,
            marker={"color": _PALE[kinds[0]], "line": {"width": 0}},
            hovertext=[hover(bars[i]) for i in chosen],
            hoverinfo="text",
        )
    served = [(i, start, end) for i in rows for start, end in bars[i].served]
    if served:
        figure.add_bar(
            y=[i for i, _, _ in served],
            x=[_ms(end - start) for _, start, end in served],
            base=[_ms(start) for _, start, _ in served],
            orientation="h",
            width=0.72,
            name="model server working",
            marker={"color": COLOURS["model_wait"], "line": {"width": 0}},
            hovertemplate="model server working %{x:.1f} ms<extra></extra>",
        )
    figure.add_bar(
        y=rows,
        x=[_ms(bar.cpu_self_s) for bar in bars],
        base=[_ms(bar.start_s) for bar in bars],
        orientation="h",
        width=0.22,
        name="own CPU (its length)",
        marker={"color": "#16202c", "line": {"width": 0}},
        hovertemplate="own CPU %{x:.2f} ms<extra></extra>",
    )
    _branch_bands(figure, bars)
    return styled(
        figure,
        110 + 24 * len(bars),
        barmode="overlay",
        xaxis_title="ms since the agent run started",
        yaxis={"tickvals": rows, "ticktext": labels, "autorange": "reversed", "showgrid": False},
    )


def _branch_bands(figure: Figure, bars: list[Bar]) -> None:
    """Parallel branches (sub-agents) as alternately shaded bands of rows, each named at its right."""
    rows: dict[str, list[int]] = {}
    for index, bar in enumerate(bars):
        if bar.branch:
            rows.setdefault(bar.branch, []).append(index)
    for number, (branch, members) in enumerate(rows.items()):
        top, bottom = min(members) - 0.5, max(members) + 0.5
        figure.add_shape(
            type="rect",
            xref="paper",
            x0=0,
            x1=1,
            y0=top,
            y1=bottom,
            fillcolor="#8c96a0" if number % 2 == 0 else "#c7ccd1",
            opacity=0.12,
            line={"width": 0},
            layer="below",
        )
        figure.add_annotation(
            text=branch, xref="paper", x=1, xanchor="right", y=top + 0.5, showarrow=False, font={"size": 11}
        )


def flame(root: FlameNode, rate: int, min_fraction: float = 0.002) -> Figure:
    """Icicle of the sampled call tree (click to zoom); frames under `min_fraction` of samples are left out."""
    ids: list[str] = []
    labels: list[str] = []
    parents: list[str] = []
    values: list[int] = []
    colours: list[str] = []
    hovers: list[str] = []
    floor = root.count * min_fraction

    def add(node: FlameNode, parent: str) -> None:
        node_id = f"n{len(ids)}"
        ids.append(node_id)
        labels.append(node.name.split(" (", 1)[0])
        parents.append(parent)
        values.append(node.count)
        colours.append(COLOURS.get(node.category, COLOURS["other"]) if parent else "#52606d")
        hovers.append(
            f"{node.name}<br>{node.count / rate:.2f} CPU s ({100 * node.count / root.count:.1f}%) · "
            f"mostly {node.category}"
        )
        for child in sorted(node.children.values(), key=lambda c: -c.count):
            if child.count >= floor:
                add(child, node_id)

    add(root, "")
    figure = go.Figure(
        go.Icicle(
            ids=ids,
            labels=labels,
            parents=parents,
            values=values,
            branchvalues="total",
            marker={"colors": colours, "line": {"width": 0.5, "color": "#ffffff"}},
            customdata=hovers,
            hovertemplate="%{customdata}<extra></extra>",
            tiling={"orientation": "v"},
            maxdepth=14,
            textfont={"size": 11},
        )
    )
    return styled(figure, 620, margin={"l": 4, "r": 4, "t": 4, "b": 4})


def stacked_pair(rows: list[dict[str, Any]], names: dict[str, str], a: str, b: str, axis: str) -> Figure:
    """Two stacked bars (A and B) from comparison rows; rows without both values are left out."""
    figure = go.Figure()
    for item in rows:
        if item["a"] is None and item["b"] is None:
            continue
        figure.add_bar(
            x=[a, b],
            y=[item["a"] or 0.0, item["b"] or 0.0],
            name=names[item["key"]],
            marker_color=COLOURS[item["key"]],
            hovertemplate=f"{names[item['key']]}: %{{y:.3f}}<extra></extra>",
        )
    return styled(figure, 380, barmode="stack", bargap=0.45, yaxis_title=axis)
