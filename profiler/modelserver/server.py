"""The OpenAI-compatible HTTP front of the virtual accelerator (aiohttp).

Real HTTP, JSON and SSE streaming; only the timing is simulated. Each request becomes a
SERVER span joined to the caller's trace through the W3C `traceparent` header.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from opentelemetry import baggage, propagate, trace
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.trace import SpanKind, Status, StatusCode

from profiler.accelerators.presets import Preset
from profiler.accelerators.timing import Accelerator
from profiler.modelserver.chatrequest import BadRequest, parse_chat_request
from profiler.modelserver.driver import AcceleratorDriver, Waiter
from profiler.modelserver.faults import FAULT_ATTRIBUTE, Fault, Faults
from profiler.modelserver.trajectory import SCRIPT_BAGGAGE_KEY, Reply, Script, TurnError, choose_reply, prompt_tokens
from profiler.store import fields
from profiler.store.trajectories import CHARS_PER_TOKEN

_log = logging.getLogger(__name__)

SCRIPT_HEADER = "X-Orchestrace-Script"
PROVIDER = "orchestrace.simulated"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Limits:
    """What one client may cost the server: body size, and how long it may stay silent."""

    max_body_bytes: int = 8 * 1024 * 1024  # a 2M-token prompt; larger bodies get 413
    timeout_s: float = 30.0  # idle or half-sent connections, bodies and clients not reading a stream


def openai_error(
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status, headers=headers)


class ClientGone(ConnectionResetError):
    """The client closed the connection or stopped reading: nobody is left to answer."""


@web.middleware
async def _never_die(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes an OpenAI-style JSON error; the server keeps serving.

    Once a response has started, no second one may be written into it: the connection is
    closed instead, so the client sees a cut stream rather than an HTTP status inside it.
    """
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return openai_error(exc.status, exc.reason or "error", "invalid_request_error")
    except asyncio.CancelledError:
        raise
    except ConnectionResetError as exc:
        _log.warning("client %s went away: %s", request.remote, exc or type(exc).__name__)
    except Exception as exc:
        _log.exception("internal error")
        if not request.writer.output_size:
            return openai_error(500, f"internal error: {exc}", "server_error")
    if request.transport is not None:
        request.transport.close()  # the reply below is then dropped quietly
    return web.Response(status=499)


class ModelServer:
    """Serves one preset's model; scripts are chosen per request by baggage or header."""

    def __init__(
        self,
        preset: Preset,
        *,
        scripts: dict[str, Script] | None = None,
        default_script: Script | None = None,
        tracer: trace.Tracer | None = None,
        limits: Limits = Limits(),
        faults: Faults | None = None,
    ) -> None:
        self.preset = preset
        self.limits = limits
        self.faults = faults
        self._failed: Counter[str] = Counter()  # attempts of each failing script turn so far
        self.scripts = scripts or {}
        self.default_script = default_script
        self.tracer = tracer or trace.get_tracer("orchestrace.modelserver")
        self._ids = itertools.count(1)
        self._driver: AcceleratorDriver | None = None
        self.requests_served = 0

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_never_die], client_max_size=self.limits.max_body_bytes)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/health", self.health)
        return app

    @property
    def driver(self) -> AcceleratorDriver:
        if self._driver is None:
            self._driver = AcceleratorDriver(Accelerator(self.preset))
        return self._driver

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "preset": self.preset.name, "simulated": True})

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": self.preset.model,
                        "object": "model",
                        "created": 0,
                        "owned_by": "orchestrace-simulated",
                        "preset": self.preset.name,
                    }
                ],
            }
        )

    async def chat(self, request: web.Request) -> web.StreamResponse:
        arrived_ns = time.time_ns()
        arrived = self.driver.now()
        try:
            async with asyncio.timeout(self.limits.timeout_s):
                raw = await request.read()
        except TimeoutError:
            return openai_error(408, f"the request body did not arrive within {self.limits.timeout_s:g} s")
        try:
            body = parse_chat_request(raw)
        except BadRequest as exc:
            return openai_error(400, str(exc))
        if body["model"] != self.preset.model:
            return openai_error(
                404,
                f"The model '{body['model']}' does not exist; this server serves "
                f"'{self.preset.model}' (preset {self.preset.name})",
                code="model_not_found",
            )
        parent = propagate.extract(request.headers)
        key = str(baggage.get_baggage(SCRIPT_BAGGAGE_KEY, parent) or request.headers.get(SCRIPT_HEADER) or "")
        if key and key not in self.scripts:
            return openai_error(400, f"unknown trajectory script '{key}'")
        script = self.scripts.get(key) if key else self.default_script
        try:
            reply = choose_reply(body, script, key)
        except BadRequest as exc:
            return openai_error(400, str(exc))
        stream = bool(body.get("stream"))
        span = self.tracer.start_span(
            f"chat {self.preset.model}", context=parent, kind=SpanKind.SERVER, start_time=arrived_ns
        )
        try:
            return await self._respond(request, body, reply, stream, span, arrived)
        finally:
            span.end()

    async def _respond(
        self,
        request: web.Request,
        body: dict[str, Any],
        reply: Reply,
        stream: bool,
        span: trace.Span,
        arrived: float,
    ) -> web.StreamResponse:
        span.set_attributes(
            {
                gen_ai.GEN_AI_OPERATION_NAME: "chat",
                gen_ai.GEN_AI_PROVIDER_NAME: PROVIDER,
                gen_ai.GEN_AI_REQUEST_MODEL: body["model"],
                gen_ai.GEN_AI_REQUEST_STREAM: stream,
                "orchestrace.simulated": True,
                "orchestrace.preset": self.preset.name,
            }
        )
        fault = self._fault(reply, stream)
        if fault.name:
            span.set_attribute(FAULT_ATTRIBUTE, fault.name)
        delay = reply.delay_s + fault.spike_s
        if delay:
            await asyncio.sleep(delay)
        error = reply.error
        if fault.status is not None:
            error = TurnError(fault.status, f"simulated fault: HTTP {fault.status}")
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error.message))
            span.set_attribute("http.response.status_code", error.status)
            return openai_error(error.status, error.message, "server_error", headers=fault.headers)
        rid = f"chatcmpl-{next(self._ids):08x}"
        n_prompt = prompt_tokens(body)
        waiter = self.driver.submit(rid, n_prompt, reply.output_tokens, arrived + delay)
        try:
            if stream:
                response = await self._stream(request, body, reply, rid, waiter, n_prompt, fault)
            else:
                await waiter.done
                response = web.json_response(_completion(rid, body["model"], reply, n_prompt))
                waiter.done_sent = self.driver.now()
            self.requests_served += 1
            return response
        except (asyncio.CancelledError, ConnectionResetError):
            span.set_status(Status(StatusCode.ERROR, "client disconnected"))
            raise
        finally:
            self.driver.release(rid)
            timing = waiter.timing
            span.set_attributes(
                {
                    gen_ai.GEN_AI_USAGE_INPUT_TOKENS: n_prompt,
                    gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: reply.output_tokens,
                    gen_ai.GEN_AI_RESPONSE_MODEL: body["model"],
                    gen_ai.GEN_AI_RESPONSE_ID: rid,
                    gen_ai.GEN_AI_RESPONSE_FINISH_REASONS: [reply.finish_reason],
                    "orchestrace.server.queue_s": timing.queue_s,
                    "orchestrace.server.prefill_s": timing.prefill_s,
                    fields.SERVER_DECODE: timing.decode_s,
                    "orchestrace.server.batch_size": timing.batch_at_admission,
                    "orchestrace.server.script_overrun": reply.overrun,
                    **waiter.lateness(),
                    **({fields.SERVER_WRITES: waiter.writes} if stream else {}),
                }
            )

    def _fault(self, reply: Reply, stream: bool) -> Fault:
        """A failing script turn's next attempt fails while it has failures left; else the spec's draw."""
        failing = reply.failing
        if failing is not None and self._failed[reply.turn] < failing.times:
            self._failed[reply.turn] += 1
            return Fault(status=failing.status, retry_after_s=failing.retry_after_s)
        return self.faults.draw(stream) if self.faults is not None else Fault()

    async def _send(self, request: web.Request, response: web.StreamResponse, text: str) -> None:
        """Write stream chunks; a client that reads nothing for the timeout is dropped."""
        try:
            async with asyncio.timeout(self.limits.timeout_s):
                await response.write(text.encode())
        except TimeoutError:
            raise ClientGone(f"read nothing of the stream for {self.limits.timeout_s:g} s") from None

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        reply: Reply,
        rid: str,
        waiter: Waiter,
        n_prompt: int,
        fault: Fault,
    ) -> web.StreamResponse:
        await waiter.first_token
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        chunks = ChunkFormat(rid, body["model"])
        events = _token_events(chunks, reply)
        self.driver.stream(waiter)
        pending = chunks.delta('{"role":"assistant","content":""}')
        sent = 0
        while True:
            ready = min(reply.output_tokens, int(waiter.decoded + 1e-9))
            pending += "".join(itertools.islice(events, ready - sent))
            sent = max(sent, ready)
            if pending:
                await self._send(request, response, pending)
                waiter.writes += 1
                pending = ""
                if waiter.first_sent is None:
                    waiter.first_sent = self.driver.now()
                    if fault.drop and request.transport is not None:
                        request.transport.close()  # the connection dropped mid-stream
                        return response
                    if fault.malformed:
                        await self._send(request, response, "data: {malformed\n\n")
            if sent >= reply.output_tokens:
                break
            waiter.progress.clear()
            await waiter.progress.wait()
        tail = chunks.delta("{}", reply.finish_reason)
        options = body.get("stream_options") or {}  # checked by chatrequest
        if options.get("include_usage"):
            tail += chunks.usage(_usage(n_prompt, reply.output_tokens))
        await self._send(request, response, tail + "data: [DONE]\n\n")
        await response.write_eof()
        waiter.done_sent = self.driver.now()
        return response


def _usage(n_prompt: int, n_output: int) -> dict[str, int]:
    return {"prompt_tokens": n_prompt, "completion_tokens": n_output, "total_tokens": n_prompt + n_output}


def _completion(rid: str, model: str, reply: Reply, n_prompt: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
        "usage": _usage(n_prompt, reply.output_tokens),
    }


class ChunkFormat:
    """SSE chunks of one completion from string templates (JSON-encoding only the text pieces)."""

    def __init__(self, rid: str, model: str) -> None:
        created = int(time.time())
        self._head = (
            f'data: {{"id":"{rid}","object":"chat.completion.chunk","created":{created},"model":{json.dumps(model)},'
        )
        self._choice = self._head + '"choices":[{"index":0,"delta":'

    def delta(self, delta_json: str, finish: str | None = None) -> str:
        reason = "null" if finish is None else json.dumps(finish)
        return f'{self._choice}{delta_json},"logprobs":null,"finish_reason":{reason}}}]}}\n\n'

    def content(self, piece: str) -> str:
        return self.delta('{"content":' + json.dumps(piece) + "}")

    def tool_start(self, index: int, call_id: str, name: str) -> str:
        return self.delta(
            f'{{"tool_calls":[{{"index":{index},"id":{json.dumps(call_id)},"type":"function",'
            f'"function":{{"name":{json.dumps(name)},"arguments":""}}}}]}}'
        )

    def tool_arguments(self, index: int, piece: str) -> str:
        return self.delta(f'{{"tool_calls":[{{"index":{index},"function":{{"arguments":{json.dumps(piece)}}}}}]}}')

    def usage(self, usage: dict[str, int]) -> str:
        return f'{self._head}"choices":[],"usage":{json.dumps(usage)}}}\n\n'


def _token_events(chunks: ChunkFormat, reply: Reply) -> Iterator[str]:
    """The SSE chunks of each output token (4 characters each), produced as the stream needs them."""
    segments: list[tuple[int, str]] = []  # (-1 for content, else tool call index), text
    if reply.content:
        segments.append((-1, reply.content))
    segments += [(i, call.arguments) for i, call in enumerate(reply.tool_calls)]
    token = ""
    filled = 0
    for kind, text in segments:
        if kind >= 0:
            token += chunks.tool_start(kind, reply.tool_calls[kind].id, reply.tool_calls[kind].name)
        position = 0
        while position < len(text):
            take = CHARS_PER_TOKEN - filled
            piece = text[position : position + take]
            position += len(piece)
            filled += len(piece)
            token += chunks.content(piece) if kind < 0 else chunks.tool_arguments(kind, piece)
            if filled == CHARS_PER_TOKEN:
                yield token
                token, filled = "", 0
    if token:
        yield token
