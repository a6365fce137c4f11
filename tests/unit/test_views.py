"""The report's views share one signature, `render(view, format) -> str`, picked by format name."""

import json
from pathlib import Path

import pytest

from profiler.errors import UsageError
from profiler.render.text import native_threads_note
from profiler.render.views import RENDERERS, ReportView, render
from profiler.store.session import load_session

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100"


def test_every_format_renders_the_example_run_from_one_view():
    view = ReportView(load_session(EXAMPLE), regenerate="orchestrace report RUN --format html -o r.html")
    committed = json.loads((EXAMPLE / "report.json").read_text(encoding="utf-8"))
    assert json.loads(render(view, "json")) == committed
    text = render(view, "text")
    assert "CPU share of latency" in text and "\x1b[" not in text  # plain unless styled
    page = render(view, "html")
    assert page.startswith("<!DOCTYPE html>") and "orchestrace report RUN --format html -o r.html" in page
    assert set(RENDERERS) == {"text", "json", "html", "speedscope"}


def test_speedscope_needs_no_report_and_styled_text_has_colours():
    view = ReportView(load_session(EXAMPLE))
    profile = json.loads(render(view, "speedscope"))
    assert profile["$schema"].startswith("https://www.speedscope.app") and profile["profiles"]
    assert "report" not in vars(view)  # nothing was analysed for it
    assert "\x1b[" in render(ReportView(load_session(EXAMPLE), styled=True), "text")


def test_an_unknown_format_is_named():
    with pytest.raises(UsageError, match="unknown report format 'pdf'; valid formats: text, json, html, speedscope"):
        render(ReportView(load_session(EXAMPLE)), "pdf")


def test_a_large_share_of_native_thread_cpu_says_what_usually_does_it():
    # the example rag run: numpy's OpenBLAS pool spun 0.27 s of its 1.39 s (19%)
    text = " ".join(render(ReportView(load_session(EXAMPLE), width=200), "text").split())
    assert "native threads (BLAS etc.) 0.270 s, in other (19% of the process" in text
    assert "OMP_NUM_THREADS=1 stops it" in text
    assert native_threads_note(0.05, 1.0) == " · native threads (BLAS etc.) 0.050 s, in other"  # under 10%: no hint
    assert native_threads_note(0.0, 1.0) == ""
