"""The terminal views fit 80 columns: nothing a reader needs is cut (preset names, headers, figures)."""

import io
from pathlib import Path

from rich.console import Console

from profiler.accelerators.presets import real_presets
from profiler.render.sizing import render_sizing
from profiler.render.text import render
from profiler.sizing.headline import report_and_headline
from profiler.sizing.model import Targets, size
from profiler.store.session import load_session

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100"


def _at_80(renderable) -> str:
    console = Console(file=io.StringIO(), width=80)
    console.print(renderable)
    text = console.file.getvalue()
    assert "…" not in text, text
    assert max(len(line) for line in text.splitlines()) <= 80
    return text


def test_report_text_fits_80_columns_and_leads_with_cores_per_accelerator():
    session = load_session(EXAMPLE)
    text = " ".join(_at_80(render(*report_and_headline(session))).split())
    assert "cores per accelerator 3.5 (estimate at h100-llama3.1-8b" in text
    assert "CPU share of latency 7.8%" in text and "agent runs 3, all completed" in text


def test_size_text_fits_80_columns_with_whole_preset_names_and_headers():
    session = load_session(EXAMPLE)
    presets = real_presets()
    result = size(session, presets, Targets(latency_target_ms=50), presets[0])
    text = _at_80(render_sizing(result))
    for preset in presets:
        assert f" {preset.name} " in text  # whole: h100-llama3.1-8b and h100-llama3.1-70b told apart
    words = text.split()
    headers = ("cores/acc", "+engine floor", "CPU share of latency", "accelerators", "D_acc s/run", "in flight")
    for header in (*headers, "cores to provision"):
        assert all(word in words for word in header.split()), header  # wrapped at spaces, never cut
