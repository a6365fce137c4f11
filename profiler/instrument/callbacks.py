"""LangChain callback handler that turns a LangGraph run into GenAI-convention OTel spans.

Runs inline (`run_inline = True`) so timestamps are taken on the thread and task doing the
work, not after a thread-pool hop. Parents come from LangChain's `parent_run_id`, not from
ambient context alone, so concurrent runs on one event loop never cross-wire. Each span is
also made current (context attach/detach) while it runs, so HTTP calls carry its
`traceparent` and the CPU meter knows which span a thread is working for.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from profiler.instrument.cpumeter import SpanCpuMeter
from profiler.instrument.llmresult import first_generation, usage
from profiler.store import fields
from profiler.store.trajectories import TrajectoryCall

GEN_AI_NODE_NAME = "gen_ai.node.name"  # draft convention (semantic-conventions-genai #187/#188)
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_OTHER_HANDLERS = "_orchestrace_other_handlers"  # set on a LangChain run manager by the token fast path

try:  # LangGraph's control-flow exceptions (interrupts, Command bubbling) are not failures
    from langgraph.errors import GraphBubbleUp as _ControlFlow
except ImportError:  # pragma: no cover - langgraph is a dependency
    _ControlFlow = ()  # type: ignore[assignment,misc]


def _instrumentation(method: Any) -> Any:
    """Charge a callback's own CPU to the meter's telemetry bucket (it is orchestrace's cost)."""

    @functools.wraps(method)
    def charged(self: SpanCallbackHandler, *args: Any, **kwargs: Any) -> Any:
        meter = self._meter
        if meter is None:
            return method(self, *args, **kwargs)
        meter.enter_telemetry()
        try:
            return method(self, *args, **kwargs)
        finally:
            meter.exit_telemetry()

    return charged


def capture_content_enabled() -> bool:
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in (
        "true",
        "1",
        "yes",
        "span_only",
        "span_and_event",
    )


class ChatObserver(Protocol):
    """Told about every chat call the handler traces (e.g. the trajectory recorder)."""

    def started(self, span: Span, messages: list[Any], params: dict[str, Any]) -> TrajectoryCall: ...

    def ended(self, step: TrajectoryCall, response: Any) -> None: ...

    def failed(self, step: TrajectoryCall, error: BaseException) -> None: ...


@dataclass
class _Run:
    span: Span
    parent: UUID | None
    token: object | None = None
    first_chunk_ns: int | None = None
    start_ns: int = 0
    borrowed: bool = False  # the caller's invoke_agent span: the caller ends it
    owner: tuple[int, int] = (0, 0)  # (thread, task) that attached the span's context
    step: TrajectoryCall | None = None  # a chat call's place in the trajectory: thread, turn, bound tools


def _context_owner() -> tuple[int, int]:
    """Identifies the execution context: a context attached here can be detached here only."""
    loop = asyncio._get_running_loop()
    return threading.get_ident(), id(asyncio.current_task(loop) if loop is not None else None)


_MISSING = object()


def is_agent_span(span: Span) -> bool:
    attributes = getattr(span, "attributes", None) or {}
    return bool(attributes.get(gen_ai.GEN_AI_OPERATION_NAME) == "invoke_agent")


class SpanCallbackHandler(BaseCallbackHandler):
    """Emits invoke_agent / invoke_node / chat / execute_tool spans."""

    run_inline = True
    raise_error = False
    # LangChain reads these for every event, and as properties they are a call each: plain values
    ignore_llm = ignore_retry = ignore_chain = ignore_agent = False
    ignore_retriever = ignore_chat_model = ignore_custom_event = False

    def __init__(
        self,
        tracer: trace.Tracer,
        *,
        agent_name: str = "agent",
        capture_content: bool | None = None,
        meter: SpanCpuMeter | None = None,
        chats: ChatObserver | None = None,
    ) -> None:
        self._tracer = tracer
        self._meter = meter
        self._chats = chats
        self._agent_name = agent_name
        self._capture = capture_content_enabled() if capture_content is None else capture_content
        self._runs: dict[UUID, _Run] = {}  # runs we emit a span for
        self._passthrough: dict[UUID, UUID | None] = {}  # runs we do not emit: run -> parent run
        self.passthrough_calls = 0
        self._lock = threading.Lock()

    # ---- span bookkeeping -------------------------------------------------------------

    def _parent_span(self, parent_run_id: UUID | None) -> Span | None:
        """The span of the nearest ancestor run we emitted (LangChain's parent_run_id, not ambient context)."""
        run_id = parent_run_id
        while run_id is not None:
            run = self._runs.get(run_id)
            if run is not None:
                return run.span
            if run_id not in self._passthrough:
                return None
            run_id = self._passthrough[run_id]
        return None

    def _start(
        self, run_id: UUID, parent_run_id: UUID | None, name: str, kind: SpanKind, attributes: dict[str, Any]
    ) -> Span:
        parent = self._parent_span(parent_run_id)
        # a root run starts its own trace, whatever span the caller has current (their web
        # framework's, say): one trace per agent run is what the analysis and replay rely on
        ctx: Context | None = Context() if parent_run_id is None else None
        if parent is not None:
            ctx = trace.set_span_in_context(parent)
        span = self._tracer.start_span(name, context=ctx, kind=kind, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span))
        with self._lock:
            self._runs[run_id] = _Run(span, parent_run_id, token, start_ns=time.time_ns(), owner=_context_owner())
        return span

    def _end(self, run_id: UUID, error: BaseException | None = None) -> _Run | None:
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is None or run.borrowed:
            return run
        # LangChain runs async end callbacks in a shielded task (a copy of the context), where
        # the token cannot be reset. The span then stays "current" in the starting context after
        # it ended; whoever reads that context resolves it to the nearest open ancestor.
        if run.token is not None and run.owner == _context_owner():
            otel_context.detach(run.token)  # type: ignore[arg-type]
        if error is not None and not isinstance(error, _ControlFlow):
            run.span.record_exception(error)
            run.span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:500]))
            run.span.set_attribute("error.type", type(error).__qualname__)
            status_code = getattr(error, "status_code", None)
            if isinstance(status_code, int):
                run.span.set_attribute("http.response.status_code", status_code)
        run.span.end()
        return run

    def end_open_spans(self, reason: str) -> int:
        """End spans that never got an end callback (Ctrl-C, crash); returns how many."""
        with self._lock:
            pending = [r for r in self._runs.values() if not r.borrowed]
            self._runs.clear()
            self._passthrough.clear()
        for run in pending:
            run.span.set_status(Status(StatusCode.ERROR, reason))
            run.span.set_attribute(fields.INCOMPLETE, True)
            run.span.end()
        return len(pending)

    # ---- chains: graph root and LangGraph nodes --------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = kwargs.get("name") or (serialized or {}).get("name") or "chain"
        metadata = metadata or {}
        is_node = metadata.get("langgraph_node") == name and any(t.startswith("graph:step:") for t in tags or ())
        if parent_run_id is not None and not is_node:
            # LangGraph's internal runnables: most callbacks, and too cheap to be worth a telemetry
            # section (its cost is estimated from this count instead)
            self._passthrough[run_id] = parent_run_id  # a dict store is atomic: no lock needed
            self.passthrough_calls += 1
            return
        self._chain_start(run_id, parent_run_id, name, metadata)

    @_instrumentation
    def _chain_start(self, run_id: UUID, parent_run_id: UUID | None, name: str, metadata: dict[str, Any]) -> None:
        if parent_run_id is None:
            ambient = trace.get_current_span()
            if is_agent_span(ambient):
                with self._lock:
                    self._runs[run_id] = _Run(ambient, None, borrowed=True)
                return
            self._start(
                run_id,
                None,
                f"invoke_agent {self._agent_name}",
                SpanKind.INTERNAL,
                {gen_ai.GEN_AI_OPERATION_NAME: "invoke_agent", gen_ai.GEN_AI_AGENT_NAME: self._agent_name},
            )
            return
        self._start(
            run_id,
            parent_run_id,
            f"invoke_node {name}",
            SpanKind.INTERNAL,
            {GEN_AI_NODE_NAME: name, "langgraph.step": int(metadata.get("langgraph_step", -1))},
        )

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if self._passthrough.pop(run_id, _MISSING) is not _MISSING:
            self.passthrough_calls += 1
            return
        self._end_instrumented(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        if self._passthrough.pop(run_id, _MISSING) is not _MISSING:
            self.passthrough_calls += 1
            return
        self._end_instrumented(run_id, error)

    @_instrumentation
    def _end_instrumented(self, run_id: UUID, error: BaseException | None = None) -> None:
        self._end(run_id, error)

    # ---- chat models ---------------------------------------------------------------

    @_instrumentation
    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        metadata = metadata or {}
        params = kwargs.get("invocation_params") or {}
        model = str(metadata.get("ls_model_name") or params.get("model") or params.get("model_name") or "unknown")
        attributes: dict[str, Any] = {
            gen_ai.GEN_AI_OPERATION_NAME: "chat",
            gen_ai.GEN_AI_PROVIDER_NAME: str(metadata.get("ls_provider") or params.get("_type") or "unknown"),
            gen_ai.GEN_AI_REQUEST_MODEL: model,
            gen_ai.GEN_AI_REQUEST_STREAM: bool(params.get("stream", False)),
        }
        if self._capture:
            attributes[gen_ai.GEN_AI_INPUT_MESSAGES] = _messages_json(messages[0] if messages else [])
        span = self._start(run_id, parent_run_id, f"chat {model}", SpanKind.CLIENT, attributes)
        if self._chats is not None:
            self._runs[run_id].step = self._chats.started(span, messages[0] if messages else [], params)

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self.note_token(run_id)

    def note_token(self, run_id: UUID) -> None:
        """A streamed token: only the first one's time matters (called per token: kept tiny)."""
        run = self._runs.get(run_id)
        if run is not None and run.first_chunk_ns is None:
            run.first_chunk_ns = time.time_ns()

    @_instrumentation
    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if run is not None:
            _set_llm_result(run.span, response, self._capture)
            if self._chats is not None and run.step is not None:
                self._chats.ended(run.step, response)
            if run.first_chunk_ns is not None:
                run.span.set_attribute(
                    gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, (run.first_chunk_ns - run.start_ns) / 1e9
                )
        self._end(run_id)

    @_instrumentation
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if self._chats is not None and run is not None and run.step is not None:
            self._chats.failed(run.step, error)
        self._end(run_id, error)

    # ---- tools ---------------------------------------------------------------------

    @_instrumentation
    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = str(kwargs.get("name") or (serialized or {}).get("name") or "tool")
        attributes: dict[str, Any] = {
            gen_ai.GEN_AI_OPERATION_NAME: "execute_tool",
            gen_ai.GEN_AI_TOOL_NAME: name,
            gen_ai.GEN_AI_TOOL_TYPE: "function",
        }
        if kwargs.get("tool_call_id"):
            attributes[gen_ai.GEN_AI_TOOL_CALL_ID] = str(kwargs["tool_call_id"])
        if self._capture:
            attributes[gen_ai.GEN_AI_TOOL_CALL_ARGUMENTS] = json.dumps(kwargs.get("inputs") or input_str, default=str)
        self._start(run_id, parent_run_id, f"execute_tool {name}", SpanKind.INTERNAL, attributes)

    @_instrumentation
    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        run = self._runs.get(run_id)
        if self._capture and run is not None:
            run.span.set_attribute(gen_ai.GEN_AI_TOOL_CALL_RESULT, str(getattr(output, "content", output))[:4000])
        self._end(run_id)

    @_instrumentation
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._end(run_id, error)


def _messages_json(messages: list[Any]) -> str:
    return json.dumps(
        [{"role": getattr(m, "type", "unknown"), "content": getattr(m, "content", str(m))} for m in messages],
        default=str,
    )


def _set_llm_result(span: Span, response: Any, capture: bool) -> None:
    """Usage, finish reasons and response ids from a LangChain LLMResult."""
    first, message = first_generation(response)
    llm_output = getattr(response, "llm_output", None) or {}
    input_tokens, output_tokens = usage(response, message)
    if input_tokens is not None:
        span.set_attribute(gen_ai.GEN_AI_USAGE_INPUT_TOKENS, int(input_tokens))
    if output_tokens is not None:
        span.set_attribute(gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS, int(output_tokens))
    meta = getattr(message, "response_metadata", None) or {}
    info = getattr(first, "generation_info", None) or {}
    finish = meta.get("finish_reason") or info.get("finish_reason")
    if finish:
        span.set_attribute(gen_ai.GEN_AI_RESPONSE_FINISH_REASONS, [str(finish)])
    response_model = meta.get("model_name") or llm_output.get("model_name")
    if response_model:
        span.set_attribute(gen_ai.GEN_AI_RESPONSE_MODEL, str(response_model))
    response_id = meta.get("id") or getattr(message, "id", None)
    if response_id:
        span.set_attribute(gen_ai.GEN_AI_RESPONSE_ID, str(response_id))
    tool_calls = getattr(message, "tool_calls", None) or []
    span.set_attribute("orchestrace.response.tool_calls", len(tool_calls))
    if capture and message is not None:
        span.set_attribute(gen_ai.GEN_AI_OUTPUT_MESSAGES, _messages_json([message]))


def install_token_fast_path() -> Callable[[], None]:
    """Stop LangChain dispatching every streamed token to our handler; returns the undo.

    LangChain calls `on_llm_new_token` on every handler for every chunk (~5 µs each with one
    handler here, ~370 chunks per agent run of `rag`); ours only needs the first chunk's time.
    At the dispatch point, our handler notes the first one and the others (if any) are called as
    before; which handlers those are is worked out once per run manager (a model call).
    """
    from langchain_core.callbacks.manager import (
        AsyncCallbackManagerForLLMRun,
        CallbackManagerForLLMRun,
        ahandle_event,
        handle_event,
    )

    original_async = AsyncCallbackManagerForLLMRun.on_llm_new_token
    original_sync = CallbackManagerForLLMRun.on_llm_new_token
    not_ours = object()  # none of the handlers is ours: LangChain's own dispatch

    def others(manager: Any) -> Any:
        """The handlers other than ours (decided once per run manager; ours note the first token)."""
        memo = getattr(manager, "__dict__", {})
        rest = memo.get(_OTHER_HANDLERS)
        if rest is None:
            handlers = manager.handlers
            rest = not_ours
            for handler in handlers:
                if isinstance(handler, SpanCallbackHandler):
                    handler.note_token(manager.run_id)
                    rest = [h for h in handlers if not isinstance(h, SpanCallbackHandler)]
            memo[_OTHER_HANDLERS] = rest
        return rest

    async def on_llm_new_token_async(self: Any, token: Any, *, chunk: Any = None, **kwargs: Any) -> None:
        rest = others(self)
        if rest is not_ours:
            await original_async(self, token, chunk=chunk, **kwargs)
        elif rest:
            await ahandle_event(
                rest,
                "on_llm_new_token",
                "ignore_llm",
                token,
                chunk=chunk,
                run_id=self.run_id,
                parent_run_id=self.parent_run_id,
                tags=self.tags,
                **kwargs,
            )

    def on_llm_new_token_sync(self: Any, token: Any, *, chunk: Any = None, **kwargs: Any) -> None:
        rest = others(self)
        if rest is not_ours:
            original_sync(self, token, chunk=chunk, **kwargs)
        elif rest:
            handle_event(
                rest,
                "on_llm_new_token",
                "ignore_llm",
                token=token,
                run_id=self.run_id,
                parent_run_id=self.parent_run_id,
                tags=self.tags,
                chunk=chunk,
                **kwargs,
            )

    AsyncCallbackManagerForLLMRun.on_llm_new_token = on_llm_new_token_async  # type: ignore[method-assign]
    CallbackManagerForLLMRun.on_llm_new_token = on_llm_new_token_sync  # type: ignore[method-assign]

    def uninstall() -> None:
        AsyncCallbackManagerForLLMRun.on_llm_new_token = original_async  # type: ignore[method-assign]
        CallbackManagerForLLMRun.on_llm_new_token = original_sync  # type: ignore[method-assign]

    return uninstall
