"""Out-of-process observation of the workload: py-spy stacks and a psutil time series.

Both run outside the profiled process. py-spy runs in non-blocking mode (blocking mode
stops every thread per sample, inflating CPU 1.6-1.8x and slowing threaded targets);
psutil is polled from a thread of the orchestrace CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from profiler.store.processseries import WORKLOAD, ProcessRow, ProcessSample

PY_SPY_ENV = "ORCHESTRACE_PY_SPY"  # path of the py-spy binary (tests point it at a broken one)
# py-spy's own CPU grows with the rate and with the threads it reads: 20 Hz keeps it at or below
# ~4% of one core on the sample agents here (100 Hz: 11-14%), enough samples for the stack picture
DEFAULT_SAMPLE_RATE = 20
DEFAULT_POLL_INTERVAL_S = 0.1
START_CHECK_S = 1.0


def find_py_spy() -> str | None:
    configured = os.environ.get(PY_SPY_ENV)
    if configured:
        return configured
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class StackSampler:
    """`py-spy record --nonblocking --threads -f raw` attached to a running pid.

    With `children`, also `--subprocesses`: py-spy then keeps discovering and attaching to child
    processes, which costs it 2-3% of a core more where tools spawn many (their CPU is measured by
    the meter either way; only their stacks need it).
    """

    def __init__(
        self, pid: int, out: Path, log: Path, rate: int = DEFAULT_SAMPLE_RATE, *, children: bool = False
    ) -> None:
        self.out = out
        self.log = log
        self.unavailable: str | None = None
        self.process: subprocess.Popen[bytes] | None = None
        binary = find_py_spy()
        if binary is None:
            self.unavailable = "py-spy is not installed (pip install py-spy)"
            return
        command = [
            binary,
            "record",
            "--pid",
            str(pid),
            "--nonblocking",
            "--threads",
            *(["--subprocesses"] if children else []),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(out),
        ]
        with open(log, "ab") as handle:
            try:
                self.process = subprocess.Popen(command, stdout=handle, stderr=handle, start_new_session=True)
            except OSError as exc:
                self.unavailable = f"py-spy could not start: {exc.strerror or exc}"

    def check_started(self) -> None:
        """py-spy fails within a moment when it may not attach (ptrace not permitted)."""
        if self.process is None:
            return
        try:
            code = self.process.wait(START_CHECK_S)
        except subprocess.TimeoutExpired:
            return
        if code != 0:
            self.unavailable = f"py-spy could not attach (exit status {code}): {self._last_log_line()}"
            self.process = None

    def _last_log_line(self) -> str:
        try:
            lines = [line for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return ""
        return lines[-1][:200] if lines else "no output; ptrace may not be permitted (root or CAP_SYS_PTRACE)"

    def stop(self, timeout_s: float = 15.0, *, target_exits: bool = True) -> None:
        """py-spy writes its file when the target exits; ask it to stop if it has not (or will not)."""
        if self.process is None:
            return
        if target_exits:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout_s)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.out.exists() and self.unavailable is None:
            self.unavailable = f"py-spy wrote no samples: {self._last_log_line()}"


def run_delay_s(pid: int) -> float | None:
    """Seconds the process's live threads spent ready to run but waiting for a CPU (schedstat's run
    delay): py-spy samples a thread in that state as running, so it belongs beside the CPU time."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as handle:
                total += int(handle.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the thread ended meanwhile
    return total / 1e9


def _times(proc: psutil.Process, **more: Any) -> ProcessSample:
    with proc.oneshot():
        cpu = proc.cpu_times()
        return ProcessSample(
            cpu_user=cpu.user,
            cpu_system=cpu.system,
            pid=proc.pid,
            children_user=cpu.children_user,
            children_system=cpu.children_system,
            rss=proc.memory_info().rss,
            threads=proc.num_threads(),
            **more,
        )


class ProcessPoller(threading.Thread):
    """Samples CPU, RSS and threads of the workload (with its children) and the model server."""

    def __init__(self, out: Path, roles: dict[str, int], interval_s: float = DEFAULT_POLL_INTERVAL_S) -> None:
        super().__init__(name="orchestrace-poller", daemon=True)
        self.out = out
        self.roles = roles
        self.interval_s = interval_s
        self._halt = threading.Event()
        self._processes = {role: psutil.Process(pid) for role, pid in roles.items() if psutil.pid_exists(pid)}
        self.error: str | None = None  # why the series stopped early (a full disk)

    def sample(self) -> ProcessRow:
        t, host = time.time(), psutil.cpu_percent(None)
        processes: dict[str, ProcessSample] = {}
        for role, proc in self._processes.items():
            try:
                processes[role] = self._workload(proc) if role == WORKLOAD else _times(proc)
            except psutil.Error:
                continue
        return ProcessRow(t, host, processes)

    @staticmethod
    def _workload(proc: psutil.Process) -> ProcessSample:
        """The workload's sample adds its threads' CPU, run-queue delay and live children."""
        children = []
        for child in proc.children(recursive=True):
            try:
                children.append(_times(child, cmdline=" ".join(child.cmdline()[:4])[:200]))
            except psutil.Error:
                continue
        return _times(
            proc,
            thread_cpu=tuple((t.id, t.user_time, t.system_time) for t in proc.threads()),
            run_delay_s=run_delay_s(proc.pid),
            children=tuple(children),
        )

    def run(self) -> None:
        psutil.cpu_percent(None)
        try:
            with open(self.out, "a", encoding="utf-8") as handle:
                while not self._halt.is_set():
                    handle.write(json.dumps(self.sample().to_json()) + "\n")
                    handle.flush()
                    self._halt.wait(self.interval_s)
        except OSError as exc:  # the series ends here; the run goes on and says so
            self.error = f"{self.out.name}: {exc.strerror or exc}"

    def stop(self) -> None:
        self._halt.set()
        self.join(5.0)
