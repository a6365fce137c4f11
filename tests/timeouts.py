"""Run one test case under a wall-clock limit, so a hang fails the case instead of the suite."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class CaseTimeout(AssertionError):
    """The case ran past its limit: the code under test hangs (or loops)."""


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """SIGALRM interrupts pure-Python loops too; main thread only, as pytest runs tests."""

    def expire(signum: int, frame: object) -> None:
        raise CaseTimeout(f"did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
