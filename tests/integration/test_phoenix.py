"""End to end against a real OTLP trace backend: Arize Phoenix on loopback, spans read back over its REST API."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from profiler.store.spans import SpanRecord
from tests.conftest import run_dir_of, spans_of

pytestmark = [pytest.mark.integration, pytest.mark.phoenix]

START_PATIENCE_S = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _phoenix_command() -> list[str] | None:
    beside = Path(sys.executable).with_name("phoenix")
    if beside.exists():
        return [str(beside), "serve"]
    found = shutil.which("phoenix")
    return [found, "serve"] if found else None


class Phoenix:
    def __init__(self, http_port: int, grpc_port: int) -> None:
        self.http = f"http://127.0.0.1:{http_port}"
        self.grpc = f"http://127.0.0.1:{grpc_port}"

    def spans(self, trace_ids: set[str]) -> dict[str, dict[str, Any]]:
        """All spans of these traces that Phoenix holds, by span id (REST API, paged)."""
        found: dict[str, dict[str, Any]] = {}
        cursor = None
        while True:
            url = f"{self.http}/v1/projects/default/spans?limit=1000" + (f"&cursor={cursor}" if cursor else "")
            with urllib.request.urlopen(url, timeout=30) as response:
                page = json.load(response)
            for span in page["data"]:
                if span["context"]["trace_id"] in trace_ids:
                    found[span["context"]["span_id"]] = span
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    def wait_for(self, stored: list[SpanRecord], patience_s: float = 30) -> dict[str, dict[str, Any]]:
        """Phoenix ingests asynchronously: poll until every stored span is visible or patience runs out."""
        deadline = time.monotonic() + patience_s
        trace_ids = {s.trace_id for s in stored}
        while True:
            found = self.spans(trace_ids)
            if len(found) >= len(stored) or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    command = _phoenix_command()
    if command is None:
        pytest.skip("Phoenix is not installed: pip install '.[test,phoenix]' to run the trace-backend tests")
    http_port, grpc_port = _free_port(), _free_port()
    workdir = tmp_path_factory.mktemp("phoenix")
    env = dict(os.environ) | {
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(http_port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_WORKING_DIR": str(workdir),
    }
    for name in list(env):
        if name.startswith("OTEL_"):
            del env[name]
    log = (workdir / "phoenix.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = Phoenix(http_port, grpc_port)
    try:
        deadline = time.monotonic() + START_PATIENCE_S
        while True:
            if process.poll() is not None:
                tail = (workdir / "phoenix.log").read_text(errors="replace")[-400:]
                pytest.skip(f"Phoenix exited at start (code {process.returncode}): {tail}")
            try:
                with urllib.request.urlopen(f"{server.http}/healthz", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.skip(f"Phoenix did not answer within {START_PATIENCE_S} s; see {workdir / 'phoenix.log'}")
                time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _check_arrived(stored: list[SpanRecord], found: dict[str, dict[str, Any]]) -> None:
    missing = [s.name for s in stored if s.span_id not in found]
    assert not missing, f"{len(missing)} spans never reached Phoenix, e.g. {missing[:5]}"
    for span in stored:
        got = found[span.span_id]
        assert got["name"] == span.name
        assert got.get("parent_id") == span.parent_id, span.name
    attributes = [s["attributes"] for s in found.values()]
    operations = {a.get("gen_ai.operation.name") for a in attributes}
    assert {"invoke_agent", "chat", "execute_tool"} <= operations
    with_cpu = [a for a in attributes if "orchestrace.cpu.self_s" in a]
    assert with_cpu and all(float(a["orchestrace.cpu.self_s"]) >= 0 for a in with_cpu)
    assert any("orchestrace.cpu.inclusive_s" in a for a in attributes)


def _run(cli, tmp_path: Path, *extra: str) -> Path:
    result = cli(
        "run", "--agent", "rag", "--tasks", "2", "--concurrency", "2", "--model", "instant",
        "--no-sampler", "--out", str(tmp_path), *extra,
    )  # fmt: skip
    assert result.code == 0, result.err + result.out
    return run_dir_of(result)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_live_export_reaches_phoenix_whole(cli, tmp_path, phoenix, protocol):
    endpoint = phoenix.http if protocol == "http/protobuf" else phoenix.grpc
    run_dir = _run(cli, tmp_path, "--otlp-endpoint", endpoint, "--otlp-protocol", protocol)
    stored = spans_of(run_dir)
    export = json.loads((run_dir / "manifest.json").read_text())["otlp_export"]
    assert export["exported"] == len(stored) and export["failed"] == 0
    _check_arrived(stored, phoenix.wait_for(stored))


def test_export_of_a_stored_run_reaches_phoenix_whole_and_twice_is_idempotent(cli, tmp_path, phoenix):
    run_dir = _run(cli, tmp_path)
    stored = spans_of(run_dir)
    for _ in range(2):
        result = cli("export", str(run_dir), "--otlp-endpoint", phoenix.http)
        assert result.code == 0, result.err
        assert f"exported {len(stored)}/{len(stored)} spans" in result.out
    found = phoenix.wait_for(stored)
    _check_arrived(stored, found)
    assert len(found) == len(stored)
