"""Child processes of a run: the simulated model server and the workload."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from profiler.errors import UsageError

SERVER_START_TIMEOUT_S = 30.0


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def _stop(process: subprocess.Popen[Any], sig: int, timeout: float) -> None:
    if process.poll() is not None:
        return
    try:
        process.send_signal(sig)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class ServerProcess:
    """`python -m profiler.modelserver` on a free loopback port, spans into the run directory."""

    def __init__(
        self, preset: str, run_dir: Path, run_id: str, scripts: Path | None, script: Path | None = None
    ) -> None:
        self.log = run_dir / "modelserver.log"
        cmd = [
            sys.executable,
            "-m",
            "profiler.modelserver",
            "--preset",
            preset,
            "--port",
            "0",
            "--ready-json",
            "--spans",
            str(run_dir / "spans.jsonl"),
            "--run-id",
            run_id,
        ]
        if scripts is not None:
            cmd += ["--scripts", str(scripts)]
        if script is not None:
            cmd += ["--script", str(script)]
        self._log_handle = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._log_handle, start_new_session=True)
        self.base_url = self._wait_ready()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _wait_ready(self) -> str:
        assert self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2):
                line = self.process.stdout.readline()
                if line:
                    ready = json.loads(line)
                    return f"http://127.0.0.1:{ready['port']}/v1"
            if self.process.poll() is not None:
                break
        self.stop()
        raise UsageError(f"the simulated model server did not start: {_tail(self.log) or 'no output'}")

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM, 10.0)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log_handle.close()


class WorkloadProcess:
    """`python -m profiler.runner.workload CONFIG` with a progress pipe."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        from profiler.runner.workload import PROGRESS_FD_ENV

        read_fd, write_fd = os.pipe()
        env = {**os.environ, PROGRESS_FD_ENV: str(write_fd), "PYTHONUNBUFFERED": "1"}
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "profiler.runner.workload", str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                env=env,
                start_new_session=True,
            )
        os.close(write_fd)
        self._reader: IO[bytes] = os.fdopen(read_fd, "rb")
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.process.pid

    def events(self, poll_s: float = 0.25) -> Iterator[dict[str, Any] | None]:
        """Progress events as they come; None every `poll_s` of silence (to refresh a display)."""
        selector = selectors.DefaultSelector()
        selector.register(self._reader, selectors.EVENT_READ)
        while True:
            if not selector.select(timeout=poll_s):
                yield None
                continue
            chunk = os.read(self._reader.fileno(), 65536)
            if not chunk:
                break
            self._buffer += chunk
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                try:
                    yield json.loads(line)
                except ValueError:
                    continue
        selector.close()
        self._reader.close()

    def interrupt(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout)
