"""Units that hold across presets, from the committed example run replayed at each one."""

from pathlib import Path

import pytest

from profiler.accelerators.presets import builtin_presets
from profiler.sizing.measured import measure
from profiler.sizing.model import DEFAULT_CORE_HOUR, Targets, size
from profiler.sizing.units import SESSIONS, preset_units, replay_of
from profiler.store.session import load_session

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100"
EIGHT_B = ("h100-llama3.1-8b", "groq-llama3-8b", "cerebras-llama3.1-8b")  # slowest to fastest per stream


@pytest.fixture(scope="module")
def example():
    session = load_session(EXAMPLE)
    measured = measure(session)
    return session, measured.report, replay_of(session, measured.demand, measured.recording)


@pytest.fixture(scope="module")
def rows(example):
    _, _, replay = example
    return {name: preset_units(replay, preset, Targets()) for name, preset in builtin_presets().items()}


def test_cores_per_session_and_runs_per_core_rise_with_per_stream_speed(rows):
    per_session = [rows[name]["cores_per_sessions"] for name in EIGHT_B]
    per_core = [rows[name]["runs_per_core_s"] for name in EIGHT_B]
    assert per_session == sorted(per_session) and len(set(per_session)) == 3, per_session
    assert per_core == sorted(per_core) and len(set(per_core)) == 3, per_core


def test_the_figures_follow_from_d_cpu_and_the_simulated_wall(example, rows):
    _, _, replay = example
    targets = Targets()
    for row in rows.values():
        d_cpu, wall = row["d_cpu_s"], row["wall_per_run_s"]
        assert row["cores_per_sessions"] == pytest.approx(SESSIONS * d_cpu / wall / targets.cpu_utilisation)
        assert row["runs_per_core_s"] == pytest.approx(targets.cpu_utilisation / d_cpu)
        assert row["cores_per_1k_output_tok_s"] == pytest.approx(
            1000 / replay.demand.output_tokens * d_cpu / targets.cpu_utilisation
        )
        assert row["cost_per_1k_runs"]["cpu_usd"] == pytest.approx(1000 * d_cpu * DEFAULT_CORE_HOUR / 3600)


def test_cores_per_accelerator_only_where_the_unit_is_published(rows):
    for name, preset in builtin_presets().items():
        assert (rows[name]["cores_per_accelerator"] is not None) == bool(preset.accelerator), name
    assert rows["h100-llama3.1-8b"]["accelerator"] == "NVIDIA H100 GPU"


def test_inference_cost_at_published_prices(example, rows):
    _, _, replay = example
    demand, presets = replay.demand, builtin_presets()
    groq = presets["groq-llama3-8b"].price
    assert groq is not None and groq.input_per_mtok is not None and groq.output_per_mtok is not None
    tokens = (demand.input_tokens * groq.input_per_mtok + demand.output_tokens * groq.output_per_mtok) / 1e6
    assert rows["groq-llama3-8b"]["cost_per_1k_runs"]["inference"]["usd"] == pytest.approx(1000 * tokens)
    h100 = presets["h100-llama3.1-8b"]
    assert h100.price is not None and h100.price.per_accelerator_hour is not None
    hours = demand.accelerator_s(h100) * h100.price.per_accelerator_hour / 3600
    assert rows["h100-llama3.1-8b"]["cost_per_1k_runs"]["inference"]["usd"] == pytest.approx(1000 * hours)
    assert rows["instant"]["cost_per_1k_runs"]["inference"]["usd"] is None  # no price published
    assert any("prefill_tok_s" in note for note in rows["groq-llama3-8b"]["assumed"])


def test_replayed_at_its_own_preset_the_run_is_what_was_measured(example, rows):
    _, report, replay = example
    own = rows["h100-llama3.1-8b"]
    assert own["cpu_share_of_latency"] == pytest.approx(report.cpu_share_of_latency, abs=0.02)
    assert own["wall_per_run_s"] == pytest.approx(report.wall_s.per_run["total"].mean, rel=0.05)
    assert own["d_cpu_s"] == pytest.approx(replay.demand.d_cpu_s, rel=0.05)


def test_size_reports_the_simulation_next_to_the_closed_form(example):
    session, _, _ = example
    presets = [p for name, p in builtin_presets().items() if name != "instant"]
    result = size(session, presets, Targets(), presets[0], cores=4, concurrency=1)
    assert [row["preset"] for row in result["units"]["rows"]] == [p.name for p in presets]
    assert result["units"]["machine"] == {"cores": 4, "processes": 1, "concurrency": 1}
    simulated = [row["simulated_cpu_share_of_latency"] for row in result["what_if"]["rows"]]
    assert simulated == sorted(simulated) and 0 < simulated[0] < simulated[-1] < 1
    assert any("simulat" in note for note in result["estimates"])
