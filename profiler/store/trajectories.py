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
from pathlib import Path
from typing import Any

from profiler.store.redact import Redactor

TRAJECTORIES = "trajectories.jsonl"
CHARS_PER_TOKEN = 4  # the rule for estimates, and how much text the simulated model writes per token


def tokens_for_chars(chars: int) -> int:
    """The token count of a text of `chars` characters, by the ~4-characters-per-token rule."""
    return max(1, math.ceil(chars / CHARS_PER_TOKEN))


def thread_key(first_user_message: str) -> str:
    """A thread's name in recorded trajectories: a hash of its first user message, not the text."""
    return "sha256:" + hashlib.sha256(first_user_message.encode()).hexdigest()[:16]


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

    def record(self, entry: dict[str, Any]) -> None:
        line = (self._redactor.text(json.dumps(entry, separators=(",", ":"), default=str)) + "\n").encode()
        with self._lock:
            if self._fd >= 0:
                os.write(self._fd, line)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


def read_trajectories(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Calls by trace id (one trace per agent run), in the order they ended; damaged lines skipped."""
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if not path.exists():
        return {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("trace_id"), str):
            by_trace[entry["trace_id"]].append(entry)
    return dict(by_trace)
