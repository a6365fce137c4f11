"""The report: one pure function of a Session, producing the stable keys of DESIGN.md §1."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from profiler.analysis.cpu import cpu_breakdown
from profiler.analysis.stacks import stack_breakdown
from profiler.analysis.traces import CHAT, TOOL, AgentRun, agent_runs, cpu_self, model_attempts, span_kind
from profiler.analysis.wall import KEYS, decompose
from profiler.store.session import Session
from profiler.store.spans import KIND_CLIENT, KIND_SERVER

REPORT_SCHEMA = 1


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


def _inference(session: Session, runs: list[AgentRun]) -> dict[str, Any]:
    chats = [s for run in runs for s in run.spans if span_kind(s) == CHAT]
    servers = [s for s in session.spans if s.kind == KIND_SERVER]
    ttft = [
        float(s.attributes["gen_ai.response.time_to_first_chunk"])
        for s in chats
        if "gen_ai.response.time_to_first_chunk" in s.attributes
    ]
    input_tokens = sum(int(s.attributes.get("gen_ai.usage.input_tokens", 0)) for s in chats)
    output_tokens = sum(int(s.attributes.get("gen_ai.usage.output_tokens", 0)) for s in chats)
    result: dict[str, Any] = {
        "calls": len(chats),
        "errors": sum(s.is_error for s in chats),
        **_attempts(runs),
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "ttft_s": {"p50": _quantile(ttft, 0.5), "p95": _quantile(ttft, 0.95)},
        "source": "server spans" if servers else "client spans",
        "server_lateness_s": _lateness(servers),
        "model_time_s": sum(s.duration_s for s in servers) if servers else sum(s.duration_s for s in chats),
    }
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
    splits = [decompose(run) for run in runs]
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
    last = next((row["workload"] for row in reversed(session.process) if "workload" in row), None)
    process_cpu = (last["cpu_user"] + last["cpu_system"]) if last else None
    stacks = stack_breakdown(session.samples, session.sample_rate, workload_pid, process_cpu)
    errors = sum(run.root.is_error for run in runs)
    report = {
        "schema": REPORT_SCHEMA,
        "run_schema": session.manifest.get("schema"),
        "run_id": session.run_id,
        "status": session.manifest.get("status"),
        "agent": session.manifest.get("workload", {}).get("agent") or session.manifest.get("workload", {}).get("graph"),
        "model": session.manifest.get("model"),
        "agent_runs": len(runs),
        "errors": errors,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_per_run_s": (cpu["process_total"] / len(runs)) if runs and cpu.get("process_total") else None,
        "inference": _inference(session, runs),
        "cpu_share_of_latency": (total - model_wait) / total if total > 0 else None,
        "overhead": _overhead(cpu, session.cpu, session.process),
        "stacks": stacks,
        "nodes": _table(runs, "node"),
        "tools": _table(runs, "tool"),
        "degraded": session.degraded,
        "problems": session.problems,
    }
    if not any(s.kind == KIND_CLIENT for s in session.spans):
        report["problems"] = [*session.problems, "no chat spans: model wait cannot be measured"]
    if starved := _server_starved(report["inference"]):
        report["problems"] = [*report["problems"], starved]
    return report


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
