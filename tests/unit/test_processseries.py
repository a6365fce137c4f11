"""process.jsonl rows as types: what the poller samples of a real process round-trips unchanged."""

import os
import subprocess
import sys

from profiler.runner.sampling import ProcessPoller
from profiler.store.processseries import ProcessRow


def test_a_real_sample_round_trips(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        row = ProcessPoller(tmp_path / "process.jsonl", {"workload": os.getpid()}).sample()
    finally:
        child.kill()
        child.wait()
    workload = row.workload
    assert workload is not None and workload.pid == os.getpid() and workload.cpu_s > 0
    assert workload.run_delay_s is not None and workload.thread_cpu  # schedstat and per-thread CPU
    assert any(c.pid == child.pid and c.cmdline and "python" in c.cmdline for c in workload.children)
    assert row.sampler is None and row.host_cpu_percent is not None
    assert ProcessRow.from_json(row.to_json()) == row


def test_a_damaged_entry_leaves_out_its_role_only():
    row = ProcessRow.from_json(
        {
            "t": 5.0,
            "workload": {"cpu_user": 1.0, "cpu_system": 0.5, "rss": "big", "thread_cpu": [[1, 2]]},
            "modelserver": {"cpu_user": "lots", "cpu_system": 0.1},
        }
    )
    assert set(row.processes) == {"workload"} and row.host_cpu_percent is None
    assert row.workload is not None and row.workload.rss is None and row.workload.thread_cpu == ()
