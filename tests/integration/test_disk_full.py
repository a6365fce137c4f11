"""A disk that fills up mid-run: one clear status, the manifest finished, no temporary files, data loadable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from profiler.store.session import load_session
from tests.conftest import manifest_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (needs root or CAP_SYS_ADMIN: skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_disk_filling_up_mid_run_is_one_clear_status_and_leaves_a_loadable_run(small_disk):
    command = [sys.executable, "-m", "profiler", "run", "--agent", "rag", "--tasks", "40", "--concurrency", "4",
               "--model", "instant", "--no-sampler", "--out", str(small_disk)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    (run_dir,) = [p for p in small_disk.iterdir() if p.name != "latest"]  # latest: a link to it
    manifest = manifest_of(run_dir)
    assert manifest["status"] == "incomplete"
    assert "the disk refused writes (No space left on device: " in manifest["message"]
    assert "status       incomplete: the disk refused writes" in done.stdout
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp") or p.name == ".reserve"]
    session = load_session(run_dir)
    finished = manifest["checks"]["agent_runs_found"]
    assert 0 < finished < 40 and finished == sum(s.name == "invoke_agent rag" for s in session.span_list())
