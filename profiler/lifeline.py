"""The run's processes die with `orchestrace run`, even when it is killed with SIGKILL.

The runner names itself in the children's environment; each child asks Linux for a signal when
its parent dies (PR_SET_PDEATHSIG, set in the child itself: no `preexec_fn`), and checks that
the parent did not die before it asked. The signal is the child's graceful stop (the workload
flushes its spans on SIGINT), so what was recorded is kept.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

PARENT_ENV = "ORCHESTRACE_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def child_environment() -> dict[str, str]:
    """The environment for a child that must not outlive this process."""
    return {**os.environ, PARENT_ENV: str(os.getpid())}


def die_with_parent(sig: int) -> None:
    """In a child started with `child_environment()`: receive `sig` when the parent dies."""
    parent = os.environ.pop(PARENT_ENV, None)  # not inherited further: grandchildren have their own parents
    if parent is None or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != int(parent):  # it died before we asked
        os.kill(os.getpid(), sig)


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled like Ctrl-C; the signal's name is kept for the manifest."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@contextlib.contextmanager
def _handling(signals: tuple[signal.Signals, ...], handler: Callable[[int, object], None]) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # only the main thread may handle signals
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def signals_interrupt() -> contextlib.AbstractContextManager[None]:
    """While inside: SIGTERM and SIGHUP raise `Interrupted`, as SIGINT raises KeyboardInterrupt."""

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted(signal.Signals(signum).name)

    return _handling((signal.SIGTERM, signal.SIGHUP), interrupt)


def signals_deferred(noted: list[str]) -> contextlib.AbstractContextManager[None]:
    """While inside (finishing the run directory): SIGINT, SIGTERM and SIGHUP are noted, not raised."""

    def note(signum: int, frame: object) -> None:
        noted.append(signal.Signals(signum).name)

    return _handling((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), note)
