"""The data behind the HTML page: timeline rows, the flame tree, the speedscope file, table cells."""

import itertools
from pathlib import Path

import jsonschema
import pytest

from profiler.analysis.flame import flame_tree
from profiler.analysis.outcomes import COMPLETED, root_outcome
from profiler.analysis.passes import fold, seen_of
from profiler.analysis.report import build_report
from profiler.analysis.stacks import classify, in_window
from profiler.analysis.timeline import timeline
from profiler.analysis.traces import agent_runs
from profiler.errors import UsageError
from profiler.render import charts
from profiler.render.html import RunIndex
from profiler.render.page import Cell, num, table
from profiler.render.speedscope import speedscope_profile
from profiler.store.manifest import Manifest
from profiler.store.session import Session, StackSample, load_session
from profiler.store.spans import STATUS_ERROR, STATUS_OK, SpanRecord

EXAMPLE = Path(__file__).parents[2] / "traces" / "examples" / "rag-h100"

# The parts of https://www.speedscope.app/file-format-schema.json (speedscope 1.25.0, MIT) that a
# sampled profile uses: every required field and its type.
SPEEDSCOPE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "definitions": {
        "Frame": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "file": {"type": "string"}, "line": {"type": "number"}},
        },
        "SampledProfile": {
            "type": "object",
            "required": ["endValue", "name", "samples", "startValue", "type", "unit", "weights"],
            "properties": {
                "type": {"const": "sampled"},
                "name": {"type": "string"},
                "unit": {"enum": ["bytes", "microseconds", "milliseconds", "nanoseconds", "none", "seconds"]},
                "startValue": {"type": "number"},
                "endValue": {"type": "number"},
                "samples": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                "weights": {"type": "array", "items": {"type": "number"}},
            },
        },
    },
    "type": "object",
    "required": ["$schema", "profiles", "shared"],
    "properties": {
        "$schema": {"const": "https://www.speedscope.app/file-format-schema.json"},
        "name": {"type": "string"},
        "exporter": {"type": "string"},
        "activeProfileIndex": {"type": "number"},
        "shared": {
            "type": "object",
            "required": ["frames"],
            "properties": {"frames": {"type": "array", "items": {"$ref": "#/definitions/Frame"}}},
        },
        "profiles": {"type": "array", "items": {"$ref": "#/definitions/SampledProfile"}},
    },
}


@pytest.fixture(scope="module")
def session():
    return load_session(EXAMPLE)


def run_index(session) -> RunIndex:
    runs = RunIndex()
    fold(session.traces(), runs)
    return runs


def test_timeline_follows_the_span_tree_and_keeps_cpu_and_server_time(session):
    runs = agent_runs(session.span_list())
    run = runs[run_index(session).median_completed()]
    bars = timeline(run)
    assert len(bars) == len(run.spans)
    assert bars[0].kind == "agent" and bars[0].depth == 0 and bars[0].start_s == 0
    assert bars[0].end_s == pytest.approx(run.wall_s)
    kinds = {bar.kind for bar in bars}
    assert {"node", "chat", "tool"} <= kinds
    for parent, child in itertools.pairwise(bars):
        assert child.depth <= parent.depth + 1  # depth-first order
    chats = [bar for bar in bars if bar.kind == "chat"]
    assert all(bar.served and bar.cpu_self_s > 0 for bar in chats)
    for bar in chats:
        for start, end in bar.served:
            assert bar.start_s <= start < end <= bar.end_s + 0.01


def test_the_timeline_shows_the_completed_run_with_the_median_wall_time(session):
    runs = agent_runs(session.span_list())
    walls = sorted(run.wall_s for run in runs if root_outcome(run.root) == COMPLETED)
    assert len(walls) >= 3
    assert runs[run_index(session).median_completed()].wall_s == walls[(len(walls) - 1) // 2]


def test_flame_tree_counts_every_non_idle_sample_of_the_window_once(session):
    pid = session.samples[0].pid
    root = flame_tree(session.samples, pid)
    busy = sum(s.count for s in session.samples if classify(s.frames) is not None and in_window(s, pid))
    assert root.count == busy > 0
    assert build_report(session).stacks.sampled_cpu_s == pytest.approx(root.count / session.sample_rate)
    for node in [root, *root.children.values()]:
        assert node.count >= sum(child.count for child in node.children.values())
    process = next(iter(root.children.values()))
    assert process.name.startswith("pid ")


def test_flame_frames_merge_across_line_numbers():
    samples = [
        StackSample(1, "python app.py", 1, ("main (app.py:3)", "work (app.py:10)"), 2),
        StackSample(1, "python app.py", 1, ("main (app.py:4)", "work (app.py:12)"), 3),
    ]
    root = flame_tree(samples)
    thread = root.children["pid 1: python app.py"].children["thread 1"]
    assert list(thread.children) == ["main (app.py)"]
    assert thread.children["main (app.py)"].children["work (app.py)"].count == 5


def test_speedscope_file_validates_and_weighs_seconds(session):
    data = speedscope_profile(session)
    jsonschema.validate(data, SPEEDSCOPE_SCHEMA)
    frames = data["shared"]["frames"]
    for profile in data["profiles"]:
        assert len(profile["samples"]) == len(profile["weights"])
        assert profile["endValue"] == pytest.approx(sum(profile["weights"]))
        assert all(0 <= index < len(frames) for stack in profile["samples"] for index in stack)
    total = sum(p["endValue"] for p in data["profiles"])  # every sample, start-up included
    assert total == pytest.approx(sum(s.count for s in session.samples if classify(s.frames)) / session.sample_rate)
    assert any(frame.get("line") for frame in frames)


def test_speedscope_without_samples_says_why(session):
    bare = Session(
        session.path, Manifest(degraded=({"component": "sampler", "reason": "disabled with --no-sampler"},)), []
    )
    with pytest.raises(UsageError, match="no CPU stack samples \\(sampler: disabled with --no-sampler\\)"):
        speedscope_profile(bare)


def test_table_cells_carry_their_sort_value_and_missing_values_sort_last():
    html = table(["name", "value"], [[Cell("a &amp; b"), num(None)], [Cell("c"), num(2.5, "{:.1f}")]])
    assert "data-v='-Infinity'" in html and "data-v='2.5'" in html and ">2.5<" in html
    assert "class='sortable'" in html and "a &amp; b" in html


def _span(name: str, span_id: str, parent: str | None, start_ms: int, end_ms: int) -> SpanRecord:
    return SpanRecord("t", span_id, parent, name, 1, start_ms * 10**6, end_ms * 10**6, {"gen_ai.operation.name": "x"})


def test_parallel_sub_agents_are_numbered_and_grouped_on_the_timeline():
    spans = [
        _span("invoke_agent supervisor", "root", None, 0, 100),
        _span("invoke_node model", "m1", "root", 0, 10),  # the same node twice, one after the other
        _span("invoke_node model", "m2", "root", 10, 20),
        _span("invoke_node researcher", "r1", "root", 20, 90),  # a fan-out: two sub-agents at once
        _span("invoke_node researcher", "r2", "root", 21, 80),
        *(_span("invoke_node model", f"{r}-m", r, 22, 60) for r in ("r1", "r2")),
        _span("invoke_node model", "m1-x", "m1", 1, 9),
    ]
    spans[0].attributes["gen_ai.operation.name"] = "invoke_agent"
    bars = timeline(agent_runs(spans)[0])
    by_branch = {bar.label: bar.branch for bar in bars if bar.depth == 1}
    assert by_branch == {"invoke_node model": "", "invoke_node researcher (1 of 2)": "researcher 1 of 2",
                         "invoke_node researcher (2 of 2)": "researcher 2 of 2"}  # fmt: skip
    assert [bar.branch for bar in bars if bar.depth == 2] == ["", "researcher 1 of 2", "researcher 2 of 2"]
    figure = charts.timeline(bars)
    assert [a.text for a in figure.layout.annotations] == ["researcher 1 of 2", "researcher 2 of 2"]
    assert len(figure.layout.shapes) == 2


def test_the_run_index_numbers_runs_in_start_order_and_finds_the_median_completed_one():
    def trace(start: int, wall: int, failed: bool) -> list[SpanRecord]:
        attributes = {"gen_ai.operation.name": "invoke_agent"}
        status = STATUS_ERROR if failed else STATUS_OK
        return [SpanRecord(f"{start:032x}", "a" * 16, None, "invoke_agent", 1, start, start + wall, attributes, status)]

    runs = RunIndex()
    for start, wall, failed in [(30, 3, False), (10, 1, True), (20, 5, False), (40, 2, False)]:
        runs.add(seen_of(trace(start, wall, failed)))
    assert len(runs) == 4 and [runs.start(i) for i in range(4)] == [10, 20, 30, 40]
    assert runs.median_completed() == 2  # completed walls 5, 3, 2 (by start): the median is the run at 30
    assert runs.number(30) == 3 and runs.number(10) == 1
    assert len(RunIndex()) == 0
