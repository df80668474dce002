"""DDSketch (Masson, Rim and Lee, VLDB 2019): a mergeable quantile sketch with relative error.

Values fall into logarithmic buckets of ratio gamma = (1 + a) / (1 - a); a quantile is answered
with its bucket's midpoint, within relative accuracy a of the true value at that rank (a = 1 %
here). Buckets are counts, so a value can also be removed again, which the window aggregates need
when a late correction retracts a wait. Zero and negative values share one bucket that answers 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)


@dataclass(slots=True)
class Sketch:
    zeros: int = 0
    buckets: dict[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return self.zeros + sum(self.buckets.values())

    def add(self, value: float, weight: int = 1) -> None:
        """Add a value (weight -1 removes one added before)."""
        if value <= 0:
            self.zeros += weight
            return
        index = math.ceil(math.log(value) / _LOG_GAMMA)
        count = self.buckets.get(index, 0) + weight
        if count:
            self.buckets[index] = count
        else:
            self.buckets.pop(index, None)

    def merge(self, other: "Sketch") -> None:
        self.zeros += other.zeros
        for index, count in other.buckets.items():
            total = self.buckets.get(index, 0) + count
            if total:
                self.buckets[index] = total
            else:
                self.buckets.pop(index, None)

    def remove(self, other: "Sketch") -> None:
        """Take out a sketch merged in before."""
        self.zeros -= other.zeros
        for index, count in other.buckets.items():
            total = self.buckets.get(index, 0) - count
            if total:
                self.buckets[index] = total
            else:
                self.buckets.pop(index, None)

    def quantile(self, q: float) -> float | None:
        """The value at rank q*(count-1), within 1 % of the exact one; None when empty."""
        return self.quantiles(q)[0]

    def quantiles(self, *qs: float) -> list[float | None]:
        """quantile() of each of several ascending qs, in one pass over the sorted buckets: the
        bucket holding rank q*(count-1) answers with its midpoint; the zero bucket with 0."""
        n = self.count
        if n <= 0:
            return [None] * len(qs)
        items = sorted(self.buckets.items())
        out: list[float | None] = []
        i, seen, index = 0, self.zeros, None
        for q in qs:
            rank = q * (n - 1)
            while seen <= rank and i < len(items):
                index, count = items[i]
                seen += count
                i += 1
            out.append(0.0 if index is None else 2 * _GAMMA ** index / (_GAMMA + 1))
        return out

    def to_json(self) -> dict[str, Any]:
        # The bucket indexes stay ints: the tables' JSON (orjson with OPT_NON_STR_KEYS, as faust's
        # own serializer) writes them as the strings JSON keys must be, and from_json reads both.
        return {"z": self.zeros, "b": dict(self.buckets)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Sketch":
        return cls(data["z"], {int(k): v for k, v in data["b"].items()})
