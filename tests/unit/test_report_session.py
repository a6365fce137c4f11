"""Loading and reporting run directories, including damaged ones (no processes)."""

import json
import shutil
from pathlib import Path

import pytest

from profiler.analysis.report import build_report
from profiler.errors import UsageError
from profiler.store.session import load_session
from tests.conftest import edited_example

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100"


@pytest.fixture
def run_copy(tmp_path):
    target = tmp_path / "run"
    shutil.copytree(EXAMPLE, target)
    return target


def test_example_report_has_the_stable_keys():
    report = build_report(load_session(EXAMPLE)).to_json()
    assert report["schema"] == 1 and report["agent_runs"] == 3 and report["errors"] == 0
    for key in ("total", "model_wait", "tool_cpu", "tool_wait", "orchestration_cpu", "contention"):
        assert key in report["wall_s"] and set(report["wall_s"]["per_run"][key]) == {"mean", "p50", "p95"}
    for key in (
        "orchestration",
        "model_client",
        "tool",
        "telemetry",
        "runtime",
        "startup",
        "other",
        "accounted",
        "process_total",
        "coverage",
    ):
        assert key in report["cpu_s"]
    assert 0.95 <= report["cpu_s"]["coverage"] <= 1.05
    for key in ("calls", "input_tokens", "output_tokens", "ttft_s", "accelerator_s"):
        assert key in report["inference"]
    assert 0 < report["cpu_share_of_latency"] < 1
    assert report["overhead"]["telemetry_cpu_s"] > 0 and 0 < report["overhead"]["fraction"] < 1
    assert {row["name"] for row in report["tools"]} == {
        "search_bm25",
        "search_dense",
        "read_document",
        "assemble_answer",
    }
    assert {"name", "calls", "wall_s", "cpu_s"} <= set(report["nodes"][0])
    assert report["stacks"]["samples"] > 0
    wall = report["wall_s"]
    parts = sum(
        wall[k] for k in ("model_wait", "tool_cpu", "tool_wait", "orchestration_cpu", "contention", "other_wait")
    )
    assert parts == pytest.approx(wall["total"])


def test_truncated_and_corrupt_lines_are_skipped_and_counted(run_copy):
    spans = run_copy / "spans.jsonl"
    lines = spans.read_text().splitlines()
    lines[2] = lines[2][: len(lines[2]) // 2]  # a line cut by a crash
    lines.insert(4, "not json at all")
    spans.write_text("\n".join(lines) + "\n")
    session = load_session(run_copy)
    assert any("2 truncated or corrupt line(s) skipped (first at line 3)" in p for p in session.problems)
    report = build_report(session)
    assert list(report.problems[: len(session.problems)]) == session.problems
    assert report.wall_s.total > 0  # still produced from the valid spans
    # the spans lost with those lines leave time nothing explains, and the report says so
    assert any("unexplained (other_wait)" in p for p in report.problems[len(session.problems) :])


def test_missing_files_are_reported(run_copy):
    (run_copy / "cpu.json").unlink()
    (run_copy / "process.jsonl").unlink()
    session = load_session(run_copy)
    assert any("cpu.json is missing" in p for p in session.problems)
    report = build_report(session)
    assert report.cpu_s.coverage is None and report.cpu_s.model_client > 0
    (run_copy / "spans.jsonl").unlink()
    session = load_session(run_copy)
    assert any("spans.jsonl is missing" in p for p in session.problems)
    assert build_report(session).agent_runs == 0


def test_newer_schema_and_non_directories_are_refused(run_copy, tmp_path):
    manifest = json.loads((run_copy / "manifest.json").read_text())
    manifest["schema"] = 99
    (run_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match="schema 99, newer than this orchestrace understands"):
        load_session(run_copy)
    with pytest.raises(UsageError, match="is not a run directory"):
        load_session(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match=r"neither manifest\.json nor spans\.jsonl"):
        load_session(empty)


def test_report_cli_json_text_and_file(cli, tmp_path):
    result = cli("report", str(EXAMPLE), "--format", "json")
    assert result.code == 0 and json.loads(result.out)["agent_runs"] == 3
    result = cli("report", str(EXAMPLE))
    assert result.code == 0
    assert "Where the wall time went" in result.out and "Where the CPU went" in result.out
    out = tmp_path / "report.txt"
    assert cli("report", str(EXAMPLE), "-o", str(out)).code == 0
    assert "profiler direct cost" in out.read_text()
    result = cli("report", str(tmp_path / "missing"))
    assert result.code == 1 and result.err.startswith("error: ") and "not a run directory" in result.err


def test_a_large_unexplained_share_is_reported(tmp_path):
    """Wall time no span explains (here: each agent run's root held open 5 s after its last child)."""

    def stretch_roots(spans):
        for span in spans:
            if not span.get("parentSpanId"):
                span["endTimeUnixNano"] = str(int(span["endTimeUnixNano"]) + 5 * 10**9)
        return spans

    report = build_report(load_session(edited_example(tmp_path / "run", stretch_roots)))
    assert report.wall_s.parts["other_wait"] > 0.05 * report.wall_s.total
    assert any("unexplained (other_wait)" in problem for problem in report.problems)
    assert not any("unexplained" in problem for problem in build_report(load_session(EXAMPLE)).problems)


def test_the_summary_and_the_report_count_agent_runs_by_one_rule(tmp_path):
    """A trace with two roots is no agent run for either (the manifest and the report used to disagree)."""
    from profiler.analysis.summary import summarize

    def second_root(spans):
        roots = [s for s in spans if not s.get("parentSpanId") and s["name"].startswith("invoke_agent")]
        if roots:
            spans.append({**roots[0], "spanId": "00000000000000ab"})
        return spans

    session = load_session(edited_example(tmp_path / "run", second_root))
    report = build_report(session)
    assert summarize(session).agent_runs == report.agent_runs < 3
