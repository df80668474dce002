"""Minute deltas (pure logic): a checkpoint's facts summed per queue/channel/region/minute give the
statistics the per-fact path gave, and a delta merged again under its identifier changes nothing."""

from __future__ import annotations

import pytest

from streams.analytics.queue_window import DAY_MS, MINUTE_MS
from streams.processors.contact_lifecycle import InvalidEvent
from streams.processors.minute_deltas import (MAX_MINUTES_PER_RECORD, delta_records, from_delta, to_delta,
                                              validate_delta)
from streams.processors.queue_windows import QueueWindows
from streams.settings import Settings
from tests.scenarios import T0
from tests.test_queue_windows import DAY0, LATENESS, all_facts, by_window, engine, feed

THRESHOLD = Settings().sl_threshold_ms
END = DAY0 + DAY_MS + LATENESS


def merge(windows: QueueWindows, records: list[tuple[str, dict]], watermark: int, offset: int | None = None) -> list[str]:
    changed = []
    for queue, record in records:
        keys: list[str] = []
        for delta in record["minutes"]:
            validate_delta(delta)
            keys += windows.apply_delta(queue, from_delta(delta), delta["channel"], delta["region"], delta["start"],
                                        0, watermark, str(record["source_partition"]),
                                        [record["through_offset"], record["part"]], offset)
        windows.mark_merged(keys, str(record["source_partition"]), [record["through_offset"], record["part"]])
        if offset is not None:
            windows.mark_applied(keys, offset)
        changed += keys
    return changed


def test_summed_facts_give_the_figures_of_the_facts_one_by_one() -> None:
    facts = all_facts()
    one_by_one, summed = engine(), engine()
    feed(one_by_one, facts)
    signed = [{**f, "sign": 1} for f in facts]
    merge(summed, delta_records(signed, THRESHOLD, 0, None, 10), T0)  # one checkpoint, before any minute closed
    expected, got = one_by_one.close(0, END), summed.close(0, END)
    assert by_window(got) == by_window(expected)
    assert by_window(got)[("voice-general", "*", "DAY", DAY0)]["answered"] == 2


def test_a_retraction_in_a_later_checkpoint_moves_the_outcome() -> None:
    answered = next(f for f in all_facts() if f["kind"] == "ANSWERED" and f["queue"] == "voice-general")
    corrected = {**answered, "wait_ms": answered["wait_ms"] + 30_000}
    windows = engine()
    merge(windows, delta_records([{**answered, "sign": 1}], THRESHOLD, 0, None, 5), answered["at"])
    merge(windows, delta_records([{**answered, "sign": -1}, {**corrected, "sign": 1}], THRESHOLD, 0, None, 9),
          answered["at"])
    day = by_window(windows.close(0, END))[("voice-general", "*", "DAY", DAY0)]
    assert (day["answered"], day["asa_ms"], day["version"]) == (1, corrected["wait_ms"], 3)


def test_deltas_merged_again_under_their_identifier_change_nothing() -> None:
    facts = [{**f, "sign": 1} for f in all_facts()]
    watermark = T0
    first = delta_records(facts, THRESHOLD, 0, None, 10)
    windows = engine()
    assert merge(windows, first, watermark)
    # A replay sends the same deltas again, or those of the contacts whose state was not written.
    assert merge(windows, first, watermark) == []
    assert merge(windows, delta_records(facts[:3], THRESHOLD, 0, None, 10), watermark) == []
    again = engine()
    merge(again, first, watermark)
    assert by_window(windows.close(0, END)) == by_window(again.close(0, END))
    # Another source partition's deltas, or this one's next checkpoint, are merged.
    assert merge(windows, delta_records(facts[:1], THRESHOLD, 1, None, 10), watermark)
    assert merge(windows, delta_records(facts[:1], THRESHOLD, 0, None, 11), watermark)


def test_a_record_read_again_by_the_statistics_is_not_merged_again() -> None:
    facts = [{**f, "sign": 1} for f in all_facts()]
    windows = engine()
    records = delta_records(facts, THRESHOLD, 0, None, 10)
    merge(windows, records, T0, offset=7)
    assert merge(windows, [(q, {**r, "through_offset": 99}) for q, r in records], T0, offset=7) == []


def test_a_delta_for_a_closed_minute_counts_its_facts_as_late() -> None:
    offered = next(f for f in all_facts() if f["kind"] == "OFFERED" and f["queue"] == "voice-general")
    start = offered["at"] - offered["at"] % MINUTE_MS
    windows = engine()
    merge(windows, delta_records([{**offered, "sign": 1}], THRESHOLD, 0, None, 1), T0)
    closing = start + 10 * MINUTE_MS + LATENESS
    windows.close(0, closing)
    late = [{**offered, "sign": 1, "fact_id": "X|OFFERED|0"}, {**offered, "sign": 1, "fact_id": "Y|OFFERED|0"}]
    merge(windows, delta_records(late, THRESHOLD, 0, None, 2), closing)
    minute = by_window(windows.updates([f"voice-general|VOICE|*|{start}"]))[("voice-general", "*", "MINUTE", start)]
    assert (minute["offered"], minute["late_events"], minute["final"]) == (1, 2, True)


def test_a_busy_queue_takes_several_records_and_a_subset_never_moves_a_delta_to_a_later_part() -> None:
    base = next(f for f in all_facts() if f["kind"] == "OFFERED" and f["queue"] == "voice-general")
    facts = [{**base, "sign": 1, "at": T0 + i * MINUTE_MS} for i in range(MAX_MINUTES_PER_RECORD + 5)]
    records = delta_records(facts, THRESHOLD, 3, 123, 77)
    assert [(r["part"], len(r["minutes"])) for _, r in records] == [(0, MAX_MINUTES_PER_RECORD), (1, 5)]
    assert all(r["through_offset"] == 77 and r["source_partition"] == 3 and r["watermark"] == 123
               for _, r in records)
    part_of = {(d["start"]): r["part"] for _, r in records for d in r["minutes"]}
    subset = delta_records(facts[3:], THRESHOLD, 3, 123, 77)
    assert all(r["part"] <= part_of[d["start"]] for _, r in subset for d in r["minutes"])


def test_waiting_facts_go_along_for_the_live_state() -> None:
    waiting = {**next(f for f in all_facts() if f["kind"] == "OFFERED"), "kind": "WAITING", "sign": 1}
    ((queue, record),) = delta_records([waiting], THRESHOLD, 0, None, 4)
    assert (queue, record["facts"], record["minutes"]) == (waiting["queue"], [waiting], [])


def test_a_delta_round_trips_and_bad_ones_are_refused() -> None:
    answered = next(f for f in all_facts() if f["kind"] == "ANSWERED")
    ((_, record),) = delta_records([{**answered, "sign": 1}], THRESHOLD, 0, None, 1)
    (delta,) = record["minutes"]
    agg = from_delta(delta)
    assert to_delta(delta["channel"], delta["region"], delta["start"], agg) == delta
    assert (agg.answered, agg.wait_sum, agg.version, agg.waits.count) == (1, answered["wait_ms"], 1, 1)
    for bad in ({"start": delta["start"] + 1}, {"channel": ""}, {"facts": 0}, {"wait_buckets": [1]},
                {"wait_buckets": [10**9, 1]}, {"start": 0}):
        with pytest.raises(InvalidEvent):
            validate_delta({**delta, **bad})
