"""trajectories.jsonl lines as typed calls: written and read back unchanged; damage is skipped."""

import json

from profiler.store.trajectories import ToolCall, TrajectoryCall, TrajectoryRecorder, read_trajectories


def test_calls_round_trip_through_the_file(tmp_path):
    path = tmp_path / "trajectories.jsonl"
    answered = TrajectoryCall(
        "t1", "sha256:ab", 1, span_id="s1", tools=("search",), prompt_chars=120,
        tool_calls=(ToolCall("search", {"q": "x"}),), input_tokens=30, output_tokens=9, output_tokens_estimated=True,
    )  # fmt: skip
    failed = TrajectoryCall("t1", "sha256:ab", 2, span_id="s2", error_status=429)
    recorder = TrajectoryRecorder(path)
    for call in (answered, failed):
        recorder.record(call)
    recorder.close()
    assert read_trajectories(path) == {"t1": [answered, failed]}
    assert answered.estimated and not failed.estimated
    assert "tool_calls" not in json.loads(path.read_text().splitlines()[1])  # a failed call made none


def test_older_and_damaged_lines(tmp_path):
    path = tmp_path / "trajectories.jsonl"
    lines = [
        {"trace_id": "t", "thread": "a", "turn": 0, "tool_calls": [{"name": "read"}, "junk"], "input_tokens": "9"},
        {"trace_id": "t", "thread": "a", "turn": 1, "error": {"status": "bad"}},
        {"thread": "a", "turn": 0},  # no trace id: not a call
        {"trace_id": "t", "thread": "a", "turn": -1},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "{not json\n")
    older, failed = read_trajectories(path)["t"]
    assert older.span_id is None and older.tool_calls == (ToolCall("read", {}),) and older.input_tokens is None
    assert failed.error_status == 500
