"""The virtual accelerator's timing model: a pure state machine driven by explicit times.

Requests queue FIFO until one of `max_batch` slots is free, then spend `ttft_s +
prompt_tokens / prefill_tok_s` in prefill (which yields the first token), then decode the
remaining tokens. Decoding streams share the accelerator: each runs at
`preset.stream_rate(n)` for the n streams decoding at that moment, so the aggregate
saturates. Nothing here reads a clock; the server passes times in, tests pass fake ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from profiler.accelerators.presets import Preset

# Events this close together are simultaneous: far below any timer's resolution, and far
# above the rounding of float seconds on a monotonic clock (so `advance` always progresses).
_TIME_EPS = 1e-9
DEFAULT_FLUSH_INTERVAL_S = 0.01  # how often a streamed reply's tokens so far are written to the client

EventKind = Literal["admitted", "first_token", "done"]


@dataclass(frozen=True)
class Event:
    kind: EventKind
    rid: str
    at: float


@dataclass
class RequestTiming:
    """Where one request is in its life; times are on the caller's clock."""

    rid: str
    prompt_tokens: int
    output_tokens: int
    arrived: float
    admitted: float | None = None
    batch_at_admission: int = 0
    prefill_end: float | None = None
    remaining: float = 0.0
    done: float | None = None

    @property
    def queue_s(self) -> float:
        return (self.admitted if self.admitted is not None else self.arrived) - self.arrived

    @property
    def prefill_s(self) -> float:
        if self.admitted is None or self.prefill_end is None:
            return 0.0
        return self.prefill_end - self.admitted

    @property
    def decode_s(self) -> float:
        if self.prefill_end is None or self.done is None:
            return 0.0
        return self.done - self.prefill_end


class Accelerator:
    """Processor-sharing model of one serving replica."""

    def __init__(self, preset: Preset) -> None:
        self.preset = preset
        self._queue: deque[RequestTiming] = deque()
        self._prefilling: dict[str, RequestTiming] = {}
        self._decoding: dict[str, RequestTiming] = {}
        self._accounted_to = 0.0

    @property
    def busy_slots(self) -> int:
        return len(self._prefilling) + len(self._decoding)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(
        self, rid: str, prompt_tokens: int, output_tokens: int, now: float, arrived: float | None = None
    ) -> tuple[RequestTiming, list[Event]]:
        """A request reaches the model at `now`, having arrived at the server at `arrived` (default `now`).

        Time since arrival counts: if a slot is free, the request is admitted as of its arrival,
        so the server's own request handling is part of the TTFT, as in the measured figures.
        """
        events = self.advance(now)
        start = now if arrived is None else min(arrived, now)
        req = RequestTiming(rid, max(0, prompt_tokens), max(1, output_tokens), arrived=start)
        self._queue.append(req)
        events += self._admit(start if len(self._queue) == 1 else now)
        return req, events

    def cancel(self, rid: str, now: float) -> list[Event]:
        """The client went away: free its slot (or queue place)."""
        events = self.advance(now)
        self._prefilling.pop(rid, None)
        self._decoding.pop(rid, None)
        self._queue = deque(r for r in self._queue if r.rid != rid)
        return events + self._admit(now)

    def next_event_at(self) -> float | None:
        candidates = [r.prefill_end for r in self._prefilling.values() if r.prefill_end is not None]
        if self._decoding:
            rate = self.preset.stream_rate(len(self._decoding))
            least = min(r.remaining for r in self._decoding.values())
            candidates.append(self._accounted_to + max(0.0, least) / rate)
        return min(candidates) if candidates else None

    def advance(self, now: float) -> list[Event]:
        """Process everything that happens up to `now`, in time order."""
        events: list[Event] = []
        while True:
            at = self.next_event_at()
            if at is None or at > now:
                break
            self._progress(at)
            events += self._fire(at)
        self._progress(now)
        return events

    def decoded_tokens(self, req: RequestTiming, now: float) -> float:
        """Tokens produced so far (the first comes from prefill), for streaming chunks."""
        if req.done is not None and req.done <= now:
            return float(req.output_tokens)
        if req.prefill_end is None or req.prefill_end > now:
            return 0.0
        remaining = req.remaining
        if req.rid in self._decoding and now > self._accounted_to:
            remaining -= self.preset.stream_rate(len(self._decoding)) * (now - self._accounted_to)
        return min(float(req.output_tokens), max(1.0, req.output_tokens - max(0.0, remaining)))

    def _progress(self, to: float) -> None:
        elapsed = to - self._accounted_to
        if elapsed > 0 and self._decoding:
            step = self.preset.stream_rate(len(self._decoding)) * elapsed
            for req in self._decoding.values():
                req.remaining -= step
        self._accounted_to = max(self._accounted_to, to)

    def _fire(self, at: float) -> list[Event]:
        events: list[Event] = []
        for rid, req in list(self._prefilling.items()):
            assert req.prefill_end is not None
            if req.prefill_end <= at + _TIME_EPS:
                del self._prefilling[rid]
                events.append(Event("first_token", rid, req.prefill_end))
                req.remaining = float(req.output_tokens - 1)
                if req.remaining <= 0:
                    req.done = req.prefill_end
                    events.append(Event("done", rid, req.prefill_end))
                else:
                    self._decoding[rid] = req
                    behind = self._accounted_to - req.prefill_end
                    if behind > 0:  # admitted as of its arrival, it has been decoding since prefill ended
                        req.remaining -= self.preset.stream_rate(len(self._decoding)) * behind
        rate = self.preset.stream_rate(len(self._decoding))
        for rid, req in list(self._decoding.items()):
            if req.remaining / rate <= _TIME_EPS:
                del self._decoding[rid]
                req.done = self._accounted_to + min(0.0, req.remaining) / rate
                events.append(Event("done", rid, req.done))
        return events + self._admit(at)

    def _admit(self, at: float) -> list[Event]:
        events: list[Event] = []
        while self._queue and self.busy_slots < self.preset.max_batch:
            req = self._queue.popleft()
            req.admitted = at
            req.batch_at_admission = self.busy_slots + 1
            req.prefill_end = at + self.preset.ttft_s + req.prompt_tokens / self.preset.prefill_tok_s
            self._prefilling[req.rid] = req
            events.append(Event("admitted", req.rid, at))
        return events
