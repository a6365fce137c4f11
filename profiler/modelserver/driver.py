"""Runs the timing model on the event loop's clock and wakes the requests waiting on it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from profiler.modelserver.accelerator import Accelerator, Event, RequestTiming


@dataclass
class Waiter:
    timing: RequestTiming
    first_token: asyncio.Future[float] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    done: asyncio.Future[float] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class AcceleratorDriver:
    """One timer on the loop, always set for the model's next event."""

    def __init__(self, accelerator: Accelerator) -> None:
        self.accelerator = accelerator
        self._loop = asyncio.get_running_loop()
        self._origin = self._loop.time()  # small times keep float rounding far below the model's epsilon
        self._timer: asyncio.TimerHandle | None = None
        self._waiters: dict[str, Waiter] = {}

    def now(self) -> float:
        return self._loop.time() - self._origin

    def submit(self, rid: str, prompt_tokens: int, output_tokens: int) -> Waiter:
        timing, events = self.accelerator.submit(rid, prompt_tokens, output_tokens, self.now())
        waiter = Waiter(timing)
        self._waiters[rid] = waiter
        self._dispatch(events)
        self._reschedule()
        return waiter

    def release(self, rid: str) -> None:
        """The request finished or its client left; frees its slot if it still holds one."""
        waiter = self._waiters.pop(rid, None)
        if waiter is not None and waiter.timing.done is None:
            self._dispatch(self.accelerator.cancel(rid, self.now()))
            self._reschedule()

    def decoded_tokens(self, waiter: Waiter) -> float:
        self._tick()
        return self.accelerator.decoded_tokens(waiter.timing, self.now())

    def _tick(self) -> None:
        self._dispatch(self.accelerator.advance(self.now()))
        self._reschedule()

    def _reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        at = self.accelerator.next_event_at()
        if at is not None:
            self._timer = self._loop.call_at(at + self._origin, self._tick)

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            waiter = self._waiters.get(event.rid)
            if waiter is None:
                continue
            future = (
                waiter.first_token if event.kind == "first_token" else waiter.done if event.kind == "done" else None
            )
            if future is not None and not future.done():
                future.set_result(event.at)
