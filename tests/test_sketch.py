"""The quantile sketch's stated error (pure logic)."""

from __future__ import annotations

import random

import pytest

from streams.analytics.sketch import RELATIVE_ACCURACY, Sketch


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


@pytest.mark.parametrize("seed", range(5))
def test_quantiles_within_the_relative_accuracy(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.lognormvariate(10, 1.5) for _ in range(5000)] + [0.0] * 300
    sketch = Sketch()
    for v in values:
        sketch.add(v)
    for q in (0.0, 0.05, 0.5, 0.9, 0.95, 0.99, 1.0):
        want = exact(values, q)
        got = sketch.quantile(q)
        assert got == pytest.approx(want, rel=RELATIVE_ACCURACY, abs=1e-9), q


def test_merge_equals_one_sketch_of_everything_and_removal_undoes_add() -> None:
    a, b, both = Sketch(), Sketch(), Sketch()
    for i in range(1, 1000):
        (a if i % 2 else b).add(i * 7.0)
        both.add(i * 7.0)
    a.merge(b)
    assert a == both
    a.add(7.0 * 500, weight=-1)
    both.add(7.0 * 500, weight=-1)
    assert a == both and Sketch.from_json(a.to_json()) == a
    assert Sketch().quantile(0.5) is None


def test_quantiles_in_one_pass_answer_as_quantile_does() -> None:
    rng = random.Random(11)
    for zeros in (0, 3, 400):
        sketch = Sketch()
        for _ in range(zeros):
            sketch.add(0)
        for _ in range(500):
            sketch.add(rng.expovariate(1 / 30_000))
        qs = (0.0, 0.1, 0.5, 0.9, 0.95, 1.0)
        assert sketch.quantiles(*qs) == [sketch.quantile(q) for q in qs]
    assert Sketch().quantiles(0.5, 0.9) == [None, None]


def test_one_value_small_values_and_counts() -> None:
    """A sketch of one value answers it; values below 1 are values, not zeros; add() counts one."""
    one = Sketch()
    one.add(42_000.0)
    assert one.count == 1
    assert one.quantile(0.5) == pytest.approx(42_000.0, rel=RELATIVE_ACCURACY)
    small = Sketch()
    small.add(0.5)
    assert small.zeros == 0 and small.quantile(0.0) == pytest.approx(0.5, rel=RELATIVE_ACCURACY)


def test_removing_a_merged_sketch_restores_zeros_and_buckets() -> None:
    base, part = Sketch(), Sketch()
    for v in (0.0, 0.0, 5.0, 900.0):
        base.add(v)
    for v in (0.0, 5.0, 7_000.0):
        part.add(v)
    before = Sketch.from_json(base.to_json())
    base.merge(part)
    assert base.zeros == 3 and base.count == 7
    base.remove(part)
    assert base == before and base.zeros == 2
