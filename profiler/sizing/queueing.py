"""Queueing maths for sizing: utilisation law, Erlang C (M/M/c), Little's law. Pure functions.

Sources: the utilisation law U = X·D and Little's law L = X·W are from operational analysis
(Denning & Buzen, "The Operational Analysis of Queueing Network Models", ACM Computing Surveys
10(3), 1978). Erlang C is the M/M/c probability of waiting, computed through the Erlang B
recursion B(0) = 1, B(k) = a·B(k-1) / (k + a·B(k-1)) and C = c·B / (c - a·(1 - B)); the mean wait
is Wq = C / (c·μ - λ) (e.g. Kleinrock, Queueing Systems Vol. 1, 1975, §3.5).
"""

from __future__ import annotations

import math

from profiler.errors import UsageError


def _check_utilisation(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise UsageError(f"{name} must be between 0 and 1 (exclusive), got {value}")


def servers_needed(rate: float, demand: float, utilisation: float) -> float:
    """Utilisation law: servers ≥ X·D / ρ (fractional; round up to buy whole servers)."""
    if rate < 0:
        raise UsageError(f"throughput must be >= 0, got {rate}")
    if demand < 0:
        raise UsageError(f"service demand must be >= 0, got {demand}")
    _check_utilisation("target utilisation", utilisation)
    return rate * demand / utilisation


def erlang_b(servers: int, load: float) -> float:
    """Blocking probability of M/M/c/c with `load` = λ/μ Erlangs."""
    if servers < 0 or load < 0:
        raise UsageError("Erlang B needs servers >= 0 and load >= 0")
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = load * blocking / (k + load * blocking)
    return blocking


def erlang_c(servers: int, load: float) -> float:
    """Probability that an arrival waits in M/M/c (1 when the system is not stable)."""
    if servers <= load:
        return 1.0
    blocking = erlang_b(servers, load)
    return servers * blocking / (servers - load * (1 - blocking))


def mean_wait(servers: int, rate: float, service_s: float) -> float:
    """Mean queueing delay Wq of M/M/c; infinite when λ·s >= c."""
    load = rate * service_s
    if servers <= load:
        return math.inf
    if service_s == 0:
        return 0.0
    return erlang_c(servers, load) * service_s / (servers - load)


def servers_for_wait(rate: float, service_s: float, target_wait_s: float) -> int:
    """Smallest c with mean queueing delay <= target (M/M/c)."""
    if target_wait_s < 0:
        raise UsageError(f"the latency target must be >= 0, got {target_wait_s}")
    if rate <= 0 or service_s <= 0:
        return 0
    servers = max(1, math.floor(rate * service_s) + 1)
    while mean_wait(servers, rate, service_s) > target_wait_s:
        servers += 1
    return servers


def in_flight(rate: float, residence_s: float) -> float:
    """Little's law: L = X·W (agent runs in flight; sizes memory and sockets, not cores)."""
    return rate * residence_s
