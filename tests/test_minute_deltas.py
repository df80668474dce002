"""Minute deltas (pure logic): a checkpoint's outcomes summed per queue/channel/region/minute give
the statistics the facts one by one gave, and a delta merged again under its identifier changes
nothing."""

from __future__ import annotations

import dataclasses

import pytest

from streams.analytics.queue_window import DAY_MS, MINUTE_MS, WindowAgg
from streams.analytics.sketch import Sketch
from streams.processors.contact_lifecycle import ContactState, InvalidEvent
from streams.processors.minute_deltas import (MAX_MINUTES_PER_RECORD, CheckpointDeltas, from_delta, to_delta,
                                              validate_delta)
from streams.processors.queue_facts import facts_of, outcome_changes, outcomes_of
from streams.processors.queue_windows import QueueWindows
from streams.settings import Settings
from tests.scenarios import SCRIPTED, T0
from tests.test_queue_facts import state_of
from tests.test_queue_windows import DAY0, LATENESS, all_facts, by_window, engine, feed

THRESHOLD = Settings().sl_threshold_ms
END = DAY0 + DAY_MS + LATENESS
FAR_FUTURE = T0 + 365 * DAY_MS  # the newest start these tests allow (the wall clock plus skew, in a worker)


def contacts() -> list[ContactState]:
    return [state_of(events) for events in SCRIPTED.values()]


def records_of(changes: list[tuple[ContactState, list]], source: int = 0, through: int = 10,
               watermark: int | None = None) -> list[tuple[str, dict]]:
    deltas = CheckpointDeltas(THRESHOLD)
    for contact, contact_changes in changes:
        deltas.add(source, contact, contact_changes, watermark)
    return deltas.records(source, watermark, through)


def added(states: list[ContactState]) -> list[tuple[ContactState, list]]:
    """Every outcome of each contact, as a first checkpoint would send it."""
    return [(state, outcome_changes({}, outcomes_of(state))) for state in states]


def merge(windows: QueueWindows, records: list[tuple[str, dict]], watermark: int, offset: int | None = None) -> list[str]:
    changed = []
    for queue, record in records:
        keys: list[str] = []
        for delta in record["minutes"]:
            validate_delta(delta, FAR_FUTURE)
            keys += windows.apply_delta(queue, from_delta(delta), delta["channel"], delta["region"], delta["start"],
                                        0, watermark, str(record["source_partition"]),
                                        [record["through_offset"], record["part"]], offset)
        windows.mark_merged(keys, str(record["source_partition"]), [record["through_offset"], record["part"]])
        if offset is not None:
            windows.mark_applied(keys, offset)
        changed += keys
    return changed


def test_summed_outcomes_give_the_figures_of_the_facts_one_by_one() -> None:
    one_by_one, summed = engine(), engine()
    feed(one_by_one, all_facts())
    merge(summed, records_of(added(contacts())), T0)  # one checkpoint, before any minute closed
    expected, got = one_by_one.close(0, END), summed.close(0, END)
    assert by_window(got) == by_window(expected)
    assert by_window(got)[("voice-general", "*", "DAY", DAY0)]["answered"] == 2


def voice_answer() -> tuple[ContactState, tuple, tuple]:
    state = state_of(SCRIPTED["A"])
    key, outcome = next((k, o) for k, o in outcomes_of(state).items() if k[0] == "ANSWERED")
    return state, key, outcome


def test_a_retraction_in_a_later_checkpoint_moves_the_outcome() -> None:
    state, key, answered = voice_answer()
    corrected = (*answered[:2], answered[2] + 30_000, *answered[3:])
    windows = engine()
    merge(windows, records_of([(state, [(1, key, answered)])], through=5), T0)
    merge(windows, records_of([(state, [(-1, key, answered), (1, key, corrected)])], through=9), T0)
    day = by_window(windows.close(0, END))[("voice-general", "*", "DAY", DAY0)]
    assert (day["answered"], day["asa_ms"], day["version"]) == (1, corrected[2], 3)


def test_deltas_merged_again_under_their_identifier_change_nothing() -> None:
    changes = added(contacts())
    first = records_of(changes)
    windows = engine()
    assert merge(windows, first, T0)
    # A replay sends the same deltas again, or those of the contacts whose state was not written.
    assert merge(windows, first, T0) == []
    assert merge(windows, records_of(changes[:2]), T0) == []
    again = engine()
    merge(again, first, T0)
    assert by_window(windows.close(0, END)) == by_window(again.close(0, END))
    # Another source partition's deltas, or this one's next checkpoint, are merged.
    assert merge(windows, records_of(changes[:1], source=1), T0)
    assert merge(windows, records_of(changes[:1], through=11), T0)


def test_a_record_read_again_by_the_statistics_is_not_merged_again() -> None:
    windows = engine()
    records = records_of(added(contacts()))
    merge(windows, records, T0, offset=7)
    assert merge(windows, [(q, {**r, "through_offset": 99}) for q, r in records], T0, offset=7) == []


def test_a_delta_for_a_closed_minute_counts_its_outcomes_as_late() -> None:
    state = state_of(SCRIPTED["A"])
    key, offered = next((k, o) for k, o in outcomes_of(state).items() if k[0] == "OFFERED")
    start = offered[1] - offered[1] % MINUTE_MS
    windows = engine()
    merge(windows, records_of([(state, [(1, key, offered)])], through=1), T0)
    closing = start + 10 * MINUTE_MS + LATENESS
    windows.close(0, closing)
    late = [(state, [(1, ("OFFERED", 1), offered), (1, ("OFFERED", 2), offered)])]
    merge(windows, records_of(late, through=2), closing)
    minute = by_window(windows.updates([f"voice-general|VOICE|*|{start}"]))[("voice-general", "*", "MINUTE", start)]
    assert (minute["offered"], minute["late_events"], minute["final"]) == (1, 2, True)


def test_a_busy_queue_takes_several_records_and_a_subset_never_moves_a_delta_to_a_later_part() -> None:
    state = state_of(SCRIPTED["A"])
    changes = [(1, ("OFFERED", i), ("voice-general", T0 + i * MINUTE_MS, None, None, None))
               for i in range(MAX_MINUTES_PER_RECORD + 5)]
    records = records_of([(state, changes)], source=3, through=77, watermark=123)
    assert [(r["part"], len(r["minutes"])) for _, r in records] == [(0, MAX_MINUTES_PER_RECORD), (1, 5)]
    assert all(r["through_offset"] == 77 and r["source_partition"] == 3 and r["watermark"] == 123
               for _, r in records)
    part_of = {d["start"]: r["part"] for _, r in records for d in r["minutes"]}
    subset = records_of([(state, changes[3:])], source=3, through=77, watermark=123)
    assert all(r["part"] <= part_of[d["start"]] for _, r in subset for d in r["minutes"])


def test_waiting_outcomes_go_along_as_facts_for_the_live_state() -> None:
    state = state_of(SCRIPTED["D"])
    key, waiting = next((k, o) for k, o in outcomes_of(state).items() if k[0] == "WAITING")
    ((queue, record),) = records_of([(state, [(1, key, waiting)])], source=2, watermark=55)
    assert (queue, record["minutes"]) == (waiting[0], [])
    assert record["facts"] == [{**facts_of(state)[f"D|WAITING|{key[1]}"], "sign": 1, "source_partition": 2,
                                "watermark": 55}]


def test_a_delta_round_trips_and_bad_ones_are_refused() -> None:
    state, key, answered = voice_answer()
    ((_, record),) = records_of([(state, [(1, key, answered)])])
    (delta,) = record["minutes"]
    agg = from_delta(delta)
    assert to_delta(delta["channel"], delta["region"], delta["start"], agg) == delta
    assert (agg.answered, agg.wait_sum, agg.version, agg.waits.count) == (1, answered[2], 1, 1)
    for bad in ({"start": delta["start"] + 1}, {"channel": ""}, {"facts": 0}, {"wait_buckets": [1]},
                {"wait_buckets": [10**9, 1]}, {"start": 0}, {"start": FAR_FUTURE + MINUTE_MS - FAR_FUTURE % MINUTE_MS}):
        with pytest.raises(InvalidEvent):
            validate_delta({**delta, **bad}, FAR_FUTURE)


def test_several_wait_buckets_round_trip() -> None:
    waits = Sketch(1, {3: 2, 50: 1, 400: 4})
    agg = WindowAgg(version=8, waits=waits, answered=8, wait_sum=123_456, wait_max=99_000)
    start = T0 - T0 % MINUTE_MS
    delta = to_delta("VOICE", "perm", start, agg)
    assert delta["wait_buckets"] == [3, 2, 50, 1, 400, 4]
    assert from_delta(delta).waits == waits


def test_refusal_reasons_name_what_is_wrong() -> None:
    """The reasons go to the dead-letter topic: an operator reads them."""
    state, key, answered = voice_answer()
    ((_, record),) = records_of([(state, [(1, key, answered)])])
    (delta,) = record["minutes"]
    start = delta["start"]

    def reason(**bad: object) -> str:
        with pytest.raises(InvalidEvent) as refused:
            validate_delta({**delta, **bad}, FAR_FUTURE)
        return str(refused.value)

    assert reason(region="") == f"minute delta without channel or region: {delta['channel']!r}, ''"
    assert reason(start=start + 1) == f"minute delta start {start + 1} is not the start of a minute"
    assert reason(start=0) == "minute delta start 0 is before 2000: not UTC epoch milliseconds"
    assert reason(facts=0) == f"minute delta with 0 facts and longest wait {delta['wait_max']}"
    not_pairs = "minute delta wait buckets are not (index, count) pairs of a 1 % sketch"
    assert reason(wait_buckets=[1]) == not_pairs
    assert reason(wait_buckets=[1, 5, 10_001, 1]) == not_pairs  # the second index is checked too
    assert reason(wait_buckets=[1, 5, -10_001, 1]) == not_pairs
    validate_delta({**delta, "wait_buckets": [1, 5, 10_000, 1]}, FAR_FUTURE)  # the largest index allowed


def test_records_carry_region_queue_threshold_and_live_facts_where_they_belong() -> None:
    answered_state, key, answered = voice_answer()
    no_region = dataclasses.replace(answered_state, region=None)
    waiting_state = state_of(SCRIPTED["D"])
    wkey, waiting = next((k, o) for k, o in outcomes_of(waiting_state).items() if k[0] == "WAITING")
    asked: list[tuple[str, str]] = []

    def threshold(queue: str, channel: str) -> int:
        asked.append((queue, channel))
        return 1 if queue == "voice-general" else 10**9  # answered within T only in other queues

    deltas = CheckpointDeltas(threshold)
    # a WAITING outcome first: the contact's other outcomes still count
    deltas.add(0, no_region, [(1, wkey, waiting), (1, key, answered)], None)
    records = dict(deltas.records(0, None, 10))
    assert asked == [(answered[0], no_region.channel)]
    minutes = records[answered[0]]["minutes"]
    assert [(d["region"], d["answered"], d["answered_within"]) for d in minutes] == [("unknown", 1, 0)]
    assert records[answered[0]]["queue"] == answered[0]
    assert waiting[0] != answered[0] and records[answered[0]]["facts"] == []  # sums only: no facts
    assert len(records[waiting[0]]["facts"]) == 1

    # a partition with live facts only
    only_live = CheckpointDeltas(threshold)
    only_live.add(4, waiting_state, [(1, wkey, waiting)], 55)
    ((queue, record),) = only_live.records(4, 55, 3)
    assert queue == waiting[0] and record["queue"] == queue and record["minutes"] == [] and len(record["facts"]) == 1
    assert deltas.sources() == {0} and only_live.sources() == {4}
    assert only_live.records(0, None, 1) == []  # a partition this checkpoint had nothing from


def test_live_facts_go_in_the_first_part_only() -> None:
    state = state_of(SCRIPTED["D"])
    wkey, waiting = next((k, o) for k, o in outcomes_of(state).items() if k[0] == "WAITING")
    changes = [(1, ("OFFERED", i), (waiting[0], T0 + i * MINUTE_MS, None, None, None))
               for i in range(MAX_MINUTES_PER_RECORD + 1)]
    records = records_of([(state, [(1, wkey, waiting), *changes])])
    assert [(r["part"], len(r["facts"]), len(r["minutes"])) for _, r in records] == [
        (0, 1, MAX_MINUTES_PER_RECORD), (1, 0, 1)]
