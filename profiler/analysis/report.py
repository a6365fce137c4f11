"""The report: one pure function of a Session, a typed `store.report.Report` (DESIGN.md §1's keys)."""

from __future__ import annotations

from collections import defaultdict

from profiler.analysis.cpu import CpuTally
from profiler.analysis.hosts import HostTally
from profiler.analysis.outcomes import COMPLETED, FAILED, INCOMPLETE, OutcomeTally
from profiler.analysis.passes import Seen, fold
from profiler.analysis.quantiles import Quantiles
from profiler.analysis.stacks import Window, stack_breakdown
from profiler.analysis.tokens import ESTIMATED, HOW_TO_GET_USAGE, UNKNOWN, run_usage
from profiler.analysis.traces import CHAT, TOOL, AgentRun, cpu_self, model_attempts, span_kind
from profiler.analysis.wall import KEYS, WallSplit
from profiler.store import fields
from profiler.store.cpuwindow import CpuWindow
from profiler.store.processseries import ProcessRow
from profiler.store.report import (
    CpuSplit,
    Degraded,
    Inference,
    InferencePerRun,
    Lateness,
    LostRun,
    Overhead,
    Percentiles,
    Report,
    SamplerCost,
    TableRow,
    WallTime,
)
from profiler.store.session import Session
from profiler.store.spans import KIND_CLIENT, KIND_SERVER, SpanRecord

UNEXPLAINED_LIMIT = 0.05  # share of the wall time in other_wait above which the report says so


class _TableTally:
    """Per LangGraph node or per tool: calls, wall, CPU (inclusive), self CPU, errors."""

    def __init__(self, select: str) -> None:
        self.select = select
        self.rows: dict[str, dict[str, float]] = defaultdict(
            lambda: {"calls": 0, "wall_s": 0.0, "cpu_s": 0.0, "self_cpu_s": 0.0, "errors": 0}
        )

    def add(self, run: AgentRun) -> None:
        for span in run.spans:
            if self.select == "node":
                name = span.attributes.get("gen_ai.node.name")
            else:
                name = span.attributes.get("gen_ai.tool.name") if span_kind(span) == TOOL else None
            if name is None:
                continue
            row = self.rows[str(name)]
            row["calls"] += 1
            row["wall_s"] += span.duration_s
            row["cpu_s"] += float(span.attributes.get("orchestrace.cpu.inclusive_s", 0.0))
            row["self_cpu_s"] += cpu_self(span)
            row["errors"] += span.is_error

    def result(self) -> tuple[TableRow, ...]:
        table = [
            TableRow(
                name=name,
                calls=int(row["calls"]),
                wall_s=row["wall_s"],
                cpu_s=row["cpu_s"],
                self_cpu_s=row["self_cpu_s"],
                errors=int(row["errors"]),
                cpu_per_call_ms=1000 * row["cpu_s"] / row["calls"],
            )
            for name, row in self.rows.items()
        ]
        return tuple(sorted(table, key=lambda r: -r.cpu_s))


class _InferenceTally:
    """Model calls of every agent run, told one trace at a time; `per_run` figures are means over
    the completed runs (what a headline may use)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.calls = self.errors = self.estimated = self.unknown = 0
        self.input_tokens = self.output_tokens = 0
        self.completed = self.done_calls = self.done_input = self.done_output = 0
        self.attempts = self.failed_attempts = 0  # HTTP requests of the model client
        self.attempts_per_run, self.failed_per_run, self.retries_per_run = Quantiles(), Quantiles(), Quantiles()
        self.ttft = Quantiles()
        self.late = Quantiles()
        self.servers = 0
        self.server_time = self.chat_time = 0.0
        self.unseen = 0  # chat calls of completed runs whose HTTP requests the profiler did not see
        self.clients = False

    def add_trace(self, trace: list[SpanRecord]) -> None:
        for span in trace:
            if span.kind == KIND_SERVER:
                self.servers += 1
                self.server_time += span.duration_s
                if "orchestrace.server.lateness_s" in span.attributes:
                    self.late.add(float(span.attributes["orchestrace.server.lateness_s"]))
            elif span.kind == KIND_CLIENT:
                self.clients = True

    def add_run(self, run: AgentRun, completed: bool) -> None:
        chats = [s for s in run.spans if span_kind(s) == CHAT]
        usage = run_usage(self.session, run)
        self.calls += len(chats)
        self.errors += sum(s.is_error for s in chats)
        self.chat_time += sum(s.duration_s for s in chats)
        for span in chats:
            call = usage[span.span_id]
            self.input_tokens += call.input
            self.output_tokens += call.output
            self.estimated += call.source == ESTIMATED
            self.unknown += call.source == UNKNOWN and not span.is_error
            if "gen_ai.response.time_to_first_chunk" in span.attributes:
                self.ttft.add(float(span.attributes["gen_ai.response.time_to_first_chunk"]))
        counts = [model_attempts(run, s) for s in chats]
        attempts, failed = sum(a for a, _ in counts), sum(f for _, f in counts)
        self.attempts += attempts
        self.failed_attempts += failed
        self.attempts_per_run.add(float(attempts))
        self.failed_per_run.add(float(failed))
        self.retries_per_run.add(float(attempts - len(counts)))
        if completed:
            self.completed += 1
            self.done_calls += len(chats)
            self.done_input += sum(usage[s.span_id].input for s in chats)
            self.done_output += sum(usage[s.span_id].output for s in chats)
            self.unseen += sum(
                1
                for s in chats
                if not s.is_error
                and fields.MODEL_WAIT in s.attributes
                and not s.attributes.get(fields.MODEL_REQUESTS)
                and not run.server.get(s.span_id)
            )

    def result(self) -> Inference:
        done = self.completed
        late = self.late
        return Inference(
            calls=self.calls,
            errors=self.errors,
            attempts=self.attempts,
            failed_attempts=self.failed_attempts,
            retries=self.attempts - self.calls,  # every call's first attempt is not a retry
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            tokens_estimated_calls=self.estimated,
            tokens_unknown_calls=self.unknown,
            ttft_s=Percentiles(self.ttft.quantile(0.5), self.ttft.quantile(0.95)),
            per_run=InferencePerRun(
                calls=self.done_calls / done if done else None,
                input_tokens=self.done_input / done if done else None,
                output_tokens=self.done_output / done if done else None,
                attempts=self.attempts_per_run.summary(),
                failed_attempts=self.failed_per_run.summary(),
                retries=self.retries_per_run.summary(),
            ),
            source="server spans" if self.servers else "client spans",
            server_lateness_s=Lateness(late.total, late.quantile(0.5), late.quantile(0.95)) if late.count else None,
            model_time_s=self.server_time if self.servers else self.chat_time,
            tokens_note=self._tokens_note(),
            accelerator_s=self._accelerator_s(),
        )

    def _tokens_note(self) -> str | None:
        estimated, unknown = self.estimated, self.unknown
        if not estimated and not unknown:
            return None
        return (
            f"the endpoint reported no token usage for {estimated + unknown} of {self.calls} calls: "
            + (f"{estimated} estimated at ~4 characters per token" if estimated else "")
            + (f"{', ' if estimated else ''}{unknown} not known (counted as 0)" if unknown else "")
            + f"; {HOW_TO_GET_USAGE}"
        )

    def _accelerator_s(self) -> float | None:
        """Accelerator occupancy at the preset's saturated operating point: an estimate by construction."""
        preset = self.session.manifest.preset
        if not preset:
            return None
        per_replica = float(preset.get("accelerators_per_replica", 1))
        return per_replica * (
            self.output_tokens / float(preset["aggregate_tok_s"]) + self.input_tokens / float(preset["prefill_tok_s"])
        )


def _run_delay(session: Session, window: CpuWindow | None) -> float | None:
    """The workload's threads' run-queue delay in the window, from the psutil series (interpolated at its ends)."""
    points = [
        (row.t, row.workload.run_delay_s)
        for row in session.process
        if row.workload is not None and row.workload.run_delay_s is not None
    ]
    if len(points) < 2 or window is None or window.start_unix is None or window.end_unix is None:
        return None
    start, end = window.start_unix, window.end_unix

    def at(t: float) -> float:
        before = max((p for p in points if p[0] <= t), default=points[0], key=lambda p: p[0])
        after = min((p for p in points if p[0] >= t), default=points[-1], key=lambda p: p[0])
        if after[0] == before[0]:
            return float(before[1])
        return float(before[1] + (after[1] - before[1]) * (t - before[0]) / (after[0] - before[0]))

    return max(0.0, at(end) - at(start))


def _sampler_cost(process: list[ProcessRow]) -> SamplerCost | None:
    """py-spy's own CPU, from its process's psutil series: seconds, and the share of one core."""
    rows = [(row.t, row.sampler.cpu_s) for row in process if row.sampler is not None]
    if len(rows) < 2:
        return None
    (first_t, first_cpu), (last_t, last_cpu) = rows[0], rows[-1]
    seconds = last_t - first_t
    return SamplerCost(last_cpu - first_cpu, (last_cpu - first_cpu) / seconds if seconds > 0 else 0.0)


def _overhead(cpu: CpuSplit, window: CpuWindow | None, series: list[ProcessRow]) -> Overhead:
    sampler = _sampler_cost(series)
    if window is None:
        return Overhead(sampler=sampler)
    callbacks = window.buckets_s.get(fields.TELEMETRY, 0.0)
    export = window.telemetry_threads_s
    meter = window.meter.get("overhead_estimate_s", 0.0)
    passthrough = window.meter.get("passthrough_estimate_s", 0.0)
    total = callbacks + export + meter + passthrough
    process = cpu.process_total or 0.0
    return Overhead(
        telemetry_cpu_s=total,
        fraction=total / process if process else None,
        callbacks_s=callbacks,
        span_export_s=export,
        meter_s_estimated=meter,
        passthrough_callbacks_s_estimated=passthrough,
        meter_handle_cost_us=window.meter.get("handle_cost_ns", 0.0) / 1000,
        meter_switch_cost_us=window.meter.get("switch_cost_ns", 0.0) / 1000,
        sampler=sampler,
    )


class _WallTally:
    """The wall split of the completed agent runs: sums, and per run mean/p50/p95."""

    def __init__(self) -> None:
        self.sums = dict.fromkeys(("total", *KEYS), 0.0)
        self.per_run = {key: Quantiles() for key in ("total", *KEYS)}

    def add(self, split: WallSplit) -> None:
        for key, value in (("total", split.total), *split.parts.items()):
            self.sums[key] += value
            self.per_run[key].add(value)

    def result(self) -> WallTime:
        return WallTime(
            total=self.sums["total"],
            parts={key: self.sums[key] for key in KEYS},
            per_run={key: q.summary() for key, q in self.per_run.items()},
        )


class ReportTally:
    """The report, told the run's traces one at a time (`passes.fold`): memory does not grow with the run."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.outcomes = OutcomeTally()
        self.wall = _WallTally()
        self.cpu = CpuTally()
        self.inference = _InferenceTally(session)
        self.nodes, self.tools = _TableTally("node"), _TableTally("tool")
        self.hosts = HostTally(session.parts)

    def add(self, seen: Seen) -> None:
        self.inference.add_trace(seen.trace)
        run = seen.run
        if run is None:
            return
        self.outcomes.add(run)
        if seen.split is not None:  # headline figures: completed agent runs only
            self.wall.add(seen.split)
        self.cpu.add(run)
        self.inference.add_run(run, seen.completed)
        self.nodes.add(run)
        self.tools.add(run)
        self.hosts.add(run)

    def result(self) -> Report:
        session = self.session
        split = self.wall.result()
        window = session.cpu  # the parts' windows, merged
        cpu = self.cpu.result(window)
        model_wait, total = split.parts["model_wait"], split.total
        workload_pid = next((row.workload.pid for row in session.process if row.workload is not None), None)
        measured = Window(
            window.process_cpu_s if window is not None else None,
            _run_delay(session, window),
            session.sampler_errors,
        )
        process_total = cpu.process_total
        done = self.outcomes.counts[COMPLETED]
        figures = self.inference.result()
        lost = tuple(LostRun.from_json(run) for run in session.manifest.lost_runs)
        return Report(
            run_schema=session.manifest.schema,
            run_id=session.run_id,
            status=session.manifest.status,
            agent=session.manifest.workload.name,
            model=session.manifest.model,
            agent_runs=self.outcomes.runs,
            completed=done,
            errors=self.outcomes.counts[FAILED],
            incomplete=self.outcomes.counts[INCOMPLETE],
            failed_runs=self.outcomes.listed(FAILED),
            incomplete_runs=self.outcomes.listed(INCOMPLETE),
            no_headline=self.outcomes.no_headline_reason(),
            wall_s=split,
            cpu_s=cpu,
            # the completed runs' part of the window's CPU, per completed run
            cpu_per_run_s=(process_total * self.outcomes.completed_cpu_share() / done)
            if done and process_total
            else None,
            inference=figures,
            cpu_share_of_latency=(total - model_wait) / total if total > 0 else None,
            overhead=_overhead(cpu, window, session.process),
            stacks=stack_breakdown(session.samples, session.sample_rate, workload_pid, measured),
            nodes=self.nodes.result(),
            tools=self.tools.result(),
            hosts=tuple(self.hosts.rows()),
            lost_runs=lost,
            degraded=tuple(Degraded.from_json(entry) for entry in session.degraded),
            # after the pass: what it left out is named too
            problems=(*session.problems, *_notes(self.inference, figures, split, lost)),
        )


def build_report(session: Session) -> Report:
    """The report of one pass over the run's traces."""
    tally = ReportTally(session)
    fold(session.traces(), tally)
    return tally.result()


def _lost_where(run: LostRun) -> str:
    return f"worker {run.part} died" if run.reason == "worker died" and run.part else run.reason


def _notes(tally: _InferenceTally, inference: Inference, wall: WallTime, lost: tuple[LostRun, ...]) -> list[str]:
    """What the figures cannot be trusted for, said where the report shows its problems."""
    notes = []
    if not tally.clients:
        notes.append("no chat spans: model wait cannot be measured")
    elif tally.unseen:
        notes.append(
            f"{tally.unseen} chat calls sent no HTTP request the profiler saw (it watches httpx; recent openai "
            "releases send through httpx2 unless given an httpx client): if they called a model over HTTP, their "
            "wait on it counts as other wait and the CPU share of latency is overstated; build your chat model on "
            "the one orchestrace passes to your graph factory"
        )
    if lost:
        notes.append(
            f"{len(lost)} agent run(s) lost, not counted: "
            + ", ".join(f"{run.index} ({_lost_where(run)})" for run in lost)
        )
    if starved := _server_starved(inference):
        notes.append(starved)
    total, unexplained = wall.total, wall.parts["other_wait"]
    if total > 0 and unexplained > UNEXPLAINED_LIMIT * total:
        notes.append(
            f"{unexplained / total:.1%} of the wall time is unexplained (other_wait): waits no span "
            "measured, e.g. work outside LangChain callbacks or a blocking call in an untraced thread"
        )
    return notes


STARVED_SHARE = 0.05  # the simulated server's own lateness, as a share of model time, worth a warning


def _server_starved(inference: Inference) -> str | None:
    """Whether the simulated server kept its timing model; if not, the model wait it caused is too long."""
    late, model_time = inference.server_lateness_s, inference.model_time_s
    if late is None or model_time <= 0 or late.total <= STARVED_SHARE * model_time:
        return None
    return (
        f"the simulated server fell behind its timing model by {late.total:.2f} s in all "
        f"({100 * late.total / model_time:.0f}% of model time, p95 {late.p95:.3f} s per reply): "
        "the host is too busy for the simulated timing, so model wait is overstated; use fewer streams or more cores"
    )
