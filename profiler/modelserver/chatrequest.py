"""Parse and check a chat-completions request body: the one place the server trusts client JSON.

Everything the server reads later (roles, text, tool definitions, stream options) is checked
here, so a malformed request is a 400 naming the field before any response starts, never a
500 or an error written into an open stream.
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_JSON_DEPTH = 64  # real requests nest tool schemas a dozen levels deep at most


class BadRequest(ValueError):
    """The request cannot be served; the message names the field."""


def parse_chat_request(raw: bytes) -> dict[str, Any]:
    """The request body as a checked dict (orjson rejects NaN/Infinity, bad UTF-8 and >1024 levels)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    if _depth(body) > MAX_JSON_DEPTH:
        raise BadRequest(f"request body is nested more than {MAX_JSON_DEPTH} levels deep")
    _check(body)
    return body


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level <= MAX_JSON_DEPTH:
            stack.extend((child, level + 1) for child in children)
    return deepest


def _optional(body: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> None:
    value = body.get(key)
    if value is None:
        return
    is_bool = isinstance(value, bool)  # JSON true is not a number here
    if not isinstance(value, kind) or is_bool != (kind is bool):
        raise BadRequest(f"'{key}' must be {what}")


def _check(body: dict[str, Any]) -> None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("missing required parameter: 'model'")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("missing required parameter: 'messages' (a non-empty list)")
    for i, message in enumerate(messages):
        _check_message(message, f"messages[{i}]")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise BadRequest("'tools' must be a list")
        for i, tool in enumerate(tools):
            _check_tool(tool, f"tools[{i}]")
    _optional(body, "stream", bool, "true or false")
    _optional(body, "stream_options", dict, "an object")
    _optional(body.get("stream_options") or {}, "include_usage", bool, "true or false")
    for key in ("max_tokens", "max_completion_tokens"):
        _optional(body, key, int, "a whole number")


def _check_message(message: Any, where: str) -> None:
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise BadRequest(f"{where}: each message needs a 'role' string")
    content = message.get("content")
    if isinstance(content, list):
        if not all(isinstance(part, dict) for part in content):
            raise BadRequest(f"{where}.content: each part must be an object")
    elif content is not None and not isinstance(content, str):
        raise BadRequest(f"{where}.content must be a string, a list of parts or null")
    calls = message.get("tool_calls")
    if calls is not None and not (isinstance(calls, list) and all(isinstance(c, dict) for c in calls)):
        raise BadRequest(f"{where}.tool_calls must be a list of objects")


def _check_tool(tool: Any, where: str) -> None:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise BadRequest(f"{where}: a tool needs a 'function' object with a 'name' string")
    if not isinstance(function.get("parameters", {}), dict):
        raise BadRequest(f"{where}.function.parameters must be a JSON schema object")
