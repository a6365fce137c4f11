"""`trajectories.jsonl`: what the model did on every call, so a run can be replayed at another preset.

One line per chat call, appended as the call ends (a crash keeps what was recorded):
`{"trace_id", "span_id", "thread", "turn", "tools", "prompt_chars", "tool_calls": [{"name", "args"}],
"input_tokens", "output_tokens"}`. `span_id` is the call's chat span, `thread` a hash of the
call's first user message (sub-agents have their own), `turn` the number of assistant messages in
the request, `tools` the tool names bound to the call, `prompt_chars` the request's length in
characters. When the endpoint reports no usage, the token counts are estimated at ~4 characters
per token and marked (`input_tokens_estimated`, `output_tokens_estimated`). Tool-call arguments
are kept (replay needs them); prompt and answer text are not.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.store.redact import Redactor
from profiler.store.values import count, items, text

TRAJECTORIES = "trajectories.jsonl"
CHARS_PER_TOKEN = 4  # the rule for estimates, and how much text the simulated model writes per token


def tokens_for_chars(chars: int) -> int:
    """The token count of a text of `chars` characters, by the ~4-characters-per-token rule."""
    return max(1, math.ceil(chars / CHARS_PER_TOKEN))


def thread_key(first_user_message: str) -> str:
    """A thread's name in recorded trajectories: a hash of its first user message, not the text."""
    return "sha256:" + hashlib.sha256(first_user_message.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ToolCall:
    name: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "args": dict(self.args)}


@dataclass(frozen=True)
class TrajectoryCall:
    """One chat call as recorded: where it sits in its agent run, and what the model did."""

    trace_id: str
    thread: str  # a hash of the call's first user message (`thread_key`)
    turn: int  # assistant messages in the request
    span_id: str | None = None  # its chat span (runs recorded before spans were named: None)
    tools: tuple[str, ...] = ()  # bound to the call
    prompt_chars: int = 0
    tool_calls: tuple[ToolCall, ...] = ()
    input_tokens: int | None = None
    output_tokens: int | None = None
    input_tokens_estimated: bool = False  # the endpoint reported no usage: ~4 characters per token
    output_tokens_estimated: bool = False
    error_status: int | None = None  # the call failed: its HTTP status (500 without one)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "thread": self.thread,
            "turn": self.turn,
            "tools": list(self.tools),
            "prompt_chars": self.prompt_chars,
        }
        if self.error_status is not None:
            return data | {"error": {"status": self.error_status}}
        data |= {
            "tool_calls": [call.to_json() for call in self.tool_calls],
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }
        data |= {"input_tokens_estimated": True} if self.input_tokens_estimated else {}
        return data | ({"output_tokens_estimated": True} if self.output_tokens_estimated else {})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrajectoryCall | None:
        """A line as written; None for one that is not a call (damaged, or without its place)."""
        trace_id, thread, turn = data.get("trace_id"), data.get("thread", ""), count(data.get("turn", 0))
        if not isinstance(trace_id, str) or not isinstance(thread, str) or turn is None:
            return None
        error = data.get("error")
        calls = data.get("tool_calls")
        return cls(
            trace_id=trace_id,
            thread=thread,
            turn=turn,
            span_id=text(data.get("span_id")),
            tools=tuple(str(name) for name in items(data.get("tools"))),
            prompt_chars=count(data.get("prompt_chars")) or 0,
            tool_calls=tuple(
                ToolCall(str(call["name"]), call["args"] if isinstance(call.get("args"), dict) else {})
                for call in items(calls)
                if isinstance(call, dict) and "name" in call
            ),
            input_tokens=count(data.get("input_tokens")),
            output_tokens=count(data.get("output_tokens")),
            input_tokens_estimated=data.get("input_tokens_estimated") is True,
            output_tokens_estimated=data.get("output_tokens_estimated") is True,
            error_status=_status(error) if error else None,
        )

    @property
    def estimated(self) -> bool:
        return self.input_tokens_estimated or self.output_tokens_estimated


def _status(error: Any) -> int:
    status = error.get("status") if isinstance(error, dict) else None
    return status if isinstance(status, int) and not isinstance(status, bool) else 500


class TrajectoryRecorder:
    """Appends one JSON line per chat call; a single `write` on an O_APPEND file keeps lines whole.

    Tool-call arguments are model output: a key the model echoes would land here, so each line goes
    through the same redaction as spans.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._redactor = Redactor()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock = threading.Lock()

    def record(self, call: TrajectoryCall) -> None:
        line = (self._redactor.text(json.dumps(call.to_json(), separators=(",", ":"), default=str)) + "\n").encode()
        with self._lock:
            if self._fd >= 0:
                os.write(self._fd, line)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_trajectories(path: Path) -> dict[str, list[TrajectoryCall]]:
    """Calls by trace id (one trace per agent run), in the order they ended; damaged lines skipped."""
    by_trace: dict[str, list[TrajectoryCall]] = defaultdict(list)
    if not path.exists():
        return {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        call = TrajectoryCall.from_json(entry) if isinstance(entry, dict) else None
        if call is not None:
            by_trace[call.trace_id].append(call)
    return dict(by_trace)
