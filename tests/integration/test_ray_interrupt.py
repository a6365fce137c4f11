"""Ctrl-C during `run --ray`: the run keeps what finished, and the Ray instance it started is gone."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import sigint_as_in_a_terminal

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install 'orchestrace[ray]')"
    ),
]


def _ray_sessions() -> set[int]:
    """Processes of a Ray instance `run --ray` started (its session lives under /tmp/ort*)."""
    found = set()
    for process in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        if "/tmp/ort" in line and any(name in line for name in ("raylet", "gcs_server", "ray/")):
            found.add(process.info["pid"])
    return found


def _first_spans(out: Path, deadline: float) -> bool:
    while time.monotonic() < deadline:
        runs = [p for p in out.iterdir() if p.is_dir()] if out.exists() else []
        if runs and (runs[0] / "spans.jsonl").exists() and (runs[0] / "spans.jsonl").stat().st_size > 50_000:
            return True
        time.sleep(0.1)
    return False


def test_ctrl_c_keeps_what_finished_and_stops_ray(tmp_path):
    before = _ray_sessions()
    command = [sys.executable, "-m", "profiler", "run", "--agent", "rag", "--tasks", "40", "--concurrency", "2"]
    command += ["--model", "h100-llama3.1-8b", "--ray", "--no-sampler", "--out", str(tmp_path)]
    with open(tmp_path / "out.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=sigint_as_in_a_terminal)
    try:
        if not _first_spans(tmp_path, time.monotonic() + 120):
            pytest.skip(f"no agent run finished: {(tmp_path / 'out.log').read_text()[-300:]}")
        process.send_signal(signal.SIGINT)
        code = process.wait(120)
    finally:
        if process.poll() is None:
            process.kill()
    output = (tmp_path / "out.log").read_text()
    assert code == 130, output
    run = Path(os.path.realpath(tmp_path / "latest"))
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    finished = manifest["checks"]["agent_runs_found"]
    assert 1 <= finished < 40 and manifest["checks"]["problems"] == []
    time.sleep(1)  # the last of Ray's processes exiting
    assert _ray_sessions() - before == set()
    assert not [p for p in Path("/tmp").glob("ort*") if p.stat().st_mtime > time.time() - 300 and p.is_dir()]
