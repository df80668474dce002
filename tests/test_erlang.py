"""Erlang C against published values (pure logic)."""

from __future__ import annotations

import pytest

from streams.analytics import erlang


def test_the_textbook_example() -> None:
    # 100 calls per 30 minutes, AHT 180 s, 14 agents: 10 Erlangs.
    load = erlang.offered_load(100 / 1800, 180)
    assert load == pytest.approx(10.0)
    assert erlang.prob_wait(14, load) == pytest.approx(0.174, abs=0.0005)
    assert erlang.asa(14, load, 180) == pytest.approx(7.8, abs=0.05)
    assert erlang.service_level(14, load, 180, 20) == pytest.approx(0.888, abs=0.0005)


def test_limits() -> None:
    assert erlang.prob_wait(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang.asa(1, 0.5, 100) == pytest.approx(100.0)  # M/M/1: Wq = rho/(1-rho) * AHT
    assert erlang.prob_wait(10, 10) == 1.0 and erlang.service_level(10, 12, 180, 20) == 0.0
    assert erlang.prob_wait(500, 400) < 1e-6  # large N stays finite


def test_staffing_for_a_target_asa() -> None:
    n = erlang.agents_for_asa(100 / 1800, 180, 10)
    assert n == 14
    assert erlang.asa(n, 10, 180) <= 10 < erlang.asa(n - 1, 10, 180)
