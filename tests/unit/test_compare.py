"""Comparing two runs' reports (pure: reports and headline dicts in, rows out)."""

from pathlib import Path

import pytest

from profiler.analysis.compare import compare_runs
from profiler.sizing.headline import report_and_headline
from profiler.store.report import Report
from profiler.store.session import load_session

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100"


@pytest.fixture(scope="module")
def example():
    session = load_session(EXAMPLE)
    return report_and_headline(session)


def all_rows(comparison):
    rows = comparison["headline"] + comparison["wall_per_run_s"] + comparison["cpu_per_run_ms"]
    for key in ("nodes", "tools"):
        for item in comparison[key]["rows"]:
            rows += [item["calls_per_run"], item["cpu_ms_per_call"], item["wall_ms_per_call"]]
    return rows


def test_a_run_compared_with_itself_has_zero_deltas(example):
    report, head = example
    comparison = compare_runs(report, head, report, head)
    rows = all_rows(comparison)
    assert len(rows) > 30
    for row in rows:
        assert row["a"] == row["b"], row
        if row["a"] is not None:
            assert row["delta"] == 0, row
        if row["a"]:
            assert row["ratio"] == 1, row
    assert comparison["notes"] == []
    assert comparison["tools"]["only_in_a"] == comparison["tools"]["only_in_b"] == []
    assert {r["key"] for r in comparison["headline"]} >= {
        "cpu_share_of_latency",
        "cpu_per_run_s",
        "model_wait_per_run_s",
        "cores_per_accelerator",
    }


def edited(report, edit):
    """The report as its report.json would read after `edit` changed that."""
    data = report.to_json()
    edit(data)
    return Report.from_json(data)


def test_deltas_and_ratios_are_b_against_a(example):
    report, head = example

    def faster_model(data):
        data["cpu_share_of_latency"] *= 2
        data["wall_s"]["per_run"]["model_wait"]["mean"] /= 4

    faster = edited(report, faster_model)
    row = {r["key"]: r for r in compare_runs(report, head, faster, head)["headline"]}["cpu_share_of_latency"]
    assert row["delta"] == pytest.approx(report.cpu_share_of_latency)
    assert row["ratio"] == pytest.approx(2)
    wall = {r["key"]: r for r in compare_runs(report, head, faster, head)["wall_per_run_s"]}["model_wait"]
    assert wall["ratio"] == pytest.approx(0.25) and wall["delta"] < 0


def test_different_agents_list_only_common_names_and_say_so(example):
    report, head = example

    def other_agent(data):
        data["agent"] = "web"
        data["tools"] = [dict(t, name="fetch_page" if t["name"] == "search_bm25" else t["name"]) for t in data["tools"]]

    other = edited(report, other_agent)
    comparison = compare_runs(report, head, other, head)
    assert any("agents differ (A: rag, B: web)" in note for note in comparison["notes"])
    names = [item["name"] for item in comparison["tools"]["rows"]]
    assert "search_bm25" not in names and "fetch_page" not in names and len(names) == 3
    assert comparison["tools"]["only_in_a"] == ["search_bm25"]
    assert comparison["tools"]["only_in_b"] == ["fetch_page"]


def test_what_cannot_be_compared_is_blank_and_noted(example):
    report, head = example

    def older(data):
        data["run_schema"] = 0
        for key in ("process_total", "coverage", "telemetry", "runtime", "other"):
            data["cpu_s"][key] = None
        data["inference"]["source"] = "client spans"

    old = edited(report, older)
    comparison = compare_runs(report, head, old, head)
    notes = " | ".join(comparison["notes"])
    assert "run-directory schemas differ (A: 1, B: 0)" in notes
    assert "B has no CPU window figures" in notes
    assert "model wait is measured differently" in notes
    cpu = {r["key"]: r for r in comparison["cpu_per_run_ms"]}
    assert cpu["process_total"]["b"] is None and cpu["process_total"]["delta"] is None
    assert cpu["model_client"]["delta"] == 0  # still comparable: it comes from the spans
