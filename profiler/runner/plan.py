"""Turn `run` options into the list of agent runs and the scripts the model server needs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.errors import UsageError
from profiler.modelserver.trajectory import Script
from profiler.runner.sampling import DEFAULT_SAMPLE_RATE

DEFAULT_AGENT = "rag"
DEFAULT_PRESET = "h100-llama3.1-8b"


@dataclass(frozen=True)
class RunOptions:
    agent: str | None = None
    graph: str | None = None
    inputs: Path | None = None
    input_values: tuple[dict[str, Any], ...] | None = None  # graph inputs given in memory (the Python API)
    tasks: int | None = None
    concurrency: int = 4
    concurrency_given: bool = True  # else a replay takes the recording's
    model: str | None = None  # preset name or preset file (simulated server)
    script: Path | None = None
    faults: Path | None = None  # fault spec for the simulated server
    endpoint: str | None = None
    model_name: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    out: Path = Path("traces")
    seed: int = 0
    request_timeout_s: float = 120.0
    max_retries: int = 0
    recursion_limit: int = 50
    sampler: bool = True
    sample_rate: int = DEFAULT_SAMPLE_RATE
    sample_children: bool = False
    loop: str = "asyncio"
    mode: str = "async"
    otlp_endpoint: str | None = None  # else OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT
    otlp_protocol: str | None = None
    replay: Path | None = None  # a run directory whose recorded trajectories to replay
    bare: bool = False  # no instrumentation at all (the baseline `orchestrace overhead` compares with)
    ray: str | None = None  # spread the agent runs over Ray: "local" (an instance for the run) or HOST:PORT
    ray_workers: int = 2  # Ray actors, each a profiled workload running `concurrency` agent runs at once
    argv: tuple[str, ...] = ("orchestrace",)  # the command, as the manifest records it

    @property
    def simulated(self) -> bool:
        return self.endpoint is None

    @property
    def label(self) -> str:
        if self.graph:
            return self.graph.rpartition(":")[2]
        return self.agent or DEFAULT_AGENT


@dataclass(frozen=True)
class RunPlan:
    runs: list[dict[str, Any]]  # {"key", "input", "scripted"} in execution order
    scripts: dict[str, dict[str, Any]]  # key -> script (simulated server only)
    default_script: dict[str, Any] | None


def validate(options: RunOptions) -> RunOptions:
    """Check option combinations; fill the agent default. Errors say what to change."""
    from agents import AGENT_NAMES

    if options.replay is not None:
        options = _replay_options(options)
    if options.agent and options.graph:
        raise UsageError("use either --agent or --graph, not both")
    if options.agent and options.agent not in AGENT_NAMES:
        raise UsageError(f"unknown agent '{options.agent}'; valid names: {', '.join(AGENT_NAMES)}")
    if options.graph and options.inputs is None and options.input_values is None and options.replay is None:
        raise UsageError("--graph needs --inputs FILE.jsonl (one graph input per line)")
    if options.input_values is not None and not options.input_values:
        raise UsageError("inputs is empty: give at least one graph input")
    if options.inputs is not None and not options.graph:
        raise UsageError("--inputs is for --graph; sample agents bring their own tasks")
    if options.concurrency < 1:
        raise UsageError(f"--concurrency must be >= 1, got {options.concurrency}")
    if options.tasks is not None and options.tasks < 1:
        raise UsageError(f"--tasks must be >= 1, got {options.tasks}")
    if not 1 <= options.sample_rate <= 1000:
        raise UsageError(f"--sample-rate must be between 1 and 1000 samples/s, got {options.sample_rate}")
    if options.mode not in ("async", "sync"):
        raise UsageError(f"--mode must be async or sync, got {options.mode!r}")
    if options.loop not in ("asyncio", "uvloop"):
        raise UsageError(f"--loop must be asyncio or uvloop, got {options.loop!r}")
    if options.request_timeout_s <= 0:
        raise UsageError("--request-timeout must be > 0 seconds")
    if options.endpoint is not None:
        if not options.endpoint.startswith(("http://", "https://")):
            raise UsageError(f"--endpoint must be an http(s) URL, got {options.endpoint!r}")
        if not options.model_name:
            raise UsageError("--endpoint needs --model-name NAME (the model id the server expects)")
        if options.model is not None:
            raise UsageError("--model picks a simulated preset; with --endpoint use --model-name")
        if options.script is not None:
            raise UsageError("--script drives the simulated server; it cannot be used with --endpoint")
        if options.faults is not None:
            raise UsageError("--faults makes the simulated server fail; it cannot be used with --endpoint")
    if options.ray is not None:
        _validate_ray(options)
    if not options.agent and not options.graph:
        options = _replace(options, agent=DEFAULT_AGENT)
    if options.simulated and options.model is None:
        options = _replace(options, model=DEFAULT_PRESET)
    return options


def _validate_ray(options: RunOptions) -> None:
    from profiler.runner.raycluster import LOCAL, check_reachable, import_ray

    import_ray()  # without Ray, say how to install it before anything starts
    if options.ray is not None and options.ray != LOCAL:
        check_reachable(options.ray)
    if options.ray_workers < 1:
        raise UsageError(f"--ray-workers must be >= 1, got {options.ray_workers}")
    for unsupported, flag in ((options.mode == "sync", "--mode sync"), (options.loop == "uvloop", "--loop uvloop"),
                              (options.bare, "a bare run")):  # fmt: skip
        if unsupported:
            raise UsageError(f"--ray runs agent runs as tasks on each worker's asyncio loop; drop {flag}")


def _replay_options(options: RunOptions) -> RunOptions:
    """Replay runs the recorded agent (or --graph, for a run recorded with your own graph) on its inputs."""
    from profiler.runner.replay import load_recording

    assert options.replay is not None
    for given, flag in ((options.agent, "--agent"), (options.inputs, "--inputs"), (options.tasks, "--tasks"),
                        (options.script, "--script"), (options.endpoint, "--endpoint")):  # fmt: skip
        if given is not None:
            raise UsageError(f"--replay repeats the recorded agent runs on the simulated server; drop {flag}")
    recording = load_recording(options.replay)
    if not options.concurrency_given:
        options = _replace(options, concurrency=recording.concurrency)
    if options.graph:
        return options
    if recording.agent is None and recording.graph is None:
        raise UsageError(f"--replay {options.replay}: the recording names no graph; add --graph MODULE:FACTORY")
    return _replace(options, agent=recording.agent, graph=recording.graph)


def _replace(options: RunOptions, **changes: Any) -> RunOptions:
    from dataclasses import replace

    return replace(options, **changes)


def _read_inputs(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UsageError(f"--inputs file {path} does not exist")
    inputs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--inputs {path}: line {number} is not valid JSON: {exc.msg}") from None
        if not isinstance(value, dict):
            raise UsageError(f"--inputs {path}: line {number} must be a JSON object (one graph input)")
        inputs.append(value)
    if not inputs:
        raise UsageError(f"--inputs file {path} has no inputs")
    return inputs


def _read_script(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--script file {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"--script file {path} is not valid JSON: {exc}") from None
    return Script.from_dict(data, f"--script {path}").to_dict()


def plan(options: RunOptions) -> RunPlan:
    """The agent runs in order: the task set (or inputs) cycled to --tasks, or the recorded ones."""
    if options.replay is not None:
        from profiler.runner.replay import load_recording, replay_runs

        runs, scripts = replay_runs(load_recording(options.replay))
        return RunPlan(runs, scripts, None)
    default_script = _read_script(options.script) if options.script else None
    if options.graph:
        values = options.input_values
        if values is None:
            assert options.inputs is not None
            values = tuple(_read_inputs(options.inputs))
        base: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
            (f"input-{i}", value, None) for i, value in enumerate(values)
        ]
    else:
        from agents import get_agent

        assert options.agent is not None
        base = [(t.id, t.input, t.script) for t in get_agent(options.agent).tasks()]
    scripts = {key: script for key, _, script in base if script is not None}
    if not options.simulated or default_script is not None:
        scripts = {}
    count = options.tasks or len(base)
    runs = []
    for i in range(count):
        key, value, _ = base[i % len(base)]
        runs.append({"key": key, "input": value, "scripted": key in scripts})
    return RunPlan(runs, scripts, default_script)
