"""Erlang C: the textbook M/M/N queue (Poisson arrivals, exponential handle times, N agents, FIFO,
nobody abandons).

  A = arrival rate x mean handle time (offered load in Erlangs)
  P(wait) = C(N, A) = [A^N/N! * N/(N-A)] / [sum_{k<N} A^k/k! + A^N/N! * N/(N-A)]
  ASA = C(N, A) * AHT / (N - A)
  SL(T) = 1 - C(N, A) * exp(-(N - A) * T / AHT)
"""

from __future__ import annotations

import math


def offered_load(arrivals_per_s: float, aht_s: float) -> float:
    return arrivals_per_s * aht_s


def prob_wait(agents: int, load: float) -> float:
    """C(N, A). Computed through the Erlang B recursion, which stays stable for large N."""
    if agents <= 0 or load >= agents:
        return 1.0
    if load <= 0:
        return 0.0
    b = 1.0  # Erlang B with 0 agents
    for n in range(1, agents + 1):
        b = load * b / (n + load * b)
    rho = load / agents
    return b / (1 - rho + rho * b)


def asa(agents: int, load: float, aht_s: float) -> float:
    """Mean wait over all contacts, seconds (the 'average speed of answer')."""
    if load >= agents:
        return math.inf
    return prob_wait(agents, load) * aht_s / (agents - load)


def service_level(agents: int, load: float, aht_s: float, threshold_s: float) -> float:
    """Share of contacts answered within the threshold."""
    if load >= agents:
        return 0.0
    return 1 - prob_wait(agents, load) * math.exp(-(agents - load) * threshold_s / aht_s)


def agents_for_asa(arrivals_per_s: float, aht_s: float, target_asa_s: float) -> int:
    """The fewest agents whose ASA is at most the target."""
    load = offered_load(arrivals_per_s, aht_s)
    n = max(1, math.floor(load) + 1)
    while asa(n, load, aht_s) > target_asa_s:
        n += 1
    return n
