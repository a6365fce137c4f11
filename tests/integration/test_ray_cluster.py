"""`run --ray HOST:PORT` against a Ray cluster started apart (`ray start --head`), as on real hosts."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import manifest_of

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 90.0


@pytest.fixture(scope="module")
def head():
    """A head node of our own (never `ray stop`: that stops every Ray on the machine); SIGTERM ends it."""
    ray = Path(sys.executable).with_name("ray")
    if not ray.exists():
        pytest.skip("the ray command is not installed (pip install 'orchestrace[ray]')")
    temp = tempfile.mkdtemp(prefix="orh", dir="/tmp")  # Ray's socket paths must stay short
    log = Path(temp) / "head.log"
    command = [str(ray), "start", "--head", "--block", "--port", "0", "--num-cpus", "2"]
    command += ["--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", f"{temp}/rt"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        )  # fmt: skip
    try:
        address = None
        deadline = time.monotonic() + START_TIMEOUT_S
        while address is None and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            found = re.search(r"ray start --address='([^']+)'", log.read_text(errors="replace"))
            address = found.group(1) if found else None
        if address is None:
            pytest.skip(f"Ray cannot start a head here: {log.read_text(errors='replace')[-300:]}")
        yield address
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(temp, ignore_errors=True)


def test_a_run_on_a_cluster_shares_the_drivers_model_server(tmp_path, head):
    # its own process, as `orchestrace` is (a process that already ran a Ray session keeps state of it)
    command = [sys.executable, "-m", "profiler", "run", "--agent", "rag", "--tasks", "4", "--model", "instant"]
    command += ["--ray", head, "--no-sampler", "--out", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    run = Path(os.path.realpath(tmp_path / "latest"))
    manifest = manifest_of(run)
    assert manifest["ray"]["address"] == head and len(manifest["parts"]) == 2
    assert manifest["checks"]["agent_runs_found"] == 4 and manifest["checks"]["problems"] == []
    # the workers reached the model server on this host's address towards the head, not loopback
    base_url = json.loads((run / "workload.json").read_text())["base_url"]
    assert base_url.startswith(f"http://{head.rpartition(':')[0]}:")
