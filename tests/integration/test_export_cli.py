"""`orchestrace export` bad input and failures: one-line errors, non-zero exits, no tracebacks."""

import json
import socket

import pytest

from tests.conftest import EXAMPLE_RUN

pytestmark = pytest.mark.integration


def _one_line_error(result, fragment: str) -> None:
    assert result.code == 1, result
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], result.err


def test_export_without_a_destination_says_how_to_give_one(cli, monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    _one_line_error(cli("export", str(EXAMPLE_RUN)), "say where to export")


def test_export_of_a_missing_run_directory(cli, tmp_path):
    _one_line_error(cli("export", str(tmp_path / "nope"), "--jaeger-json", str(tmp_path / "x.json")), "not a run")


def test_export_to_an_endpoint_that_is_down_fails_with_the_count_and_cause(cli):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _one_line_error(cli("export", str(EXAMPLE_RUN), "--otlp-endpoint", f"http://127.0.0.1:{port}"), "63 failed")


def test_export_to_an_unwritable_jaeger_file(cli, tmp_path):
    _one_line_error(cli("export", str(EXAMPLE_RUN), "--jaeger-json", str(tmp_path / "no" / "x.json")), "cannot write")


def test_jaeger_json_export_writes_every_span(cli, tmp_path):
    out = tmp_path / "run.jaeger.json"
    result = cli("export", str(EXAMPLE_RUN), "--jaeger-json", str(out))
    assert result.code == 0 and "wrote 63 spans" in result.out
    assert sum(len(trace["spans"]) for trace in json.loads(out.read_text())["data"]) == 63
