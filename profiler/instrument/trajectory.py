"""Trajectory recording: what the model did on each chat call, for replay at another preset.

An observer of the span handler's chat calls (`ChatObserver`): it keeps no prompt text, only the
call's place in the agent run (thread hash, turn, bound tools), the tool calls with their
arguments and the token counts; `trajectories.jsonl` (store/trajectories.py) holds the lines.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from opentelemetry.trace import Span

from profiler.instrument.llmresult import first_generation, text_of, usage
from profiler.store.trajectories import ToolCall, TrajectoryCall, TrajectoryRecorder, thread_key, tokens_for_chars


class TrajectoryObserver:
    """Writes one trajectory line per chat call as it ends (or fails)."""

    def __init__(self, recorder: TrajectoryRecorder) -> None:
        self.recorder = recorder

    def started(self, span: Span, messages: list[Any], params: dict[str, Any]) -> TrajectoryCall:
        """Where this call sits in the agent run: the same rule the simulated server uses to pick a turn."""
        first_user = next((text_of(m.content) for m in messages if getattr(m, "type", "") == "human"), "")
        tools = [
            t.get("function", {}).get("name", t.get("name")) for t in params.get("tools") or [] if isinstance(t, dict)
        ]
        context = span.get_span_context()
        return TrajectoryCall(
            trace_id=format(context.trace_id, "032x"),
            span_id=format(context.span_id, "016x"),
            thread=thread_key(first_user),
            turn=sum(1 for m in messages if getattr(m, "type", "") == "ai"),
            tools=tuple(str(name) for name in tools),
            prompt_chars=_prompt_chars(messages, params),
        )

    def ended(self, step: TrajectoryCall, response: Any) -> None:
        self.recorder.record(_result(response, step))

    def failed(self, step: TrajectoryCall, error: BaseException) -> None:
        status = getattr(error, "status_code", None)
        self.recorder.record(replace(step, error_status=status if isinstance(status, int) else 500))


def _prompt_chars(messages: list[Any], params: dict[str, Any]) -> int:
    """The request's text as the model reads it (messages, tool calls, tool definitions), for estimates."""
    chars = sum(len(text_of(m.content)) for m in messages)
    chars += sum(len(json.dumps(calls, default=str)) for m in messages if (calls := getattr(m, "tool_calls", None)))
    return chars + (len(json.dumps(params["tools"], default=str)) if params.get("tools") else 0)


def _result(response: Any, step: TrajectoryCall) -> TrajectoryCall:
    _, message = first_generation(response)
    input_tokens, output_tokens = usage(response, message)
    calls = tuple(ToolCall(c["name"], c.get("args", {})) for c in getattr(message, "tool_calls", None) or [])
    result = replace(step, tool_calls=calls, input_tokens=input_tokens, output_tokens=output_tokens)
    # the endpoint reported no usage: ~4 characters per token, marked
    if input_tokens is None:
        result = replace(result, input_tokens=tokens_for_chars(step.prompt_chars), input_tokens_estimated=True)
    if output_tokens is None:
        text = text_of(getattr(message, "content", "")) + json.dumps([c.to_json() for c in calls]) * bool(calls)
        result = replace(result, output_tokens=tokens_for_chars(len(text)), output_tokens_estimated=True)
    return result
