"""WindowAgg: merging windows is the same as counting their facts in one."""

import dataclasses
import random

import orjson

from streams.analytics.queue_window import _SUMMED, WindowAgg

KINDS = ("OFFERED", "ANSWERED", "ABANDONED", "ENDED", "TRANSFER", "ESCALATION")


def test_merge_equals_one_window_of_every_fact() -> None:
    rng = random.Random(3)
    parts = [WindowAgg() for _ in range(4)]
    whole = WindowAgg()
    for _ in range(400):
        fact = {"kind": rng.choice(KINDS), "wait_ms": rng.choice([0, rng.randrange(1, 90_000)]),
                "handle_ms": rng.randrange(1, 600_000), "duration_ms": rng.randrange(1, 700_000)}
        sign = -1 if rng.random() < 0.1 else 1
        target = rng.choice(parts)
        target.apply(fact, 20_000, sign)
        whole.apply(fact, 20_000, sign)
        if rng.random() < 0.05:
            target.late += 1
            whole.late += 1
    merged = WindowAgg()
    for part in parts:
        merged.merge(part)
    assert merged.to_json() == whole.to_json()
    # every summed field is merged (a field added later must be added to merge() too)
    ones = WindowAgg(**{name: 1 for name in _SUMMED})
    twice = WindowAgg()
    twice.merge(ones)
    twice.merge(ones)
    assert all(getattr(twice, name) == 2 for name in _SUMMED)
    assert {f.name for f in dataclasses.fields(WindowAgg)} - set(_SUMMED) == {"partition", "final", "wait_max", "waits"}


def test_json_form_names_every_field_and_survives_the_tables_serializer() -> None:
    from streams.engine.tables import BufferedTable

    agg = WindowAgg()
    agg.apply({"kind": "ANSWERED", "wait_ms": 3_000}, 20_000)
    agg.apply({"kind": "ANSWERED", "wait_ms": 0}, 20_000)
    assert set(agg.to_json()) == set(WindowAgg.__slots__)  # type: ignore[attr-defined]
    stored = orjson.loads(BufferedTable._dumps(agg.to_json()))  # as a recovery reads it back
    assert WindowAgg.from_json(stored) == agg
