import json
import random

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiler.errors import UsageError
from profiler.modelserver.chatrequest import BadRequest
from profiler.modelserver.trajectory import MAX_OUTPUT_TOKENS, Script, choose_reply, example_arguments, prompt_tokens
from profiler.store.trajectories import CHARS_PER_TOKEN
from tests.timeouts import within

SCRIPT = Script.from_dict(
    {
        "turns": [
            {
                "tool_calls": [{"name": "search", "args": {"q": "x"}}, {"name": "read", "args": {"id": 3}}],
                "output_tokens": 40,
            },
            {"content": "final answer", "output_tokens": 25},
        ],
        "threads": {"Research task: a": {"turns": [{"content": "sub report", "output_tokens": 10}]}},
    }
)


def request(*roles_and_text, tools=None):
    messages = [{"role": role, "content": text} for role, text in roles_and_text]
    body = {"model": "m", "messages": messages}
    if tools:
        body["tools"] = tools
    return body


def reply_chars(reply):
    return len(reply.content) + sum(len(c.arguments) for c in reply.tool_calls)


def test_turn_is_number_of_assistant_messages():
    first = choose_reply(request(("system", "s"), ("user", "q")), SCRIPT, "k")
    assert [c.name for c in first.tool_calls] == ["search", "read"]
    assert json.loads(first.tool_calls[1].arguments) == {"id": 3}
    assert first.finish_reason == "tool_calls" and first.output_tokens == 40
    second = choose_reply(request(("user", "q"), ("assistant", ""), ("tool", "r")), SCRIPT, "k")
    assert second.tool_calls == () and second.content.startswith("final answer")
    assert second.finish_reason == "stop"


def test_text_length_matches_reported_tokens():
    for body in (request(("user", "q")), request(("user", "q"), ("assistant", ""))):
        reply = choose_reply(body, SCRIPT, "k")
        assert reply_chars(reply) == reply.output_tokens * CHARS_PER_TOKEN


def test_threads_follow_the_first_user_message():
    reply = choose_reply(request(("system", "s"), ("user", "Research task: a")), SCRIPT, "k")
    assert reply.content.startswith("sub report") and reply.output_tokens == 10


def test_running_past_the_script_answers_and_flags_overrun():
    body = request(("user", "q"), ("assistant", "1"), ("assistant", "2"), ("assistant", "3"))
    reply = choose_reply(body, SCRIPT, "k")
    assert reply.overrun and reply.tool_calls == ()


def test_tool_call_ids_are_deterministic_and_distinct():
    a = choose_reply(request(("user", "q")), SCRIPT, "task-1")
    b = choose_reply(request(("user", "q")), SCRIPT, "task-1")
    c = choose_reply(request(("user", "q")), SCRIPT, "task-2")
    assert [x.id for x in a.tool_calls] == [x.id for x in b.tool_calls]
    assert len({x.id for x in a.tool_calls + c.tool_calls}) == 4


def test_error_turn():
    script = Script.from_dict({"turns": [{"error": {"status": 429, "message": "slow down"}, "delay_s": 0.5}]})
    reply = choose_reply(request(("user", "q")), script, "k")
    assert reply.error is not None and reply.error.status == 429 and reply.delay_s == 0.5


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "minLength": 3},
                    "k": {"type": "integer", "minimum": 1, "maximum": 5},
                },
                "required": ["query", "k"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "plot",
            "parameters": {
                "type": "object",
                "$defs": {
                    "Point": {
                        "type": "object",
                        "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                        "required": ["x", "y"],
                    }
                },
                "properties": {
                    "points": {"type": "array", "items": {"$ref": "#/$defs/Point"}, "minItems": 2},
                    "style": {"enum": ["line", "bar"]},
                    "title": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                },
                "required": ["points", "style"],
            },
        },
    },
]


def test_generic_policy_calls_each_tool_once_then_answers():
    names = []
    messages = [("user", "do it")]
    for _ in range(len(TOOLS)):
        reply = choose_reply(request(*messages, tools=TOOLS), None, "")
        assert len(reply.tool_calls) == 1
        call = reply.tool_calls[0]
        names.append(call.name)
        schema = next(t["function"]["parameters"] for t in TOOLS if t["function"]["name"] == call.name)
        jsonschema.validate(json.loads(call.arguments), schema)
        messages.append(("assistant", ""))
    assert names == ["search", "plot"]
    final = choose_reply(request(*messages, tools=TOOLS), None, "")
    assert final.tool_calls == () and final.content


@pytest.mark.parametrize("seed", range(20))
def test_example_arguments_validate(seed):
    for tool in TOOLS:
        schema = tool["function"]["parameters"]
        jsonschema.validate(example_arguments(schema, random.Random(seed)), schema)


def test_prompt_tokens_count_messages_tool_calls_and_tools():
    small = prompt_tokens(request(("user", "x" * 40)))
    assert small == 10
    assert prompt_tokens(request(("user", "x" * 40), tools=TOOLS)) > small + 50


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "expected an object with a 'turns' list"),
        ({"turns": [{}]}, r"turns\[0\]: a turn needs 'tool_calls', 'content' or 'error'"),
        ({"turns": [{"tool_calls": []}]}, r"turns\[0\]: 'tool_calls' must be a non-empty list"),
        ({"turns": [{"content": "x", "output_tokens": 0}]}, r"turns\[0\]: 'output_tokens' must be a whole number"),
        ({"turns": [{"tool_calls": [{"args": {}}]}]}, r"tool_calls\[0\] needs a 'name'"),
        ({"turns": [{"error": {"status": "x"}}]}, "'error' needs an integer 'status'"),
    ],
)
def test_bad_scripts_name_the_problem(data, message):
    with pytest.raises(UsageError, match=message):
        Script.from_dict(data)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)
SCHEMA_KEYS = st.sampled_from(
    ["type", "properties", "required", "items", "minItems", "minLength", "maxLength", "minimum", "maximum",
     "exclusiveMinimum", "enum", "const", "default", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions"]
)  # fmt: skip
SCHEMAS = st.recursive(
    JSON, lambda inner: st.dictionaries(SCHEMA_KEYS, inner | st.integers(-5, 10**9), max_size=6), max_leaves=40
)


@settings(max_examples=120, deadline=None)
@given(schema=st.dictionaries(SCHEMA_KEYS, SCHEMAS, max_size=6), seed=st.integers(0, 3))
def test_example_arguments_never_crash_and_stay_bounded(schema, seed):
    """Any JSON as a schema: arguments a reply can hold, or a BadRequest saying the schema asks too much."""
    with within(5):
        try:
            arguments = example_arguments(schema, random.Random(seed))
        except BadRequest as exc:
            assert "longer than a reply may be" in str(exc)
            return
    assert len(json.dumps(arguments, allow_nan=False)) <= MAX_OUTPUT_TOKENS * CHARS_PER_TOKEN


def test_a_schema_asking_for_100_mb_is_refused_at_once():
    schema = {"type": "object", "properties": {"a": {"type": "string", "minLength": 10**8}}, "required": ["a"]}
    with within(1), pytest.raises(BadRequest, match="longer than a reply may be"):
        example_arguments(schema, random.Random(0))
    nested = {"type": "array", "minItems": 1000, "items": {"type": "array", "minItems": 1000, "items": {}}}
    with within(1), pytest.raises(BadRequest):
        example_arguments({"properties": {"a": nested}}, random.Random(0))


def test_scripts_cannot_ask_for_more_than_a_reply():
    with pytest.raises(UsageError, match="'output_tokens' must be a whole number from 1 to 32768"):
        Script.from_dict({"turns": [{"content": "x", "output_tokens": 10**9}]})
    with pytest.raises(UsageError, match="longer than a reply may be"):
        Script.from_dict({"turns": [{"content": "x" * (MAX_OUTPUT_TOKENS * CHARS_PER_TOKEN + 1)}]})
