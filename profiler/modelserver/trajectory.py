"""What the simulated model says: trajectory scripts and the generic tool-calling policy.

A script is `{"turns": [turn, ...], "threads": {"<first user message>": script}}`. The turn
used for a request is the number of assistant messages already in it; `threads` lets
sub-agents that start from a known first user message follow their own turns (recorded
trajectories key threads by `thread_key`, a hash, so no prompt text is stored). A turn is
`{"tool_calls": [{"name", "args"}], "output_tokens": N}`, `{"content": "...",
"output_tokens": N}`, or `{"error": {"status": 500}}` (optionally with `"delay_s"`). Any turn may carry
`"fail": {"status": 503, "times": 2, "retry_after_s": 0.5}`: its first two attempts get that
error, the third its reply (a retried call). Generated text is ~4 characters per reported token.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field, replace
from typing import Any

from profiler.errors import UsageError
from profiler.modelserver.chatrequest import BadRequest
from profiler.store.trajectories import CHARS_PER_TOKEN, thread_key, tokens_for_chars

SCRIPT_BAGGAGE_KEY = "orchestrace.script"  # which script a request follows: the agent run's key, in its baggage

MAX_OUTPUT_TOKENS = 32_768  # one reply's cap, as real servers cap max_tokens
GENERIC_TOOL_TURN_TOKENS = 40
GENERIC_ANSWER_TOKENS = 120

_WORDS = tuple(
    """
    the model considers which step comes next given the results so far and the question asked it
    weighs evidence from each tool output checks consistency between sources and notes what remains
    uncertain before it writes a concise answer with references to the documents used analysis
    shows that the retrieved passages agree on the main point while differing in detail
    """.split()
)
_FILLER = " ".join(_WORDS) + " "


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the OpenAI API carries it


@dataclass(frozen=True)
class TurnError:
    status: int
    message: str


@dataclass(frozen=True)
class Failing:
    """A turn's first `times` attempts fail with `status` (then it answers)."""

    status: int
    times: int
    retry_after_s: float


@dataclass(frozen=True)
class Reply:
    """One rendered model response."""

    content: str
    tool_calls: tuple[ToolCall, ...]
    output_tokens: int
    error: TurnError | None = None
    delay_s: float = 0.0
    overrun: bool = False
    failing: Failing | None = None
    turn: str = ""  # which call of which conversation this is (the attempts of one call share it)

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


@dataclass(frozen=True)
class Script:
    turns: tuple[dict[str, Any], ...]
    threads: dict[str, Script] = field(default_factory=dict)

    @staticmethod
    def from_dict(data: Any, origin: str = "script") -> Script:
        if not isinstance(data, dict) or not isinstance(data.get("turns"), list):
            raise UsageError(f"{origin}: expected an object with a 'turns' list")
        turns = tuple(_validate_turn(t, f"{origin}: turns[{i}]") for i, t in enumerate(data["turns"]))
        raw_threads = data.get("threads", {})
        if not isinstance(raw_threads, dict):
            raise UsageError(f"{origin}: 'threads' must map a first user message to a script")
        threads = {k: Script.from_dict(v, f"{origin}: threads[{k[:30]!r}]") for k, v in raw_threads.items()}
        return Script(turns, threads)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"turns": list(self.turns)}
        if self.threads:
            out["threads"] = {k: v.to_dict() for k, v in self.threads.items()}
        return out


def _validate_turn(turn: Any, where: str) -> dict[str, Any]:
    if not isinstance(turn, dict):
        raise UsageError(f"{where}: a turn must be an object")
    if "error" in turn:
        err = turn["error"]
        if not isinstance(err, dict) or not isinstance(err.get("status"), int):
            raise UsageError(f"{where}: 'error' needs an integer 'status'")
    elif "tool_calls" in turn:
        calls = turn["tool_calls"]
        if not isinstance(calls, list) or not calls:
            raise UsageError(f"{where}: 'tool_calls' must be a non-empty list")
        for j, call in enumerate(calls):
            if not isinstance(call, dict) or not isinstance(call.get("name"), str):
                raise UsageError(f"{where}: tool_calls[{j}] needs a 'name'")
            if not isinstance(call.get("args", {}), dict):
                raise UsageError(f"{where}: tool_calls[{j}].args must be an object")
    elif not isinstance(turn.get("content"), str):
        raise UsageError(f"{where}: a turn needs 'tool_calls', 'content' or 'error'")
    tokens = turn.get("output_tokens")
    whole = isinstance(tokens, int) and not isinstance(tokens, bool)
    if tokens is not None and not (whole and 1 <= tokens <= MAX_OUTPUT_TOKENS):
        raise UsageError(f"{where}: 'output_tokens' must be a whole number from 1 to {MAX_OUTPUT_TOKENS}")
    text = len(str(turn.get("content", ""))) + len(json.dumps(turn.get("tool_calls", [])))
    if text > MAX_OUTPUT_TOKENS * CHARS_PER_TOKEN:
        raise UsageError(f"{where}: the turn's text is longer than a reply may be ({MAX_OUTPUT_TOKENS:,} tokens)")
    delay = turn.get("delay_s", 0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise UsageError(f"{where}: 'delay_s' must be a number >= 0")
    if "fail" in turn:
        _failing(turn["fail"], where)
    return turn


def _failing(fail: Any, where: str) -> Failing:
    problem = f"{where}: 'fail' is {{'status': 400-599, 'times': N >= 1, 'retry_after_s': optional seconds}}"
    if not isinstance(fail, dict):
        raise UsageError(problem)
    status, times, after = fail.get("status"), fail.get("times"), fail.get("retry_after_s", 1.0)
    numbers = (status, times, after)
    if any(isinstance(v, bool) for v in numbers) or not (isinstance(status, int) and isinstance(times, int)):
        raise UsageError(problem)
    if not (400 <= status <= 599 and times >= 1 and isinstance(after, int | float) and 0 <= after <= 60):
        raise UsageError(problem)
    return Failing(status, times, float(after))


def message_text(message: dict[str, Any]) -> str:
    """The text of one chat message (string content or text parts)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def prompt_tokens(request: dict[str, Any]) -> int:
    """~4 characters per token over messages, tool calls and tool definitions."""
    chars = 0
    for message in request.get("messages", []):
        chars += len(message_text(message))
        if message.get("tool_calls"):
            chars += len(json.dumps(message["tool_calls"]))
    if request.get("tools"):
        chars += len(json.dumps(request["tools"]))
    return tokens_for_chars(chars)


def choose_reply(request: dict[str, Any], script: Script | None, key: str) -> Reply:
    """The reply for this request: from the script's turn, or from the generic policy."""
    messages = request.get("messages", [])
    turn_index = sum(1 for m in messages if m.get("role") == "assistant")
    first_user = next((message_text(m) for m in messages if m.get("role") == "user"), "")
    if script is None:
        reply = _generic_reply(request, turn_index, f"{key}|{first_user}|{turn_index}")
    else:
        reply = _scripted_reply(script, key, first_user, turn_index)
    return replace(reply, turn=f"{key}|{thread_key(first_user)}|{turn_index}")


def _scripted_reply(script: Script, key: str, first_user: str, turn_index: int) -> Reply:
    thread = script.threads.get(first_user) or script.threads.get(thread_key(first_user))
    active = thread if thread is not None else script
    thread_name = first_user if thread is not None else ""
    if turn_index < len(active.turns):
        return _render(active.turns[turn_index], f"{key}|{thread_name}|{turn_index}")
    return _render(
        {"content": "I have what I need; here is the final answer."}, f"{key}|{thread_name}|{turn_index}", overrun=True
    )


def _generic_reply(request: dict[str, Any], turn_index: int, seed_key: str) -> Reply:
    """Call each bound tool once, in order, with schema-valid arguments; then answer."""
    tools = [t["function"] for t in request.get("tools") or []]  # checked by chatrequest
    if turn_index < len(tools):
        fn = tools[turn_index]
        rng = random.Random(seed_key)
        args = example_arguments(fn.get("parameters") or {}, rng)
        turn = {
            "tool_calls": [{"name": fn.get("name", "tool"), "args": args}],
            "output_tokens": GENERIC_TOOL_TURN_TOKENS,
        }
        return _render(turn, seed_key)
    return _render(
        {"content": "Here is the answer based on the tool results.", "output_tokens": GENERIC_ANSWER_TOKENS}, seed_key
    )


def _render(turn: dict[str, Any], seed_key: str, *, overrun: bool = False) -> Reply:
    delay = float(turn.get("delay_s", 0))
    failing = _failing(turn["fail"], seed_key) if "fail" in turn else None
    if "error" in turn:
        err = turn["error"]
        error = TurnError(int(err["status"]), str(err.get("message", "simulated error")))
        return Reply("", (), 0, error, delay, failing=failing)
    calls = tuple(
        ToolCall(_call_id(seed_key, i), c["name"], json.dumps(c.get("args", {}), separators=(",", ":")))
        for i, c in enumerate(turn.get("tool_calls", []))
    )
    content = turn.get("content", "")
    used = len(content) + sum(len(c.arguments) for c in calls)
    wanted = turn.get("output_tokens")
    if wanted is None:
        wanted = max(1, math.ceil(used / CHARS_PER_TOKEN))
    missing = wanted * CHARS_PER_TOKEN - used
    if missing > 0:
        content = _pad(content, missing, seed_key)
        used += missing
    tokens = max(wanted, math.ceil(used / CHARS_PER_TOKEN))
    return Reply(content, calls, tokens, None, delay, overrun, failing)


def _pad(content: str, extra: int, seed_key: str) -> str:
    """Filler words to reach the token count: a slice of a fixed text at a per-reply offset."""
    offset = int(hashlib.sha1(seed_key.encode()).hexdigest()[:8], 16) % len(_FILLER)
    repeats = 1 + (offset + extra) // len(_FILLER)
    filler = (" " if content else "") + (_FILLER * (repeats + 1))[offset : offset + extra]
    return content + filler[:extra]


def _call_id(seed_key: str, index: int) -> str:
    return "call_" + hashlib.sha1(f"{seed_key}|{index}".encode()).hexdigest()[:24]


def example_arguments(schema: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Arguments valid for a tool's JSON schema (required fields, or all if none are).

    Any JSON is accepted as a schema (parts it cannot follow become null); one asking for
    more than a reply may hold (`minLength: 1e8`) is a `BadRequest`, not a 100 MB answer.
    """
    defs = {**_as_dict(schema.get("definitions")), **_as_dict(schema.get("$defs"))}
    value = _example(schema, defs, rng, 0, _Budget(MAX_OUTPUT_TOKENS * CHARS_PER_TOKEN))
    return value if isinstance(value, dict) else {}


class _Budget:
    """Characters the generated arguments may still take."""

    def __init__(self, chars: int) -> None:
        self.left = chars

    def spend(self, chars: int) -> None:
        self.left -= chars
        if self.left < 0:
            raise BadRequest(
                f"a tool's parameters schema asks for arguments longer than a reply may be "
                f"({MAX_OUTPUT_TOKENS:,} tokens); lower its minLength/minItems"
            )


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _copied(value: Any, budget: _Budget) -> Any:
    """A value the schema gives (const, enum, default), paid for at its JSON size."""
    budget.spend(len(json.dumps(value)))
    return value


def _example(schema: Any, defs: dict[str, Any], rng: random.Random, depth: int, budget: _Budget) -> Any:
    budget.spend(1)
    if depth > 8 or not isinstance(schema, dict):
        return None
    if isinstance(schema.get("$ref"), str):
        return _example(defs.get(schema["$ref"].rsplit("/", 1)[-1]), defs, rng, depth + 1, budget)
    if "const" in schema:
        return _copied(schema["const"], budget)
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return _copied(schema["enum"][0], budget)
    if schema.get("default") is not None:
        return _copied(schema["default"], budget)
    for key in ("anyOf", "oneOf", "allOf"):
        choices = schema.get(key)
        if isinstance(choices, list):
            options = [o for o in choices if isinstance(o, dict) and o.get("type") != "null"]
            if options:
                return _example(options[0], defs, rng, depth + 1, budget)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object":
        props = _as_dict(schema.get("properties"))
        required = schema.get("required")
        names = [n for n in required if isinstance(n, str)] if isinstance(required, list) and required else list(props)
        budget.spend(sum(len(n) + 4 for n in names))
        return {n: _example(props.get(n, {}), defs, rng, depth + 1, budget) for n in names}
    if kind == "array":
        count = max(1, int(_number(schema.get("minItems"), 1)))
        budget.spend(count)
        return [_example(schema.get("items", {}), defs, rng, depth + 1, budget) for _ in range(count)]
    if kind == "integer":
        if "minimum" in schema:
            low = int(_number(schema["minimum"], 1))
        else:
            low = int(_number(schema.get("exclusiveMinimum"), 0)) + 1
        high = int(_number(schema.get("maximum"), max(low, 10)))
        value = rng.randint(low, max(low, high))
        budget.spend(len(str(value)))
        return value
    if kind == "number":
        bottom = _number(schema.get("minimum"), 0.0)
        number = round(rng.uniform(bottom, _number(schema.get("maximum"), bottom + 10.0)), 3)
        return number if math.isfinite(number) else bottom
    if kind == "boolean":
        return True
    text = " ".join(rng.choice(_WORDS) for _ in range(3))
    min_len = max(0, int(_number(schema.get("minLength"), 0)))
    max_len = int(_number(schema.get("maxLength"), 10_000))
    budget.spend(min_len)
    return (text * (1 + min_len // max(1, len(text))))[: max(min_len, min(len(text), max_len))]
