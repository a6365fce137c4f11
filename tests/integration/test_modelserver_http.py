"""The simulated server over real HTTP: OpenAI SDK (stream and not), errors, SERVER spans."""

import json
import time

import httpx
import openai
import pytest

from profiler.runner.processes import ServerProcess
from profiler.store import fields
from profiler.store.spans import KIND_SERVER, read_span_file

pytestmark = pytest.mark.integration

SCRIPT = {
    "turns": [
        {
            "tool_calls": [
                {"name": "search", "args": {"query": "json dumps", "k": 3}},
                {"name": "read", "args": {"doc_id": "json.dumps"}},
            ],
            "output_tokens": 30,
        },
        {"content": "The answer.", "output_tokens": 50},
    ]
}
TOOLS = [
    {"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
    for n in ("search", "read")
]


@pytest.fixture
def server(tmp_path):
    scripts = tmp_path / "scripts.json"
    scripts.write_text(json.dumps({"task-a": SCRIPT}))
    process = ServerProcess("h100-llama3.1-8b", tmp_path, "test-run", scripts)
    process.wait_ready()
    yield process
    process.stop()


def client(server, script="task-a"):
    headers = {"X-Orchestrace-Script": script} if script else {}
    return openai.OpenAI(base_url=server.base_url, api_key="unused", default_headers=headers, max_retries=0)


def test_models_endpoint_lists_the_preset_model(server):
    models = client(server).models.list()
    assert [m.id for m in models.data] == ["llama-3.1-8b-instruct"]


def test_non_streaming_tool_calls_and_usage(server):
    reply = client(server).chat.completions.create(
        model="llama-3.1-8b-instruct", messages=[{"role": "user", "content": "q"}], tools=TOOLS
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [c.function.name for c in choice.message.tool_calls] == ["search", "read"]
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"query": "json dumps", "k": 3}
    assert reply.usage.completion_tokens == 30 and reply.usage.prompt_tokens > 0


def test_streaming_text_timing_and_usage(server):
    started = time.perf_counter()
    stream = client(server).chat.completions.create(
        model="llama-3.1-8b-instruct",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}],
    )
    first = None
    text, usage, chunks = "", None, 0
    for chunk in stream:
        chunks += 1
        first = first or time.perf_counter() - started
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage
    total = time.perf_counter() - started
    assert usage.completion_tokens == 50 and len(text) == 50 * 4 and text.startswith("The answer.")
    assert chunks >= 50  # one chunk per token, like real APIs
    assert first >= 0.0103  # TTFT of the preset
    assert total >= 0.0103 + 49 / 215 * 0.95  # decode at 215 tok/s


def test_streaming_tool_call_arguments_reassemble(server):
    stream = client(server).chat.completions.create(
        model="llama-3.1-8b-instruct", stream=True, messages=[{"role": "user", "content": "q"}], tools=TOOLS
    )
    calls: dict[int, dict] = {}
    finish = None
    for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"name": "", "args": ""})
            entry["name"] += delta.function.name or ""
            entry["args"] += delta.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["search", "read"]
    assert json.loads(calls[1]["args"]) == {"doc_id": "json.dumps"}


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (json.dumps({"model": "llama-3.1-8b-instruct"}).encode(), 400, "'messages'"),
        (
            json.dumps({"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}).encode(),
            404,
            "does not exist",
        ),
    ],
)
def test_bad_requests_get_openai_style_errors_and_the_server_survives(server, body, status, text):
    response = httpx.post(
        server.base_url + "/chat/completions", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status
    assert text in response.json()["error"]["message"]
    assert httpx.get(server.base_url + "/models").status_code == 200


def test_unknown_paths_and_scripts(server):
    assert httpx.get(server.base_url + "/nothing").status_code == 404
    with pytest.raises(openai.BadRequestError, match="unknown trajectory script"):
        client(server, script="nope").chat.completions.create(
            model="llama-3.1-8b-instruct", messages=[{"role": "user", "content": "q"}]
        )


def test_server_span_joins_the_callers_trace(server, tmp_path):
    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    httpx.post(
        server.base_url + "/chat/completions",
        json={"model": "llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "q"}]},
        headers={"traceparent": f"00-{trace_id}-{parent_id}-01", "baggage": "orchestrace.script=task-a"},
    )
    server.stop()
    spans = [s for s in read_span_file(tmp_path / "spans.jsonl").spans if s.kind == KIND_SERVER]
    assert len(spans) == 1
    span = spans[0]
    assert span.trace_id == trace_id and span.parent_id == parent_id
    assert span.service == "orchestrace-modelserver"
    assert span.attributes["orchestrace.server.batch_size"] == 1
    assert span.attributes["orchestrace.server.prefill_s"] > 0.0103
    assert span.attributes["orchestrace.server.decode_s"] == pytest.approx(29 / 215, rel=1e-6)
    assert span.attributes["gen_ai.usage.output_tokens"] == 30


def test_server_span_counts_the_writes_of_a_stream(server, tmp_path):
    stream = client(server).chat.completions.create(
        model="llama-3.1-8b-instruct", messages=[{"role": "user", "content": "q"}], tools=TOOLS, stream=True
    )
    chunks = list(stream)
    server.stop()
    (span,) = [s for s in read_span_file(tmp_path / "spans.jsonl").spans if s.kind == KIND_SERVER]
    writes = span.attributes[fields.SERVER_WRITES]
    # the first token on its own, then what was decoded every 10 ms flush: 29 tokens at 215 tok/s
    # take 0.135 s, so about 14 flushes (a late flush on a busy machine only merges some)
    assert 2 <= writes <= 1 + 29 and writes <= len(chunks)
    assert writes >= 1 + span.attributes[fields.SERVER_DECODE] / 0.01 / 2
