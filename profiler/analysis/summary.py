"""The short end-of-run summary: agent runs, errors, LLM calls, tokens (from the spans)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from profiler.store.spans import KIND_CLIENT, KIND_SERVER, SpanRecord


@dataclass(frozen=True)
class RunSummary:
    agent_runs: int
    errors: int
    llm_calls: int
    llm_errors: int
    tool_calls: int
    tool_errors: int
    input_tokens: int
    output_tokens: int
    server_spans: int


def summarize(spans: Iterable[SpanRecord]) -> RunSummary:
    agent_runs = errors = llm_calls = llm_errors = tool_calls = tool_errors = 0
    input_tokens = output_tokens = server_spans = 0
    for span in spans:
        if span.kind == KIND_SERVER:
            server_spans += 1
            continue
        op = span.operation
        if op == "invoke_agent" and span.parent_id is None:
            agent_runs += 1
            errors += span.is_error
        elif op == "chat" and span.kind == KIND_CLIENT:
            llm_calls += 1
            llm_errors += span.is_error
            input_tokens += int(span.attributes.get("gen_ai.usage.input_tokens", 0))
            output_tokens += int(span.attributes.get("gen_ai.usage.output_tokens", 0))
        elif op == "execute_tool":
            tool_calls += 1
            tool_errors += span.is_error
    return RunSummary(
        agent_runs, errors, llm_calls, llm_errors, tool_calls, tool_errors, input_tokens, output_tokens, server_spans
    )
