"""Sizing maths: published Erlang values, utilisation-law identities, monotonicity (hypothesis)."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profiler.errors import UsageError
from profiler.sizing.queueing import (
    erlang_b,
    erlang_c,
    in_flight,
    mean_wait,
    servers_for_wait,
    servers_needed,
)

rates = st.floats(min_value=0.01, max_value=1000, allow_nan=False)
demands = st.floats(min_value=1e-4, max_value=10, allow_nan=False)
utilisations = st.floats(min_value=0.05, max_value=0.95)


@pytest.mark.parametrize(
    ("servers", "load", "expected"),
    [
        (1, 0.5, 0.5),  # M/M/1: P(wait) = rho
        (2, 1.0, 1 / 3),
        (5, 4.0, 0.5541),  # standard Erlang C table values
        (10, 8.0, 0.4092),
    ],
)
def test_erlang_c_matches_published_values(servers, load, expected):
    assert erlang_c(servers, load) == pytest.approx(expected, abs=5e-4)


def test_erlang_b_table_value_and_unstable_system():
    assert erlang_b(5, 4.0) == pytest.approx(0.1991, abs=5e-4)
    assert erlang_c(3, 3.0) == 1.0
    assert mean_wait(3, rate=3.0, service_s=1.0) == math.inf


@given(rates, demands, utilisations)
def test_utilisation_law_identity(rate, demand, utilisation):
    servers = servers_needed(rate, demand, utilisation)
    assert servers * utilisation == pytest.approx(rate * demand)


@given(rates, st.floats(min_value=1.01, max_value=10), demands, utilisations)
def test_more_load_never_needs_fewer_servers(rate, factor, demand, utilisation):
    assert servers_needed(rate * factor, demand, utilisation) >= servers_needed(rate, demand, utilisation)
    assert servers_needed(rate, demand * factor, utilisation) >= servers_needed(rate, demand, utilisation)


@given(
    st.floats(min_value=0.1, max_value=50),
    st.floats(min_value=0.01, max_value=1),
    st.floats(min_value=0.001, max_value=1),
    st.floats(min_value=1.01, max_value=3),
)
def test_queueing_cores_grow_with_load(rate, service, target, factor):
    fewer = servers_for_wait(rate, service, target)
    more = servers_for_wait(rate * factor, service, target)
    assert more >= fewer
    assert mean_wait(more, rate * factor, service) <= target
    assert fewer > rate * service  # stable


@given(st.integers(min_value=1, max_value=60), st.floats(min_value=0.01, max_value=50))
def test_more_servers_never_wait_longer(servers, load):
    if servers + 1 > load:
        assert mean_wait(servers + 1, load, 1.0) <= mean_wait(servers, load, 1.0)


@given(rates, st.floats(min_value=0, max_value=100))
def test_littles_law(rate, residence):
    assert in_flight(rate, residence) == pytest.approx(rate * residence)


@pytest.mark.parametrize("utilisation", [0.0, 1.0, 1.5, -0.2])
def test_impossible_utilisation_is_refused(utilisation):
    with pytest.raises(UsageError, match="utilisation must be between 0 and 1"):
        servers_needed(1.0, 1.0, utilisation)


def test_negative_throughput_is_refused():
    with pytest.raises(UsageError, match="throughput must be >= 0"):
        servers_needed(-1.0, 1.0, 0.5)
