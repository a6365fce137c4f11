"""The report as one self-contained HTML page: headline, charts, sortable tables, flame graph.

Every figure comes from the same analysis as the text report (`build_report`, the per-run
wall-time split, the sizing model for cores per accelerator); estimates are labelled.
"""

from __future__ import annotations

from array import array
from functools import cached_property
from html import escape
from typing import Any

import numpy as np
import numpy.typing as npt

from profiler.analysis.flame import flame_tree
from profiler.analysis.passes import Seen
from profiler.analysis.timeline import timeline
from profiler.analysis.traces import streamed_runs
from profiler.analysis.wall import KEYS as WALL_KEYS
from profiler.analysis.wall import WallSplit
from profiler.errors import UsageError
from profiler.render import charts, page
from profiler.render.page import Cell, num
from profiler.render.text import CPU_LABELS, WALL_LABELS, model_line, native_threads_note, runs_line, stacks_caption
from profiler.store.report import Headline, Report, TableRow
from profiler.store.session import Session


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _s(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _swatch(key: str, label: str) -> Cell:
    return Cell(f"<span class='swatch' style='background:{charts.COLOURS[key]}'></span>{escape(label)}")


def _run_header(session: Session, report: Report, title: str) -> str:
    host = session.manifest.host
    started = (session.manifest.started_at or "?")[:16].replace("T", " ")
    meta = [
        f"run <b>{escape(report.run_id)}</b> · agent <b>{escape(str(report.agent))}</b> · "
        f"{escape(runs_line(report))} · status {escape(str(report.status))}",
        escape(model_line(report.model, label_simulated=False)),
        f"started {escape(started)} UTC · host {escape(str(host.get('logical_cores', '?')))} cores, "
        f"{escape(str(host.get('cpu_model', '?')))}",
    ]
    return page.header(title, meta, simulated=session.manifest.simulated)


def _failures(report: Report) -> str:
    """Failed agent runs with their first error line; cut-off ones counted (they are not failures)."""
    failed, incomplete = report.failed_runs, report.incomplete_runs
    parts = []
    if failed:
        rows = [
            [num(run.agent_run, "#{:d}"), Cell(escape(str(run.task))), Cell(escape(str(run.error)), css="name")]
            for run in failed
        ]
        parts.append(f"<h3>Failed agent runs ({len(failed)})</h3>" + page.table(["agent run", "task", "error"], rows))
    if incomplete:
        numbers = ", ".join(f"#{run.agent_run}" for run in incomplete)
        parts.append(f"<p class='caption'>Incomplete (interrupted before they finished): {numbers}.</p>")
    return "".join(parts)


def _per_run(report: Report) -> float | None:
    """One completed agent run's part of a window-wide CPU figure."""
    total, per_run = report.cpu_s.process_total, report.cpu_per_run_s
    return per_run / total if total and per_run else None


def _cards(report: Report, headline: Headline) -> str:
    if report.no_headline:
        return page.notice(f"No headline figures: {escape(report.no_headline)}.")
    overhead = report.overhead
    cores = headline.cores_per_accelerator
    inference = report.inference
    cards = "".join(
        [
            page.card(
                "CPU share of latency",
                _pct(headline.cpu_share_of_latency),
                f"critical-path time not spent waiting on the model; {runs_line(report)}",
            ),
            page.card(
                "CPU per agent run",
                "–" if headline.cpu_per_run_s is None else f"{headline.cpu_per_run_s:.3f} <small>core-s</small>",
                "every thread and child process, in the measured window",
            ),
            page.card(
                "Model wait per agent run",
                "–"
                if headline.model_wait_per_run_s is None
                else f"{headline.model_wait_per_run_s:.3f} <small>s</small>",
                f"mean, on the critical path; {headline.model_wait_note}",
            ),
            page.card(
                "Cores per accelerator",
                "n/a" if cores is None else f"{cores:.1f}",
                headline.cores_per_accelerator_note,
                estimate=cores is not None,
            ),
            page.card(
                "Wall time per agent run",
                "–" if headline.wall_per_run_s is None else f"{headline.wall_per_run_s:.3f} <small>s</small>",
                f"mean; {inference.calls} LLM calls, {inference.input_tokens:,} / "
                f"{inference.output_tokens:,} tokens in / out in all"
                + (" (estimated: no usage reported)" if inference.tokens_note else ""),
            ),
            page.card(
                "Profiler overhead",
                _pct(overhead.fraction),
                f"{(overhead.telemetry_cpu_s or 0):.3f} CPU s of the process's CPU (partly estimated)",
            ),
        ]
    )
    return f"<div class='cards'>{cards}</div>"


MAX_BARS = 1000  # agent runs drawn one bar each; a larger run shows its first ones (said on the page)


class RunIndex:
    """Told the run's traces (`passes.fold`): each agent run's start, wall and outcome (a few bytes a
    run), the wall split of the first MAX_BARS completed ones, so the page is made in memory that does not grow."""

    def __init__(self) -> None:
        self.starts = array("q")
        self.walls = array("d")
        self.completed = bytearray()
        self.bars: list[tuple[int, Any, float, WallSplit]] = []

    def add(self, seen: Seen) -> None:
        run = seen.run
        if run is None:
            return
        self.starts.append(run.root.start_ns)
        self.walls.append(run.wall_s)
        self.completed.append(seen.completed)
        if seen.split is not None and len(self.bars) < MAX_BARS:
            task = run.root.attributes.get("orchestrace.task.id")
            self.bars.append((run.root.start_ns, task, run.wall_s, seen.split))

    def __len__(self) -> int:
        return len(self.starts)

    @cached_property
    def order(self) -> npt.NDArray[np.intp]:
        """Indexes in start order (numpy: 8 bytes a run where a list of ints takes ~40)."""
        return np.argsort(np.frombuffer(self.starts, dtype=np.int64), kind="stable")

    @cached_property
    def _sorted(self) -> npt.NDArray[np.int64]:
        return np.frombuffer(self.starts, dtype=np.int64)[self.order]

    def number(self, start_ns: int) -> int:
        """A run's number, from 1 in start order."""
        return int(np.searchsorted(self._sorted, start_ns, side="left")) + 1

    def start(self, index: int) -> int:
        """The start of the run at `index` in start order."""
        return int(self._sorted[index])

    def median_completed(self) -> int:
        """The start-order index of the completed run with the median wall time (every run if none completed)."""
        done = np.frombuffer(self.completed, dtype=np.uint8)[self.order].astype(bool)
        places = np.flatnonzero(done) if done.any() else np.arange(len(self.order))  # in start order
        walls = np.frombuffer(self.walls, dtype=np.float64)[self.order[places]]
        return int(places[np.argsort(walls, kind="stable")[(len(places) - 1) // 2]])


def _run_label(number: int, task: Any) -> str:
    return f"agent run #{number}" + (f" · task {task}" if task is not None else "")


def _wall_section(report: Report, runs: RunIndex, figures: page.Figures) -> str:
    if not report.completed:
        return page.section("wall", "Where the wall time went", "", page.notice("No agent run completed."))
    wall = report.wall_s
    numbered = sorted((runs.number(start), task, wall_s, split) for start, task, wall_s, split in runs.bars)
    splits = [(f"#{n}", f"{_run_label(n, task)} · wall {wall_s:.3f} s", split) for n, task, wall_s, split in numbered]
    rows = [
        [
            _swatch(key, WALL_LABELS[key]),
            num(wall.parts[key]),
            num(wall.parts[key] / wall.total if wall.total else None, "{:.1%}"),
            num(wall.per_run[key].p50),
            num(wall.per_run[key].p95),
        ]
        for key in WALL_KEYS
    ]
    per_run = wall.per_run["total"]
    total = [Cell("total"), num(wall.total), Cell("100%"), num(per_run.p50), num(per_run.p95)]
    table = page.table(
        ["part", "seconds", "share", "per run p50", "per run p95"],
        rows,
        total=total,
        caption=f"CPU share of latency: {_pct(report.cpu_share_of_latency)} (everything but model wait)",
    )
    return page.section(
        "wall",
        "Where the wall time went",
        "Along each completed agent run's critical path (parallel branches count once), summed over them"
        + (f"; the bars show the first {MAX_BARS} of {report.completed:,}." if report.completed > MAX_BARS else "."),
        figures(charts.wall_per_run(splits)),
        table,
    )


def _cpu_row(key: str, label: str, seconds: float | None, total: float | None, per_run: float | None) -> list[Cell]:
    return [
        _swatch(key, label),
        num(seconds),
        num(seconds / total if total and seconds is not None else None, "{:.1%}"),
        num(1000 * seconds * per_run if per_run and seconds is not None else None, "{:.1f}"),
    ]


def _cpu_section(report: Report, figures: page.Figures) -> str:
    cpu, per_run = report.cpu_s, _per_run(report)
    total = cpu.process_total
    rows = [_cpu_row(key, label, cpu.seconds(key), total, per_run) for key, label in CPU_LABELS.items()]
    footer = [
        Cell("total in the measured window"),
        num(total),
        Cell("100%"),
        num(1000 * total * per_run if total and per_run else None, "{:.1f}"),
    ]
    caption = (
        f"meter coverage {_pct(cpu.coverage)} of process CPU"
        + native_threads_note(cpu.native_threads, total)
        + (f" · startup before the window (imports, graph build): {cpu.startup:.2f} s" if cpu.startup else "")
    )
    chart = figures(charts.cpu_categories(cpu, per_run)) if per_run else page.notice("No agent run completed.")
    return page.section(
        "cpu",
        "Where the CPU went",
        "Core-seconds of every thread and reaped child process, by category (the in-process meter).",
        "<div class='grid2'><div>" + chart + "</div><div>",
        page.table(["category", "CPU s", "share", "per agent run ms"], rows, total=footer, caption=caption),
        "</div></div>",
    )


def _timeline_section(session: Session, runs: RunIndex, chosen: int | None, figures: page.Figures) -> str:
    if not len(runs):
        return ""
    index = runs.median_completed() if chosen is None else chosen - 1
    why = "the median wall time of the completed ones" if chosen is None else "chosen with --agent-run"
    start = runs.start(index)
    run = next(run for run in streamed_runs(session) if run.root.start_ns == start)  # a second pass, for one run
    intro = (
        f"{escape(_run_label(index + 1, run.root.attributes.get('orchestrace.task.id')))} of {len(runs)} "
        f"({why}; pick another with <code>--agent-run N</code>), "
        f"wall {run.wall_s:.3f} s. Pale bars are spans on the wall clock, grey is the model server working, "
        "the thin dark bar is the span's own CPU time (its length, not when it ran). Branches that ran in parallel "
        "(sub-agents of a fan-out) are numbered and shaded as bands, each named on the right."
    )
    return page.section("timeline", "One agent run on the wall clock", intro, figures(charts.timeline(timeline(run))))


HOST_COLUMNS = [
    "host", "parts", "agent runs", "orchestration", "model client", "tool", "process CPU", "cores used", "cores there",
    "host load",
]  # fmt: skip


def _hosts_section(report: Report) -> str:
    """A fleet run's figures per host (none for a run of one workload process)."""
    if not report.hosts:
        return ""
    rows = [
        [
            Cell(escape(row.host)),
            num(len(row.parts), "{:d}"),
            num(row.agent_runs, "{:d}"),
            num(row.cpu_s.orchestration),
            num(row.cpu_s.model_client),
            num(row.cpu_s.tool),
            num(row.cpu_s.process_total),
            num(row.cores_used, "{:.2f}"),
            num(row.cores, "{:.0f}"),
            num(row.host_cpu_percent, "{:.0f}%"),
        ]
        for row in report.hosts
    ]
    return page.section(
        "hosts",
        "Per host",
        "A run of several workload processes: each host's agent runs, CPU-seconds by category, the cores its "
        "workload processes used (CPU-seconds over the time they ran) of those the host let them use, and the "
        "host's mean CPU load.",
        page.table(HOST_COLUMNS, rows),
    )


def _named_table(rows: tuple[TableRow, ...]) -> str:
    return page.table(
        ["name", "calls", "wall s", "CPU s", "self CPU s", "CPU/call ms", "errors"],
        [
            [
                Cell(escape(r.name), css="name"),
                num(r.calls, "{:d}"),
                num(r.wall_s),
                num(r.cpu_s),
                num(r.self_cpu_s),
                num(r.cpu_per_call_ms, "{:.2f}"),
                num(r.errors, "{:d}"),
            ]
            for r in rows
        ],
    )


def _tables_section(report: Report) -> str:
    parts = []
    for rows, title in ((report.nodes, "LangGraph nodes"), (report.tools, "Tools")):
        body = _named_table(rows) if rows else "<p class='caption'>none recorded</p>"
        parts.append(f"<h3>{title}</h3>{body}")
    return page.section(
        "nodes",
        "Nodes and tools",
        "CPU is inclusive (the span and everything under it); click a header to sort.",
        *parts,
    )


def _stacks_section(session: Session, report: Report, figures: page.Figures) -> str:
    stacks = report.stacks
    root = flame_tree(session.samples, stacks.pid if stacks else None)
    if not stacks or not root.count:
        reasons = session.why_no_samples
        return page.section(
            "stacks",
            "Sampled CPU (py-spy)",
            "",
            page.notice(
                "This run has no stack samples"
                + (f" ({escape(reasons)})" if reasons else "")
                + ", so there is no flame graph. Per-span CPU above comes from the in-process meter. "
                "Re-run without <code>--no-sampler</code> (py-spy needs ptrace) to get one."
            ),
        )
    rows = [
        [
            _swatch(key if key in charts.COLOURS else "other", key),
            num(value, "{:.2f}"),
            num(value / stacks.sampled_cpu_s, "{:.1%}"),
        ]
        for key, value in stacks.by_category_s.items()
    ]
    intro = (
        f"Stacks py-spy sampled at {stacks.rate_hz} Hz in the measured window, idle samples dropped; start-up "
        f"({stacks.startup_s:.2f} s of samples: imports, building the graph, calibration) is left out. Colour = "
        "category of most samples under a frame. Click a frame to zoom; frames under 0.2% of samples are left out. "
        "<code>--format speedscope</code> exports every sample for speedscope.app."
    )
    return page.section(
        "stacks",
        "Sampled CPU (py-spy)",
        intro,
        figures(charts.flame(root, session.sample_rate)),
        page.table(["category (workload process)", "CPU s", "share"], rows, caption=escape(stacks_caption(stacks))),
    )


def _inference_section(report: Report) -> str:
    inference = report.inference
    late = inference.server_lateness_s
    rows = [
        [Cell("LLM calls (failed)"), Cell(f"{inference.calls} ({inference.errors})")],
        [Cell("tokens in / out"), Cell(f"{inference.input_tokens:,} / {inference.output_tokens:,}")],
        [
            Cell("time to first token p50 / p95"),
            Cell(f"{_s(inference.ttft_s.p50)} / {_s(inference.ttft_s.p95)} s"),
        ],
        [Cell(f"model time (from {escape(inference.source)})"), Cell(f"{inference.model_time_s:.3f} s")],
    ]
    if inference.accelerator_s is not None:
        rows.append(
            [
                Cell("accelerator-seconds <span class='badge est'>estimate</span>"),
                Cell(f"{inference.accelerator_s:.3f} s"),
            ]
        )
    if late:
        rows.append([Cell("simulated server late by, p95 (its own measurement)"), Cell(f"{_s(late.p95)} s")])
    return page.section("inference", "Inference", "", page.table(["", ""], rows, sortable=False))


def _quality_section(report: Report) -> str:
    overhead = report.overhead
    rows = [
        [Cell("span callbacks (measured)"), num(overhead.callbacks_s)],
        [Cell("span export (measured)"), num(overhead.span_export_s)],
        [Cell("CPU meter <span class='badge est'>estimate</span>"), num(overhead.meter_s_estimated)],
        [
            Cell("pass-through callbacks <span class='badge est'>estimate</span>"),
            num(overhead.passthrough_callbacks_s_estimated),
        ],
    ]
    total = [Cell(f"direct cost: {_pct(overhead.fraction)} of process CPU"), num(overhead.telemetry_cpu_s)]
    rows.append([Cell("latency it added on the critical path (profiler)"), num(report.wall_s.parts["profiler"])])
    if sampler := overhead.sampler:
        rows.append(
            [Cell(f"py-spy, in its own process: {_pct(sampler.core_fraction)} of one core"), num(sampler.cpu_s)]
        )
    items = [("degraded", f"{d.component}: {d.reason}") for d in report.degraded]
    items += [("note", problem) for problem in report.problems]
    status = page.notes(items) if items else "<p class='caption'>Nothing degraded; every file read cleanly.</p>"
    return page.section(
        "quality",
        "Profiler overhead and data quality",
        "The profiler's own CPU in the profiled process (direct costs; <code>orchestrace overhead</code> measures "
        "the total on your workload), the latency it added, py-spy's CPU in its own process; and what could not "
        "be measured or read.",
        "<div class='grid2'><div>",
        page.table(["", "CPU s"], rows, sortable=False, total=total),
        "</div><div><h3>Degraded and skipped</h3>",
        status,
        "</div></div>",
    )


def render_html(
    session: Session,
    report: Report,
    headline: Headline,
    runs: RunIndex,
    agent_run: int | None,
    regenerate: str,
) -> str:
    """The report page from the report, headline and run index of one pass (`report_and_headline`);
    `agent_run` (1-based, in start order) picks the timeline's run, default the median."""
    count = len(runs)
    if agent_run is not None and not 1 <= agent_run <= count:
        raise UsageError(f"--agent-run {agent_run}: the run has {count} agent runs (use 1 to {count})")
    figures = page.Figures()
    body = [
        page.section("headline", "Headline", "", _cards(report, headline), _failures(report)),
        _wall_section(report, runs, figures),
        _cpu_section(report, figures),
        _hosts_section(report),
        _timeline_section(session, runs, agent_run, figures),
        _tables_section(report),
        _stacks_section(session, report, figures),
        _inference_section(report),
        _quality_section(report),
    ]
    return page.page(
        f"orchestrace report {report.run_id}",
        _run_header(session, report, "orchestrace report"),
        body,
        regenerate,
    )
