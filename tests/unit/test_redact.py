"""Secrets never reach a trace: key shapes and secret-named variables are replaced in every string."""

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Status, StatusCode

from profiler.store.redact import REDACTED, Redactor

PLANTED = "planted-secret-value-0123456789"
ENV = {"OPENAI_API_KEY": PLANTED, "MY_LLM": "another-secret-42", "HOME": "/home/me", "GITHUB_TOKEN": "true"}


def span(attributes, events=(), description=None):
    status = Status(StatusCode.ERROR, description) if description else Status(StatusCode.UNSET)
    return ReadableSpan(name="execute_tool run_python", attributes=attributes, events=list(events), status=status)


def test_secret_variables_and_key_shapes_are_replaced_everywhere_in_a_span():
    redactor = Redactor(ENV, names=["MY_LLM"])
    dirty = span(
        {
            "gen_ai.tool.call.result": f"OPENAI_API_KEY={PLANTED}\nother another-secret-42",
            "gen_ai.input.messages": [
                "use sk-proj-abcdefghijklmnop1234 please",
                "Authorization: Bearer abc.def.ghi123",
            ],
            "gen_ai.usage.input_tokens": 12,
        },
        [Event("exception", {"exception.message": f"bad key {PLANTED}"})],
        description="gsk_ABCDEFGHIJKLMNOPQRST rejected",
    )
    clean = redactor.span(dirty)
    assert clean.attributes["gen_ai.tool.call.result"] == f"OPENAI_API_KEY={REDACTED}\nother {REDACTED}"
    assert list(clean.attributes["gen_ai.input.messages"]) == [f"use {REDACTED} please", f"Authorization: {REDACTED}"]
    assert clean.attributes["gen_ai.usage.input_tokens"] == 12
    assert clean.events[0].attributes["exception.message"] == f"bad key {REDACTED}"
    assert clean.status.description == f"{REDACTED} rejected"
    assert clean.name == dirty.name and clean.status.status_code == StatusCode.ERROR


def test_clean_spans_pass_unchanged_and_ordinary_values_stay():
    redactor = Redactor(ENV)
    clean = span({"path": "/home/me/project", "flag": "true", "task": "task-sk-like-but-not-a-key-at-all"})
    assert redactor.span(clean) is clean  # nothing rebuilt: no cost for spans without secrets
    assert redactor.text("MY_LLM is another-secret-42") == "MY_LLM is another-secret-42"  # not named as secret


def test_a_key_in_tool_call_arguments_never_reaches_the_trajectories(tmp_path, monkeypatch):
    from profiler.store.trajectories import ToolCall, TrajectoryCall, TrajectoryRecorder, read_trajectories

    monkeypatch.setenv("MY_SERVICE_API_KEY", "planted-secret-value-123")
    recorder = TrajectoryRecorder(tmp_path / "trajectories.jsonl")
    args = {"query": "use planted-secret-value-123 and sk-abcdefghijklmnopqrstu12345"}
    recorder.record(TrajectoryCall("t", "thread", 0, tool_calls=(ToolCall("search", args),)))
    recorder.close()
    text = (tmp_path / "trajectories.jsonl").read_text()
    assert "planted-secret-value-123" not in text and "sk-abcdefghijklmnopqrstu12345" not in text
    [call] = read_trajectories(tmp_path / "trajectories.jsonl")["t"]
    assert call.tool_calls[0].args["query"] == "use [REDACTED] and [REDACTED]"
