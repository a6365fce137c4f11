"""Child processes of a run: the simulated model server and the workload."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from profiler.errors import UsageError
from profiler.export.target import OtlpTarget
from profiler.lifeline import child_environment
from profiler.store.rundir import SERVER_LOG, SPANS

# the workload process's pipes, named in its environment (its module is heavy: the runner does not import it)
PROGRESS_FD_ENV = "ORCHESTRACE_PROGRESS_FD"
SPAN_FD_ENV = "ORCHESTRACE_SPAN_FD"

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


def _grow_pipe(fd: int, size: int = 1 << 20) -> None:
    """A bigger pipe buffer absorbs span bursts without blocking the exporter thread."""
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), size)


class SpanWriter:
    """`python -m profiler.store.spanwriter`: one pipe per producer process, spans.jsonl out.

    It also holds the read end of a watchdog pipe whose write end only this process holds: if
    this process dies, the writer finalises the manifest (`manifest`) once it has drained the spans.
    """

    def __init__(
        self,
        out: Path,
        producers: int,
        log: Path,
        target: OtlpTarget | None = None,
        summary: Path | None = None,
        secret_env: str | None = None,
        manifest: Path | None = None,
    ) -> None:
        pipes = [os.pipe() for _ in range(producers)]
        for _, write_end in pipes:
            _grow_pipe(write_end)
        read_ends = [r for r, _ in pipes]
        self.target = target
        watchdog_read, self._watchdog = os.pipe()
        self._summary, summary_write = os.pipe()
        command = [sys.executable, "-m", "profiler.store.spanwriter", str(out), *map(str, read_ends)]
        command += ["--summary-fd", str(summary_write), "--runner-fd", str(watchdog_read)]
        if manifest is not None:
            command += ["--manifest", str(manifest)]
        if secret_env:
            command += ["--secret-env", secret_env]
        if target is not None:
            command += ["--otlp-url", target.traces_url, "--otlp-protocol", target.protocol]
            if summary is not None:
                command += ["--export-summary", str(summary)]
        with open(log, "ab") as log_handle:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_handle,
                stderr=log_handle,
                pass_fds=(*read_ends, watchdog_read, summary_write),
                start_new_session=True,
            )
        for fd in (*read_ends, watchdog_read, summary_write):
            os.close(fd)
        self.fds = [w for _, w in pipes]

    def release_parent_ends(self, keep: int = 0) -> None:
        """Call once every producer has inherited its pipe: the writer stops when they all close it.
        `keep` leaves this process the first ends, for spans it relays itself (a fleet's driver)."""
        for fd in self.fds[keep:]:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds = self.fds[:keep]

    def wait(self, timeout_s: float) -> dict[str, Any]:
        """Wait for the writer to drain; what it wrote, or why nothing can be said about it."""
        self.release_parent_ends()
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return {"error": f"the span writer did not finish within {timeout_s:g} s and was killed"}
        finally:
            os.close(self._watchdog)
        with os.fdopen(self._summary, "rb") as summary:
            said = summary.read()
        if code != 0:
            return {"error": f"the span writer died ({exit_description(code)}); spans sent after that were lost"}
        try:
            written: dict[str, Any] = json.loads(said)
        except ValueError:
            return {"error": "the span writer ended without saying what it wrote"}
        return written


def exit_description(code: int) -> str:
    """`exit status 1`, or `killed by SIGKILL` for a process a signal ended."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


class ServerProcess:
    """`python -m profiler.modelserver` on a loopback socket bound here, spans into the run directory.

    Binding in the parent means the URL is known at once, so the workload can start (and
    import) while the server starts; early connections wait in the socket's backlog.
    """

    def __init__(
        self,
        preset: str,
        run_dir: Path,
        run_id: str,
        scripts: Path | None,
        script: Path | None = None,
        span_fd: int | None = None,
        faults: Path | None = None,
        host: str = "127.0.0.1",  # loopback, unless workers on other hosts must reach it
    ) -> None:
        self.log = run_dir / SERVER_LOG
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind((host, 0))
        listener.listen(1024)
        self.base_url = f"http://{host}:{listener.getsockname()[1]}/v1"
        cmd = [
            sys.executable,
            "-m",
            "profiler.modelserver",
            "--preset",
            preset,
            "--listen-fd",
            str(listener.fileno()),
            "--ready-json",
            "--run-id",
            run_id,
        ]
        cmd += ["--span-fd", str(span_fd)] if span_fd is not None else ["--spans", str(run_dir / SPANS)]
        if scripts is not None:
            cmd += ["--scripts", str(scripts)]
        if script is not None:
            cmd += ["--script", str(script)]
        if faults is not None:
            cmd += ["--faults", str(faults)]
        self._log_handle = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=self._log_handle,
            pass_fds=(listener.fileno(),) if span_fd is None else (listener.fileno(), span_fd),
            env=child_environment(),
            start_new_session=True,
        )
        self.spans_sent: int | None = None  # reported by the server as it stops
        listener.close()

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self) -> None:
        """Block until the server announced itself; a server that died says why."""
        assert self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if selector.select(timeout=0.2) and self.process.stdout.readline():
                return
            if self.process.poll() is not None:
                break
        self.stop()
        raise UsageError(f"the simulated model server did not start: {_tail(self.log) or 'no output'}")

    def died(self) -> str | None:
        """Why the server is no longer running, if it stopped on its own."""
        code = self.process.poll()
        return None if code is None else exit_description(code)

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM, 10.0)
        if self.process.stdout is not None and not self.process.stdout.closed:
            for line in self.process.stdout.read().splitlines():  # its last words: the spans it sent
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    self.spans_sent = int(json.loads(line)["spans_sent"])
            self.process.stdout.close()
        self._log_handle.close()


class WorkloadProcess:
    """`python -m profiler.runner.workload CONFIG` with a progress pipe."""

    def __init__(self, config_path: Path, log_path: Path, span_fd: int | None = None) -> None:
        read_fd, write_fd = os.pipe()
        env = {**child_environment(), PROGRESS_FD_ENV: str(write_fd), "PYTHONUNBUFFERED": "1"}
        inherited = [write_fd]
        if span_fd is not None:
            env[SPAN_FD_ENV] = str(span_fd)
            inherited.append(span_fd)
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "profiler.runner.workload", str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=inherited,
                env=env,
                start_new_session=True,
            )
        os.close(write_fd)
        self._reader: IO[bytes] = os.fdopen(read_fd, "rb")
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._reader, selectors.EVENT_READ)
        self._buffer = b""

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self, timeout_s: float = 0.25) -> list[dict[str, Any]] | None:
        """Progress events that arrived within `timeout_s` ([] if none); None once the pipe closed."""
        if self._reader.closed:
            return None
        if not self._selector.select(timeout=timeout_s):
            return []
        chunk = os.read(self._reader.fileno(), 65536)
        if not chunk:
            self._selector.close()
            self._reader.close()
            return None
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        events = []
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    def interrupt(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def wait(self, timeout: float | None = None) -> int:
        return self.process.wait(timeout)

    def stop(self, grace_s: float) -> None:
        """Ask a still-running workload to stop and flush; kill it after `grace_s`."""
        _stop(self.process, signal.SIGINT, grace_s)
        if not self._reader.closed:
            self._selector.close()
            self._reader.close()
