"""Send ready-encoded ExportTraceServiceRequest bytes over OTLP/HTTP or OTLP/gRPC.

`orchestrace export` encodes stored spans itself (profiler/export/wire.py), so it needs a
transport that takes bytes; the official exporters take SDK spans. Same contract as theirs:
headers, compression and TLS files from `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS` / `_COMPRESSION` /
`_CERTIFICATE` / `_CLIENT_CERTIFICATE` / `_CLIENT_KEY`, retries with backoff on the retryable
answers (HTTP 408, 429, 5xx, connection errors; gRPC UNAVAILABLE and the like).
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlparse

from opentelemetry.util.re import parse_env_headers

from profiler.errors import UsageError
from profiler.export.target import EXPORT_TIMEOUT_S, OtlpTarget, cause, env

BACKOFF_S = 0.25  # doubled after each failed attempt
_GRPC_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class Sender(Protocol):
    def send(self, body: bytes) -> str:
        """Send one request; returns "" when accepted, else what went wrong."""

    def close(self) -> None: ...


def _headers() -> dict[str, str]:
    raw = _setting("HEADERS")
    return dict(parse_env_headers(raw, liberal=True)) if raw else {}


def _setting(name: str) -> str | None:
    return env(f"OTEL_EXPORTER_OTLP_TRACES_{name}", f"OTEL_EXPORTER_OTLP_{name}")


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read the OTLP TLS file {path}: {exc.strerror or exc}") from None


def _retryable_http(status: int) -> bool:
    return status in (408, 429) or 500 <= status < 600


def _gzip() -> bool:
    return (_setting("COMPRESSION") or "").lower() == "gzip"


def _retrying(attempt: Callable[[float], tuple[str, bool]]) -> str:
    """Call `attempt(timeout_s)` (returns error, retryable) until it succeeds, fails for good, or
    the batch's EXPORT_TIMEOUT_S is spent, backing off between tries."""
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
        self.session.verify = _setting("CERTIFICATE") or True
        client_cert, client_key = _setting("CLIENT_CERTIFICATE"), _setting("CLIENT_KEY")
        if client_cert:
            self.session.cert = (client_cert, client_key) if client_key else client_cert

    def send(self, body: bytes) -> str:
        import requests

        data = gzip.compress(body) if self.compress else body

        def attempt(timeout: float) -> tuple[str, bool]:
            try:
                response = self.session.post(self.url, data=data, timeout=timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                return cause(f"{type(exc).__name__}: {exc}"), True
            except Exception as exc:  # bad URL, header or certificate: retrying will not help
                return cause(f"{type(exc).__name__}: {exc}"), False
            if response.ok:
                return "", False
            return cause(f"HTTP {response.status_code}: {response.text}"), _retryable_http(response.status_code)

        return _retrying(attempt)

    def close(self) -> None:
        self.session.close()


class GrpcSender:
    def __init__(self, target: OtlpTarget) -> None:
        import grpc

        parsed = urlparse(target.endpoint)
        compression = grpc.Compression.Gzip if _gzip() else None
        if parsed.scheme == "https":
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_read(_setting("CERTIFICATE")),
                private_key=_read(_setting("CLIENT_KEY")),
                certificate_chain=_read(_setting("CLIENT_CERTIFICATE")),
            )
            self.channel = grpc.secure_channel(parsed.netloc, credentials, compression=compression)
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
                return cause(f"gRPC {getattr(code, 'name', code)}: {details}"), code in retryable
            except Exception as exc:  # bad metadata and the like: retrying will not help
                return cause(f"{type(exc).__name__}: {exc}"), False
            return "", False

        return _retrying(attempt)

    def close(self) -> None:
        self.channel.close()


def sender_for(target: OtlpTarget) -> Sender:
    return GrpcSender(target) if target.protocol == "grpc" else HttpSender(target)
