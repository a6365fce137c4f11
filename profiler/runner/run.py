"""`orchestrace run`: model server + workload process + run directory, start to finish."""

from __future__ import annotations

import json
import shutil
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from profiler import __version__
from profiler.accelerators.presets import load_preset
from profiler.analysis.summary import RunSummary
from profiler.errors import UsageError
from profiler.export.target import OtlpTarget
from profiler.lifeline import Interrupted, signals_deferred, signals_interrupt
from profiler.modelserver.faults import read_spec
from profiler.runner import environment
from profiler.runner.checks import check_completeness
from profiler.runner.ending import Ending, conclude, record_ending, recorded_summary, with_errors
from profiler.runner.plan import RunOptions, RunPlan, plan, validate
from profiler.runner.processes import ServerProcess, SpanWriter, WorkloadProcess
from profiler.runner.raycluster import LOCAL, address_towards
from profiler.runner.replay import calls_by_agent_run, first_mismatch, load_recording
from profiler.runner.sampling import ProcessPoller, StackSampler
from profiler.runner.ui import RunDisplay
from profiler.store.manifest import ProfilingInfo, WorkloadInfo
from profiler.store.parts import MAIN, PartInfo
from profiler.store.processseries import MODEL_SERVER, SAMPLER, WORKLOAD
from profiler.store.report import Headline, Report
from profiler.store.rundir import (
    EXPORT_SUMMARY,
    FAULTS,
    PROCESS,
    SAMPLER_LOG,
    SCHEMA,
    SCRIPT,
    SCRIPTS,
    SPANS,
    WORKLOAD_CONFIG,
    WORKLOAD_LOG,
    WORKLOAD_SAMPLES,
    WRITER_LOG,
    RunDir,
    iso,
    write_json_atomic,
)

ENDPOINT_CHECK_TIMEOUT_S = 5.0
INTERRUPT_GRACE_S = 20.0
SPAN_WRITER_TIMEOUT_S = 60.0

# exit statuses of `orchestrace run`
EXIT_OK, EXIT_FAILED, EXIT_RUN_ERRORS, EXIT_INTERRUPTED = 0, 1, 3, 130


@dataclass(frozen=True)
class RunResult:
    run_dir: RunDir
    status: str  # completed | completed_with_errors | failed | interrupted
    wall_s: float
    summary: RunSummary
    message: str = ""
    report: Report | None = None
    export: dict[str, Any] | None = None
    headline: Headline | None = None
    replay: dict[str, Any] | None = None  # of which recording, and whether it was repeated call for call

    @property
    def exit_code(self) -> int:
        return {"completed": EXIT_OK, "completed_with_errors": EXIT_RUN_ERRORS, "interrupted": EXIT_INTERRUPTED}.get(
            self.status, EXIT_FAILED
        )


def check_endpoint(url: str) -> None:
    """Fail fast, with one line, when nothing answers at the endpoint."""
    try:
        httpx.get(url.rstrip("/") + "/models", timeout=ENDPOINT_CHECK_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise UsageError(
            f"cannot reach --endpoint {url}: {type(exc).__name__}: {exc or 'no answer'}; "
            "check the URL and that the server is running"
        ) from None


def new_manifest(
    run_id: str, command: list[str], workload: WorkloadInfo, model: dict[str, Any], profiling: ProfilingInfo
) -> dict[str, Any]:
    """What every run directory records at its start (`run` and the Python API alike)."""
    return {
        "schema": SCHEMA,
        "run_id": run_id,
        "tool": {"name": "orchestrace", "version": __version__},
        "command": command,
        "workload": workload.to_json(),
        "model": model,
        "profiling": profiling.to_json(),
        "versions": environment.versions(),
        "host": environment.host(),
        "status": "running",
        "started_at": iso(time.time()),
        "started_unix": time.time(),
        "degraded": [],
    }


def _manifest(options: RunOptions, run_dir: RunDir, model: dict[str, Any], total: int) -> dict[str, Any]:
    workload = WorkloadInfo(
        agent=options.agent,
        graph=options.graph,
        concurrency=options.concurrency,
        agent_runs=total,
        inputs=str(options.inputs) if options.inputs else None,
        seed=options.seed,
        replay_of=str(options.replay) if options.replay else None,
    )
    profiling = ProfilingInfo(options.sampler, options.sample_rate, options.sample_children, options.loop, options.mode)
    return new_manifest(run_dir.run_id, list(options.argv), workload, model, profiling)


def execute(options: RunOptions, display: RunDisplay) -> RunResult:
    options = validate(options)
    run_plan = plan(options)
    if options.simulated:
        assert options.model is not None
        preset = load_preset(options.model)
        model: dict[str, Any] = {
            "kind": "simulated",
            "preset": preset.to_dict(),
            "note": "model timing is SIMULATED from the preset; HTTP and JSON are real",
        }
        if options.faults is not None:
            model["faults"] = read_spec(options.faults)
    else:
        assert options.endpoint is not None
        check_endpoint(options.endpoint)
        model = {"kind": "endpoint", "endpoint": options.endpoint, "model_name": options.model_name}
    try:
        run_dir = RunDir.create(options.out, options.label)
    except OSError as exc:
        raise UsageError(f"cannot create a run directory under {options.out}: {exc.strerror or exc}") from None
    run_dir.write_manifest(_manifest(options, run_dir, model, len(run_plan.runs)))
    started = time.monotonic()
    target = OtlpTarget.resolve(options.otlp_endpoint, options.otlp_protocol)
    parts = _Parts(
        SpanWriter(
            run_dir.spans,
            2 if options.simulated else 1,
            run_dir.file(WRITER_LOG),
            target,
            run_dir.file(EXPORT_SUMMARY),
            options.api_key_env,
            run_dir.manifest_path,
        )
    )
    if target is not None:
        display.note(f"exporting spans live to {target.traces_url} ({target.protocol})")
    status, message = "failed", ""
    finished: dict[str, Any] = {}
    abandoned = False  # the workload could not start (a --graph mistake): nothing to keep
    try:
        with signals_interrupt():
            if options.ray is not None:
                status, message, finished = _run_on_ray(options, run_plan, run_dir, parts, display)
            else:
                _start(options, run_plan, run_dir, parts, display)
                assert parts.workload is not None
                status, message, finished = _supervise(parts.workload, run_dir, display)
    except KeyboardInterrupt as exc:
        status, message = "interrupted", f"{_interruption(exc)} before the workload started"
    except UsageError:
        abandoned = True
        raise
    finally:
        if abandoned:
            _stop(parts)
            parts.writer.wait(SPAN_WRITER_TIMEOUT_S)
            shutil.rmtree(run_dir.path, ignore_errors=True)
        else:  # whatever happened, the run directory gets its ending
            result = _record_end(
                options, run_dir, parts, target, (status, message, finished), started, run_plan, display
            )
    report, summary = conclude(run_dir, analyse=not options.bare)
    return replace(result, report=report, headline=summary)


def _record_end(
    options: RunOptions,
    run_dir: RunDir,
    parts: _Parts,
    target: OtlpTarget | None,
    outcome: tuple[str, str, dict[str, Any]],
    started: float,
    run_plan: RunPlan,
    display: RunDisplay,
) -> RunResult:
    """Stop the parts, check what they recorded, and write how the run ended into the manifest."""
    status, message, finished = outcome
    noted: list[str] = []
    with signals_deferred(noted):  # a second signal must not cost the run directory its ending
        status, message, checks, summary = _finish(
            options, run_dir, parts, status, message, finished, len(run_plan.runs)
        )
        if noted:
            display.note(f"{', '.join(noted)} received while finishing the run directory; finished it first")
        wall = time.monotonic() - started
        export = _export_summary(run_dir) if target is not None else None
        replay = checks.pop("replay")
        ending = Ending(
            status,
            message,
            wall,
            summary,
            [*_degraded(parts.sampler), *parts.degraded],
            finished,
            {"otlp_export": export, "replay": replay, "checks": checks},
        )
        try:
            record_ending(run_dir, ending)
        except OSError as exc:
            raise UsageError(
                f"cannot write the manifest of {run_dir.path}: {exc.strerror or exc} (is the disk full?); "
                "spans.jsonl holds what was recorded"
            ) from None
    return RunResult(run_dir, status, wall, summary, message, export=export, replay=replay)


@dataclass
class _Parts:
    """The processes of one run, as far as they were started."""

    writer: SpanWriter
    server: ServerProcess | None = None
    workload: WorkloadProcess | None = None
    sampler: StackSampler | None = None
    poller: ProcessPoller | None = None
    degraded: list[dict[str, str]] = field(default_factory=list)  # what parts elsewhere could not measure


def _start_model(
    options: RunOptions, run_plan: RunPlan, run_dir: RunDir, parts: _Parts, display: RunDisplay
) -> tuple[str, str]:
    """The simulated model server, if the run has one: the base URL and model name workers use."""
    if options.simulated:
        assert options.model is not None
        preset = load_preset(options.model)
        parts.server = _start_server(options, run_plan, run_dir, parts.writer.fds[1])
        display.note(f"simulated model server (preset {preset.name}, SIMULATED timing) at {parts.server.base_url}")
        return parts.server.base_url, preset.model
    assert options.endpoint is not None and options.model_name is not None
    return options.endpoint, options.model_name


def _run_on_ray(
    options: RunOptions, run_plan: RunPlan, run_dir: RunDir, parts: _Parts, display: RunDisplay
) -> tuple[str, str, dict[str, Any]]:
    """The agent runs on Ray workers (runner.fleet); this process relays their spans to the writer."""
    from profiler.runner.fleet import FleetSettings, run_on_ray

    assert options.ray is not None
    base_url, model_name = _start_model(options, run_plan, run_dir, parts, display)
    parts.writer.release_parent_ends(keep=1)  # the server has its end; results come back through ours
    if parts.server is not None:
        parts.server.wait_ready()
    config = _workload_settings(options, run_dir, run_plan, base_url, model_name)
    write_json_atomic(run_dir.file(WORKLOAD_CONFIG), config)
    settings = FleetSettings(
        options.ray, options.ray_workers, options.concurrency, options.sampler, options.sample_rate
    )
    roles = {MODEL_SERVER: parts.server.pid} if parts.server is not None else {}
    outcome = run_on_ray(settings, config, run_dir, parts.writer.fds[0], display, roles)
    parts.degraded.extend(outcome.degraded)
    run_dir.update_manifest(ray={"address": options.ray, "workers": outcome.finished.pop("workers", [])})
    return outcome.status, outcome.message, outcome.finished


def _start(options: RunOptions, run_plan: RunPlan, run_dir: RunDir, parts: _Parts, display: RunDisplay) -> None:
    """Model server (simulated), workload, py-spy and the psutil poller, each kept in `parts` at once."""
    base_url, model_name = _start_model(options, run_plan, run_dir, parts, display)
    config = _workload_config(options, run_dir, run_plan, base_url, model_name)
    workload = parts.workload = WorkloadProcess(config, run_dir.file(WORKLOAD_LOG), parts.writer.fds[0])
    parts.writer.release_parent_ends()
    run_dir.add_part(PartInfo(MAIN, socket.gethostname(), workload.pid, cores=environment.usable_cores()))
    what = f"--graph {options.graph}" if options.graph else f"the {options.agent} agent"
    display.note(f"starting the workload: imports, building {what}, calibrating the meter")
    if options.sampler and not options.bare:
        parts.sampler = StackSampler(
            workload.pid,
            run_dir.file(WORKLOAD_SAMPLES),
            run_dir.file(SAMPLER_LOG),
            options.sample_rate,
            children=options.sample_children,
        )
    roles = {WORKLOAD: workload.pid, **({MODEL_SERVER: parts.server.pid} if parts.server else {})}
    if parts.sampler is not None and parts.sampler.process is not None:
        roles[SAMPLER] = parts.sampler.process.pid  # py-spy's own cost, outside the workload
    parts.poller = ProcessPoller(run_dir.file(PROCESS), roles)
    parts.poller.start()
    if parts.server is not None:
        parts.server.wait_ready()  # the workload imports meanwhile
    if parts.sampler is not None:
        parts.sampler.check_started()
        if parts.sampler.unavailable:
            display.note(f"[sampler unavailable] {parts.sampler.unavailable}; CPU per span still comes from the meter")


def _finish(
    options: RunOptions,
    run_dir: RunDir,
    parts: _Parts,
    status: str,
    message: str,
    finished: dict[str, Any],
    planned: int,
) -> tuple[str, str, dict[str, Any], RunSummary]:
    """Stop every part, then check that what the parts produced was recorded; the final status."""
    server_death = _stop(parts)
    written = parts.writer.wait(SPAN_WRITER_TIMEOUT_S)
    summary = recorded_summary(run_dir)
    sent = [finished.get("spans_written"), *([parts.server.spans_sent] if parts.server else [])]
    poller_error = parts.poller.error if parts.poller else None
    writer_error = written.get("last_error") and f"{SPANS}: {written['last_error']}"
    write_errors = [poller_error, finished.get("write_error"), writer_error]
    # a bare run (`orchestrace overhead`) records no spans: its agent runs are the workload's own count
    found = (finished.get("completed", 0) + finished.get("errors", 0)) if options.bare else summary.agent_runs
    completeness = check_completeness(planned, finished, found, sent, written, server_death, write_errors)
    status = with_errors(status, summary)
    if completeness.problems:
        status = "failed" if server_death or not status.startswith("completed") else "incomplete"
        message = "; ".join(filter(None, [message, *completeness.problems]))
    replay = _check_replay(options.replay, run_dir) if options.replay and status.startswith("completed") else None
    if replay is not None and replay["first_mismatch"]:
        status, message = "failed", f"the replay diverged from {options.replay}: {replay['first_mismatch']}"
    return status, message, {**completeness.to_dict(), "replay": replay}, summary


def _stop(parts: _Parts) -> str | None:
    """Stop the workload, py-spy, the poller and the model server; how the server died, if it did."""
    if parts.workload is not None:
        parts.workload.stop(INTERRUPT_GRACE_S)
    if parts.sampler is not None:
        parts.sampler.stop()
    if parts.poller is not None:
        parts.poller.stop()
    server_death = parts.server.died() if parts.server is not None else None
    if parts.server is not None:
        parts.server.stop()
    return server_death


def _interruption(exc: KeyboardInterrupt) -> str:
    return f"interrupted by {exc.name}" if isinstance(exc, Interrupted) else "interrupted by the user"


def _check_replay(recorded: Path, run_dir: RunDir) -> dict[str, Any]:
    """Did the replay repeat the recorded trajectories call for call?"""
    try:
        mismatch = first_mismatch(load_recording(recorded).calls, calls_by_agent_run(run_dir.path))
    except UsageError as exc:  # the recording went away meanwhile: say so, keep the run
        return {"of": str(recorded), "matched": None, "first_mismatch": None, "error": str(exc)}
    return {"of": str(recorded), "matched": mismatch is None, "first_mismatch": mismatch}


def _export_summary(run_dir: RunDir) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(run_dir.file(EXPORT_SUMMARY).read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return {"error": "the span writer left no export summary; see spanwriter.log"}


def _degraded(sampler: StackSampler | None) -> list[dict[str, str]]:
    """What the run could not measure, for the manifest and the report (turning py-spy off was asked for)."""
    if sampler is not None and sampler.unavailable:
        return [{"component": "sampler", "reason": sampler.unavailable}]
    return []


def _start_server(options: RunOptions, run_plan: RunPlan, run_dir: RunDir, span_fd: int) -> ServerProcess:
    assert options.model is not None
    scripts_path = script_path = None
    if run_plan.scripts:
        scripts_path = run_dir.file(SCRIPTS)
        write_json_atomic(scripts_path, run_plan.scripts)
    if run_plan.default_script is not None:
        script_path = run_dir.file(SCRIPT)
        write_json_atomic(script_path, run_plan.default_script)
    faults_path = None
    if options.faults is not None:
        faults_path = run_dir.file(FAULTS)
        write_json_atomic(faults_path, read_spec(options.faults))
    host = "127.0.0.1"
    if options.ray is not None and options.ray != LOCAL:  # Ray workers on other hosts must reach it
        host = address_towards(options.ray)
    return ServerProcess(
        options.model, run_dir.path, run_dir.run_id, scripts_path, script_path, span_fd, faults_path, host
    )


def _workload_config(options: RunOptions, run_dir: RunDir, run_plan: RunPlan, base_url: str, model_name: str) -> Path:
    path = run_dir.file(WORKLOAD_CONFIG)
    write_json_atomic(path, _workload_settings(options, run_dir, run_plan, base_url, model_name))
    return path


def _workload_settings(
    options: RunOptions, run_dir: RunDir, run_plan: RunPlan, base_url: str, model_name: str
) -> dict[str, Any]:
    """What a workload is asked to run (`workload.json`; replay reads it)."""
    return {
        "run_id": run_dir.run_id,
        "run_dir": str(run_dir.path),
        "label": options.label,
        "agent": options.agent,
        "graph": options.graph,
        "runs": run_plan.runs,
        "concurrency": options.concurrency,
        "base_url": base_url,
        "model_name": model_name,
        "api_key_env": None if options.simulated else options.api_key_env,
        "request_timeout_s": options.request_timeout_s,
        "max_retries": options.max_retries,
        "recursion_limit": options.recursion_limit,
        "loop": options.loop,
        "mode": options.mode,
        "seed": options.seed,
        "bare": options.bare,
    }


def _supervise(workload: WorkloadProcess, run_dir: RunDir, display: RunDisplay) -> tuple[str, str, dict[str, Any]]:
    """Follow the workload's progress; Ctrl-C asks it to stop and flush, a second one kills it."""
    interrupted_at: float | None = None
    interruption = ""
    finished: dict[str, Any] = {}
    fatal = ""
    started = False
    try:
        while True:
            try:  # Ctrl-C may land anywhere in here, not only while waiting for events
                events = workload.poll()
                if events is None:
                    break
                if interrupted_at is not None and time.monotonic() - interrupted_at > INTERRUPT_GRACE_S:
                    workload.kill()
                if not events:
                    display.tick()
                for event in events:
                    if event["event"] == "started":
                        started = True
                        display.note(f"run directory: {run_dir.path}")
                        display.start(event["total"], event["agent"])
                    elif event["event"] == "run":
                        display.advance(event["ok"], event.get("error"))
                    elif event["event"] == "fatal":
                        fatal = event["message"]
                    elif event["event"] == "finished":
                        finished = event
            except KeyboardInterrupt as exc:
                if interrupted_at is None:
                    interrupted_at = time.monotonic()
                    interruption = _interruption(exc)
                    display.note("interrupting: flushing what was recorded (Ctrl-C again to kill)")
                    workload.interrupt()
                    continue
                workload.kill()
                break
    finally:
        if started:
            display.close()
        code = workload.wait()
    if interrupted_at is not None or finished.get("status") == "interrupted":
        return "interrupted", interruption or "interrupted by the user", finished
    if fatal:
        if not started:
            raise UsageError(fatal)
        return "failed", fatal, finished
    if code != 0 or not finished:
        return "failed", f"the workload process exited with status {code}; see {run_dir.file(WORKLOAD_LOG)}", finished
    return "completed", "", finished


def _replay_outcome(replay: dict[str, Any]) -> str:
    if replay.get("error"):
        return f"not compared with it ({replay['error']})"
    return "every model call repeated the recording's (threads, turns, tool calls, arguments)"


def summary_lines(result: RunResult) -> list[str]:
    """What `run` prints after the report's summary: the run as a whole, where it is, what went wrong."""
    s = result.summary
    lines = [
        f"wall time    {result.wall_s:.2f} s (the whole run, start-up included)",
        f"tool calls   {s.tool_calls} ({s.tool_errors} failed)",
        f"run dir      {result.run_dir.path}",
    ]
    if result.replay is not None and not result.replay["first_mismatch"]:  # a divergence is the status
        lines.append(f"replay       of {result.replay['of']}: {_replay_outcome(result.replay)}")
    if result.report is None:  # no analysis: the counts from the spans at least
        lines.insert(0, f"agent runs   {s.agent_runs} ({s.errors} failed, {s.incomplete} incomplete)")
    if result.export is not None:
        e = result.export
        if "error" in e:
            lines.append(f"OTLP export  {e['error']}")
        else:
            failed = (
                f", {e['failed']} NOT exported ({e['last_error'] or 'backend not answering'})" if e["failed"] else ""
            )
            lines.append(
                f"OTLP export  {e['exported']}/{e['spans']} spans to {e['endpoint']} ({e['protocol']}){failed}"
            )
    if result.message:
        lines.append(f"status       {result.status}: {result.message}")
    return lines
