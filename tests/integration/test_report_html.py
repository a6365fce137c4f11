"""`orchestrace report` as HTML, speedscope and comparisons; `size`/`sweep` as HTML (CLI, in-process)."""

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import edited_example

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100"
SECTIONS = ("headline", "wall", "cpu", "timeline", "nodes", "stacks", "inference", "quality")


def one_line_error(result, fragment):
    assert result.code == 1, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.err


def assert_self_contained(html: str) -> None:
    """Nothing the browser would fetch: no external scripts, styles, images, frames or fonts."""
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=", html, re.IGNORECASE)
    assert not re.search(r"@import|url\(\s*['\"]?https?:", html)
    assert "Plotly.newPlot" in html and "<script>" in html


@pytest.fixture
def bare_run(tmp_path):
    """The example run as if recorded with --no-sampler."""
    run = tmp_path / "bare"
    shutil.copytree(EXAMPLE, run)
    shutil.rmtree(run / "samples")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["degraded"] = [{"component": "sampler", "reason": "disabled with --no-sampler"}]
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def test_report_html_is_one_self_contained_page(cli, tmp_path):
    out = tmp_path / "report.html"
    result = cli("report", str(EXAMPLE), "--format", "html", "-o", str(out))
    assert result.code == 0, result.err
    assert f"wrote {out}" in result.out
    html = out.read_text()
    assert_self_contained(html)
    for section in SECTIONS:
        assert f"<section id='{section}'>" in html
    assert "SIMULATED timing" in html and "20261122-044107-rag-9838" in html
    assert html.count("class='sortable'") >= 4  # wall, CPU, nodes, tools, stack categories
    for tool in ("search_bm25", "search_dense", "read_document", "assemble_answer"):
        assert tool in html
    assert "Cores per accelerator<span class='badge est'>estimate</span>" in html
    assert "the median wall time" in html and '"type":"icicle"' in html
    assert html.count("Plotly.newPlot") == 4  # wall per run, CPU categories, timeline, flame graph


def test_report_html_of_an_endpoint_run_says_model_time_is_client_side(cli, tmp_path):
    run = edited_example(tmp_path / "endpoint", lambda spans: [s for s in spans if s.get("kind") != 2])  # no SERVER
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["model"] = {"kind": "endpoint", "endpoint": "http://127.0.0.1:8000/v1", "model_name": "llama"}
    (run / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "endpoint.html"
    assert cli("report", str(run), "--format", "html", "-o", str(out)).code == 0
    html = out.read_text()
    assert "client-side: no SERVER spans, so it includes the network" in html
    assert "no accelerator preset (real endpoint)" in html
    assert "SIMULATED timing" not in html and "model: llama at http://127.0.0.1:8000/v1" in html


def test_report_html_picks_the_agent_run_and_checks_the_number(cli, tmp_path):
    out = tmp_path / "r.html"
    assert cli("report", str(EXAMPLE), "--format", "html", "-o", str(out), "--agent-run", "3").code == 0
    assert "agent run #3" in out.read_text() and "chosen with --agent-run" in out.read_text()
    one_line_error(
        cli("report", str(EXAMPLE), "--format", "html", "-o", str(out), "--agent-run", "4"),
        "--agent-run 4: the run has 3 agent runs (use 1 to 3)",
    )


def test_without_samples_the_page_says_so_and_speedscope_refuses(cli, tmp_path, bare_run):
    out = tmp_path / "bare.html"
    assert cli("report", str(bare_run), "--format", "html", "-o", str(out)).code == 0
    html = out.read_text()
    assert "This run has no stack samples (sampler: disabled with --no-sampler)" in html
    assert '"type":"icicle"' not in html
    one_line_error(
        cli("report", str(bare_run), "--format", "speedscope", "-o", str(tmp_path / "p.json")),
        "no CPU stack samples (sampler: disabled with --no-sampler)",
    )
    assert not (tmp_path / "p.json").exists()


def test_speedscope_file(cli, tmp_path):
    out = tmp_path / "profile.speedscope.json"
    result = cli("report", str(EXAMPLE), "--format", "speedscope", "-o", str(out))
    assert result.code == 0, result.err
    data = json.loads(out.read_text())
    assert data["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    assert data["profiles"] and all(p["type"] == "sampled" and p["unit"] == "seconds" for p in data["profiles"])


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["report", "/no/such/run", "--format", "html", "-o", "x.html"], "/no/such/run is not a run directory"),
        (["report", str(EXAMPLE), "--format", "html"], "--format html writes a file: add -o FILE"),
        (["report", str(EXAMPLE), "--format", "speedscope"], "add -o FILE (e.g. -o report.speedscope.json)"),
        (["report", str(EXAMPLE), "--agent-run", "2"], "--agent-run picks the timeline of a single-run --format html"),
        (["report", str(EXAMPLE), "--compare", "/no/such/run"], "/no/such/run is not a run directory"),
        (["report", str(EXAMPLE), "--compare", str(EXAMPLE), "--format", "speedscope", "-o", "x"], "not speedscope"),
        (["size", str(EXAMPLE), "--format", "html"], "add -o FILE (e.g. -o size.html)"),
        (["sweep", "--presets", "instant,h100-llama3.1-8b", "--format", "html"], "add -o FILE (e.g. -o sweep.html)"),
    ],
)
def test_bad_input_is_one_line(cli, args, fragment):
    one_line_error(cli(*args), fragment)


def test_unwritable_output_is_one_line(cli, tmp_path):
    one_line_error(
        cli("report", str(EXAMPLE), "--format", "html", "-o", str(tmp_path / "missing" / "r.html")), "cannot write"
    )


def test_compare_with_itself_text_and_json(cli):
    text = cli("report", str(EXAMPLE), "--compare", str(EXAMPLE))
    assert text.code == 0, text.err
    for title in ("Headline", "Where the wall time went", "Where the CPU went", "LangGraph nodes", "Tools"):
        assert title in text.out
    assert "CPU share of latency" in text.out and "+0.0 pp" in text.out and "note:" not in text.out
    data = json.loads(cli("report", str(EXAMPLE), "--compare", str(EXAMPLE), "--format", "json").out)
    rows = data["headline"] + data["wall_per_run_s"] + data["cpu_per_run_ms"]
    assert all(row["delta"] in (0, None) for row in rows)
    assert data["notes"] == []


def test_compare_different_agents_says_what_is_not_comparable(cli, tmp_path):
    other = tmp_path / "web-run"
    shutil.copytree(EXAMPLE, other)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["workload"]["agent"] = "web"
    manifest["run_id"] = "other-run"
    (other / "manifest.json").write_text(json.dumps(manifest))
    result = cli("report", str(EXAMPLE), "--compare", str(other))
    assert result.code == 0, result.err
    assert "agents differ (A: rag, B: web)" in " ".join(result.out.split())
    out = tmp_path / "compare.html"
    assert cli("report", str(EXAMPLE), "--compare", str(other), "--format", "html", "-o", str(out)).code == 0
    html = out.read_text()
    assert_self_contained(html)
    assert "agents differ (A: rag, B: web)" in html and "B − A" in html and "other-run" in html
    assert html.count("Plotly.newPlot") == 2


def test_size_html(cli, tmp_path):
    out = tmp_path / "size.html"
    result = cli("size", str(EXAMPLE), "--format", "html", "-o", str(out), "--latency-target-ms", "50")
    assert result.code == 0, result.err
    html = out.read_text()
    assert_self_contained(html)
    assert "What if inference were k× faster than h100-llama3.1-8b" in html
    assert "cores for ≤ 50 ms" in html and "cores to provision" in html and "groq-llama3-8b" in html
    # the answer first: cores per accelerator at the run's preset, then the demand behind it
    headline = html.index("Cores per accelerator at h100-llama3.1-8b")
    assert headline < html.index("What one agent run needs") and "estimate" in html[headline : headline + 300]
    assert "The run replayed at each preset" in html and "cores per 100 sessions" in html
    assert "price, groq-llama3-8b" in html and "assumed, groq-llama3-8b" in html
    assert html.count("Plotly.newPlot") == 1


@pytest.mark.integration
@pytest.mark.slow
def test_sweep_html(cli, tmp_path):
    out = tmp_path / "sweep.html"
    result = cli(
        "sweep",
        "--presets",
        "h100-llama3.1-8b,instant,groq-llama3-8b",
        "--tasks",
        "2",
        "--no-sampler",
        "--out",
        str(tmp_path),
        "--format",
        "html",
        "-o",
        str(out),
    )
    assert result.code == 0, result.err
    html = out.read_text()
    assert_self_contained(html)
    assert "Measured vs simulated and closed-form CPU share of latency" in html and "Not on the chart" in html
    assert "instant" in html and "groq-llama3-8b measured" in html and "groq-llama3-8b simulated" in html
