"""`run --replay`: the recorded behaviour again at another preset, and a clear error when the graph changed."""

import json
from pathlib import Path

import pytest

from tests.conftest import by_trace, manifest_of, run_dir_of, spans_of

pytestmark = pytest.mark.integration

GRAPH = str(Path(__file__).with_name("user_graph.py"))


def _tool_sequences(run_dir: Path) -> dict[int, list[list[str]]]:
    """Per agent run (by index): the executed tools, step by step (the tools of one step run in
    parallel, so within a step their start order is the scheduler's: compare them sorted)."""
    sequences = {}
    for spans in by_trace(spans_of(run_dir)).values():
        root = next(s for s in spans if s.operation == "invoke_agent" and s.parent_id is None)
        steps: dict[str, list[str]] = {}
        for tool in sorted((s for s in spans if s.operation == "execute_tool"), key=lambda s: s.start_ns):
            steps.setdefault(str(tool.parent_id), []).append(str(tool.attributes["gen_ai.tool.name"]))
        sequences[int(root.attributes["orchestrace.task.index"])] = [sorted(names) for names in steps.values()]
    return sequences


def _calls(run_dir: Path) -> list[tuple]:
    lines = [json.loads(line) for line in (run_dir / "trajectories.jsonl").read_text().splitlines()]
    return sorted(
        (c["thread"], c["turn"], json.dumps(c["tool_calls"], sort_keys=True), c["output_tokens"]) for c in lines
    )


def test_replay_reproduces_the_recorded_tool_calls_at_another_preset(cli, tmp_path):
    recorded = cli(
        "run", "--agent", "supervisor", "--tasks", "3", "--concurrency", "3", "--model", "instant",
        "--no-sampler", "--out", str(tmp_path),
    )  # fmt: skip
    assert recorded.code == 0, recorded.err
    recording = run_dir_of(recorded)
    replayed = cli(
        "run", "--replay", str(recording), "--model", "groq-llama3-8b", "--no-sampler", "--out", str(tmp_path)
    )
    assert replayed.code == 0, replayed.err + replayed.out
    replay = run_dir_of(replayed)
    manifest = manifest_of(replay)
    assert manifest["replay"] == {"of": str(recording), "matched": True, "first_mismatch": None}
    assert manifest["model"]["preset"]["name"] == "groq-llama3-8b"
    assert manifest["workload"]["concurrency"] == 3  # the recording's, unless --concurrency is given
    assert _tool_sequences(replay) == _tool_sequences(recording)
    assert _calls(replay) == _calls(recording)  # threads, turns, tool calls with arguments, output tokens
    assert f"replay of {recording}: every model call repeated the recording's" in " ".join(replayed.out.split())


def test_replay_through_a_changed_graph_names_the_first_mismatch(cli, tmp_path):
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(json.dumps({"messages": [{"role": "user", "content": "count these words"}]}) + "\n")
    recorded = cli(
        "run", "--graph", f"{GRAPH}:build", "--inputs", str(inputs), "--model", "instant", "--no-sampler",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert recorded.code == 0, recorded.err
    replayed = cli(
        "run", "--replay", str(run_dir_of(recorded)), "--graph", f"{GRAPH}:build_without_word_count",
        "--model", "instant", "--no-sampler", "--out", str(tmp_path),
    )  # fmt: skip
    assert replayed.code == 1
    assert "the replay diverged" in replayed.out
    out = " ".join(replayed.out.split())  # the console wraps long lines
    assert "agent run 1, the agent, model call 1: recorded tool 'word_count' is not bound to the graph any more" in out
    assert manifest_of(run_dir_of(replayed))["replay"]["matched"] is False


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--tasks", "2"), "drop --tasks"),
        (("--agent", "rag"), "drop --agent"),
    ],
)
def test_replay_option_conflicts_are_one_line_errors(cli, tmp_path, extra, message):
    run_dir = Path("traces/examples/rag-h100")
    result = cli("run", "--replay", str(run_dir), *extra, "--out", str(tmp_path))
    assert result.code == 1 and message in result.err and "Traceback" not in result.err


def test_replay_of_something_that_is_not_a_recording(cli, tmp_path):
    result = cli("run", "--replay", str(tmp_path), "--out", str(tmp_path))
    assert result.code == 1 and "is not a run directory" in result.err
