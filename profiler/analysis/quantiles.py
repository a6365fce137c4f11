"""Mean and quantiles of a stream of figures in bounded memory.

Exact while there are at most `EXACT` values (every run of a usual size); beyond, each value is
kept as its bucket on a logarithmic scale 1% wide, so a quantile is within 1% of the true one
and memory no longer grows with the run.
"""

from __future__ import annotations

import math
from collections import Counter

from profiler.store.report import Spread

EXACT = 4096
_STEP = math.log1p(0.01)  # bucket width: 1% relative


class Quantiles:
    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self._values: list[float] | None = []
        self._buckets: Counter[int] = Counter()
        self._zeros = 0  # values <= 0 (their own bucket: a log scale has none for them)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        if self._values is not None:
            self._values.append(value)
            if len(self._values) > EXACT:
                for kept in self._values:
                    self._bin(kept)
                self._values = None
        else:
            self._bin(value)

    def _bin(self, value: float) -> None:
        if value <= 0:
            self._zeros += 1
        else:
            self._buckets[math.floor(math.log(value) / _STEP)] += 1

    @property
    def exact(self) -> bool:
        return self._values is not None

    def mean(self) -> float | None:
        return self.total / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """The value at rank round(q·(n−1)) in sorted order (exact, or its bucket's middle)."""
        if not self.count:
            return None
        rank = min(self.count - 1, max(0, round(q * (self.count - 1))))
        if self._values is not None:
            return sorted(self._values)[rank]
        if rank < self._zeros:
            return 0.0
        seen = self._zeros
        for bucket in sorted(self._buckets):
            seen += self._buckets[bucket]
            if rank < seen:
                return math.exp((bucket + 0.5) * _STEP)
        return None  # unreachable: the buckets hold every value above zero

    def summary(self) -> Spread:
        return Spread(self.mean(), self.quantile(0.5), self.quantile(0.95))
