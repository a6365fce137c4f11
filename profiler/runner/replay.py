"""`run --replay RUN`: the recorded agent behaviour, again, against the simulated server at another preset.

Record once (against a real endpoint or any preset), then measure what a different accelerator
does to the CPU share: each recorded agent run becomes a trajectory script (its threads, turns,
tool calls with arguments, output token counts) that the simulated server follows. After the
replay the two trajectories are compared call by call; the first difference is named.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.errors import UsageError
from profiler.store.rundir import MANIFEST, SPANS, WORKLOAD_CONFIG
from profiler.store.spans import read_span_file
from profiler.store.trajectories import TRAJECTORIES, TrajectoryCall, read_trajectories

NOT_RECORDED = {"error": {"status": 500, "message": "this call was not recorded (it failed in the recording)"}}


@dataclass(frozen=True)
class Recording:
    path: Path
    agent: str | None
    graph: str | None
    concurrency: int
    inputs: list[dict[str, Any]]  # per agent run, in order
    calls: dict[int, list[TrajectoryCall]]  # agent-run index -> its chat calls (runs that started)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--replay {path.parent}: no {path.name}; {what}") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--replay {path.parent}: {path.name} is unreadable ({exc})") from None


def calls_by_agent_run(run_dir: Path) -> dict[int, list[TrajectoryCall]]:
    """A run's recorded chat calls per agent run (trace ids mapped through the invoke_agent spans)."""
    by_trace = read_trajectories(run_dir / TRAJECTORIES)
    index_of = {
        span.trace_id: int(span.attributes["orchestrace.task.index"])
        for span in read_span_file(run_dir / SPANS).spans
        if span.operation == "invoke_agent" and "orchestrace.task.index" in span.attributes
    }
    return {index: by_trace.get(trace, []) for trace, index in index_of.items()}  # runs that started


def load_recording(path: Path) -> Recording:
    if not (path / MANIFEST).is_file():
        raise UsageError(f"--replay {path} is not a run directory (no {MANIFEST})")
    if not (path / TRAJECTORIES).is_file():
        raise UsageError(
            f"--replay {path} has no {TRAJECTORIES}: it was recorded by an older orchestrace; record it again"
        )
    config = _read_json(
        path / WORKLOAD_CONFIG,
        "only runs made by `orchestrace run` or profile_graph() know their inputs; record with one of those",
    )
    calls = calls_by_agent_run(path)
    if not any(calls.values()):
        raise UsageError(f"--replay {path}: no agent run recorded any model call; nothing to replay")
    return Recording(
        path=path,
        agent=config.get("agent"),
        graph=config.get("graph"),
        concurrency=int(config.get("concurrency") or 1),
        inputs=[run["input"] for run in config["runs"]],
        calls=calls,
    )


def _thread_names(calls: list[TrajectoryCall]) -> dict[str, str]:
    """Threads in order of first appearance: the agent itself, then its sub-agents."""
    names: dict[str, str] = {}
    for call in sorted(calls, key=lambda c: c.turn):
        names.setdefault(call.thread, "the agent" if not names else f"sub-agent {len(names)}")
    return names


def _turn(call: TrajectoryCall) -> dict[str, Any]:
    if call.error_status is not None:
        return {"error": {"status": call.error_status, "message": "failed in the recording"}}
    tokens = call.output_tokens or 1
    if call.tool_calls:
        return {
            "tool_calls": [{"name": c.name, "args": dict(c.args)} for c in call.tool_calls],
            "output_tokens": tokens,
        }
    return {"content": "", "output_tokens": tokens}  # the server writes filler text of this length


def script_of(calls: list[TrajectoryCall]) -> dict[str, Any]:
    """A trajectory script that makes the simulated model repeat these calls."""
    if not calls:  # the run's first model call failed in the recording
        return {"turns": [NOT_RECORDED]}
    threads: dict[str, list[dict[str, Any]]] = {}
    for thread in _thread_names(calls):
        own = {c.turn: c for c in calls if c.thread == thread}
        threads[thread] = [_turn(own[t]) if t in own else NOT_RECORDED for t in range(max(own) + 1)]
    first = next(iter(threads))
    return {"turns": threads[first], "threads": {key: {"turns": turns} for key, turns in threads.items()}}


def replay_runs(recording: Recording) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The agent runs that started in the recording (same inputs, same order), one script each."""
    runs, scripts = [], {}
    for index, calls in sorted(recording.calls.items()):
        key = f"replay-{index}"
        runs.append({"key": key, "input": recording.inputs[index], "scripted": True, "index": index})
        scripts[key] = script_of(calls)
    return runs, scripts


def _call_text(call: TrajectoryCall | None) -> str:
    if call is None:
        return "no call"
    if call.error_status is not None:
        return f"a failed call (status {call.error_status})"
    if not call.tool_calls:
        return "a final answer"
    return ", ".join(f"{c.name}({json.dumps(dict(c.args), sort_keys=True)})" for c in call.tool_calls)


def first_mismatch(recorded: dict[int, list[TrajectoryCall]], replayed: dict[int, list[TrajectoryCall]]) -> str | None:
    """The first call where the replay did something other than the recording, in words; None if none.

    Calls are matched by (thread, turn); parallel branches with the same first message share a
    key, so each key holds a list and is compared as a multiset. Agent runs are numbered from 1,
    as everywhere else.
    """
    for index in sorted(set(recorded) | set(replayed)):
        if index not in recorded:
            return f"agent run {index + 1} did not run in the recording but ran in the replay"
        mine = recorded[index]
        theirs: dict[tuple[str, int], list[TrajectoryCall]] = {}
        for call in replayed.get(index, []):
            theirs.setdefault((call.thread, call.turn), []).append(call)
        names = _thread_names(mine)
        for call in sorted(mine, key=lambda c: (list(names).index(c.thread), c.turn)):
            where = f"agent run {index + 1}, {names[call.thread]}, model call {call.turn + 1}"
            candidates = theirs.get((call.thread, call.turn), [])
            if not candidates:
                return f"{where}: recorded {_call_text(call)}, but the replayed graph made no such call"
            got = next((c for c in candidates if _call_text(c) == _call_text(call)), candidates[0])
            candidates.remove(got)
            unbound = [c.name for c in call.tool_calls if c.name not in got.tools]
            if unbound:
                return (
                    f"{where}: recorded tool '{unbound[0]}' is not bound to the graph any more "
                    f"(bound: {', '.join(got.tools) or 'none'})"
                )
            if _call_text(call) != _call_text(got):
                return f"{where}: recorded {_call_text(call)}, replayed {_call_text(got)}"
        extra = [c for calls in theirs.values() for c in calls]
        if extra:
            first = min(extra, key=lambda c: c.turn)
            return (
                f"agent run {index + 1}: the replayed graph made {len(extra)} more model call(s), "
                f"first {_call_text(first)}"
            )
    return None
