"""`export_run` over real loopback OTLP/HTTP and OTLP/gRPC receivers: every span arrives once,
env headers and gzip are honoured, retryable answers are retried, a dead backend is counted."""

import gzip
import json
import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from profiler.export import send as otlp_send
from profiler.export.otlp import export_run
from profiler.export.target import OtlpTarget
from profiler.store.spans import read_span_file
from tests.conftest import EXAMPLE_RUN

SPANS = EXAMPLE_RUN / "spans.jsonl"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("HEADERS", "COMPRESSION", "ENDPOINT", "PROTOCOL"):
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_{name}", raising=False)
        monkeypatch.delenv(f"OTEL_EXPORTER_OTLP_TRACES_{name}", raising=False)
    monkeypatch.setattr(otlp_send, "BACKOFF_S", 0.01)


class Receiver:
    def __init__(self, fail_first: int = 0, status: int = 503) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.fail_first, self.status = fail_first, status

    def span_ids(self) -> list[str]:
        return [
            span.span_id.hex()
            for body in self.bodies
            for resource in ExportTraceServiceRequest.FromString(body).resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]


@pytest.fixture
def http_receiver() -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if receiver.fail_first:
                receiver.fail_first -= 1
                self.send_response(receiver.status)
                self.end_headers()
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            receiver.bodies.append(body)
            receiver.headers.append(dict(self.headers))
            payload = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield receiver, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def expected_ids() -> list[str]:
    return sorted(span.span_id for span in read_span_file(SPANS).spans)


def test_http_export_delivers_every_span_once_with_env_headers_and_gzip(http_receiver, monkeypatch):
    receiver, url = http_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0ken,x-tenant=lab")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
    result = export_run(SPANS, OtlpTarget.resolve(url, "http/protobuf"))
    assert (result["spans"], result["exported"], result["failed"]) == (63, 63, 0)
    assert sorted(receiver.span_ids()) == expected_ids()
    headers = {k.lower(): v for k, v in receiver.headers[0].items()}
    assert headers["authorization"] == "Bearer t0ken" and headers["x-tenant"] == "lab"
    assert headers["content-type"] == "application/x-protobuf" and headers["content-encoding"] == "gzip"


def test_http_export_retries_a_busy_backend_and_counts_a_refusing_one(http_receiver):
    receiver, url = http_receiver
    receiver.fail_first = 2  # two 503s, then accepted: within the attempts
    assert export_run(SPANS, OtlpTarget.resolve(url, None))["exported"] == 63
    receiver.fail_first, receiver.status = 10, 400  # a client error is not retried
    result = export_run(SPANS, OtlpTarget.resolve(url, None))
    assert (result["exported"], result["failed"]) == (0, 63) and "HTTP 400" in result["last_error"]
    assert receiver.fail_first == 9


def test_grpc_export_delivers_every_span_with_metadata(monkeypatch):
    receiver = Receiver()

    def export(body: bytes, context: grpc.ServicerContext) -> bytes:
        receiver.bodies.append(body)
        receiver.headers.append(dict(context.invocation_metadata()))
        return ExportTraceServiceResponse().SerializeToString()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    service = "opentelemetry.proto.collector.trace.v1.TraceService"
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(service, {"Export": grpc.unary_unary_rpc_method_handler(export)})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "X-Tenant=lab")
        result = export_run(SPANS, OtlpTarget.resolve(f"http://127.0.0.1:{port}", "grpc"))
    finally:
        server.stop(None)
    assert (result["exported"], result["failed"]) == (63, 0)
    assert sorted(receiver.span_ids()) == expected_ids()
    assert receiver.headers[0]["x-tenant"] == "lab"


def test_malformed_lines_are_skipped_and_the_rest_delivered(http_receiver, tmp_path):
    receiver, url = http_receiver
    lines = SPANS.read_text().splitlines()
    bad = json.loads(lines[0])
    bad["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"] = "-1"
    spans = tmp_path / "spans.jsonl"
    spans.write_text("\n".join([json.dumps(bad), '{"resourceSpans": [tru', *lines[1:]]) + "\n")
    result = export_run(spans, OtlpTarget.resolve(url, None))
    assert (result["spans"], result["exported"], result["failed"]) == (62, 62, 0)
    assert len(receiver.span_ids()) == 62


def test_a_sender_error_that_retrying_cannot_fix_is_counted_not_raised(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-token-bin=abc")  # gRPC wants bytes for -bin keys
    result = export_run(SPANS, OtlpTarget.resolve("http://127.0.0.1:9", "grpc"))
    assert (result["exported"], result["failed"]) == (0, 63) and result["last_error"]
