"""Sizing results as rich tables."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from profiler.render.text import plural


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def targets_line(targets: dict[str, Any]) -> str:
    """The sizing targets in one line (text and HTML)."""
    latency = targets["latency_target_ms"]
    return (
        f"targets: {targets['rate']:g} agent runs/s, CPU utilisation {targets['cpu_utilisation']:g}, "
        f"accelerator utilisation {targets['accelerator_utilisation']:g}"
        + (f", CPU queueing delay ≤ {latency:g} ms" if latency is not None else "")
    )


def _table(title: str, columns: list[str]) -> Table:
    """A table that fits 80 columns: preset names whole, headers wrapped at spaces, never cut."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False)
    for column in columns:
        if column == "preset":
            table.add_column(column, no_wrap=True)
        else:
            widest = max(7, *(len(word) for word in column.split()))  # numbers take up to 7
            table.add_column(column, justify="right", min_width=widest, max_width=widest)
    return table


def render_sizing(result: dict[str, Any]) -> RenderableType:
    demand, targets = result["demand"], result["targets"]
    latency = targets["latency_target_ms"]
    parts: list[RenderableType] = []
    by_category = ", ".join(f"{k} {1000 * v:.1f}" for k, v in demand["d_cpu_by_category"].items() if v)
    parts.append(
        Text.assemble(
            ("Capacity sizing", "bold"),
            f" for run {result['run_id']} ({plural(demand['runs'], 'completed agent run')} measured)\n",
            f"per agent run: D_cpu {1000 * demand['d_cpu_s']:.1f} ms of CPU (profiler overhead removed; by category, "
            f"ms: {by_category}), {demand['llm_calls']:.1f} LLM calls, {demand['input_tokens']:,.0f} input / "
            f"{demand['output_tokens']:,.0f} output tokens{' (estimated)' if demand.get('tokens_estimated') else ''}, "
            f"{1000 * demand['t_cpu_s']:.0f} ms of critical-path time not waiting on the model\n",
            targets_line(targets),
        )
    )
    cores = _table(
        "Cores per accelerator, by preset",
        ["preset", "cores/acc", "+engine floor", "CPU share of latency", "cores", "accelerators"],
    )
    other = ["preset", "D_acc s/run", "in flight", "$ per 1k runs"]
    if latency is not None:
        other += [f"cores for ≤ {latency:g} ms", "cores to provision"]
    rest = _table("Accelerator time, runs in flight, cost, by preset", other)
    for row in result["presets"]:
        cores.add_row(
            row["preset"],
            _f(row["cores_per_accelerator"] if row["accelerator_unit"] else None, 1),
            _f(row["cores_per_accelerator_with_floor"], 1) if row["engine_floor_cores"] else "–",
            _pct(row["cpu_share_of_latency"]),
            _f(row["cores"], 1),
            _f(row["accelerators"], 2),
        )
        cells = [
            row["preset"],
            _f(row["d_acc_s"], 4),
            _f(row["in_flight_runs"], 1),
            _f(1000 * row["cost"]["per_run_usd"], 3),
        ]
        if latency is not None:
            cells += [str(row["cores_for_latency_target"]), str(row["cores_to_provision"])]
        rest.add_row(*cells)
    cores.caption = (
        "cores per accelerator are estimates (tokens at each preset's saturated throughput), shown only where the "
        "preset says what one accelerator is; the preset fields that are assumptions are listed with the replay below"
    )
    defaults = any(r["cost"]["prices_are_defaults"] for r in result["presets"])
    rest.caption = "costs use default prices (see README)" if defaults else "costs use the given prices"
    if latency is not None:
        rest.caption += (
            f"; provision the larger of the cores for the utilisation target and for ≤ {latency:g} ms CPU queueing "
            "delay"
        )
    parts += [cores, rest]
    if result.get("hosts"):
        parts.append(_hosts_table(result["hosts"]))
    parts += render_units(result["units"])

    what_if = result["what_if"]
    table = _table(
        f"What if inference were k× faster than {what_if['base_preset']}",
        ["k", "CPU share of latency", "simulated", "cores per accelerator"],
    )
    for row in what_if["rows"]:
        table.add_row(
            f"{row['speedup']:g}",
            _pct(row["cpu_share_of_latency"]),
            _pct(row.get("simulated_cpu_share_of_latency")),
            _f(row["cores_per_accelerator"], 1),
        )
    knee = what_if["knee_speedup"]
    table.caption = f"CPU time equals model time at k ≈ {knee:.1f}" if knee is not None else ""
    parts.append(table)
    notes = [f"[yellow]estimate[/]: {escape(e)}" for e in result["estimates"]]
    notes += [f"note: {escape(row['note'])}" for row in result["presets"] if row.get("note")]
    notes += [f"note: {escape(n)}" for n in result["notes"]]
    parts.append(Text.from_markup("\n".join(notes)))
    return Group(*parts)


def _hosts_table(hosts: list[dict[str, Any]]) -> Table:
    """Where a fleet's CPU went: a host whose runs cost more CPU each is slower, or busier."""
    table = _table("Per host (measured)", ["host", "agent runs", "CPU ms per run", "cores used", "cores there"])
    for row in hosts:
        per_run = row["cpu_per_run_s"]
        table.add_row(
            escape(row["host"]),
            str(row["agent_runs"]),
            _f(None if per_run is None else 1000 * per_run, 1),
            _f(row["cores_used"], 2),
            "–" if row["cores"] is None else str(row["cores"]),
        )
    table.caption = "CPU per run includes the profiler and the host's failed runs; D_cpu above is the fleet's"
    return table


def assumed_fields(notes: list[str]) -> str:
    """The preset fields an assumption stands for, by name (the notes say why)."""
    return ", ".join(note.split(":")[0] for note in notes) or "–"


def render_units(units: dict[str, Any]) -> list[RenderableType]:
    """The run replayed at each preset, in units that compare across every preset (two 80-column tables)."""
    machine = units["machine"]
    load = _table(
        f"The run replayed at each preset (simulated; {machine['concurrency']} at a time in "
        f"{machine['processes']} process{'' if machine['processes'] == 1 else 'es'} on {machine['cores']:g} cores, "
        "one event loop per process)",
        ["preset", "CPU share", "wall/run s", "D_cpu ms", f"cores per {units['sessions']} sessions", "runs/s per core"],
    )
    capacity = _table(
        "Cores per unit of capacity and cost per 1k runs, by preset",
        ["preset", "cores per 1k out tok/s", "cores/acc", "$ CPU", "$ inference"],
    )
    assumed = []
    for row in units["rows"]:
        cost = row["cost_per_1k_runs"]
        load.add_row(
            row["preset"],
            _pct(row["cpu_share_of_latency"]),
            _f(row["wall_per_run_s"], 2),
            _f(1000 * row["d_cpu_s"], 0),
            _f(row["cores_per_sessions"], 1),
            _f(row["runs_per_core_s"], 2),
        )
        capacity.add_row(
            row["preset"],
            _f(row["cores_per_1k_output_tok_s"], 2),
            _f(row["cores_per_accelerator"], 1),
            _f(cost["cpu_usd"], 4),
            _f(cost["inference"]["usd"], 3),
        )
        assumed.append(f"assumed, {row['preset']}: {assumed_fields(row['assumed'])}")
    capacity.caption = escape(
        "cores at the CPU utilisation target; cores/acc only where the preset says what one accelerator is; "
        "costs are the work itself (inference: the preset's published price); " + "; ".join(units["assumptions"])
    )
    return [load, capacity, Text("\n".join(assumed))]


def render_sweep(result: dict[str, Any]) -> RenderableType:
    shares = _table(
        f"Sweep: measured vs simulated and closed form, both from the {result['reference_preset']} run",
        ["preset", "decode tok/s", "CPU share measured", "simulated", "error (pp)", "closed form", "error (pp)"],
    )
    cores = _table(
        "Cores and CPU per agent run",
        ["preset", "at its interference", "cores measured", "simulated", "closed form", "D_cpu ms", "simulated"],
    )
    units = []
    for row in result["rows"]:
        shares.add_row(
            row["preset"],
            "–" if row["synthetic"] else _f(row["decode_tok_s"], 0),
            _pct(row["measured_cpu_share"]),
            _pct(row["simulated_cpu_share"]),
            _f(row["simulated_error_pp"], 1),
            _pct(row["predicted_cpu_share"]),
            _f(row["error_pp"], 1),
        )
        cores.add_row(
            row["preset"],
            f"{_pct(row['simulated_at_its_interference'])} ({100 * row['interference']:.0f}%)",
            _f(row["measured_cores"], 2),
            _f(row["simulated_cores"], 2),
            _f(row["closed_form_cores"], 2),
            _f(1000 * row["d_cpu_s"], 0),
            _f(1000 * row["simulated_d_cpu_s"], 0),
        )
        units.append(f"cores, {row['preset']}: {row['cores_unit']}")
    shares.caption = escape(f"closed form: {result['method']}; simulated: {result['simulation']}")
    cores.caption = escape(
        "'at its interference': simulated with the other processes taking the CPU as often as in that preset's own "
        "run (in brackets), to tell the model's error from the machine's"
    )
    runs = "\n".join(f"{r['preset']}: {r['run_dir']} ({r['status']})" for r in result["runs"])
    return Group(shares, cores, Text("\n".join(units)), Text(runs))
