import json
import random

import jsonschema
import pytest

from profiler.errors import UsageError
from profiler.modelserver.trajectory import Script, choose_reply, example_arguments, prompt_tokens
from profiler.store.trajectories import CHARS_PER_TOKEN

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
