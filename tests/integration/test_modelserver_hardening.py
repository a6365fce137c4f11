"""The simulated server cannot be knocked over: malformed requests are 4xx, sizes and silences bounded."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.timeouts import within

pytestmark = pytest.mark.integration

MODEL = "instant"  # the instant preset's model id
TIMEOUT_S = 1.0
USER = [{"role": "user", "content": "q"}]


class Server:
    """`orchestrace serve-model` as a user starts it, with a short --timeout."""

    def __init__(self, tmp_path, *extra: str, preset: str = "instant") -> None:
        self.model = {"instant": MODEL, "h100-llama3.1-8b": "llama-3.1-8b-instruct"}[preset]
        self.log = tmp_path / "server.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "profiler", "serve-model", "--preset", preset, "--port", "0", "--ready-json",
             "--spans", str(tmp_path / "spans.jsonl"), *extra],
            stdout=subprocess.PIPE,
            stderr=open(self.log, "wb"),  # noqa: SIM115 - the child owns it
        )  # fmt: skip
        self.port = json.loads(self.process.stdout.readline())["port"]
        self.url = f"http://127.0.0.1:{self.port}/v1/chat/completions"

    def post(self, body: bytes | dict, **kwargs) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.post(self.url, content=content, timeout=10, **kwargs)

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def alive(self) -> bool:
        return httpx.post(self.url, json={"model": self.model, "messages": USER}, timeout=10).status_code == 200

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(10)
        self.process.stdout.close()
        return self.log.read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    started = Server(tmp_path_factory.mktemp("server"))
    yield started
    started.stop()


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True once the server closed the connection (EOF or reset) within `seconds`."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def nested(depth: int) -> bytes:
    return b'{"model":"instant","messages":[{"role":"user","content":"q","x":' + b"[" * depth + b"]" * depth + b"}]}"


HUGE_SCHEMA = {"type": "function", "function": {"name": "t", "parameters": {
    "type": "object", "properties": {"a": {"type": "string", "minLength": 10**8}}, "required": ["a"]}}}  # fmt: skip


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": MODEL, "messages": USER, "tools": [1]}, "tools[0]: a tool needs a 'function' object"),
        ({"model": MODEL, "messages": USER, "tools": [{"function": "f"}]}, "tools[0]: a tool needs a 'function'"),
        ({"model": MODEL, "messages": USER, "tools": {"a": 1}}, "'tools' must be a list"),
        ({"model": MODEL, "messages": USER, "stream": True, "stream_options": "x"}, "'stream_options' must be an"),
        ({"model": MODEL, "messages": USER, "stream": "yes"}, "'stream' must be true or false"),
        ({"model": MODEL, "messages": [{"role": "user", "content": 5}]}, "messages[0].content must be a string"),
        ({"model": MODEL, "messages": [{"role": "assistant", "tool_calls": "x"}]}, "tool_calls must be a list"),
        ({"model": MODEL, "messages": USER, "tools": [HUGE_SCHEMA]}, "longer than a reply may be"),
        (nested(1_000), "nested more than 64 levels"),
        (nested(100_000), "not valid JSON"),
        (b'{"model": "instant", "messages": [{"role": "user", "content": NaN}]}', "not valid JSON"),
    ],
)
def test_malformed_requests_are_400_with_an_openai_error(server, body, fragment):
    response = server.post(body)
    assert response.status_code == 400, response.text[:300]
    error = response.json()["error"]
    assert fragment in error["message"] and error["type"] == "invalid_request_error"
    assert len(response.content) < 2000  # the 1e8 minLength schema no longer makes a 100 MB reply


def test_bodies_over_the_limit_are_413(server):
    big = {"model": MODEL, "messages": [{"role": "user", "content": "x" * 9_000_000}]}
    response = server.post(big)
    assert response.status_code == 413 and "error" in response.json()


def test_idle_and_half_sent_connections_time_out(tmp_path):
    server = Server(tmp_path, "--timeout", str(TIMEOUT_S))
    idle = server.connect()
    half_headers = server.connect()
    half_headers.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    half_body = server.connect()
    half_body.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    assert closed_within(idle, TIMEOUT_S * 5)
    assert closed_within(half_headers, TIMEOUT_S * 5)
    half_body.settimeout(TIMEOUT_S * 5)
    assert half_body.recv(65536).startswith(b"HTTP/1.1 408")
    assert server.alive()
    assert "Traceback" not in server.stop()


def test_a_client_that_stops_reading_a_stream_is_dropped(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [{"content": "long", "output_tokens": 32_768}]}))
    started = Server(tmp_path, "--script", str(script), "--timeout", str(TIMEOUT_S))
    try:
        sock = started.connect()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        body = json.dumps({"model": MODEL, "messages": USER, "stream": True}).encode()
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        deadline = time.monotonic() + 10
        while "read nothing of the stream" not in started.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.alive()
        sock.close()
    finally:
        log = started.stop()
    assert "read nothing of the stream for 1 s" in log and "Traceback" not in log


def test_disconnects_mid_stream_are_one_log_line_each(tmp_path):
    started = Server(tmp_path, preset="h100-llama3.1-8b")  # 215 tokens/s: the stream is still going
    try:
        body = json.dumps({"model": started.model, "messages": USER, "stream": True}).encode()
        for _ in range(5):
            with httpx.stream("POST", started.url, content=body, timeout=10) as response:
                next(response.iter_bytes())  # the first chunk, then hang up
        assert started.alive()
    finally:
        log = started.stop()
    assert "Traceback" not in log and "internal error" not in log
    assert 0 < log.count("went away") <= 5 and len(log.splitlines()) == log.count("went away")


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_an_invalid_port_is_an_error(port):
    command = [sys.executable, "-m", "profiler", "serve-model", "--port", port]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "is not a TCP port (0-65535" in done.stderr


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def valid_request() -> dict:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": None, "tool_calls": []}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {
            "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }  # fmt: skip


# every place of a valid request a client could get wrong
PATHS = [
    ("model",), ("messages",), ("messages", 0), ("messages", 0, "role"), ("messages", 0, "content"),
    ("messages", 1, "content"), ("messages", 1, "tool_calls"), ("tools",), ("tools", 0), ("tools", 0, "function"),
    ("tools", 0, "function", "name"), ("tools", 0, "function", "parameters"),
    ("tools", 0, "function", "parameters", "properties", "q"), ("tools", 0, "function", "parameters", "required"),
    ("stream",), ("stream_options",), ("stream_options", "include_usage"), ("max_tokens",),
]  # fmt: skip


def with_value(path: tuple, value: object, stream: bool) -> bytes:
    body = valid_request()
    body["stream"] = stream
    place = body
    for key in path[:-1]:
        place = place[key]
    place[path[-1]] = value
    return json.dumps(body).encode()


MUTATED = st.builds(with_value, st.sampled_from(PATHS), JSON, st.booleans())
BODIES = MUTATED | st.binary(max_size=200) | MUTATED.flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES)
def test_fuzzed_request_bodies_never_get_a_500(server, body):
    """Whatever the body: a 2xx whose stream ends properly, or a 4xx OpenAI-style error."""
    with within(15), httpx.stream("POST", server.url, content=body, timeout=10) as response:
        payload = response.read()
    assert response.status_code < 500, payload[:300]
    if response.status_code >= 400:
        assert json.loads(payload)["error"]["message"]
    elif response.headers["content-type"].startswith("text/event-stream"):
        assert payload.endswith(b"data: [DONE]\n\n")
    else:
        assert json.loads(payload)["choices"]


def test_the_fuzzed_server_logged_no_internal_error(server):
    """Runs after the fuzz in file order: nothing the fuzz sent made the server log a traceback."""
    assert server.alive()
    log = server.log.read_text()
    assert "Traceback" not in log and "internal error" not in log
