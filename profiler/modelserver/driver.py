"""Runs the timing model on the event loop's clock and wakes the requests waiting on it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from profiler.accelerators.timing import DEFAULT_FLUSH_INTERVAL_S, Accelerator, Event, RequestTiming


@dataclass(eq=False)  # identity: waiters live in a set
class Waiter:
    timing: RequestTiming
    first_token: asyncio.Future[float] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    done: asyncio.Future[float] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    progress: asyncio.Event = field(default_factory=asyncio.Event)  # new tokens to stream, or done
    decoded: float = 0.0  # tokens produced as of the last flush
    first_sent: float | None = None  # driver time the first chunk / the whole reply went out
    done_sent: float | None = None
    writes: int = 0  # of a streamed reply, up to its last token

    def lateness(self) -> dict[str, float]:
        """How far behind the model the server delivered (its own scheduling delay)."""
        late: dict[str, float] = {}
        if self.first_sent is not None and self.timing.prefill_end is not None:
            late["orchestrace.server.first_token_lateness_s"] = self.first_sent - self.timing.prefill_end
        if self.done_sent is not None and self.timing.done is not None:
            late["orchestrace.server.lateness_s"] = self.done_sent - self.timing.done
        return late


class AcceleratorDriver:
    """One timer for the model's next event, plus one flush ticker for all streaming requests.

    Exact events (first token, done) wake their request at the model's time. Tokens in between
    are handed to streams every `flush_interval_s`, for all streams at once, so the cost per
    tick grows linearly with the number of streams.
    """

    def __init__(self, accelerator: Accelerator, flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S) -> None:
        self.accelerator = accelerator
        self.flush_interval_s = flush_interval_s
        self._loop = asyncio.get_running_loop()
        # time.monotonic, not loop.time: uvloop's loop time is cached per iteration at 1 ms resolution.
        # Times are kept small (from an origin) so float rounding stays far below the model's epsilon.
        self._origin = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._flusher: asyncio.TimerHandle | None = None
        self._waiters: dict[str, Waiter] = {}
        self._streaming: set[Waiter] = set()

    def now(self) -> float:
        return time.monotonic() - self._origin

    def submit(self, rid: str, prompt_tokens: int, output_tokens: int, arrived: float | None = None) -> Waiter:
        timing, events = self.accelerator.submit(rid, prompt_tokens, output_tokens, self.now(), arrived)
        waiter = Waiter(timing)
        self._waiters[rid] = waiter
        self._dispatch(events)
        self._reschedule()
        return waiter

    def stream(self, waiter: Waiter) -> None:
        """Deliver this request's tokens progressively (call after its first token)."""
        self._streaming.add(waiter)
        if self._flusher is None:
            self._flusher = self._loop.call_later(self.flush_interval_s, self._flush)

    def release(self, rid: str) -> None:
        """The request finished or its client left; frees its slot if it still holds one."""
        waiter = self._waiters.pop(rid, None)
        if waiter is None:
            return
        self._streaming.discard(waiter)
        if waiter.timing.done is None:
            self._dispatch(self.accelerator.cancel(rid, self.now()))
            self._reschedule()

    def _tick(self) -> None:
        self._dispatch(self.accelerator.advance(self.now()))
        self._reschedule()

    def _flush(self) -> None:
        self._flusher = None
        self._tick()
        now = self.now()
        for waiter in self._streaming:
            decoded = self.accelerator.decoded_tokens(waiter.timing, now)
            if int(decoded) > int(waiter.decoded):
                waiter.decoded = decoded
                waiter.progress.set()
        if self._streaming:
            self._flusher = self._loop.call_later(self.flush_interval_s, self._flush)

    def _reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        at = self.accelerator.next_event_at()
        if at is not None:
            self._timer = self._loop.call_later(max(0.0, at - self.now()), self._tick)

    def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            waiter = self._waiters.get(event.rid)
            if waiter is None:
                continue
            if event.kind == "first_token" and not waiter.first_token.done():
                waiter.first_token.set_result(event.at)
                waiter.decoded = 1.0
            elif event.kind == "done" and not waiter.done.done():
                waiter.done.set_result(event.at)
                waiter.decoded = float(waiter.timing.output_tokens)
                waiter.progress.set()
