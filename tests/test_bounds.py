"""Bounds against hostile input, without a broker: the compiled size checks of every input
schema, dead letters that stay small, outputs that cannot exceed their limit, identifiers that
cannot collide. (The same cases on the real broker: test_hostile_input.py.)"""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from streams.codec import load_registry
from streams.engine.errors import TooLarge
from streams.engine.limits import Bounds, _branches, _kind
from streams.engine.testing import Harness, offline_settings
from streams.processors.contact_summary import ContactSummary
from streams.settings import Settings
from streams.topics import CATALOGUE
from tests.samples import sample
from tests.scenarios import SCRIPTED, T0, ev

BOUNDS = Bounds(max_record_bytes=1000, max_string_chars=16, max_text_chars=40, max_array_items=3)
INPUTS = [t for t in CATALOGUE if t.role == "input"]


def definition(topic) -> dict:  # noqa: ANN001
    return load_registry(Settings().schemas_dir).reader(topic.value_schema).definition


def short_sample(schema: dict) -> dict:
    """A record of the schema whose strings and arrays are within BOUNDS."""
    record = sample(schema)

    def shrink(value):  # noqa: ANN001, ANN202
        if isinstance(value, str):
            return value[:8]
        if isinstance(value, list):
            return [shrink(v) for v in value[:2]]
        if isinstance(value, dict):
            return {k: shrink(v) for k, v in value.items()}  # records keep every field; maps have one key
        return value

    return shrink(record)


@pytest.mark.parametrize("topic", INPUTS, ids=[t.name for t in INPUTS])
def test_every_string_and_array_of_every_input_is_bounded(topic) -> None:  # noqa: ANN001
    schema = definition(topic)
    check = BOUNDS.checker(schema)
    good = short_sample(schema)
    check(good)
    fields = 0
    for f in schema["fields"]:
        value = good[f["name"]]
        if _kind(_branches(f["type"])[1]) == "other":
            continue  # enums decode to strings too, but their symbols are the schema's
        limit = BOUNDS.max_text_chars if f["name"] in ("text", "comment", "summary") else BOUNDS.max_string_chars
        if isinstance(value, str):
            bad = {**good, f["name"]: "x" * (limit + 1)}
            check({**good, f["name"]: "x" * limit})  # the bound itself is allowed
        elif isinstance(value, list):
            bad = {**good, f["name"]: value[:1] * (BOUNDS.max_array_items + 1)}
        elif isinstance(value, dict):
            bad = {**good, f["name"]: {f"k{i}": next(iter(value.values())) for i in range(BOUNDS.max_array_items + 1)}}
        else:
            continue
        fields += 1
        with pytest.raises(TooLarge, match=f["name"]):
            check(bad)
    assert fields >= 3, topic.name


def test_strings_inside_arrays_and_map_keys_are_bounded_too() -> None:
    (agent,) = [t for t in INPUTS if t.name == "agent-events"]
    schema = definition(agent)
    check = BOUNDS.checker(schema)
    good = short_sample(schema)
    for bad in ({"queues": ["q" * 17]}, {"skills": [{"name": "s" * 17, "level": 1}]}, {"capacity": {"c" * 17: 1}}):
        with pytest.raises(TooLarge):
            check({**good, **bad})


def test_a_raw_record_is_bounded_before_it_is_decoded() -> None:
    BOUNDS.record_size(b"x" * 1000)
    with pytest.raises(TooLarge, match="FIRSTLINE_MAX_RECORD_BYTES"):
        BOUNDS.record_size(b"x" * 1001)


def harness(**overrides: object) -> Harness:
    return Harness(ContactSummary, settings=offline_settings(**overrides))


def test_hostile_contact_events_are_dead_lettered_and_the_good_ones_around_them_summarised() -> None:
    h = harness(max_events_per_contact=50, dead_letter_value_bytes=1024)
    good = [e for c in ("A", "B") for e in SCRIPTED[c]]
    for e in good[:3]:
        h.feed("contact-events", e)
    huge = b"\xc3\x01" + b"\x00" * 100_000  # a record far past FIRSTLINE_MAX_RECORD_BYTES
    h.feed("contact-events", huge, key="X")
    h.feed("contact-events", ev("Q", "QUEUED", 1, queue="q" * 600))  # a 600-character queue name
    h.feed("contact-events", ev("F", "CREATED", 0) | {"occurred_at": 4_070_908_800_000})  # 2099
    for i in range(60):  # one contact with more events than it may have
        h.feed("contact-events", ev("M", "HELD", i) | {"event_id": f"M-{i}"})
    for e in good[3:]:
        h.feed("contact-events", e)
    h.run()

    letters = h.dead_letters()
    kinds = [(d["error_kind"], d["error"]) for d in letters]
    assert len(letters) == 1 + 1 + 1 + 10, kinds
    raw = next(d for d in letters if d["value_length"] == len(huge))
    assert raw["error_kind"] == "TOO_LARGE" and len(raw["value"]) == 1024 and raw["value"] == huge[:1024]
    assert raw["value_sha256"] == hashlib.sha256(huge).hexdigest()
    assert any(k == "TOO_LARGE" and "queue has 600 characters" in e for k, e in kinds)
    assert any(k == "INVALID" and "past the wall clock" in e for k, e in kinds)
    assert sum(k == "TOO_LARGE" and "FIRSTLINE_MAX_EVENTS_PER_CONTACT" in e for k, e in kinds) == 10
    summaries = {s["contact_id"]: s for s in h.outputs("contact-summaries")}
    assert summaries["A"]["status"] == "ENDED" and summaries["B"]["status"] == "ABANDONED"
    assert summaries["M"]["version"] == 50 and "F" not in summaries and "Q" not in summaries
    assert all(len(d["error"]) <= 1000 for d in letters)


def test_an_output_beyond_its_limit_is_dead_lettered_not_sent() -> None:
    h = harness(max_output_bytes=300)
    long = "x" * 250
    for e in SCRIPTED["A"]:
        h.feed("contact-events", e)
    h.feed("contact-events", ev("L", "QUEUED", 1, queue=long[:200], reason=long, region=long))
    h.run()
    sent = {s["contact_id"] for s in h.outputs("contact-summaries")}
    assert "A" in sent and "L" not in sent
    (letter,) = [d for d in h.dead_letters() if d["source_topic"].endswith("contact-summaries")]
    assert letter["error_kind"] == "TOO_LARGE" and "FIRSTLINE_MAX_OUTPUT_BYTES" in letter["error"]
    assert letter["source_offset"] == -1 and letter["value_length"] > 300


def test_an_event_at_the_skew_edge_passes_and_one_past_it_does_not() -> None:
    h = harness(max_future_skew_s=300)
    now = T0 + 3_600_000
    h.ctx.clock.now = lambda: now / 1000
    h.feed("contact-events", ev("E", "CREATED", 0) | {"occurred_at": now + 300_000})
    h.feed("contact-events", ev("G", "CREATED", 0) | {"occurred_at": now + 300_001})
    h.run()
    assert [s["contact_id"] for s in h.outputs("contact-summaries")] == ["E"]
    assert [d["error_kind"] for d in h.dead_letters()] == ["INVALID"]


def offline_settings_bounds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRSTLINE_MAX_STRING_CHARS", "99")
    monkeypatch.setenv("FIRSTLINE_MAX_FUTURE_SKEW_S", "5")
    s = Settings.from_env()
    assert Bounds.of(s).max_string_chars == 99 and s.max_future_skew_s == 5
    assert dataclasses.replace(s, max_output_bytes=7).max_output_bytes == 7
