"""The report: one pure function of a Session, producing the stable keys of DESIGN.md §1."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from profiler.analysis.cpu import cpu_breakdown
from profiler.analysis.hosts import host_rows
from profiler.analysis.outcomes import FAILED, INCOMPLETE, Outcomes, no_headline_reason
from profiler.analysis.stacks import Window, stack_breakdown
from profiler.analysis.tokens import ESTIMATED, HOW_TO_GET_USAGE, UNKNOWN, call_usage
from profiler.analysis.traces import CHAT, TOOL, AgentRun, agent_runs, cpu_self, model_attempts, span_kind
from profiler.analysis.wall import KEYS, decompose
from profiler.store import fields
from profiler.store.session import Session
from profiler.store.spans import KIND_CLIENT, KIND_SERVER

REPORT_SCHEMA = 1
UNEXPLAINED_LIMIT = 0.05  # share of the wall time in other_wait above which the report says so


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _summary(values: list[float]) -> dict[str, float | None]:
    return {
        "mean": statistics.fmean(values) if values else None,
        "p50": _quantile(values, 0.5),
        "p95": _quantile(values, 0.95),
    }


def _table(runs: list[AgentRun], select: str) -> list[dict[str, Any]]:
    """Per LangGraph node or per tool: calls, wall, CPU (inclusive), self CPU, errors."""
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"calls": 0, "wall_s": 0.0, "cpu_s": 0.0, "self_cpu_s": 0.0, "errors": 0}
    )
    for run in runs:
        for span in run.spans:
            if select == "node":
                name = span.attributes.get("gen_ai.node.name")
            else:
                name = span.attributes.get("gen_ai.tool.name") if span_kind(span) == TOOL else None
            if name is None:
                continue
            row = rows[str(name)]
            row["calls"] += 1
            row["wall_s"] += span.duration_s
            row["cpu_s"] += float(span.attributes.get("orchestrace.cpu.inclusive_s", 0.0))
            row["self_cpu_s"] += cpu_self(span)
            row["errors"] += span.is_error
    table = [{"name": name, **row, "cpu_per_call_ms": 1000 * row["cpu_s"] / row["calls"]} for name, row in rows.items()]
    return sorted(table, key=lambda r: -r["cpu_s"])


def _attempts(runs: list[AgentRun]) -> dict[str, Any]:
    """HTTP attempts of the chat calls, failed attempts and retries: in all, and per agent run."""
    per_run = []
    for run in runs:
        counts = [model_attempts(run, s) for s in run.spans if span_kind(s) == CHAT]
        attempts, failed = sum(a for a, _ in counts), sum(f for _, f in counts)
        per_run.append({"attempts": attempts, "failed_attempts": failed, "retries": attempts - len(counts)})
    totals = {key: sum(row[key] for row in per_run) for key in ("attempts", "failed_attempts", "retries")}
    return {**totals, "per_run": {key: _summary([float(row[key]) for row in per_run]) for key in totals}}


def _inference(session: Session, runs: list[AgentRun], completed: list[AgentRun]) -> dict[str, Any]:
    """Model calls of every agent run; `per_run` means over the completed runs (what a headline may use)."""
    chats = [s for run in runs for s in run.spans if span_kind(s) == CHAT]
    servers = [s for s in session.spans if s.kind == KIND_SERVER]
    usage = call_usage(session, runs)
    ttft = [
        float(s.attributes["gen_ai.response.time_to_first_chunk"])
        for s in chats
        if "gen_ai.response.time_to_first_chunk" in s.attributes
    ]
    input_tokens = sum(u.input for u in usage.values())
    output_tokens = sum(u.output for u in usage.values())
    estimated = sum(u.source == ESTIMATED for u in usage.values())
    unknown = sum(usage[s.span_id].source == UNKNOWN for s in chats if not s.is_error)
    done = [usage[s.span_id] for run in completed for s in run.spans if span_kind(s) == CHAT]
    attempts = _attempts(runs)
    result: dict[str, Any] = {
        "calls": len(chats),
        "errors": sum(s.is_error for s in chats),
        **attempts,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "tokens_estimated_calls": estimated,
        "tokens_unknown_calls": unknown,
        "ttft_s": {"p50": _quantile(ttft, 0.5), "p95": _quantile(ttft, 0.95)},
        "per_run": {
            "calls": len(done) / len(completed) if completed else None,
            "input_tokens": sum(u.input for u in done) / len(completed) if completed else None,
            "output_tokens": sum(u.output for u in done) / len(completed) if completed else None,
            **attempts["per_run"],  # attempts, failed attempts and retries: mean, p50, p95
        },
        "source": "server spans" if servers else "client spans",
        "server_lateness_s": _lateness(servers),
        "model_time_s": sum(s.duration_s for s in servers) if servers else sum(s.duration_s for s in chats),
    }
    if estimated or unknown:
        result["tokens_note"] = (
            f"the endpoint reported no token usage for {estimated + unknown} of {len(chats)} calls: "
            + (f"{estimated} estimated at ~4 characters per token" if estimated else "")
            + (f"{', ' if estimated else ''}{unknown} not known (counted as 0)" if unknown else "")
            + f"; {HOW_TO_GET_USAGE}"
        )
    preset = session.manifest.get("model", {}).get("preset")
    if preset:
        # accelerator occupancy at the preset's saturated operating point: an estimate by construction
        per_replica = float(preset.get("accelerators_per_replica", 1))
        result["accelerator_s"] = per_replica * (
            output_tokens / float(preset["aggregate_tok_s"]) + input_tokens / float(preset["prefill_tok_s"])
        )
        result["accelerator_s_is_estimate"] = True
    else:
        result["accelerator_s"] = None
    return result


def _lateness(servers: list[Any]) -> dict[str, float | None] | None:
    """How late the simulated server delivered versus its own timing model (it is starved on a busy machine)."""
    late = [
        float(s.attributes["orchestrace.server.lateness_s"])
        for s in servers
        if "orchestrace.server.lateness_s" in s.attributes
    ]
    if not late:
        return None
    return {"total": sum(late), "p50": _quantile(late, 0.5), "p95": _quantile(late, 0.95)}


def _run_delay(session: Session, window: dict[str, Any]) -> float | None:
    """The workload's threads' run-queue delay in the window, from the psutil series (interpolated at its ends)."""
    points = [
        (row["t"], row["workload"]["run_delay_s"])
        for row in session.process
        if row.get("workload", {}).get("run_delay_s") is not None
    ]
    start, end = window.get("start_unix"), window.get("end_unix")
    if len(points) < 2 or start is None or end is None:
        return None

    def at(t: float) -> float:
        before = max((p for p in points if p[0] <= t), default=points[0], key=lambda p: p[0])
        after = min((p for p in points if p[0] >= t), default=points[-1], key=lambda p: p[0])
        if after[0] == before[0]:
            return float(before[1])
        return float(before[1] + (after[1] - before[1]) * (t - before[0]) / (after[0] - before[0]))

    return max(0.0, at(end) - at(start))


def _sampler_cost(process: list[dict[str, Any]]) -> dict[str, float] | None:
    """py-spy's own CPU, from its process's psutil series: seconds, and the share of one core."""
    rows = [row for row in process if "sampler" in row]
    if len(rows) < 2:
        return None
    first, last = rows[0], rows[-1]
    cpu = (last["sampler"]["cpu_user"] + last["sampler"]["cpu_system"]) - (
        first["sampler"]["cpu_user"] + first["sampler"]["cpu_system"]
    )
    seconds = last["t"] - first["t"]
    return {"cpu_s": cpu, "core_fraction": cpu / seconds if seconds > 0 else 0.0}


def _overhead(cpu: dict[str, Any], window: dict[str, Any] | None, series: list[dict[str, Any]]) -> dict[str, Any]:
    sampler = _sampler_cost(series)
    if window is None:
        return {"telemetry_cpu_s": None, "fraction": None, "sampler": sampler}
    callbacks = float(window.get("buckets_s", {}).get("telemetry", 0.0))
    export = float(window.get("telemetry_threads_s", 0.0))
    meter = float(window.get("meter", {}).get("overhead_estimate_s", 0.0))
    passthrough = float(window.get("meter", {}).get("passthrough_estimate_s", 0.0))
    total = callbacks + export + meter + passthrough
    process = cpu.get("process_total") or 0.0
    return {
        "telemetry_cpu_s": total,
        "fraction": total / process if process else None,
        "callbacks_s": callbacks,
        "span_export_s": export,
        "meter_s_estimated": meter,
        "passthrough_callbacks_s_estimated": passthrough,
        "meter_handle_cost_us": float(window.get("meter", {}).get("handle_cost_ns", 0.0)) / 1000,
        "meter_switch_cost_us": float(window.get("meter", {}).get("switch_cost_ns", 0.0)) / 1000,
        "sampler": sampler,
        "note": "direct costs in the profiled process: span callbacks and span export are measured; the "
        "meter's own cost and callbacks for LangGraph-internal runnables are estimated from costs "
        "calibrated at start-up. Indirect costs (LangChain dispatching to a handler at all, caches, "
        "garbage collection) are not in it: `orchestrace overhead` measures the total on your "
        "workload. py-spy's own CPU (`sampler`) is in its own process, not in the workload's.",
    }


def build_report(session: Session) -> dict[str, Any]:
    runs = agent_runs(session.spans)
    outcomes = Outcomes(runs)
    completed = outcomes.completed
    splits = [decompose(run) for run in completed]  # headline figures: completed agent runs only
    wall: dict[str, Any] = {"total": sum(s.total for s in splits)}
    for key in KEYS:
        wall[key] = sum(s.parts[key] for s in splits)
    wall["per_run"] = {
        "total": _summary([s.total for s in splits]),
        **{key: _summary([s.parts[key] for s in splits]) for key in KEYS},
    }
    cpu = cpu_breakdown(runs, session.cpu)
    model_wait, total = wall["model_wait"], wall["total"]
    workload_pid = next((row["workload"]["pid"] for row in session.process if "workload" in row), None)
    window = (session.cpu or {}).get("window", {})
    measured = Window(window.get("process_cpu_s"), _run_delay(session, window), session.sampler_errors)
    stacks = stack_breakdown(session.samples, session.sample_rate, workload_pid, measured)
    process_total = cpu.get("process_total")
    report = {
        "schema": REPORT_SCHEMA,
        "run_schema": session.manifest.get("schema"),
        "run_id": session.run_id,
        "status": session.manifest.get("status"),
        "agent": session.manifest.get("workload", {}).get("agent") or session.manifest.get("workload", {}).get("graph"),
        "model": session.manifest.get("model"),
        "agent_runs": len(runs),
        "completed": len(completed),
        "errors": len(outcomes.of(FAILED)),
        "incomplete": len(outcomes.of(INCOMPLETE)),
        "failed_runs": outcomes.listed(FAILED),
        "incomplete_runs": outcomes.listed(INCOMPLETE),
        "no_headline": no_headline_reason(outcomes),
        "wall_s": wall,
        "cpu_s": cpu,
        # the completed runs' part of the window's CPU, per completed run
        "cpu_per_run_s": (process_total * outcomes.completed_cpu_share() / len(completed))
        if completed and process_total
        else None,
        "inference": _inference(session, runs, completed),
        "cpu_share_of_latency": (total - model_wait) / total if total > 0 else None,
        "overhead": _overhead(cpu, session.cpu, session.process),
        "stacks": stacks,
        "nodes": _table(runs, "node"),
        "tools": _table(runs, "tool"),
        "hosts": host_rows(session.parts, runs),
        "degraded": session.degraded,
        "problems": session.problems,
    }
    if not any(s.kind == KIND_CLIENT for s in session.spans):
        report["problems"] = [*report["problems"], "no chat spans: model wait cannot be measured"]
    elif unseen := _requests_not_seen(completed):
        report["problems"] = [
            *report["problems"],
            f"{unseen} chat calls sent no HTTP request the profiler saw (it watches httpx; recent openai "
            "releases send through httpx2 unless given an httpx client): if they called a model over HTTP, their "
            "wait on it counts as other wait and the CPU share of latency is overstated; build your chat model on "
            "the one orchestrace passes to your graph factory",
        ]
    if starved := _server_starved(report["inference"]):
        report["problems"] = [*report["problems"], starved]
    if total > 0 and wall["other_wait"] > UNEXPLAINED_LIMIT * total:
        report["problems"] = [
            *report["problems"],
            f"{wall['other_wait'] / total:.1%} of the wall time is unexplained (other_wait): waits no span "
            "measured, e.g. work outside LangChain callbacks or a blocking call in an untraced thread",
        ]
    return report


def _requests_not_seen(runs: list[AgentRun]) -> int:
    """Chat calls with no server span and no model request seen at the transport (recorded since it was watched)."""
    return sum(
        1
        for run in runs
        for s in run.spans
        if span_kind(s) == CHAT
        and not s.is_error
        and fields.MODEL_WAIT in s.attributes
        and not s.attributes.get(fields.MODEL_REQUESTS)
        and not run.server.get(s.span_id)
    )


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
