"""Streamed quantiles: exact for small runs, within 1% for huge ones (fixed inputs)."""

import random
import statistics

import pytest

from profiler.analysis.quantiles import EXACT, Quantiles
from profiler.store.report import Spread


def filled(values):
    q = Quantiles()
    for value in values:
        q.add(value)
    return q


def test_small_streams_are_exact():
    values = [3.0, 1.0, 2.0, 0.0, 5.0]
    q = filled(values)
    assert q.exact and q.mean() == statistics.fmean(values)
    assert (q.quantile(0.5), q.quantile(0.95)) == (2.0, 5.0)
    assert Quantiles().summary() == Spread(None, None, None)


def test_large_streams_stay_within_one_percent():
    rng = random.Random(7)
    values = [rng.lognormvariate(0, 1) for _ in range(4 * EXACT)] + [0.0] * 10
    q = filled(values)
    assert not q.exact and q.mean() == pytest.approx(statistics.fmean(values))
    ordered = sorted(values)
    for share in (0.5, 0.95):
        true = ordered[round(share * (len(values) - 1))]
        assert q.quantile(share) == pytest.approx(true, rel=0.01)
