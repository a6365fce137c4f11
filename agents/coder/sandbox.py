"""Run model-written code: minimal environment, own process group, resource limits, confined to its workspace.

The child starts as `confine.py`, which sets its own limits and Landlock rules and then execs
the command (no `preexec_fn`). Output goes to a file, not a pipe, so a background child left
holding it cannot stall the run; the whole process group is killed when the command ends or
times out. Linux does not enforce the process-count limit for root.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

CONFINE = Path(__file__).with_name("confine.py")
MAX_OUTPUT_CHARS = 3000
SYSTEM_LIBRARIES = ("/usr", "/lib", "/lib64", "/etc/ld.so.cache", "/etc/localtime")


@dataclass(frozen=True)
class Limits:
    cpu_s: int = 30
    memory_bytes: int = 2 * 1024**3
    file_bytes: int = 64 * 1024**2
    processes: int = 64  # on Linux: tasks of the whole user, so this many more than it already runs
    open_files: int = 256


TIMEOUT_S = 30.0


def environment(workspace: str) -> dict[str, str]:
    """All the command sees of ours: no API keys, no proxies, nothing of the profiler."""
    return {"PATH": os.defpath, "HOME": workspace, "TMPDIR": workspace, "LANG": "C.UTF-8"}


def _readable() -> list[str]:
    """The Python installation (venv and base) and the system's shared libraries."""
    python = os.path.dirname(os.path.realpath(sys.executable))
    return sorted({sys.prefix, sys.base_prefix, python, *SYSTEM_LIBRARIES, "/dev/urandom"})


def _user_tasks() -> int:
    """Threads the current user runs (what RLIMIT_NPROC counts); 0 for root, whom Linux exempts."""
    uid = os.getuid()
    if uid == 0:
        return 0
    count = 0
    for entry in os.scandir("/proc"):
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                count += len(os.listdir(f"/proc/{entry.name}/task"))
    return count


def run_sandboxed(command: list[str], workspace: str, limits: Limits = Limits(), timeout_s: float = TIMEOUT_S) -> str:
    """Run `command` (argv[0] an absolute path) in `workspace`; its exit status and output tail."""
    spec = {
        "limits": {**asdict(limits), "processes": _user_tasks() + limits.processes},
        "read": _readable(),
        "write": [workspace, "/dev/null"],
    }
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(CONFINE), json.dumps(spec), *command],
            cwd=workspace,
            env=environment(workspace),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        try:
            status = f"exit status {process.wait(timeout_s)}"
        except subprocess.TimeoutExpired:
            status = f"timed out after {timeout_s:g}s"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever it left running in the background
            process.wait()
        output.seek(0)
        text = output.read().decode("utf-8", errors="replace")[-MAX_OUTPUT_CHARS:]
    return f"{status}\n{text}"
