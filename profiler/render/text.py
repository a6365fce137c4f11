"""The report as a few rich tables a person can read in ten seconds."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from profiler.analysis.wall import CATEGORIES

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


def render(report: dict[str, Any]) -> RenderableType:
    parts: list[RenderableType] = []
    runs = report["agent_runs"]
    header = Text.assemble(
        (f"run {report['run_id']}", "bold"),
        f"  agent {report.get('agent')}  ·  {runs} agent runs, ",
        (f"{report['errors']} failed", "red" if report["errors"] else ""),
        f"  ·  status {report.get('status')}\n",
        model_line(report.get("model")),
    )
    parts.append(header)

    wall = report["wall_s"]
    share = report.get("cpu_share_of_latency")
    table = Table(title="Where the wall time went (critical path, summed over agent runs)", title_justify="left")
    for column in ("", "seconds", "share", "per run p50", "per run p95"):
        table.add_column(column, justify="left" if not column else "right")
    for key, label in WALL_LABELS.items():
        per_run = wall["per_run"][key]
        table.add_row(label, _s(wall[key]), _pct(wall[key], wall["total"]), _s(per_run["p50"]), _s(per_run["p95"]))
    table.add_row(
        Text("total", style="bold"),
        _s(wall["total"]),
        "100%",
        _s(wall["per_run"]["total"]["p50"]),
        _s(wall["per_run"]["total"]["p95"]),
    )
    table.caption = f"CPU share of latency: {_pct(share, 1.0)} (everything but model wait)"
    parts.append(table)

    cpu = report["cpu_s"]
    table = Table(title="Where the CPU went (core-seconds, every thread and child process)", title_justify="left")
    for column in ("", "CPU s", "share", "per agent run ms"):
        table.add_column(column, justify="left" if not column else "right")
    for key, label in CPU_LABELS.items():
        value = cpu.get(key)
        table.add_row(
            label,
            _s(value),
            _pct(value, cpu.get("process_total")),
            _s(1000 * value / runs, 1) if value is not None and runs else "–",
        )
    table.add_row(
        Text("total in the measured window", style="bold"),
        _s(cpu.get("process_total")),
        "100%",
        _s(1000 * cpu["process_total"] / runs, 1) if cpu.get("process_total") and runs else "–",
    )
    coverage = cpu.get("coverage")
    native = cpu.get("native_threads")
    table.caption = (
        f"meter coverage {_pct(coverage, 1.0)} of process CPU"
        + (f" · native threads (BLAS etc.) {_s(native, 3)} s, in other" if native else "")
        + f" · startup before the window (imports, graph build): {_s(cpu.get('startup'), 2)} s"
    )
    parts.append(table)

    stacks = report.get("stacks")
    if stacks:
        table = Table(
            title=f"Sampled stacks (py-spy, {stacks['rate_hz']} Hz, whole process lifetime)", title_justify="left"
        )
        table.add_column("")
        table.add_column("CPU s", justify="right")
        table.add_column("share", justify="right")
        for key, value in list(stacks["by_category_s"].items())[:8]:
            table.add_row(key, _s(value, 2), _pct(value, stacks["sampled_cpu_s"]))
        table.caption = (
            f"{stacks['samples']} samples, {stacks['idle_samples_dropped']} idle dropped; sampled "
            f"{_s(stacks['sampled_cpu_s'], 2)} s vs psutil {_s(stacks['process_cpu_s'], 2)} s "
            f"(coverage {_pct(stacks['coverage'], 1.0)})"
        )
        parts.append(table)

    for key, title in (("nodes", "Top LangGraph nodes"), ("tools", "Top tools")):
        rows = report.get(key) or []
        if not rows:
            continue
        table = Table(title=f"{title} (by inclusive CPU)", title_justify="left")
        for column in ("name", "calls", "wall s", "CPU s", "CPU/call ms", "errors"):
            table.add_column(column, justify="left" if column == "name" else "right")
        for row in rows[:6]:
            table.add_row(
                row["name"],
                str(row["calls"]),
                _s(row["wall_s"]),
                _s(row["cpu_s"]),
                _s(row["cpu_per_call_ms"], 2),
                str(row["errors"]),
            )
        parts.append(table)

    inference = report["inference"]
    ttft = inference["ttft_s"]
    overhead = report["overhead"]
    retried = (
        f"; {inference['attempts']} attempts, {inference['failed_attempts']} failed, {inference['retries']} retries"
        if inference.get("retries")
        else ""
    )
    lines = [
        escape(
            f"LLM calls {inference['calls']} ({inference['errors']} failed{retried}) · "
            f"tokens in {inference['input_tokens']:,} / out {inference['output_tokens']:,} · "
            f"TTFT p50 {_s(ttft['p50'])} s p95 {_s(ttft['p95'])} s · "
            f"model time {_s(inference['model_time_s'], 2)} s (from {inference['source']})"
        ),
        *(
            [
                f"simulated server delivered late by p95 {_s(late['p95'])} s (its own measurement; model time "
                f"includes it)"
            ]
            if (late := inference.get("server_lateness_s")) and (late["p95"] or 0) > 0.005
            else []
        ),
        f"profiler direct cost: {_s(overhead.get('telemetry_cpu_s'))} CPU s = {_pct(overhead.get('fraction'), 1.0)} "
        f"of process CPU (callbacks {_s(overhead.get('callbacks_s'))}, span export {_s(overhead.get('span_export_s'))}"
        f", meter ~{_s(overhead.get('meter_s_estimated'))} estimated); latency it added: "
        f"{_s(wall['profiler'])} s ({_pct(wall['profiler'], wall['total'])} of the wall)",
        *(
            [f"py-spy: {_pct(sampler['core_fraction'], 1.0)} of one core, in its own process (not the workload's)"]
            if (sampler := overhead.get("sampler"))
            else []
        ),
        "total overhead on this workload, indirect costs included: orchestrace overhead (same options as run)",
    ]
    for item in report.get("degraded") or []:
        lines.append(f"[yellow]degraded[/]: {escape(item['component'])}: {escape(item['reason'])}")
    for problem in report.get("problems") or []:
        lines.append(f"[yellow]note[/]: {escape(problem)}")
    parts.append(Text.from_markup("\n".join(lines)))
    return Group(*parts)


def print_report(report: dict[str, Any], console: Console) -> None:
    console.print(render(report))
