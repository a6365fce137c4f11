"""The counts a run records in its manifest when it ends: agent runs by outcome, model and tool calls."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from profiler.analysis.outcomes import FAILED, INCOMPLETE, root_outcome
from profiler.store.spans import KIND_CLIENT, KIND_SERVER, SpanRecord


@dataclass(frozen=True)
class RunSummary:
    agent_runs: int
    errors: int  # agent runs that failed
    incomplete: int  # agent runs cut off (Ctrl-C, a crash): not failed, not completed
    llm_calls: int
    llm_errors: int
    tool_calls: int
    tool_errors: int
    server_spans: int


def summarize(spans: Iterable[SpanRecord]) -> RunSummary:
    agent_runs = errors = incomplete = llm_calls = llm_errors = tool_calls = tool_errors = server_spans = 0
    for span in spans:
        if span.kind == KIND_SERVER:
            server_spans += 1
            continue
        op = span.operation
        if op == "invoke_agent" and span.parent_id is None:
            agent_runs += 1
            outcome = root_outcome(span)
            errors += outcome == FAILED
            incomplete += outcome == INCOMPLETE
        elif op == "chat" and span.kind == KIND_CLIENT:
            llm_calls += 1
            llm_errors += span.is_error
        elif op == "execute_tool":
            tool_calls += 1
            tool_errors += span.is_error
    return RunSummary(agent_runs, errors, incomplete, llm_calls, llm_errors, tool_calls, tool_errors, server_spans)
