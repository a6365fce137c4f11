"""Faults the simulated server injects, so retries and failures can be measured where they belong.

A fault spec (`--faults FILE`) gives per-request rates, drawn from a seeded random stream:

    {"errors": {"429": 0.1, "500": 0.05, "503": 0.05}, "retry_after_s": 0.5,
     "latency_spikes": {"rate": 0.05, "seconds": 2.0},
     "drop_mid_stream": 0.02, "malformed_chunk": 0.02, "seed": 7}

429 and 503 carry `Retry-After`. A dropped stream is cut after its first chunk; a malformed one
carries one chunk that is not JSON. Failing a given call N times before it succeeds is a script
turn's `"fail": {"status": 503, "times": 2}` (see `trajectory`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profiler.errors import UsageError

RETRY_AFTER_STATUSES = (429, 503)
FIELDS = frozenset({"errors", "retry_after_s", "latency_spikes", "drop_mid_stream", "malformed_chunk", "seed"})
FAULT_ATTRIBUTE = "orchestrace.server.fault"  # on the SERVER span of a request a fault hit


@dataclass(frozen=True)
class Fault:
    """What happens to one request."""

    status: int | None = None  # an error reply instead of the completion
    retry_after_s: float = 0.0  # sent with a 429 or 503
    spike_s: float = 0.0  # extra latency before the reply
    drop: bool = False  # stream cut after its first chunk
    malformed: bool = False  # one chunk that is not JSON

    @property
    def headers(self) -> dict[str, str]:
        if self.status not in RETRY_AFTER_STATUSES:
            return {}
        return {"retry-after": f"{self.retry_after_s:g}", "retry-after-ms": f"{self.retry_after_s * 1000:.0f}"}

    @property
    def name(self) -> str | None:
        if self.status is not None:
            return f"error_{self.status}"
        return "drop" if self.drop else "malformed" if self.malformed else "spike" if self.spike_s else None


def _rate(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise UsageError(f"{where} must be a probability from 0 to 1")
    return float(value)


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 600:
        raise UsageError(f"{where} must be a number of seconds from 0 to 600")
    return float(value)


@dataclass
class Faults:
    errors: dict[int, float] = field(default_factory=dict)
    retry_after_s: float = 1.0
    spike_rate: float = 0.0
    spike_s: float = 0.0
    drop_rate: float = 0.0
    malformed_rate: float = 0.0
    seed: int = 0
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    @staticmethod
    def from_dict(data: Any, origin: str) -> Faults:
        if not isinstance(data, dict):
            raise UsageError(f"{origin}: a fault spec is a JSON object (errors, latency_spikes, ...)")
        unknown = set(data) - FIELDS
        if unknown:
            raise UsageError(f"{origin}: unknown field(s) {', '.join(sorted(unknown))}")
        raw_errors = data.get("errors", {})
        if not isinstance(raw_errors, dict) or not all(k.isdigit() and 400 <= int(k) <= 599 for k in raw_errors):
            raise UsageError(f"{origin}: 'errors' maps HTTP statuses (400-599) to probabilities")
        errors = {int(k): _rate(v, f"{origin}: errors.{k}") for k, v in raw_errors.items()}
        if sum(errors.values()) > 1:
            raise UsageError(f"{origin}: the error probabilities add up to more than 1")
        spikes = data.get("latency_spikes", {})
        if not isinstance(spikes, dict):
            raise UsageError(f"{origin}: 'latency_spikes' is an object with 'rate' and 'seconds'")
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise UsageError(f"{origin}: 'seed' must be a whole number")
        return Faults(
            errors=errors,
            retry_after_s=_seconds(data.get("retry_after_s", 1.0), f"{origin}: retry_after_s"),
            spike_rate=_rate(spikes.get("rate", 0.0), f"{origin}: latency_spikes.rate"),
            spike_s=_seconds(spikes.get("seconds", 0.0), f"{origin}: latency_spikes.seconds"),
            drop_rate=_rate(data.get("drop_mid_stream", 0.0), f"{origin}: drop_mid_stream"),
            malformed_rate=_rate(data.get("malformed_chunk", 0.0), f"{origin}: malformed_chunk"),
            seed=seed,
        )

    def draw(self, stream: bool) -> Fault:
        """The fault for the next request (most requests: none)."""
        roll = self._random.random()
        for status, rate in self.errors.items():
            if roll < rate:
                return Fault(status=status, retry_after_s=self.retry_after_s)
            roll -= rate
        spike = self.spike_s if self._random.random() < self.spike_rate else 0.0
        drop = stream and self._random.random() < self.drop_rate
        malformed = stream and not drop and self._random.random() < self.malformed_rate
        return Fault(spike_s=spike, drop=drop, malformed=malformed)


def read_spec(path: str | Path) -> dict[str, Any]:
    """A fault spec file, checked (a one-line UsageError names what is wrong)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"fault spec {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"fault spec {path} is not valid JSON: {exc}") from None
    Faults.from_dict(data, f"fault spec {path}")
    checked: dict[str, Any] = data
    return checked
