"""Replay scripts from recorded calls, and the first-mismatch message (pure functions)."""

from dataclasses import replace

from profiler.modelserver.trajectory import Script, choose_reply
from profiler.runner.replay import first_mismatch, script_of
from profiler.store.trajectories import ToolCall, TrajectoryCall, thread_key

MAIN, SUB = thread_key("main task"), thread_key("Research task: sockets")


def _call(thread, turn, calls=(), tools=("search", "read"), out=10):
    return TrajectoryCall(
        "trace", thread, turn, tools=tuple(tools), tool_calls=tuple(ToolCall(n, a) for n, a in calls), output_tokens=out
    )


RECORDED = [
    _call(MAIN, 0, [("delegate", {"topic": "sockets"})], tools=("delegate",)),
    _call(SUB, 0, [("search", {"q": "socket"})]),
    _call(SUB, 1, out=30),
    _call(MAIN, 1, out=50),
]


def _request(first_user, assistant_turns):
    messages = [{"role": "user", "content": first_user}] + [{"role": "assistant", "content": ""}] * assistant_turns
    return {"model": "m", "messages": messages}


def test_the_script_makes_the_simulated_model_repeat_each_thread_turn_by_turn():
    script = Script.from_dict(script_of(RECORDED))
    first = choose_reply(_request("main task", 0), script, "k")
    assert [(c.name, c.arguments) for c in first.tool_calls] == [("delegate", '{"topic":"sockets"}')]
    sub = choose_reply(_request("Research task: sockets", 0), script, "k")
    assert [c.name for c in sub.tool_calls] == ["search"]
    answer = choose_reply(_request("Research task: sockets", 1), script, "k")
    assert not answer.tool_calls and answer.output_tokens == 30
    assert choose_reply(_request("main task", 1), script, "k").output_tokens == 50


def test_identical_trajectories_have_no_mismatch():
    assert first_mismatch({0: RECORDED}, {0: list(reversed(RECORDED))}) is None


def test_a_tool_no_longer_bound_is_named():
    replayed = [replace(c, tools=("read",)) if c.thread == SUB else c for c in RECORDED]
    message = first_mismatch({0: RECORDED}, {0: replayed})
    assert message == (
        "agent run 1, sub-agent 1, model call 1: recorded tool 'search' is not bound to the graph any more "
        "(bound: read)"
    )


def test_a_missing_call_and_an_extra_call_are_named():
    assert "made no such call" in str(first_mismatch({0: RECORDED}, {0: RECORDED[:3]}))
    extra = [*RECORDED, _call(MAIN, 2, [("search", {"q": "more"})])]
    assert first_mismatch({0: RECORDED}, {0: extra}) == (
        'agent run 1: the replayed graph made 1 more model call(s), first search({"q": "more"})'
    )


def test_different_arguments_are_a_mismatch():
    changed = [_call(MAIN, 0, [("delegate", {"topic": "pipes"})], tools=("delegate",)), *RECORDED[1:]]
    message = str(first_mismatch({0: RECORDED}, {0: changed}))
    assert message.startswith("agent run 1, the agent, model call 1: recorded delegate(") and "pipes" in message


def test_a_recorded_failure_is_scripted_and_compared():
    failed = [
        _call(MAIN, 0, [("delegate", {"topic": "x"})], tools=("delegate",)),
        replace(_call(MAIN, 1), error_status=429),
    ]
    script = Script.from_dict(script_of(failed))
    assert choose_reply(_request("main task", 1), script, "k").error.status == 429
    assert first_mismatch({0: failed}, {0: failed}) is None
    assert "recorded a failed call (status 429), replayed a final answer" in str(
        first_mismatch({0: failed}, {0: [failed[0], _call(MAIN, 1)]})
    )


def test_parallel_branches_with_the_same_key_are_compared_as_a_multiset():
    twins = [
        _call(SUB, 0, [("search", {"q": "a"})]),
        _call(SUB, 0, [("search", {"q": "b"})]),
    ]
    assert first_mismatch({0: twins}, {0: list(reversed(twins))}) is None
    assert "more model call(s)" in str(first_mismatch({0: twins}, {0: [*twins, _call(SUB, 0)]}))


def test_a_run_that_only_the_replay_made_is_a_mismatch():
    assert first_mismatch({0: RECORDED}, {0: RECORDED, 1: RECORDED}) == (
        "agent run 2 did not run in the recording but ran in the replay"
    )
