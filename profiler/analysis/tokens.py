"""Token counts per model call: reported usage where there is some, else the recorded estimate.

A client that asks for no usage (a plain `ChatOpenAI(streaming=True)`) leaves the chat spans
without token counts. Reading those as zero would make accelerator time, and every sizing figure
built on it, silently zero; the call's line in trajectories.jsonl holds an estimate instead
(~4 characters per token of the request and the answer), which is used and marked as one.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai

from profiler.analysis.traces import CHAT, AgentRun, span_kind
from profiler.store.session import Session
from profiler.store.spans import SpanRecord
from profiler.store.trajectories import TrajectoryCall

REPORTED, ESTIMATED, UNKNOWN = "reported", "estimated", "unknown"
HOW_TO_GET_USAGE = (
    "for real counts, have the client ask for usage: ChatOpenAI(stream_usage=True), or the chat model "
    "orchestrace passes to your graph factory"
)
_IN, _OUT = gen_ai.GEN_AI_USAGE_INPUT_TOKENS, gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS


@dataclass(frozen=True)
class Usage:
    input: int
    output: int
    source: str  # REPORTED (by the endpoint or the simulated server), ESTIMATED, or UNKNOWN


def _reported(span: SpanRecord) -> Usage | None:
    if _IN in span.attributes or _OUT in span.attributes:
        return Usage(int(span.attributes.get(_IN, 0)), int(span.attributes.get(_OUT, 0)), REPORTED)
    return None


def _reported_for(run: AgentRun, span: SpanRecord) -> Usage | None:
    """The call's usage as the endpoint reported it, or as the simulated server counted what it was sent."""
    usage = _reported(span)
    for server in run.server.get(span.span_id, []):
        usage = usage or _reported(server)
    return usage


def _estimated(recorded: TrajectoryCall | None) -> Usage:
    """The trajectory line's counts: estimated (and marked) when the endpoint reported none."""
    if recorded is not None and recorded.error_status is None:
        return Usage(
            recorded.input_tokens or 0,
            recorded.output_tokens or 0,
            ESTIMATED if recorded.estimated else REPORTED,
        )
    return Usage(0, 0, UNKNOWN)


def run_usage(session: Session, run: AgentRun) -> dict[str, Usage]:
    """Usage by chat span id for one agent run's model calls.

    A trajectory line names its chat span; lines of runs recorded before they did are matched to
    the chat spans in the order the calls ended (the order they were written). Trajectories are
    read only when a call's usage was not reported.
    """
    chats = sorted((s for s in run.spans if span_kind(s) == CHAT), key=lambda s: s.end_ns)
    usage: dict[str, Usage] = {}
    unreported = []
    for span in chats:
        reported = _reported_for(run, span)
        if reported is not None:
            usage[span.span_id] = reported
        else:
            unreported.append(span)
    if unreported:
        lines = session.trajectories.get(run.root.trace_id, [])
        by_span = {line.span_id: line for line in lines if line.span_id is not None}
        in_order = iter(lines)
        for span in chats:
            recorded = by_span.get(span.span_id) if by_span else next(in_order, None)
            if span.span_id not in usage:
                usage[span.span_id] = _estimated(recorded)
    return usage
