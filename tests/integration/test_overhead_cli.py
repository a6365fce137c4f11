"""`orchestrace overhead` end to end: bare and profiled rounds of a real workload, in fresh processes."""

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from profiler.render.overhead import render_overhead

pytestmark = [pytest.mark.integration, pytest.mark.slow]
GRAPH = str(Path(__file__).with_name("user_graph.py"))


def test_overhead_measures_bare_and_profiled_rounds_of_the_workload(cli, tmp_path):
    out = tmp_path / "overhead.json"
    result = cli(
        "overhead", "--agent", "rag", "--tasks", "4", "--rounds", "2", "--model", "instant", "--no-sampler",
        "--format", "json", "-o", str(out),
    )  # fmt: skip
    assert result.code == 0, result.err + result.out
    figures = json.loads(out.read_text())
    assert figures["rounds"] == 2
    assert figures["workload"]["agent_runs_per_round"] == 4
    per_round = figures["per_round"]
    assert len(per_round["bare"]) == len(per_round["instrumented"]) == 2
    for part in ("cpu", "wall"):
        measured = figures[part]
        assert measured["bare_per_run_s"] > 0 and measured["instrumented_per_run_s"] > 0
        low, high = measured["spread"]
        assert low <= measured["added_fraction"] <= high
        ratio = measured["instrumented_per_run_s"] / measured["bare_per_run_s"]
        assert 0.5 < ratio < 2.0  # the same workload both ways: comparable, whatever the noise
    # the profiled rounds measured their own direct cost; bare rounds have none to report
    assert 0 < figures["direct_cpu_per_run_s"] < figures["cpu"]["instrumented_per_run_s"]
    assert all("direct_cpu_s" not in r for r in per_round["bare"])
    assert figures["sampler_core_fraction"] is None  # --no-sampler
    # the text view of the same figures names what it measured
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(render_overhead(figures))
    text = console.export_text()
    assert "Profiler overhead on rag" in text
    assert "in-run direct-cost figure" in text
    assert "py-spy was off" in text


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--rounds", "1"), "--rounds must be >= 2"),
        (("--graph", f"{GRAPH}:build", "--rounds", "2"), "--inputs"),
        (("--graph", f"{GRAPH}:build", "--inputs", "INPUTS", "--script", "SCRIPT", "--rounds", "2"), "failed"),
    ],
)
def test_overhead_bad_input_is_one_line(cli, tmp_path, args, fragment):
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(json.dumps({"messages": [{"role": "user", "content": "hello"}]}) + "\n")
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"error": {"status": 500, "message": "accelerator on fire"}}]}))
    args = tuple({"INPUTS": str(inputs), "SCRIPT": str(script)}.get(a, a) for a in args)
    result = cli("overhead", "--model", "instant", "--no-sampler", "--max-retries", "0", *args)
    assert result.code != 0
    lines = [line for line in result.err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.err
    assert "Traceback" not in result.err
