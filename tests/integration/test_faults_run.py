"""Faults injected by the simulated server show up exactly where they belong in a real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from profiler.modelserver.faults import FAULT_ATTRIBUTE
from profiler.store.spans import KIND_CLIENT, KIND_SERVER
from tests.conftest import by_trace, manifest_of, run_dir_of, spans_of

pytestmark = pytest.mark.integration
GRAPH = f"{Path(__file__).with_name('user_graph.py')}:build"
TURNS = [
    {"tool_calls": [{"name": "add", "args": {"a": 2, "b": 3}}], "output_tokens": 20},
    {"content": "five", "output_tokens": 10},
]


@pytest.fixture
def run_graph(cli, tmp_path):
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text("".join(json.dumps({"messages": [{"role": "user", "content": t}]}) + "\n" for t in "ab"))

    def run(turns: list[dict], *extra: str, faults: dict | None = None):
        script = tmp_path / "script.json"
        script.write_text(json.dumps({"turns": turns}))
        if faults is not None:
            (tmp_path / "faults.json").write_text(json.dumps(faults))
            extra = (*extra, "--faults", str(tmp_path / "faults.json"))
        result = cli("run", "--graph", GRAPH, "--inputs", str(inputs), "--script", str(script), "--model", "instant",
                     "--concurrency", "2", "--no-sampler", "--out", str(tmp_path / "runs"), *extra)  # fmt: skip
        run_dir = run_dir_of(result)
        return result, run_dir, json.loads((run_dir / "report.json").read_text())

    return run


def server_faults(run_dir: Path) -> list[str | None]:
    return [s.attributes.get(FAULT_ATTRIBUTE) for s in spans_of(run_dir) if s.kind == KIND_SERVER]


def test_a_call_failing_twice_then_answering_is_one_call_three_attempts_and_retry_wait(run_graph):
    failing = {**TURNS[0], "fail": {"status": 429, "times": 2, "retry_after_s": 0.3}}
    result, run_dir, report = run_graph([failing, TURNS[1]], "--max-retries", "2")
    assert result.code == 0, result.out + result.err
    inference = report["inference"]
    assert (inference["calls"], inference["errors"]) == (4, 0)
    assert (inference["attempts"], inference["failed_attempts"], inference["retries"]) == (8, 4, 4)
    assert "LLM calls 4 (0 failed; 8 attempts, 4 failed, 4 retries)" in " ".join(result.out.split())
    for spans in by_trace(spans_of(run_dir)).values():  # in each agent run: the first call, and only it, retried
        chats = sorted((s for s in spans if s.kind == KIND_CLIENT and s.operation == "chat"), key=lambda s: s.start_ns)
        servers = [[s for s in spans if s.kind == KIND_SERVER and s.parent_id == c.span_id] for c in chats]
        assert [[s.attributes.get(FAULT_ATTRIBUTE) for s in group] for group in servers] == [
            ["error_429", "error_429", None],
            [None],
        ]
    wall = report["wall_s"]
    assert 1.0 <= wall["retry_wait"] <= 1.8  # two back-offs of 0.3 s per agent run, as Retry-After asked
    assert wall["retry_wait"] > 4 * wall["contention"]


def test_a_fault_spec_failing_every_request_fails_every_call_after_its_retries(run_graph):
    result, run_dir, report = run_graph(
        TURNS, "--max-retries", "1", faults={"errors": {"503": 1.0}, "retry_after_s": 0.1}
    )
    assert result.code == 3, result.out + result.err
    inference = report["inference"]
    assert inference["calls"] == inference["errors"] == 2  # one call per agent run, failed after 2 attempts
    assert inference["attempts"] == inference["failed_attempts"] == 4
    assert server_faults(run_dir) == ["error_503"] * 4
    assert manifest_of(run_dir)["model"]["faults"]["errors"] == {"503": 1.0}


@pytest.mark.parametrize("fault", ["drop_mid_stream", "malformed_chunk"])
def test_broken_streams_fail_the_call_they_hit(run_graph, fault):
    result, run_dir, report = run_graph(TURNS, faults={fault: 1.0})
    assert result.code == 3, result.out + result.err
    assert report["inference"]["errors"] == report["inference"]["calls"] == 2
    assert server_faults(run_dir) == [{"drop_mid_stream": "drop", "malformed_chunk": "malformed"}[fault]] * 2


def test_latency_spikes_are_model_wait(run_graph):
    result, run_dir, report = run_graph(TURNS, faults={"latency_spikes": {"rate": 1.0, "seconds": 0.3}})
    assert result.code == 0, result.out + result.err
    assert report["wall_s"]["model_wait"] >= 4 * 0.3 and report["wall_s"]["retry_wait"] == 0
    assert server_faults(run_dir) == ["spike"] * 4


def test_a_bad_fault_spec_is_a_one_line_error(cli, tmp_path):
    spec = tmp_path / "faults.json"
    spec.write_text(json.dumps({"errors": {"429": 2}}))
    result = cli("run", "--faults", str(spec), "--out", str(tmp_path))
    assert (
        result.code == 1
        and result.err.strip() == f"error: fault spec {spec}: errors.429 must be a probability from 0 to 1"
    )
