"""`orchestrace run` end to end: real processes, real HTTP, the simulated server on `instant`."""

import json
from pathlib import Path

import pytest

from agents import AGENT_NAMES
from tests.conftest import by_trace, manifest_of, run_dir_of, spans_of
from tests.integration.checks import check_trace

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize("agent", AGENT_NAMES)
def test_each_agent_runs_and_its_spans_follow_its_scripts(cli, tmp_path, agent, mode):
    """In both modes: `--mode sync` calls graph.invoke, which needs every node to have a sync form."""
    result = cli(
        "run", "--agent", agent, "--tasks", "2", "--concurrency", "2", "--model", "instant", "--mode", mode,
        "--out", str(tmp_path),
    )  # fmt: skip
    assert result.code == 0, result.err + result.out
    run_dir = run_dir_of(result)
    manifest = manifest_of(run_dir)
    assert manifest["status"] == "completed" and manifest["schema"] == 1
    assert manifest["model"]["kind"] == "simulated" and manifest["model"]["preset"]["name"] == "instant"
    assert manifest["profiling"]["mode"] == mode
    assert manifest["summary"]["agent_runs"] == 2 and manifest["summary"]["errors"] == 0
    scripts = json.loads((run_dir / "scripts.json").read_text())
    traces = by_trace(spans_of(run_dir))
    assert len(traces) == 2
    keys = {check_trace(spans, scripts, frozenset({"delegate"})) for spans in traces.values()}
    assert len(keys) == 2
    text = " ".join(result.out.split())
    assert "agent runs 2, all completed" in text
    # the run ends with its summary and what to do next, not the whole report
    assert "Where the wall time went" not in text and "cores per accelerator n/a: instant is synthetic" in text
    assert text.endswith(
        f"next: orchestrace report {run_dir} --format html -o report.html · orchestrace size {run_dir}"
    )
    assert (tmp_path / "latest").resolve() == run_dir.resolve()  # `traces/latest`: no run id to paste


@pytest.mark.parametrize("agent", ["rag", "supervisor"])
def test_concurrency_8_has_no_orphans_or_cross_wired_spans(cli, tmp_path, agent):
    result = cli(
        "run", "--agent", agent, "--tasks", "16", "--concurrency", "8", "--model", "instant", "--out", str(tmp_path)
    )
    assert result.code == 0, result.err
    run_dir = run_dir_of(result)
    scripts = json.loads((run_dir / "scripts.json").read_text())
    traces = by_trace(spans_of(run_dir))
    assert len(traces) == 16
    for spans in traces.values():
        check_trace(spans, scripts, frozenset({"delegate"}))


def test_coder_edits_make_the_failing_tests_pass(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    result = cli("run", "--agent", "coder", "--model", "instant", "--concurrency", "4", "--out", str(tmp_path))
    assert result.code == 0, result.err
    for spans in by_trace(spans_of(run_dir_of(result))).values():
        runs = sorted((s for s in spans if s.name == "execute_tool run_tests"), key=lambda s: s.start_ns)
        outputs = [str(s.attributes["gen_ai.tool.call.result"]) for s in runs]
        assert outputs[0].startswith("exit status 1") and outputs[-1].startswith("exit status 0"), outputs


@pytest.mark.slow
@pytest.mark.parametrize("agent", AGENT_NAMES)
def test_at_the_default_preset_almost_nothing_is_unexplained(cli, tmp_path, agent):
    result = cli("run", "--agent", agent, "--tasks", "2", "--concurrency", "2", "--no-sampler", "--out", str(tmp_path))
    assert result.code == 0, result.err + result.out
    wall = json.loads((run_dir_of(result) / "report.json").read_text())["wall_s"]
    assert "cores per accelerator" in result.out and "(estimate at h100-llama3.1-8b" in " ".join(result.out.split())
    assert wall["other_wait"] <= 0.05 * wall["total"], wall
    assert wall["model_wait"] >= 0.5 * wall["total"]  # a GPU-speed model: most of the run is waiting on it


def test_a_client_without_usage_is_measured_and_sized_from_estimates(cli, tmp_path):
    """A plain ChatOpenAI: no token usage from the endpoint, requests through httpx2."""
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(json.dumps({"messages": [{"role": "user", "content": "count the words of this text"}]}) + "\n")
    graph = f"{Path(__file__).with_name('user_graph.py')}:build_plain"
    result = cli(
        "run", "--graph", graph, "--inputs", str(inputs), "--tasks", "4", "--no-sampler", "--out", str(tmp_path)
    )
    assert result.code == 0, result.err + result.out
    run_dir = run_dir_of(result)
    assert manifest_of(run_dir)["degraded"] == [] and "degraded" not in result.out  # --no-sampler was asked for
    report = json.loads((run_dir / "report.json").read_text())
    inference = report["inference"]
    assert inference["calls"] > 0 and inference["tokens_estimated_calls"] == inference["calls"]
    # the simulated server counted what it was sent and sent back: the estimates are close
    servers = [s for s in spans_of(run_dir) if s.kind == 2]
    for key, name in (("input_tokens", "gen_ai.usage.input_tokens"), ("output_tokens", "gen_ai.usage.output_tokens")):
        assert inference[key] == pytest.approx(sum(s.attributes[name] for s in servers), rel=0.15), key
    assert report["cpu_share_of_latency"] < 0.5  # a GPU-speed model: the model wait is seen, not other wait
    sized = json.loads(cli("size", str(run_dir), "--presets", "h100-llama3.1-8b", "--format", "json").out)
    assert sized["demand"]["tokens_estimated"] and sized["presets"][0]["d_acc_s"] > 0
    assert sized["presets"][0]["cpu_share_of_latency"] < 0.5


def test_py_spy_is_compared_with_the_cpu_of_the_same_window(cli, tmp_path):
    """Samples of the measured window against the process's CPU in it; start-up apart (it was ~45% of the flame)."""
    result = cli("run", "--agent", "rag", "--tasks", "4", "--sample-rate", "100", "--out", str(tmp_path))
    assert result.code == 0, result.err + result.out
    stacks = json.loads((run_dir_of(result) / "report.json").read_text())["stacks"]
    assert stacks["startup_s"] > 0.5  # imports and building the corpus index: sampled, kept apart
    # imports happen before the window (a first-use import inside it is the window's own CPU)
    assert stacks["by_category_s"].get("startup", 0.0) <= 0.25 * stacks["startup_by_category_s"]["startup"]
    # like with like (it read 0% without --subprocesses, 124-199% with); py-spy fails to read 15-20% of
    # its samples on this shared host, of running threads (the report says so): counted as busy
    # samples, they are CPU the window had
    missed_s = stacks["sampler_errors"] / stacks["rate_hz"]
    assert stacks["coverage"] <= 2.0 and (stacks["sampled_cpu_s"] + missed_s) / stacks["process_cpu_s"] >= 0.5
    assert 0.9 <= stacks["coverage"] <= 1.1 or stacks["coverage_note"]  # or the run says why not
