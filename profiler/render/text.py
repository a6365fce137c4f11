"""The report as a few rich tables a person can read in ten seconds."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from profiler.analysis.wall import CATEGORIES
from profiler.store.report import Headline, HostRow, Report, Stacks

WALL_LABELS = {key: f"{name}: {meaning}" for key, (name, meaning) in CATEGORIES.items()}
CPU_LABELS = {
    "orchestration": "orchestration (LangGraph, nodes, glue)",
    "model_client": "model client (SDK, HTTP, parsing)",
    "tool": "tools (in-process + child processes)",
    "runtime": "runtime (event loop, executor)",
    "telemetry": "telemetry (orchestrace itself)",
    "other": "other (outside spans / not seen by the meter)",
}


def _s(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _pct(part: float | None, whole: float | None) -> str:
    if part is None or not whole:
        return "–"
    return f"{100 * part / whole:.1f}%"


def model_line(model: dict[str, Any] | None, *, label_simulated: bool = True) -> str:
    """One line naming the model a run used (the HTML page labels simulated timing with a badge)."""
    if not model:
        return "model: unknown"
    if model.get("kind") == "simulated":
        preset = model.get("preset", {})
        label = " — SIMULATED timing" if label_simulated else ""
        return f"model: simulated {preset.get('name')} ({preset.get('model')}){label}"
    if model.get("kind") == "in-process":
        return "model: your own chat model, in process (model time from client-side spans)"
    return f"model: {model.get('model_name')} at {model.get('endpoint')}"


def stacks_caption(stacks: Stacks) -> str:
    """Sampled against measured CPU in the same window, and why they differ where they do."""
    note = stacks.coverage_note
    return (
        f"sampled {_s(stacks.sampled_cpu_s, 2)} s vs the process's CPU {_s(stacks.process_cpu_s, 2)} s in the "
        f"window (coverage {_pct(stacks.coverage, 1.0)}{f': {note}' if note else ''}); start-up and exit "
        f"(imports, graph build, calibration) sampled apart: {_s(stacks.startup_s, 2)} s; "
        f"{stacks.idle_samples_dropped} idle samples dropped"
    )


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def runs_line(report: Report, noun: bool = True) -> str:
    """How the agent runs ended: '12 agent runs: 8 completed, 4 incomplete (interrupted)'."""
    total, completed, failed, incomplete = report.agent_runs, report.completed, report.errors, report.incomplete
    count = plural(total, "agent run") if noun else f"{total:,}"
    if total and completed == total:
        return count + (", completed" if total == 1 else ", all completed")
    parts = [f"{completed} completed"] + [f"{failed} failed"] * bool(failed)
    parts += [f"{incomplete} incomplete (interrupted)"] * bool(incomplete)
    return f"{count}: {', '.join(parts)}"


def failure_lines(report: Report, limit: int = 3) -> list[str]:
    """Failed agent runs grouped by their first error line, most frequent first."""
    groups: dict[str | None, list[int]] = {}
    for run in report.failed_runs:
        groups.setdefault(run.error, []).append(run.agent_run)
    ranked = sorted(groups.items(), key=lambda kv: -len(kv[1]))
    lines = [
        f"failed {plural(len(numbers), 'agent run')} ({_numbers(numbers)}): {error}"
        for error, numbers in ranked[:limit]
    ]
    if len(ranked) > limit:
        lines.append(f"… and {len(ranked) - limit} other errors (report --format json lists every failed run)")
    return lines


def _numbers(numbers: list[int], shown: int = 5) -> str:
    head = ", ".join(f"#{n}" for n in numbers[:shown])
    return head + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")


def summary(report: Report, headline: Headline) -> RenderableType:
    """Who ran what, how the agent runs ended, and the headline figures (from completed runs only)."""
    header = Text.assemble((f"run {report.run_id}", "bold"), f" · agent {report.agent} · status {report.status}\n")
    header.append(model_line(report.model))
    lines: list[RenderableType] = [header]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("agent runs", runs_line(report, noun=False))
    for line in failure_lines(report):
        grid.add_row("", Text(line, style="red"))
    if report.no_headline:
        grid.add_row("headline figures", Text(f"none: {report.no_headline}", style="yellow"))
        lines.append(grid)
        return Group(*lines)
    wall, model_wait = headline.wall_per_run_s, headline.model_wait_per_run_s
    cores = headline.cores_per_accelerator
    inference = report.inference
    grid.add_row(
        "CPU share of latency",
        f"{_pct(headline.cpu_share_of_latency, 1.0)} (everything but model wait, on the critical path; "
        f"completed agent runs only)",
    )
    grid.add_row(
        "per agent run",
        f"wall {_s(wall, 2)} s, of which {_s(model_wait, 2)} s waiting on the model; "
        f"CPU {_s(headline.cpu_per_run_s)} core-s",
    )
    grid.add_row(
        "cores per accelerator",
        Text.assemble(f"{cores:.1f} ", (f"({headline.cores_per_accelerator_note})", "yellow"))
        if cores is not None
        else Text(f"n/a: {headline.cores_per_accelerator_note}"),
    )
    tokens = f"tokens in {inference.input_tokens:,} / out {inference.output_tokens:,}"
    retried = (
        f"; {inference.attempts} attempts, {inference.failed_attempts} failed, {inference.retries} retries"
        if inference.retries
        else ""
    )
    grid.add_row(
        "LLM calls",
        f"{inference.calls:,} ({inference.errors} failed{retried}) · "
        + (f"{tokens} (estimated)" if inference.tokens_note else tokens)
        + f" · TTFT p50 {_s(inference.ttft_s.p50)} s",
    )
    if inference.tokens_note:
        grid.add_row("", Text(f"estimate: {inference.tokens_note}", style="yellow"))
    grid.add_row("profiler direct cost", f"{_pct(report.overhead.fraction, 1.0)} of the process's CPU")
    lines.append(grid)
    return Group(*lines)


def render(report: Report, headline: Headline) -> RenderableType:
    """The summary, then where the wall time and the CPU went, stacks, nodes and tools, overhead, notes."""
    parts: list[RenderableType] = [summary(report, headline)]
    if not report.no_headline:
        parts += _details(report)
    notes = [f"[yellow]degraded[/]: {escape(d.component)}: {escape(d.reason)}" for d in report.degraded]
    notes += [f"[yellow]note[/]: {escape(problem)}" for problem in report.problems]
    if notes:
        parts.append(Text.from_markup("\n".join(notes)))
    return Group(*parts)


def _details(report: Report) -> list[RenderableType]:
    parts: list[RenderableType] = []
    runs = report.completed
    wall = report.wall_s
    share = report.cpu_share_of_latency
    table = Table(
        title=f"Where the wall time went (critical path, summed over {plural(runs, 'completed agent run')})",
        title_justify="left",
    )
    for column in ("", "seconds", "share", "per run p50", "per run p95"):
        table.add_column(column, justify="left" if not column else "right")
    for key, label in WALL_LABELS.items():
        seconds, per_run = wall.parts[key], wall.per_run[key]
        table.add_row(label, _s(seconds), _pct(seconds, wall.total), _s(per_run.p50), _s(per_run.p95))
    per_run = wall.per_run["total"]
    table.add_row(Text("total", style="bold"), _s(wall.total), "100%", _s(per_run.p50), _s(per_run.p95))
    table.caption = f"CPU share of latency: {_pct(share, 1.0)} (everything but model wait)"
    parts.append(table)

    cpu = report.cpu_s
    process_total, cpu_per_run = cpu.process_total, report.cpu_per_run_s
    table = Table(title="Where the CPU went (core-seconds, every thread and child process)", title_justify="left")
    for column in ("", "CPU s", "share", "per agent run ms"):
        table.add_column(column, justify="left" if not column else "right")
    for key, label in CPU_LABELS.items():
        value = cpu.seconds(key)
        table.add_row(
            label,
            _s(value),
            _pct(value, process_total),
            _s(1000 * value * cpu_per_run / process_total, 1)
            if value is not None and cpu_per_run and process_total
            else "–",
        )
    table.add_row(
        Text("total in the measured window", style="bold"),
        _s(process_total),
        "100%",
        _s(1000 * cpu_per_run, 1) if cpu_per_run else "–",
    )
    table.caption = (
        f"meter coverage {_pct(cpu.coverage, 1.0)} of process CPU"
        + native_threads_note(cpu.native_threads, process_total)
        + f" · startup before the window (imports, graph build): {_s(cpu.startup, 2)} s"
        + (
            " · per agent run: the completed runs' part, per completed run"
            if report.completed != report.agent_runs
            else ""
        )
    )
    parts.append(table)
    if report.hosts:
        parts.append(_hosts_table(report.hosts))

    stacks = report.stacks
    if stacks:
        title = f"Sampled stacks (py-spy, {stacks.rate_hz} Hz, the measured window)"
        table = Table(title=title, title_justify="left")
        table.add_column("")
        table.add_column("CPU s", justify="right")
        table.add_column("share", justify="right")
        for key, value in list(stacks.by_category_s.items())[:8]:
            table.add_row(key, _s(value, 2), _pct(value, stacks.sampled_cpu_s))
        table.caption = stacks_caption(stacks)
        parts.append(table)

    for rows, title in ((report.nodes, "Top LangGraph nodes"), (report.tools, "Top tools")):
        if not rows:
            continue
        table = Table(title=f"{title} (by inclusive CPU)", title_justify="left")
        for column in ("name", "calls", "wall s", "CPU s", "CPU/call ms", "errors"):
            table.add_column(column, justify="left" if column == "name" else "right")
        for row in rows[:6]:
            table.add_row(
                row.name, str(row.calls), _s(row.wall_s), _s(row.cpu_s), _s(row.cpu_per_call_ms, 2), str(row.errors)
            )
        parts.append(table)

    inference = report.inference
    ttft = inference.ttft_s
    overhead = report.overhead
    profiler = wall.parts["profiler"]
    lines = [
        escape(
            f"TTFT p50 {_s(ttft.p50)} s p95 {_s(ttft.p95)} s · "
            f"model time {_s(inference.model_time_s, 2)} s (from {inference.source})"
        ),
        *(
            [f"simulated server delivered late by p95 {_s(late.p95)} s (its own measurement; model time includes it)"]
            if (late := inference.server_lateness_s) and (late.p95 or 0) > 0.005
            else []
        ),
        f"profiler direct cost: {_s(overhead.telemetry_cpu_s)} CPU s = {_pct(overhead.fraction, 1.0)} "
        f"of process CPU (callbacks {_s(overhead.callbacks_s)}, span export {_s(overhead.span_export_s)}"
        f", meter ~{_s(overhead.meter_s_estimated)} estimated); latency it added: "
        f"{_s(profiler)} s ({_pct(profiler, wall.total)} of the wall)",
        *(
            [f"py-spy: {_pct(sampler.core_fraction, 1.0)} of one core, in its own process (not the workload's)"]
            if (sampler := overhead.sampler)
            else []
        ),
        "total overhead on this workload, indirect costs included: orchestrace overhead (same options as run)",
    ]
    parts.append(Text.from_markup("\n".join(lines)))
    return parts


NATIVE_HINT_SHARE = 0.10  # of the process's CPU: worth saying what usually does it


def native_threads_note(native: float | None, process_total: float | None) -> str:
    """CPU of threads without a Python thread state; a large share is usually a BLAS/OpenMP pool
    spinning between calls (numpy's OpenBLAS does, measured on the rag agent: ~30% of its CPU)."""
    if not native:
        return ""
    note = f" · native threads (BLAS etc.) {native:.3f} s, in other"
    if process_total and native >= NATIVE_HINT_SHARE * process_total:
        note += (
            f" ({native / process_total:.0%} of the process: a BLAS/OpenMP pool spinning between calls? "
            "OMP_NUM_THREADS=1 stops it where the matrices are small)"
        )
    return note


def _hosts_table(hosts: tuple[HostRow, ...]) -> Table:
    """A fleet run's figures per host: agent runs, CPU by category (core-seconds), the cores its
    workload processes used of those they could, mean host load."""
    table = Table(title="Per host (a run of several workload processes)", title_justify="left")
    for column in ("host", "parts", "agent runs", "orchestration", "tool", "process CPU", "cores used", "host load"):
        table.add_column(column, justify="left" if column == "host" else "right")
    for row in hosts:
        cpu = row.cpu_s
        load, used, cores = row.host_cpu_percent, row.cores_used, row.cores
        table.add_row(
            row.host,
            str(len(row.parts)),
            str(row.agent_runs),
            _s(cpu.orchestration),
            _s(cpu.tool),
            _s(cpu.process_total),
            "–" if used is None else f"{used:.2f}" + ("" if cores is None else f" of {cores}"),
            "–" if load is None else f"{load:.0f}%",
        )
    return table
