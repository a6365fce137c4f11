"""Sizing from the committed example run: demand, per-preset figures, what-ifs, k× faster."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiler.accelerators.presets import builtin_presets
from profiler.analysis.report import build_report
from profiler.cli import main
from profiler.errors import UsageError
from profiler.runner import sweep as runner_sweep
from profiler.runner.plan import RunOptions
from profiler.runner.sweep import run_at_presets
from profiler.sizing import sweep as sizing_sweep
from profiler.sizing.headline import report_and_headline
from profiler.sizing.model import Targets, measure_demand, size, size_preset
from profiler.store.session import load_session

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100"


@pytest.fixture(scope="module")
def demand():
    session = load_session(EXAMPLE)
    return measure_demand(session, build_report(session))


def test_demand_comes_from_the_measurements(demand):
    report = build_report(load_session(EXAMPLE))
    assert demand.runs == 3
    overhead = report.overhead.telemetry_cpu_s
    assert demand.d_cpu_s == pytest.approx((report.cpu_s.process_total - overhead) / 3)
    assert demand.output_tokens == pytest.approx(report.inference.output_tokens / 3)
    assert demand.model_time_source == "server spans"
    assert 0 < demand.t_cpu_s < demand.measured_wall_s
    h100 = builtin_presets()["h100-llama3.1-8b"]
    # recomputing the model time at the preset the run used gives what was measured (5%)
    assert demand.model_time(h100) == pytest.approx(demand.measured_model_wait_s, rel=0.05)


@settings(deadline=None, max_examples=30)
@given(st.floats(min_value=1.5, max_value=100))
def test_a_k_times_faster_accelerator_multiplies_cores_per_accelerator_by_k(demand, k):
    base = builtin_presets()["h100-llama3.1-8b"]
    faster = replace(base, aggregate_tok_s=base.aggregate_tok_s * k, prefill_tok_s=base.prefill_tok_s * k)
    targets = Targets()
    slow, fast = size_preset(demand, base, targets), size_preset(demand, faster, targets)
    assert fast["cores_per_accelerator"] == pytest.approx(k * slow["cores_per_accelerator"])
    assert fast["cores"] == pytest.approx(slow["cores"])  # the CPU side does not change


@settings(deadline=None, max_examples=30)
@given(st.floats(min_value=0.1, max_value=100), st.floats(min_value=1.01, max_value=10))
def test_more_load_never_needs_fewer_cores_or_accelerators(demand, rate, factor):
    preset = builtin_presets()["groq-llama3-8b"]
    low = size_preset(demand, preset, Targets(rate=rate))
    high = size_preset(demand, preset, Targets(rate=rate * factor))
    assert high["cores"] >= low["cores"] and high["accelerators"] >= low["accelerators"]
    assert high["cores_per_accelerator"] == pytest.approx(low["cores_per_accelerator"])


def test_size_report_shape_and_estimates_are_labelled():
    session = load_session(EXAMPLE)
    presets = list(builtin_presets().values())[:3]
    result = size(session, presets, Targets(latency_target_ms=100), presets[0])
    assert [row["preset"] for row in result["presets"]] == [p.name for p in presets]
    row = result["presets"][0]
    assert row["engine_floor_cores"] == 2 + row["accelerators_whole"]  # self-hosted: vLLM's 2 + N
    assert result["presets"][2]["engine_floor_cores"] == 0  # an API service
    assert row["cores_for_latency_target"] >= 1
    assert row["cores_to_provision"] == max(row["cores_whole"], row["cores_for_latency_target"])
    assert any("estimate" in e for e in result["estimates"])
    assert row["cost"]["prices_are_defaults"]
    shares = [r["cpu_share_of_latency"] for r in result["what_if"]["rows"]]
    assert shares == sorted(shares)  # faster inference, larger CPU share
    assert result["what_if"]["knee_speedup"] > 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cpu_utilisation": 1.0}, "--cpu-util must be between 0 and 1"),
        ({"accelerator_utilisation": 0.0}, "--acc-util must be between 0 and 1"),
        ({"rate": -1}, "--target-rps must be >= 0"),
        ({"latency_target_ms": -5}, "--latency-target-ms must be > 0"),
        ({"latency_target_ms": 0}, "--latency-target-ms must be > 0"),
    ],
)
def test_impossible_targets_are_refused_when_made(fields, message):
    with pytest.raises(UsageError, match=message):
        Targets(**fields)


def test_the_synthetic_instant_preset_gets_no_accelerator_figures(demand):
    """No model time means no accelerator time: a ratio would divide by ~0 (it printed 140 million)."""
    instant = builtin_presets()["instant"]
    assert instant.synthetic and not builtin_presets()["h100-llama3.1-8b"].synthetic
    row = size_preset(demand, instant, Targets())
    assert row["d_acc_s"] is None and row["accelerators"] is None and row["cores_per_accelerator"] is None
    assert row["cores_per_accelerator_with_floor"] is None and "synthetic" in row["note"]
    assert row["cores"] == pytest.approx(size_preset(demand, builtin_presets()["groq-llama3-8b"], Targets())["cores"])


def test_a_run_at_instant_has_no_headline_ratio(tmp_path):
    """Runs recorded before presets said `synthetic` are recognised by the name."""
    run = tmp_path / "run"
    shutil.copytree(EXAMPLE, run)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["model"]["preset"] = {**builtin_presets()["instant"].to_dict()}
    del manifest["model"]["preset"]["synthetic"]
    (run / "manifest.json").write_text(json.dumps(manifest))
    session = load_session(run)
    _, head = report_and_headline(session)
    assert head.cores_per_accelerator is None and "instant is synthetic" in head.cores_per_accelerator_note


def test_a_sweep_is_predicted_from_a_real_preset(monkeypatch):
    instant, h100 = builtin_presets()["instant"], builtin_presets()["h100-llama3.1-8b"]
    with pytest.raises(UsageError, match=r"instant is synthetic .*put a real preset first"):
        run_at_presets(RunOptions(), [instant, h100], lambda options: pytest.fail("ran"))
    seen = []
    monkeypatch.setattr(runner_sweep, "run_at_presets", lambda options, presets, execute: seen.extend(presets) or [])
    monkeypatch.setattr(sizing_sweep, "sweep", lambda runs, targets: {})
    monkeypatch.setattr("profiler.render.sizing.render_sweep", lambda result: "")
    assert main(["sweep", "--tasks", "1"]) == 0
    assert seen and not any(p.synthetic for p in seen) and seen[0].name == "h100-llama3.1-8b"
