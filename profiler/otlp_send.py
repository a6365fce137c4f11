"""Send ready-encoded ExportTraceServiceRequest bytes over OTLP/HTTP or OTLP/gRPC.

`orchestrace export` encodes stored spans itself (profiler/render/otlp_wire.py), so it needs a
transport that takes bytes; the official exporters take SDK spans. Same contract as theirs:
headers and compression from `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS` / `_COMPRESSION`, retries
with backoff on the retryable answers (429/502/503/504, gRPC UNAVAILABLE and the like).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlparse

from opentelemetry.util.re import parse_env_headers

from profiler.otlp import EXPORT_TIMEOUT_S, OtlpTarget, env

BACKOFF_S = 0.25  # doubled after each failed attempt
_RETRYABLE_HTTP = {429, 502, 503, 504}
_GRPC_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class Sender(Protocol):
    def send(self, body: bytes) -> str:
        """Send one request; returns "" when accepted, else what went wrong."""

    def close(self) -> None: ...


def _headers() -> dict[str, str]:
    raw = env("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")
    return dict(parse_env_headers(raw, liberal=True)) if raw else {}


def _gzip() -> bool:
    return (env("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION") or "").lower() == "gzip"


def _retrying(attempt: Callable[[float], tuple[str, bool]]) -> str:
    """Call `attempt(timeout_s)` (returns error, retryable) until it succeeds, fails for good, or
    the batch's EXPORT_TIMEOUT_S is spent, backing off between tries, as the official exporters do."""
    deadline = time.monotonic() + EXPORT_TIMEOUT_S
    backoff = BACKOFF_S
    while True:
        error, retryable = attempt(max(0.1, deadline - time.monotonic()))
        if not error or not retryable or time.monotonic() + backoff >= deadline:
            return error
        time.sleep(backoff)
        backoff *= 2


class HttpSender:
    def __init__(self, target: OtlpTarget) -> None:
        import requests

        self.url = target.traces_url
        self.session = requests.Session()
        self.session.headers.update({"Content-Type": "application/x-protobuf", **_headers()})
        self.compress = _gzip()
        if self.compress:
            self.session.headers["Content-Encoding"] = "gzip"

    def send(self, body: bytes) -> str:
        import requests

        data = gzip.compress(body) if self.compress else body

        def attempt(timeout: float) -> tuple[str, bool]:
            try:
                response = self.session.post(self.url, data=data, timeout=timeout)
            except requests.RequestException as exc:
                return f"{type(exc).__name__}: {exc}"[:300], True
            if response.ok:
                return "", False
            return f"HTTP {response.status_code}: {response.text[:200]}", response.status_code in _RETRYABLE_HTTP

        return _retrying(attempt)

    def close(self) -> None:
        self.session.close()


class GrpcSender:
    def __init__(self, target: OtlpTarget) -> None:
        import grpc

        parsed = urlparse(target.endpoint)
        compression = grpc.Compression.Gzip if _gzip() else None
        if parsed.scheme == "https":
            self.channel = grpc.secure_channel(parsed.netloc, grpc.ssl_channel_credentials(), compression=compression)
        else:
            self.channel = grpc.insecure_channel(parsed.netloc, compression=compression)
        self.export = self.channel.unary_unary(_GRPC_METHOD)  # no serializers: bytes in, bytes out
        self.metadata = [(key.lower(), value) for key, value in _headers().items()]

    def send(self, body: bytes) -> str:
        import grpc

        retryable = {
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.ABORTED,
            grpc.StatusCode.CANCELLED,
        }

        def attempt(timeout: float) -> tuple[str, bool]:
            try:
                self.export(body, timeout=timeout, metadata=self.metadata or None)
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else None
                details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
                return f"gRPC {getattr(code, 'name', code)}: {details}"[:300], code in retryable
            return "", False

        return _retrying(attempt)

    def close(self) -> None:
        self.channel.close()


def sender_for(target: OtlpTarget) -> Sender:
    return GrpcSender(target) if target.protocol == "grpc" else HttpSender(target)
