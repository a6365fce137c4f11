"""Consistency checks of a run's span tree against the trajectory scripts it followed."""

from __future__ import annotations

from collections import Counter
from typing import Any

from profiler.modelserver.trajectory import Script, choose_reply
from profiler.store.spans import KIND_CLIENT, KIND_SERVER, SpanRecord


def _request(first_user: str, turn: int) -> dict[str, Any]:
    messages = [{"role": "user", "content": first_user}] + [{"role": "assistant", "content": ""}] * turn
    return {"model": "m", "messages": messages}


def expected_calls(key: str, script_data: dict[str, Any]) -> tuple[int, Counter[str], set[str]]:
    """LLM calls, tool names (multiset) and tool call ids the script produces for this task."""
    script = Script.from_dict(script_data)
    llm_calls, names, ids = 0, Counter[str](), set()
    threads = [("", script), *list(script.threads.items())]
    for first_user, thread in threads:
        for turn in range(len(thread.turns)):
            llm_calls += 1
            reply = choose_reply(_request(first_user or "main task", turn), script, key)
            for call in reply.tool_calls:
                names[call.name] += 1
                ids.add(call.id)
    return llm_calls, names, ids


def check_trace(spans: list[SpanRecord], scripts: dict[str, Any], not_executed: frozenset[str] = frozenset()) -> str:
    """Assert one agent run's spans are complete, connected and consistent with its script; returns its task."""
    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if s.parent_id is None]
    assert len(roots) == 1, [s.name for s in roots]
    root = roots[0]
    assert root.name.startswith("invoke_agent ") and root.attributes["gen_ai.operation.name"] == "invoke_agent"
    for span in spans:
        if span is not root:
            assert span.parent_id in by_id, f"orphan span {span.name}"
    key = str(root.attributes["orchestrace.task.id"])
    llm_calls, names, ids = expected_calls(key, scripts[key])
    chats = [s for s in spans if s.kind == KIND_CLIENT and s.operation == "chat"]
    servers = [s for s in spans if s.kind == KIND_SERVER]
    assert len(chats) == llm_calls, (key, len(chats), llm_calls)
    assert len(servers) == llm_calls
    for server in servers:
        assert by_id[server.parent_id].kind == KIND_CLIENT
        assert server.service == "orchestrace-modelserver"
    tools = [s for s in spans if s.operation == "execute_tool"]
    for name in not_executed:
        del names[name]
    assert Counter(str(s.attributes["gen_ai.tool.name"]) for s in tools) == names
    called = {str(s.attributes["gen_ai.tool.call.id"]) for s in tools}
    assert called <= ids, f"tool calls of another task in {key}: {called - ids}"
    for chat in chats:
        assert chat.attributes["gen_ai.usage.output_tokens"] > 0
        assert "gen_ai.response.time_to_first_chunk" in chat.attributes
    return key
