"""The report: one pure function of a Session, producing the stable keys of DESIGN.md §1."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from profiler.analysis.cpu import CpuTally
from profiler.analysis.hosts import HostTally
from profiler.analysis.outcomes import COMPLETED, FAILED, INCOMPLETE, OutcomeTally
from profiler.analysis.quantiles import Quantiles
from profiler.analysis.stacks import Window, stack_breakdown
from profiler.analysis.tokens import ESTIMATED, HOW_TO_GET_USAGE, UNKNOWN, run_usage
from profiler.analysis.traces import CHAT, TOOL, AgentRun, cpu_self, model_attempts, run_of, span_kind
from profiler.analysis.wall import KEYS, decompose
from profiler.store import fields
from profiler.store.cpuwindow import CpuWindow
from profiler.store.processseries import ProcessRow
from profiler.store.session import Session
from profiler.store.spans import KIND_CLIENT, KIND_SERVER, SpanRecord

REPORT_SCHEMA = 1
ATTEMPT_KEYS = ("attempts", "failed_attempts", "retries")
UNEXPLAINED_LIMIT = 0.05  # share of the wall time in other_wait above which the report says so


class _TableTally:
    """Per LangGraph node or per tool: calls, wall, CPU (inclusive), self CPU, errors."""

    def __init__(self, select: str) -> None:
        self.select = select
        self.rows: dict[str, dict[str, Any]] = defaultdict(
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

    def result(self) -> list[dict[str, Any]]:
        table = [
            {"name": n, **row, "cpu_per_call_ms": 1000 * row["cpu_s"] / row["calls"]} for n, row in self.rows.items()
        ]
        return sorted(table, key=lambda r: -r["cpu_s"])


class _InferenceTally:
    """Model calls of every agent run, told one trace at a time; `per_run` figures are means over
    the completed runs (what a headline may use)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.calls = self.errors = self.estimated = self.unknown = 0
        self.input_tokens = self.output_tokens = 0
        self.completed = self.done_calls = self.done_input = self.done_output = 0
        self.attempts = {key: 0 for key in ATTEMPT_KEYS}
        self.attempts_per_run = {key: Quantiles() for key in ATTEMPT_KEYS}
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
        tried = {"attempts": sum(a for a, _ in counts), "failed_attempts": sum(f for _, f in counts)}
        tried["retries"] = tried["attempts"] - len(counts)
        for key in ATTEMPT_KEYS:
            self.attempts[key] += tried[key]
            self.attempts_per_run[key].add(float(tried[key]))
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

    def result(self) -> dict[str, Any]:
        done = self.completed
        result: dict[str, Any] = {
            "calls": self.calls,
            "errors": self.errors,
            **self.attempts,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens_estimated_calls": self.estimated,
            "tokens_unknown_calls": self.unknown,
            "ttft_s": {"p50": self.ttft.quantile(0.5), "p95": self.ttft.quantile(0.95)},
            "per_run": {
                "calls": self.done_calls / done if done else None,
                "input_tokens": self.done_input / done if done else None,
                "output_tokens": self.done_output / done if done else None,
                # attempts, failed attempts and retries: mean, p50, p95
                **{key: quantiles.summary() for key, quantiles in self.attempts_per_run.items()},
            },
            "source": "server spans" if self.servers else "client spans",
            "server_lateness_s": None
            if not self.late.count
            else {"total": self.late.total, "p50": self.late.quantile(0.5), "p95": self.late.quantile(0.95)},
            "model_time_s": self.server_time if self.servers else self.chat_time,
        }
        estimated, unknown = self.estimated, self.unknown
        if estimated or unknown:
            result["tokens_note"] = (
                f"the endpoint reported no token usage for {estimated + unknown} of {self.calls} calls: "
                + (f"{estimated} estimated at ~4 characters per token" if estimated else "")
                + (f"{', ' if estimated else ''}{unknown} not known (counted as 0)" if unknown else "")
                + f"; {HOW_TO_GET_USAGE}"
            )
        preset = self.session.manifest.preset
        if preset:
            # accelerator occupancy at the preset's saturated operating point: an estimate by construction
            per_replica = float(preset.get("accelerators_per_replica", 1))
            result["accelerator_s"] = per_replica * (
                self.output_tokens / float(preset["aggregate_tok_s"])
                + self.input_tokens / float(preset["prefill_tok_s"])
            )
            result["accelerator_s_is_estimate"] = True
        else:
            result["accelerator_s"] = None
        return result


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


def _sampler_cost(process: list[ProcessRow]) -> dict[str, float] | None:
    """py-spy's own CPU, from its process's psutil series: seconds, and the share of one core."""
    rows = [(row.t, row.sampler.cpu_s) for row in process if row.sampler is not None]
    if len(rows) < 2:
        return None
    (first_t, first_cpu), (last_t, last_cpu) = rows[0], rows[-1]
    seconds = last_t - first_t
    return {"cpu_s": last_cpu - first_cpu, "core_fraction": (last_cpu - first_cpu) / seconds if seconds > 0 else 0.0}


def _overhead(cpu: dict[str, Any], window: CpuWindow | None, series: list[ProcessRow]) -> dict[str, Any]:
    sampler = _sampler_cost(series)
    if window is None:
        return {"telemetry_cpu_s": None, "fraction": None, "sampler": sampler}
    callbacks = window.buckets_s.get(fields.TELEMETRY, 0.0)
    export = window.telemetry_threads_s
    meter = window.meter.get("overhead_estimate_s", 0.0)
    passthrough = window.meter.get("passthrough_estimate_s", 0.0)
    total = callbacks + export + meter + passthrough
    process = cpu.get("process_total") or 0.0
    return {
        "telemetry_cpu_s": total,
        "fraction": total / process if process else None,
        "callbacks_s": callbacks,
        "span_export_s": export,
        "meter_s_estimated": meter,
        "passthrough_callbacks_s_estimated": passthrough,
        "meter_handle_cost_us": window.meter.get("handle_cost_ns", 0.0) / 1000,
        "meter_switch_cost_us": window.meter.get("switch_cost_ns", 0.0) / 1000,
        "sampler": sampler,
        "note": "direct costs in the profiled process: span callbacks and span export are measured; the "
        "meter's own cost and callbacks for LangGraph-internal runnables are estimated from costs "
        "calibrated at start-up. Indirect costs (LangChain dispatching to a handler at all, caches, "
        "garbage collection) are not in it: `orchestrace overhead` measures the total on your "
        "workload. py-spy's own CPU (`sampler`) is in its own process, not in the workload's.",
    }


class _WallTally:
    """The wall split of the completed agent runs: sums, and per run mean/p50/p95."""

    def __init__(self) -> None:
        self.sums = dict.fromkeys(("total", *KEYS), 0.0)
        self.per_run = {key: Quantiles() for key in ("total", *KEYS)}

    def add(self, run: AgentRun) -> None:
        split = decompose(run)
        for key, value in (("total", split.total), *split.parts.items()):
            self.sums[key] += value
            self.per_run[key].add(value)

    def result(self) -> dict[str, Any]:
        return {**self.sums, "per_run": {key: q.summary() for key, q in self.per_run.items()}}


def build_report(session: Session) -> dict[str, Any]:
    """One pass over the run's spans, a trace at a time: memory does not grow with the run."""
    outcomes = OutcomeTally()
    wall = _WallTally()
    cpu_tally = CpuTally()
    inference = _InferenceTally(session)
    nodes, tools = _TableTally("node"), _TableTally("tool")
    hosts = HostTally(session.parts)
    for trace in session.traces():
        inference.add_trace(trace)
        run = run_of(trace)
        if run is None:
            continue
        completed = outcomes.add(run) == COMPLETED
        if completed:  # headline figures: completed agent runs only
            wall.add(run)
        cpu_tally.add(run)
        inference.add_run(run, completed)
        nodes.add(run)
        tools.add(run)
        hosts.add(run)
    split = wall.result()
    cpu = cpu_tally.result(session.cpu)
    model_wait, total = split["model_wait"], split["total"]
    workload_pid = next((row.workload.pid for row in session.process if row.workload is not None), None)
    window = session.cpu
    measured = Window(
        window.process_cpu_s if window is not None else None, _run_delay(session, window), session.sampler_errors
    )
    stacks = stack_breakdown(session.samples, session.sample_rate, workload_pid, measured)
    process_total = cpu.get("process_total")
    done = outcomes.counts[COMPLETED]
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "run_schema": session.manifest.schema,
        "run_id": session.run_id,
        "status": session.manifest.status,
        "agent": session.manifest.workload.name,
        "model": session.manifest.model,
        "agent_runs": outcomes.runs,
        "completed": done,
        "errors": outcomes.counts[FAILED],
        "incomplete": outcomes.counts[INCOMPLETE],
        "failed_runs": outcomes.listed(FAILED),
        "incomplete_runs": outcomes.listed(INCOMPLETE),
        "no_headline": outcomes.no_headline_reason(),
        "wall_s": split,
        "cpu_s": cpu,
        # the completed runs' part of the window's CPU, per completed run
        "cpu_per_run_s": (process_total * outcomes.completed_cpu_share() / done) if done and process_total else None,
        "inference": inference.result(),
        "cpu_share_of_latency": (total - model_wait) / total if total > 0 else None,
        "overhead": _overhead(cpu, session.cpu, session.process),
        "stacks": stacks,
        "nodes": nodes.result(),
        "tools": tools.result(),
        "hosts": hosts.rows(),
        "lost_runs": [dict(run) for run in session.manifest.lost_runs],
        "degraded": session.degraded,
        "problems": session.problems,  # after the pass: what it left out is named too
    }
    report["problems"] = [*report["problems"], *_notes(report, inference)]
    return report


def _lost_where(run: dict[str, Any]) -> str:
    reason = str(run.get("reason", "lost"))
    return f"worker {run['part']} died" if reason == "worker died" and run.get("part") else reason


def _notes(report: dict[str, Any], inference: _InferenceTally) -> list[str]:
    """What the figures cannot be trusted for, said where the report shows its problems."""
    notes = []
    if not inference.clients:
        notes.append("no chat spans: model wait cannot be measured")
    elif inference.unseen:
        notes.append(
            f"{inference.unseen} chat calls sent no HTTP request the profiler saw (it watches httpx; recent openai "
            "releases send through httpx2 unless given an httpx client): if they called a model over HTTP, their "
            "wait on it counts as other wait and the CPU share of latency is overstated; build your chat model on "
            "the one orchestrace passes to your graph factory"
        )
    if lost := report["lost_runs"]:
        notes.append(
            f"{len(lost)} agent run(s) lost, not counted: "
            + ", ".join(f"{run['index']} ({_lost_where(run)})" for run in lost)
        )
    if starved := _server_starved(report["inference"]):
        notes.append(starved)
    wall, total = report["wall_s"], report["wall_s"]["total"]
    if total > 0 and wall["other_wait"] > UNEXPLAINED_LIMIT * total:
        notes.append(
            f"{wall['other_wait'] / total:.1%} of the wall time is unexplained (other_wait): waits no span "
            "measured, e.g. work outside LangChain callbacks or a blocking call in an untraced thread"
        )
    return notes


STARVED_SHARE = 0.05  # the simulated server's own lateness, as a share of model time, worth a warning


def _server_starved(inference: dict[str, Any]) -> str | None:
    """Whether the simulated server kept its timing model; if not, the model wait it caused is too long."""
    late, model_time = inference.get("server_lateness_s"), inference["model_time_s"]
    if not late or model_time <= 0 or late["total"] <= STARVED_SHARE * model_time:
        return None
    return (
        f"the simulated server fell behind its timing model by {late['total']:.2f} s in all "
        f"({100 * late['total'] / model_time:.0f}% of model time, p95 {late['p95']:.3f} s per reply): "
        "the host is too busy for the simulated timing, so model wait is overstated; use fewer streams or more cores"
    )
