"""cpu.json as a typed window: written and read back unchanged; parts' windows add up."""

import json
from pathlib import Path

import pytest

from profiler.store.cpuwindow import CpuWindow, ThreadCpu, merge

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100" / "cpu.json"


def test_the_example_window_round_trips():
    raw = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    window = CpuWindow.from_json(raw)
    assert window.process_cpu_s == raw["window"]["process_cpu_s"] and window.threads[0].name == "MainThread"
    assert window.span_s == pytest.approx(raw["window"]["end_unix"] - raw["window"]["start_unix"])
    assert CpuWindow.from_json(window.to_json()) == window
    written = window.to_json()
    for key in ("window", "buckets_s", "children_cpu_s", "telemetry_threads_s", "native_threads_s", "spans", "loop"):
        assert written[key] == raw[key], key


def test_windows_side_by_side_add_up_and_keep_the_highest_per_event_cost():
    a = CpuWindow(
        1.0, start_unix=10.0, end_unix=20.0, wall_s=10.0, buckets_s={"spans": 0.5}, children_reaped_s=0.1,
        meter={"handle_cost_ns": 300.0, "handles": 10.0}, threads=(ThreadCpu("MainThread", 1, 0.9, 0.8),), spans=5,
    )  # fmt: skip
    b = CpuWindow(
        2.0, start_unix=12.0, end_unix=25.0, wall_s=13.0, buckets_s={"spans": 1.0, "no-span": 0.2},
        meter={"handle_cost_ns": 500.0, "handles": 5.0}, native_threads_s=0.3, spans=None,
    )  # fmt: skip
    merged = merge([a, None, b])
    assert merged is not None
    assert (merged.process_cpu_s, merged.start_unix, merged.end_unix, merged.span_s) == (3.0, 10.0, 25.0, 15.0)
    assert merged.buckets_s == {"spans": 1.5, "no-span": 0.2} and merged.native_threads_s == 0.3
    assert merged.meter == {"handle_cost_ns": 500.0, "handles": 15.0}
    assert merged.children_reaped_s == 0.1 and len(merged.threads) == 1
    assert merged.spans is None  # one part's count is unknown: so is the sum
    assert merge([None]) is None


def test_the_meter_figures_become_a_window_with_how_it_ended():
    measured = {"window": {"process_cpu_s": 0.5, "start_unix": 1.0, "end_unix": 2.0}, "threads": [{"bad": 1}, 7]}
    window = CpuWindow.from_meter(measured, "uvloop", "interrupted", 12)
    assert (window.loop, window.status, window.spans, window.threads) == ("uvloop", "interrupted", 12, ())
    assert window.to_json()["schema"] == 1
