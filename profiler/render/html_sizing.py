"""`size` and `sweep` results as self-contained HTML pages: the tables of the text view plus the
CPU share of latency against inference speed (the what-if curve; for a sweep, measured points).
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

import plotly.graph_objects as go

from profiler.render import page
from profiler.render.charts import COLOURS, Figure, styled
from profiler.render.page import Cell, num
from profiler.render.sizing import assumed_fields, targets_line
from profiler.render.text import plural
from profiler.sizing.model import cpu_share

# a sweep preset this much faster than the reference (e.g. `instant`) has no place on the axis
_OFF_AXIS_SPEEDUP = 1e4
# presets are not categories of time or CPU: a separate qualitative palette (Okabe-Ito)
_PRESET_COLOURS = ["#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#0072b2", "#000000", "#999999"]


def _ticks(low: float, high: float) -> list[float]:
    """1-2-5 steps covering [low, high], for a readable log axis."""
    ticks: list[float] = []
    decade = 10.0 ** math.floor(math.log10(low))
    while decade <= high:
        ticks += [decade * m for m in (1, 2, 5) if low <= decade * m <= high]
        decade *= 10
    return ticks


def _share_axes(figure: Figure, title: str, span: tuple[float, float]) -> Figure:
    ticks = _ticks(*span)
    return styled(
        figure,
        440,
        margin={"l": 10, "r": 10, "t": 96, "b": 10},  # room for a two-row legend under the mode bar
        xaxis={
            "type": "log",
            "title": title,
            "tickvals": ticks,
            "ticktext": [f"{t:g}×" for t in ticks],
            "range": [math.log10(span[0]) - 0.06, math.log10(span[1]) + 0.06],  # log axes take exponents
        },
        yaxis={"title": "CPU share of latency", "tickformat": ".0%", "range": [0, 1.02]},
    )


def _span(speedups: list[float]) -> tuple[float, float]:
    return min(0.5, *speedups), max(2.0, *speedups)


def _speedup(base_t_model: float, t_model: float) -> float | None:
    """How much faster than the base a model time is; None when it has no place on a log axis."""
    if base_t_model <= 0 or t_model <= 0:
        return None
    speedup = base_t_model / t_model
    return speedup if 1 / _OFF_AXIS_SPEEDUP < speedup < _OFF_AXIS_SPEEDUP else None


def _curve(figure: Figure, t_cpu: float, base_t_model: float, span: tuple[float, float], name: str) -> None:
    """f_cpu = T_cpu / (T_cpu + T_model / k), the sizing model's what-if, as a continuous line."""
    low, high = span
    ks = [low * (high / low) ** (i / 80) for i in range(81)]
    figure.add_scatter(
        x=ks,
        y=[cpu_share(t_cpu, base_t_model / k) for k in ks],
        mode="lines",
        name=name,
        line={"color": COLOURS["orchestration_cpu"], "width": 2.5},
        hovertemplate="%{x:.2f}× faster: CPU share %{y:.1%}<extra></extra>",
    )


def _points(figure: Figure, placed: list[tuple[float, dict[str, Any]]], key: str, suffix: str, symbol: str) -> None:
    """One trace per preset, so the legend names them (labels on the chart would collide)."""
    for index, (speedup, row) in enumerate(placed):
        colour = _PRESET_COLOURS[index % len(_PRESET_COLOURS)]
        figure.add_scatter(
            x=[speedup],
            y=[row[key]],
            mode="markers",
            name=f"{row['preset']}{suffix}",
            legendgroup=row["preset"],
            marker={"color": colour, "size": 11, "symbol": symbol, "line": {"width": 2, "color": colour}},
            hovertemplate=f"{row['preset']}{suffix}: %{{x:.2f}}× faster, CPU share %{{y:.1%}}<extra></extra>",
        )


def what_if_figure(result: dict[str, Any]) -> Figure:
    """The what-if curve, its k rows, and each preset at its model time relative to the base."""
    what_if = result["what_if"]
    placed = [
        (speedup, row)
        for row in result["presets"]
        if (speedup := _speedup(what_if["base_t_model_s"], row["t_model_s"])) is not None
    ]
    figure = go.Figure()
    ks = [float(r["speedup"]) for r in what_if["rows"]]
    span = _span(ks + [s for s, _ in placed])
    _curve(figure, what_if["t_cpu_s"], what_if["base_t_model_s"], span, "predicted")
    figure.add_scatter(
        x=ks,
        y=[r["cpu_share_of_latency"] for r in what_if["rows"]],
        mode="markers",
        name=f"k× faster than {what_if['base_preset']}",
        marker={"color": COLOURS["orchestration_cpu"], "size": 7},
        hovertemplate="k = %{x:g}: CPU share %{y:.1%}<extra></extra>",
    )
    figure.add_scatter(
        x=ks,
        y=[r["simulated_cpu_share_of_latency"] for r in what_if["rows"]],
        mode="markers",
        name="k× faster, simulated",
        marker={"color": COLOURS["orchestration_cpu"], "size": 9, "symbol": "diamond-open"},
        hovertemplate="k = %{x:g}: simulated CPU share %{y:.1%}<extra></extra>",
    )
    _points(figure, placed, "cpu_share_of_latency", "", "circle")
    return _share_axes(figure, f"inference speed, × {what_if['base_preset']} (log)", span)


def _sweep_axis(rows: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[tuple[float, dict[str, Any]]]]:
    """Speeds relative to the slowest preset (from the predicted model time of the same calls);
    presets with next to no model time (e.g. `instant`) stay off the log axis."""
    timed = [row for row in rows if row["predicted_t_model_s"] > 0]
    if not timed:
        return None, []
    slowest = max(timed, key=lambda row: float(row["predicted_t_model_s"]))
    placed = [(slowest["predicted_t_model_s"] / row["predicted_t_model_s"], row) for row in timed]
    return slowest, [(speedup, row) for speedup, row in placed if speedup < _OFF_AXIS_SPEEDUP]


def sweep_figure(result: dict[str, Any]) -> Figure:
    """Measured (filled) and predicted (open) CPU share per preset, on the curve from the reference run."""
    slowest, placed = _sweep_axis(result["rows"])
    figure = go.Figure()
    span = _span([s for s, _ in placed])
    if slowest is not None:
        name = f"closed form from the {result['reference_preset']} run"
        _curve(figure, result["reference_t_cpu_s"], slowest["predicted_t_model_s"], span, name)
    _points(figure, placed, "measured_cpu_share", " measured", "circle")
    _points(figure, placed, "simulated_cpu_share", " simulated", "diamond-open")
    _points(figure, placed, "predicted_cpu_share", " closed form", "x-thin-open")
    unit = slowest["preset"] if slowest is not None else "the slowest preset"
    return _share_axes(figure, f"inference speed, × {unit} (log; model time of the same calls at each preset)", span)


def _demand_table(demand: dict[str, Any]) -> str:
    rows = [
        ("CPU per agent run, profiler overhead removed (D_cpu)", f"{1000 * demand['d_cpu_s']:.1f} ms"),
        ("CPU per agent run as measured", f"{1000 * demand['d_cpu_measured_s']:.1f} ms"),
        *((f"· {key}", f"{1000 * value:.1f} ms") for key, value in demand["d_cpu_by_category"].items() if value),
        ("LLM calls per agent run", f"{demand['llm_calls']:.1f}"),
        (
            "tokens in / out per agent run" + (" (estimated: no usage reported)" if demand["tokens_estimated"] else ""),
            f"{demand['input_tokens']:,.0f} / {demand['output_tokens']:,.0f}",
        ),
        ("critical-path time not waiting on the model (T_cpu)", f"{1000 * demand['t_cpu_s']:.0f} ms"),
        (
            "model wait on the critical path",
            f"{demand['measured_model_wait_s']:.3f} s (from {demand['model_time_source']})",
        ),
        ("wall time per agent run", f"{demand['measured_wall_s']:.3f} s"),
    ]
    return page.table(
        ["per agent run (measured)", ""], [[Cell(escape(a)), Cell(escape(b))] for a, b in rows], sortable=False
    )


def _presets_table(result: dict[str, Any]) -> str:
    latency = result["targets"]["latency_target_ms"] is not None
    columns = ["preset", "D_acc s/run", "cores", "accelerators", "cores/acc", "+engine floor", "CPU share of latency"]
    columns += ["in flight", "$ per 1k runs"]
    if latency:
        columns += [f"cores for ≤ {result['targets']['latency_target_ms']:g} ms", "cores to provision"]
    rows = []
    for row in result["presets"]:
        cells = [
            Cell(escape(row["preset"]), css="name"),
            num(row["d_acc_s"], "{:.4f}"),
            num(row["cores"], "{:,.1f}"),
            num(row["accelerators"], "{:,.2f}"),
            num(row["cores_per_accelerator"] if row["accelerator_unit"] else None, "{:,.1f}"),
            num(row["cores_per_accelerator_with_floor"] if row["engine_floor_cores"] else None, "{:,.1f}"),
            num(row["cpu_share_of_latency"], "{:.1%}"),
            num(row["in_flight_runs"], "{:,.1f}"),
            num(1000 * row["cost"]["per_run_usd"], "{:,.3f}"),
        ]
        if latency:
            cells += [num(row["cores_for_latency_target"], "{:d}"), num(row["cores_to_provision"], "{:d}")]
        rows.append(cells)
    defaults = any(r["cost"]["prices_are_defaults"] for r in result["presets"])
    caption = "costs use default prices (see README)" if defaults else "costs use the given prices"
    caption += "; cores/acc only where the preset says what one accelerator is"
    return page.table(columns, rows, caption=caption + "; the preset fields that are assumptions are listed below")


def _units_table(units: dict[str, Any]) -> str:
    columns = ["preset", "CPU share", "wall/run s", "D_cpu ms", f"cores per {units['sessions']} sessions"]
    columns += ["runs/s per core", "cores per 1k out tok/s", "cores/acc", "$ CPU per 1k runs", "$ inference"]
    columns += ["assumed preset fields"]
    rows = []
    for row in units["rows"]:
        cost = row["cost_per_1k_runs"]
        inference = cost["inference"]
        rows.append(
            [
                Cell(escape(row["preset"]), css="name"),
                num(row["cpu_share_of_latency"], "{:.1%}"),
                num(row["wall_per_run_s"], "{:.2f}"),
                num(1000 * row["d_cpu_s"], "{:,.0f}"),
                num(row["cores_per_sessions"], "{:,.1f}"),
                num(row["runs_per_core_s"], "{:.2f}"),
                num(row["cores_per_1k_output_tok_s"], "{:.2f}"),
                num(row["cores_per_accelerator"], "{:,.1f}"),
                num(cost["cpu_usd"], "{:.4f}"),
                Cell(
                    escape("–" if inference["usd"] is None else f"{inference['usd']:.3f}"),
                    inference["usd"],
                    css="num",
                ),
                Cell(escape(assumed_fields(row["assumed"]))),
            ]
        )
    return page.table(
        columns,
        rows,
        caption="cores at the CPU utilisation target; cores/acc only where the preset says what one accelerator is",
    )


def _units_notes(units: dict[str, Any]) -> str:
    """The simulation's assumptions, each preset's assumed fields and where its price comes from."""
    notes = [("simulation", assumption) for assumption in units["assumptions"]]
    for row in units["rows"]:
        notes += [(f"assumed, {row['preset']}", note) for note in row["assumed"]]
        price = row["cost_per_1k_runs"]["inference"]
        if price["usd"] is not None:
            notes.append((f"price, {row['preset']}", f"{price['basis']} ({price['source']}, {price['date']})"))
    return page.notes(notes)


def _what_if_table(what_if: dict[str, Any]) -> str:
    rows = [
        [
            num(r["speedup"], "{:g}"),
            num(r["cpu_share_of_latency"], "{:.1%}"),
            num(r["simulated_cpu_share_of_latency"], "{:.1%}"),
            num(r["cores_per_accelerator"], "{:,.1f}"),
        ]
        for r in what_if["rows"]
    ]
    knee = what_if["knee_speedup"]
    caption = f"CPU time equals model time at k ≈ {knee:.1f}" if knee is not None else ""
    columns = ["k", "CPU share of latency", "simulated", "cores per accelerator (estimate)"]
    return page.table(columns, rows, caption=caption)


def _estimates(result: dict[str, Any]) -> str:
    notes = [("estimate", e) for e in result["estimates"]]
    notes += [("note", row["note"]) for row in result["presets"] if row.get("note")]
    return page.notes(notes + [("note", n) for n in result["notes"]])


def _cards(result: dict[str, Any]) -> str:
    """The answer first: cores per accelerator, and the cores to buy, at the run's own preset."""
    base, targets = result["base"], result["targets"]
    # only where the preset says what one accelerator is (an API replica's chip count is unknown)
    unit = base.get("accelerator_unit")
    ratio = base["cores_per_accelerator"] if unit else None
    floor = base["cores_per_accelerator_with_floor"]
    cores = base.get("cores_to_provision", base["cores_whole"])
    provision = (
        "the larger of the utilisation and queueing-delay targets' cores"
        if "cores_to_provision" in base
        else (f"at CPU utilisation {targets['cpu_utilisation']:g}")
    )
    cards = [
        page.card(
            f"Cores per accelerator at {base['preset']}",
            "n/a" if ratio is None else f"{ratio:.1f}",
            "tokens at the preset's saturated throughput"
            + (f"; {floor:.1f} with the serving engine's own cores" if base["engine_floor_cores"] else ""),
            estimate=ratio is not None,
        ),
        page.card(
            f"Cores for {targets['rate']:g} agent runs/s",
            f"{cores:d}",
            provision,
        ),
        page.card(
            "Accelerators",
            "n/a" if base["accelerators"] is None else f"{base['accelerators']:.2f}",
            f"at {base['preset']}, accelerator utilisation {targets['accelerator_utilisation']:g}",
            estimate=base["accelerators"] is not None,
        ),
        page.card(
            "CPU share of latency",
            "–" if base["cpu_share_of_latency"] is None else f"{base['cpu_share_of_latency']:.1%}",
            f"at {base['preset']}: critical-path CPU time against model time",
        ),
    ]
    return f"<div class='cards'>{''.join(cards)}</div>"


def _hosts_section(hosts: list[dict[str, Any]]) -> str:
    """A fleet's hosts as measured (none for a run of one workload process)."""
    if not hosts:
        return ""
    rows = [
        [
            Cell(escape(row["host"])),
            num(row["agent_runs"], "{:d}"),
            num(None if row["cpu_per_run_s"] is None else 1000 * row["cpu_per_run_s"], "{:.1f}"),
            num(row["cores_used"], "{:.2f}"),
            num(row["cores"], "{:.0f}"),
        ]
        for row in hosts
    ]
    return page.section(
        "hosts",
        "Per host (measured)",
        "CPU per agent run on each host (the profiler and the host's failed runs included) and the cores its "
        "workload processes used: a host whose runs cost more CPU each is slower, or busier. D_cpu is the fleet's.",
        page.table(["host", "agent runs", "CPU ms per run", "cores used", "cores there"], rows),
    )


def render_size_html(result: dict[str, Any], simulated: bool, regenerate: str) -> str:
    targets, demand = result["targets"], result["demand"]
    meta = [
        f"run <b>{escape(result['run_id'])}</b> · {plural(demand['runs'], 'completed agent run')} measured · "
        f"concurrency {demand['concurrency']}",
        escape(targets_line(targets)),
    ]
    figures = page.Figures()
    what_if = result["what_if"]
    body = [
        page.section("headline", "Headline", "", _cards(result)),
        page.section(
            "presets",
            "Per accelerator preset",
            "Accelerator figures are estimates (the run's tokens at each preset's saturated throughput); "
            "click a header to sort.",
            _presets_table(result),
        ),
        _hosts_section(result["hosts"]),
        page.section(
            "units",
            "The run replayed at each preset",
            "A simulation of the recorded agent runs: model calls re-timed at the preset, CPU on the run's cores "
            f"and one event loop per process ({result['units']['machine']['concurrency']} at a time in "
            f"{result['units']['machine']['processes']} on {result['units']['machine']['cores']:g} cores). "
            "Figures that mean the same on every preset.",
            _units_table(result["units"]),
            _units_notes(result["units"]),
        ),
        page.section(
            "what-if",
            f"What if inference were k× faster than {what_if['base_preset']}",
            "Closed form: measured CPU time on the critical path against model time divided by k (the line); "
            "simulated: the run replayed k× faster (open diamonds). Presets placed at their model time for the "
            "same calls.",
            figures(what_if_figure(result)),
            _what_if_table(what_if),
        ),
        page.section("demand", "What one agent run needs", "Measured in the run.", _demand_table(demand)),
        page.section("estimates", "Estimates and notes", "", _estimates(result)),
    ]
    return page.page(
        f"orchestrace size {result['run_id']}",
        page.header("orchestrace capacity sizing", meta, simulated=simulated),
        body,
        regenerate,
    )


def render_sweep_html(result: dict[str, Any], regenerate: str) -> str:
    columns = ["preset", "decode tok/s", "CPU share measured", "simulated", "error (pp)", "closed form", "error (pp)"]
    columns += ["at its interference", "cores", "measured", "simulated", "closed form", "D_cpu ms", "simulated"]
    rows = [
        [
            Cell(escape(row["preset"]), css="name"),
            num(None if row["synthetic"] else row["decode_tok_s"], "{:,.0f}"),
            num(row["measured_cpu_share"], "{:.1%}"),
            num(row["simulated_cpu_share"], "{:.1%}"),
            num(row["simulated_error_pp"], "{:+.1f}"),
            num(row["predicted_cpu_share"], "{:.1%}"),
            num(row["error_pp"], "{:+.1f}"),
            num(row["simulated_at_its_interference"], "{:.1%} (" + f"{100 * row['interference']:.0f}%)"),
            Cell(escape(row["cores_unit"])),
            num(row["measured_cores"], "{:,.2f}"),
            num(row["simulated_cores"], "{:,.2f}"),
            num(row["closed_form_cores"], "{:,.2f}"),
            num(1000 * row["d_cpu_s"], "{:,.0f}"),
            num(1000 * row["simulated_d_cpu_s"], "{:,.0f}"),
        ]
        for row in result["rows"]
    ]
    on_axis = {row["preset"] for _, row in _sweep_axis(result["rows"])[1]}
    off_axis = [row["preset"] for row in result["rows"] if row["preset"] not in on_axis]
    intro = escape(f"Closed form: {result['method']}. Simulated: {result['simulation']}") + (
        f". Not on the chart (no model time to speak of): {escape(', '.join(off_axis))}." if off_axis else "."
    )
    runs = page.notes([(r["preset"], f"{r['run_dir']} ({r['status']})") for r in result["runs"]])
    meta = [f"reference preset <b>{escape(result['reference_preset'])}</b> · {len(result['rows'])} presets measured"]
    figures = page.Figures()
    body = [
        page.section(
            "sweep",
            "Measured vs simulated and closed-form CPU share of latency",
            intro,
            figures(sweep_figure(result)),
            page.table(
                columns,
                rows,
                caption="cores per accelerator where the preset says what one accelerator is (an estimate: tokens "
                "at saturated throughput), else per 1,000 output tokens/s; 'at its interference': simulated with "
                "the other processes taking the CPU as often as in that preset's own run (in brackets)",
            ),
        ),
        page.section("runs", "Run directories", "", runs),
    ]
    return page.page(
        "orchestrace sweep",
        page.header("orchestrace sweep", meta, simulated=True),
        body,
        regenerate,
    )
