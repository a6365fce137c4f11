"""Where spans go (option, then the standard env vars) and how export failures are counted."""

import logging

import pytest
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from profiler.errors import UsageError
from profiler.export.target import GIVE_UP_AFTER, CountingExporter, OtlpTarget, cause

ENV = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_no_option_and_no_env_means_no_export():
    assert OtlpTarget.resolve(None, None) is None


def test_option_beats_env_and_http_gets_the_signal_path(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://elsewhere:4318")
    target = OtlpTarget.resolve("http://localhost:4318/", None)
    assert target.protocol == "http/protobuf"
    assert target.traces_url == "http://localhost:4318/v1/traces"


def test_generic_env_endpoint_gets_the_path_and_traces_env_is_taken_whole(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert OtlpTarget.resolve(None, None).traces_url == "http://collector:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:4318/custom/path")
    assert OtlpTarget.resolve(None, None).traces_url == "http://collector:4318/custom/path"


def test_protocol_from_env_and_grpc_url_is_left_alone(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    target = OtlpTarget.resolve("http://localhost:4317", None)
    assert (target.protocol, target.traces_url) == ("grpc", "http://localhost:4317")


@pytest.mark.parametrize(
    ("endpoint", "protocol", "fragment"),
    [
        ("localhost:4318", None, "http(s) URL"),
        ("ftp://host:21", None, "http(s) URL"),
        ("http://localhost:4318", "http/json", "must be one of"),
    ],
)
def test_bad_target_is_a_usage_error(endpoint, protocol, fragment):
    with pytest.raises(UsageError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        OtlpTarget.resolve(endpoint, protocol)


class Scripted(SpanExporter):
    """Answers export calls from a script of results; logs like the official exporters do."""

    def __init__(self, results):
        self.results = list(results)
        self.calls = 0

    def export(self, spans):
        self.calls += 1
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        if result is SpanExportResult.FAILURE:
            log = logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter")
            log.warning("Transient error Connection refused encountered while exporting spans batch")
            log.error("Failed to export spans batch due to timeout, max retries or shutdown.")
        return result

    def shutdown(self):
        pass


def test_counts_successes_and_failures_and_keeps_the_cause():
    ok, bad = SpanExportResult.SUCCESS, SpanExportResult.FAILURE
    counting = CountingExporter(Scripted([ok, bad, ok]))
    assert counting.export([object()] * 3) is ok
    assert counting.export([object()] * 2) is bad
    assert not counting.answering
    assert counting.export([object()] * 4) is ok
    assert (counting.exported, counting.failed, counting.gave_up) == (7, 2, False)
    assert counting.answering
    assert "Connection refused" in counting.last_error


def test_gives_up_after_consecutive_failures_and_never_raises():
    inner = Scripted([ConnectionError("boom")] * GIVE_UP_AFTER)
    counting = CountingExporter(inner)
    for _ in range(GIVE_UP_AFTER + 2):
        assert counting.export([object()]) is SpanExportResult.FAILURE
    assert inner.calls == GIVE_UP_AFTER  # the later batches were not sent to a dead backend
    assert counting.gave_up and counting.failed == GIVE_UP_AFTER + 2
    assert counting.last_error == "ConnectionError: boom"


def test_a_failure_cause_is_short_and_never_cut_mid_word():
    urllib3 = (
        "Transient error HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: /v1/traces "
        "(Caused by NewConnectionError(\"HTTPConnection(host='127.0.0.1', port=9): Failed to establish a new "
        'connection: [Errno 111] Connection refused")) encountered while exporting spans batch, retrying in 1s.'
    )
    assert cause(urllib3) == "Connection refused"  # it read "…port=9): Max"
    long = "HTTP 503: " + "backend overloaded, " * 40
    short = cause(long)
    assert len(short) <= 302 and short.endswith(" …") and long.startswith(short[:-2])
    assert cause("HTTP 400: bad request") == "HTTP 400: bad request"
