"""A Ray actor pinned to one node that watches the fleet's workers there: py-spy and psutil.

They must run on the worker's own node (its pid means nothing elsewhere) and outside the
worker (py-spy and the poller must not be charged to the workload), so each node gets one
helper. Like the workers, it sends everything back through Ray: a cluster shares no files.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

from profiler.runner.sampling import ProcessPoller, StackSampler
from profiler.store.processseries import SAMPLER, WORKLOAD
from profiler.store.rundir import PROCESS, SAMPLER_LOG, WORKLOAD_SAMPLES


class NodeObserver:
    """`watch` each worker of this node, `collect` once they are done (and before they are killed)."""

    def __init__(self, sampler: bool, sample_rate: int) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="orchestrace-node-"))
        self.sampler = sampler
        self.sample_rate = sample_rate
        self.watched: dict[str, tuple[StackSampler | None, ProcessPoller]] = {}

    def watch(self, part: str, pid: int, roles: dict[str, int]) -> None:
        """Start py-spy and the psutil poller on worker `pid` (and poll `roles` beside it)."""
        folder = self.folder / part
        (folder / WORKLOAD_SAMPLES).parent.mkdir(parents=True)
        sampler = None
        roles = {WORKLOAD: pid, **roles}
        if self.sampler:
            # Ray blocks SIGINT in its workers and children inherit the mask, but py-spy
            # writes its stacks only when SIGINT stops it
            blocked = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            try:
                sampler = StackSampler(pid, folder / WORKLOAD_SAMPLES, folder / SAMPLER_LOG, self.sample_rate)
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            if sampler.process is not None:
                roles[SAMPLER] = sampler.process.pid  # py-spy's own cost, outside the workload
        poller = ProcessPoller(folder / PROCESS, roles)
        poller.start()
        self.watched[part] = (sampler, poller)
        if sampler is not None:
            sampler.check_started()

    def collect(self, leftovers: list[str]) -> dict[str, dict[str, Any]]:
        """Stop watching; per part its psutil rows, py-spy's raw stacks and log, and what failed.
        `leftovers`: the private folders of workers here that died before cleaning up."""
        for leftover in leftovers:
            shutil.rmtree(leftover, ignore_errors=True)
        parts = {}
        for part, (sampler, poller) in self.watched.items():
            if sampler is not None:
                sampler.stop(target_exits=False)
            poller.stop()
            folder = self.folder / part
            parts[part] = {
                "process": _read(folder / PROCESS).decode(errors="replace"),
                "samples": _read(folder / WORKLOAD_SAMPLES),
                "sampler_log": _read(folder / SAMPLER_LOG).decode(errors="replace"),
                "unavailable": sampler.unavailable if sampler is not None else None,
                "poller_error": poller.error,
            }
        shutil.rmtree(self.folder, ignore_errors=True)
        return parts


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
