"""Live OTLP export to a backend that is down: the run is not slowed, nothing on disk is lost, failures are counted."""

import socket
import time

import pytest

from tests.conftest import manifest_of, run_dir_of, spans_of

pytestmark = pytest.mark.integration


def _closed_port() -> int:
    """A loopback port nobody listens on (bound then released, so connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_endpoint_down_costs_little_time_and_loses_nothing(cli, tmp_path):
    args = ("run", "--agent", "rag", "--tasks", "4", "--concurrency", "2", "--model", "instant", "--no-sampler")
    started = time.monotonic()
    baseline = cli(*args, "--out", str(tmp_path / "baseline"))
    baseline_s = time.monotonic() - started
    assert baseline.code == 0, baseline.err

    endpoint = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    result = cli(*args, "--out", str(tmp_path / "down"), "--otlp-endpoint", endpoint)
    down_s = time.monotonic() - started

    assert result.code == 0, result.err + result.out
    # The exporter retries in the background; the run ends after a short, bounded flush wait.
    assert down_s < baseline_s + 8, (down_s, baseline_s)
    run_dir = run_dir_of(result)
    spans = spans_of(run_dir)
    assert len(spans) == len(spans_of(run_dir_of(baseline)))
    export = manifest_of(run_dir)["otlp_export"]
    assert export["spans"] == len(spans) and export["exported"] == 0 and export["failed"] == len(spans)
    assert f"{len(spans)} NOT exported (Connection refused)" in " ".join(result.out.split())  # the cause, whole
