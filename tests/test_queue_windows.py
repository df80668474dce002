"""Queue statistics windows from scripted contacts (pure logic, hand-computed figures)."""

from __future__ import annotations

import json

import pytest

from streams.analytics.queue_window import DAY_MS, MINUTE_MS
from streams.processors.queue_facts import facts_of
from streams.processors.queue_windows import QueueWindows, stored_minute
from streams.settings import Settings
from tests.scenarios import SCRIPTED, T0
from tests.test_queue_facts import state_of

LATENESS = 120_000
DAY0 = T0 - T0 % DAY_MS


class DictStore(dict):
    """A table in memory; every write names its changelog partition (the input's), or a restart
    on another worker would not find it."""

    def put(self, key, value, partition):  # noqa: ANN001 - mirrors the Store protocol
        assert isinstance(partition, int), (key, partition)
        self[key] = value

    def delete(self, key, partition):  # noqa: ANN001
        assert isinstance(partition, int), (key, partition)
        self.pop(key, None)


def engine() -> QueueWindows:
    return QueueWindows(DictStore(), DictStore(), DictStore(), LATENESS, Settings().sl_threshold_ms)


def all_facts() -> list[dict]:
    facts = []
    for events in SCRIPTED.values():
        facts += [{**f, "sign": 1} for f in facts_of(state_of(events)).values()]
    return sorted(facts, key=lambda f: f["at"])


def feed(windows: QueueWindows, facts: list[dict], watermark: int = 0) -> int:
    for fact in facts:
        watermark = max(watermark, fact["at"])
        windows.apply(fact, 0, watermark)
    return watermark


def by_window(records: list[dict]) -> dict[tuple, dict]:
    return {(r["queue"], r["region"], r["window"], r["window_start"]): r for r in records}


def test_day_figures_by_hand() -> None:
    windows = engine()
    feed(windows, all_facts())
    finals = by_window(windows.close(0, DAY0 + DAY_MS + LATENESS))
    voice = finals[("voice-general", "*", "DAY", DAY0)]
    assert voice["final"] is True
    assert (voice["offered"], voice["answered"], voice["abandoned"]) == (2, 2, 0)
    assert voice["asa_ms"] == 55_000  # (90 s + 20 s) / 2
    assert voice["service_level"] == 0.5  # C answered at 20 s <= T = 20 s, A at 90 s
    assert voice["wait_p50_ms"] == pytest.approx(20_000, rel=0.01)
    assert voice["wait_max_ms"] == 90_000
    assert (voice["aht_ms"], voice["avg_duration_ms"]) == (171_000, 256_000)  # only A ended here
    assert (voice["transfers"], voice["escalations"]) == (1, 1)
    line2 = finals[("voice-line2", "*", "DAY", DAY0)]
    assert (line2["offered"], line2["answered"], line2["asa_ms"], line2["aht_ms"]) == (1, 1, 19_000, 120_000)
    chat = finals[("chat-general", "chelyabinsk", "DAY", DAY0)]
    assert (chat["offered"], chat["abandoned"], chat["short_abandoned"]) == (1, 1, 1)  # 30 s < T = 60 s
    assert chat["service_level"] is None and chat["abandonment_rate"] == 1.0
    email = finals[("email-general", "*", "DAY", DAY0)]
    assert (email["offered"], email["answered"], email["sl_threshold_ms"]) == (1, 0, 86_400_000)


def test_minute_windows_and_rolling_view() -> None:
    windows = engine()
    feed(windows, all_facts())
    finals = by_window(windows.close(0, DAY0 + DAY_MS + LATENESS))
    m1 = finals[("voice-general", "*", "MINUTE", T0 + MINUTE_MS)]
    assert (m1["offered"], m1["answered"], m1["asa_ms"]) == (1, 1, 90_000)  # C queued, A answered
    rolling = finals[("voice-general", "*", "ROLLING_15_MIN", T0 + 5 * MINUTE_MS - 15 * MINUTE_MS)]
    assert rolling["window_end"] == T0 + 5 * MINUTE_MS and rolling["answered"] == 2


def test_duplicates_and_retractions_are_idempotent() -> None:
    once, twice = engine(), engine()
    facts = all_facts()
    feed(once, facts)
    feed(twice, facts + facts)
    answered = next(f for f in facts if f["kind"] == "ANSWERED" and f["queue"] == "voice-general")
    for _ in range(2):  # a retraction delivered twice removes one fact once
        twice.apply({**answered, "sign": -1}, 0, answered["at"])
    twice.apply({**answered, "sign": 1}, 0, answered["at"])
    end = DAY0 + DAY_MS + LATENESS

    def figures(records: list[dict]) -> dict:  # the version counts changes, so it may differ
        return {k: {f: v for f, v in r.items() if f != "version"} for k, r in by_window(records).items()}

    assert figures(once.close(0, end)) == figures(twice.close(0, end))


def test_late_fact_is_counted_not_added() -> None:
    windows = engine()
    watermark = feed(windows, all_facts())
    closing = T0 + 10 * MINUTE_MS + LATENESS  # closes minutes 0..9
    windows.close(0, closing)
    late = {**next(f for f in all_facts() if f["kind"] == "OFFERED"), "fact_id": "X|OFFERED|0", "contact_id": "X"}
    windows.apply(late, 0, max(watermark, closing))
    records = by_window(windows.updates([f"voice-general|VOICE|*|{T0}"]))
    minute = records[("voice-general", "*", "MINUTE", T0)]
    assert (minute["offered"], minute["late_events"], minute["final"]) == (1, 1, True)
    day = records[("voice-general", "*", "DAY", DAY0)]
    assert (day["offered"], day["late_events"], day["final"]) == (2, 1, False)


def test_two_late_facts_count_twice_and_late_facts_move_the_versions() -> None:
    windows = engine()
    watermark = feed(windows, all_facts())
    closing = T0 + 10 * MINUTE_MS + LATENESS
    windows.close(0, closing)
    offered = next(f for f in all_facts() if f["kind"] == "OFFERED")
    before = by_window(windows.updates([f"voice-general|VOICE|*|{T0}"]))
    for n in (1, 2):
        windows.apply({**offered, "fact_id": f"X{n}|OFFERED|0", "contact_id": f"X{n}"}, 0, max(watermark, closing))
    after = by_window(windows.updates([f"voice-general|VOICE|*|{T0}"]))
    # counted as late in the closed minute and in its day, added to neither
    for window in (("voice-general", "*", "MINUTE", T0), ("voice-general", "*", "DAY", DAY0)):
        assert after[window]["late_events"] == 2
        assert after[window]["offered"] == before[window]["offered"]
        assert after[window]["version"] > before[window]["version"]


def test_each_queue_has_its_own_threshold_and_every_record_its_end() -> None:
    """A queue with a threshold of its own (100 s for voice-general; the channel's default is 20
    s): A answered after 90 s is then within it, in the minute, the 15 minutes and the day."""
    default = Settings().sl_threshold_ms
    windows = QueueWindows(DictStore(), DictStore(), DictStore(), LATENESS,
                           lambda queue, channel: 100_000 if (queue, channel) == ("voice-general", "VOICE")
                           else default(queue, channel))
    feed(windows, all_facts())
    finals = by_window(windows.close(0, DAY0 + DAY_MS + LATENESS))
    day = finals[("voice-general", "*", "DAY", DAY0)]
    assert (day["sl_threshold_ms"], day["service_level"], day["window_end"]) == (100_000, 1.0, DAY0 + DAY_MS)
    minute = finals[("voice-general", "*", "MINUTE", T0 + MINUTE_MS)]
    assert (minute["sl_threshold_ms"], minute["answered_within_threshold"]) == (100_000, 1)
    assert minute["window_end"] == T0 + 2 * MINUTE_MS
    rolling = finals[("voice-general", "*", "ROLLING_15_MIN", T0 + 5 * MINUTE_MS - 15 * MINUTE_MS)]
    assert (rolling["sl_threshold_ms"], rolling["service_level"]) == (100_000, 1.0)
    line2 = finals[("voice-line2", "*", "DAY", DAY0)]
    assert line2["sl_threshold_ms"] == 20_000  # the channel's default


def test_a_minute_closes_exactly_when_the_watermark_passes_its_end_by_the_lateness() -> None:
    windows = engine()
    feed(windows, all_facts())
    end = T0 + MINUTE_MS  # the first minute's end
    assert not [r for r in windows.close(0, end + LATENESS - 1) if r["window"] == "MINUTE" and r["window_start"] == T0]
    closed = [r for r in windows.close(0, end + LATENESS) if r["window"] == "MINUTE" and r["window_start"] == T0]
    assert closed and all(r["final"] for r in closed)


def test_a_fact_of_a_minute_never_seen_is_late_exactly_from_its_end_plus_the_lateness() -> None:
    """A first fact for a minute the worker never held: open while the watermark is below the
    minute's end + lateness, late (a final minute, counted as late only) from there on."""
    offered = {**next(f for f in all_facts() if f["kind"] == "OFFERED"), "fact_id": "N|OFFERED|0", "contact_id": "N"}
    end = offered["at"] - offered["at"] % MINUTE_MS + MINUTE_MS
    on_time = engine()
    changed = on_time.apply(offered, 0, end + LATENESS - 1)
    assert changed  # the minute's keys (its region and all regions)
    minute = by_window(on_time.updates(changed))[("voice-general", "*", "MINUTE", end - MINUTE_MS)]
    assert (minute["offered"], minute["late_events"], minute["final"]) == (1, 0, False)
    rolling = [r for r in on_time.updates(changed) if r["window"] == "ROLLING_15_MIN"]
    assert rolling and not any(r["final"] for r in rolling)  # only a closed minute makes its view final
    late = engine()
    minute = by_window(late.updates(late.apply(offered, 0, end + LATENESS)))[("voice-general", "*", "MINUTE",
                                                                               end - MINUTE_MS)]
    assert (minute["offered"], minute["late_events"], minute["final"]) == (0, 1, True)


def test_a_fact_moved_to_another_minute_changes_both() -> None:
    windows = engine()
    offered = {**next(f for f in all_facts() if f["kind"] == "OFFERED"), "fact_id": "M|OFFERED|0", "contact_id": "M"}
    first = set(windows.apply(offered, 0, offered["at"]))
    moved = set(windows.apply({**offered, "at": offered["at"] + MINUTE_MS}, 0, offered["at"]))
    assert first < moved and len(moved) == 2 * len(first)  # taken out of the old, put into the new


def test_each_partition_closes_its_own_windows() -> None:
    """Queues live in the partitions of their facts: a watermark of one partition closes its
    windows, not another's."""
    windows = engine()
    for fact in all_facts():
        windows.apply(fact, 0 if fact["queue"].startswith("voice") else 1, fact["at"])
    far = DAY0 + DAY_MS + LATENESS
    first = {r["queue"] for r in windows.close(0, far)}
    assert first and all(q.startswith("voice") for q in first)
    second = {r["queue"] for r in windows.close(1, far)}
    assert second and not any(q.startswith("voice") for q in second)
    assert windows.close(0, far + DAY_MS) == [] and windows.close(1, far + DAY_MS) == []


def test_day_cache_is_rebuilt_from_the_store() -> None:
    windows = engine()
    feed(windows, all_facts())
    before = windows.day_record("voice-general", "VOICE", "*", T0)
    windows.forget_cache()
    assert windows.day_record("voice-general", "VOICE", "*", T0) == before


def test_updates_leave_out_minutes_whose_final_record_was_sent() -> None:
    windows = engine()
    feed(windows, all_facts())
    key = f"voice-general|VOICE|*|{T0}"
    windows.close(0, T0 + 10 * MINUTE_MS + LATENESS)
    kinds = {r["window"] for r in windows.updates([key], sent={key})}
    assert kinds == {"DAY", "ROLLING_15_MIN"}
    assert "MINUTE" in {r["window"] for r in windows.updates([key])}


def test_updates_send_one_day_record_per_day_however_many_minutes_changed() -> None:
    windows = engine()
    feed(windows, all_facts())
    keys = [key for key, _ in windows.minutes.items() if key.startswith("voice-general|VOICE|*|")]
    assert len(keys) > 1
    days = [r for r in windows.updates(keys) if r["window"] == "DAY" and r["queue"] == "voice-general"
            and r["region"] == "*"]
    assert len(days) == 1


def test_a_fact_counted_with_other_content_is_moved_not_counted_twice() -> None:
    windows = engine()
    answered = next(f for f in all_facts() if f["kind"] == "ANSWERED" and f["queue"] == "voice-general")
    later = {**answered, "at": answered["at"] + 3 * MINUTE_MS, "wait_ms": answered["wait_ms"] + 180_000}
    windows.apply(answered, 0, answered["at"])
    windows.apply(later, 0, answered["at"])  # e.g. replayed from a state that changed since
    finals = by_window(windows.close(0, DAY0 + DAY_MS + LATENESS))
    day = finals[("voice-general", "*", "DAY", DAY0)]
    assert (day["answered"], day["asa_ms"]) == (1, later["wait_ms"])


def test_counted_facts_are_forgotten_when_their_minute_closes_and_minutes_stay_small() -> None:
    windows = engine()
    busy = [{"fact_id": f"c{i}|OFFERED|0", "kind": "OFFERED", "queue": "voice-general", "channel": "VOICE",
             "region": "moscow", "contact_id": f"c{i}", "at": T0 + i % 1000, "sign": 1, "wait_ms": None,
             "handle_ms": None, "duration_ms": None} for i in range(5000)]  # one busy minute
    feed(windows, busy)
    assert len(windows.counted) == 5000
    minute = windows.minutes[f"voice-general|VOICE|*|{T0 - T0 % MINUTE_MS}"]
    assert len(json.dumps(stored_minute(minute))) < 2000  # not one entry per contact
    windows.close(0, T0 + 2 * MINUTE_MS + LATENESS)
    assert len(windows.counted) == 0
    # a duplicate now is late, not counted again
    records = by_window(windows.updates([f"voice-general|VOICE|*|{T0 - T0 % MINUTE_MS}"]))
    windows.apply(busy[0], 0, T0 + 2 * MINUTE_MS + LATENESS)
    again = by_window(windows.updates([f"voice-general|VOICE|*|{T0 - T0 % MINUTE_MS}"]))
    key = ("voice-general", "*", "MINUTE", T0 - T0 % MINUTE_MS)
    assert again[key]["offered"] == records[key]["offered"] == 5000
    assert again[key]["late_events"] == records[key]["late_events"] + 1


def test_minutes_stored_by_an_older_worker_keep_their_counted_facts() -> None:
    old = engine()
    facts = all_facts()
    feed(old, facts)
    # The older form: each region's minute held its facts by id, as [kind, at, wait, handle, duration].
    for key, entry in list(old.minutes.items()):
        entry = stored_minute(entry)
        entry.pop("open")
        entry["facts"] = {}
        if entry["r"] != "*":
            for held_key, held in old.counted.items():
                q, c, fact_id = held_key.split("|", 2)
                if (q, c, held[5]) == (entry["q"], entry["c"], entry["r"]) and held[1] - held[1] % MINUTE_MS == entry["s"]:
                    entry["facts"][fact_id] = held[:5]
        old.minutes[key] = json.loads(json.dumps(entry))
    upgraded = QueueWindows(old.minutes, old.days, DictStore(), LATENESS, Settings().sl_threshold_ms)
    feed(upgraded, facts)  # every fact again: all duplicates
    end = DAY0 + DAY_MS + LATENESS
    fresh = engine()
    feed(fresh, facts)

    def figures(records: list[dict]) -> dict:
        return {k: {f: v for f, v in r.items() if f != "version"} for k, r in by_window(records).items()}

    assert figures(upgraded.close(0, end)) == figures(fresh.close(0, end))


def test_days_close_once_across_a_restart_and_everything_is_forgotten_after_the_retention() -> None:
    windows = engine()
    facts = all_facts()
    feed(windows, facts)
    day_end = DAY0 + DAY_MS
    assert not [r for r in windows.close(0, day_end - 1) if r["window"] == "DAY"]
    # A new worker takes over the same stores: its indexes are built from them.
    again = QueueWindows(windows.minutes, windows.days, windows.counted, LATENESS, Settings().sl_threshold_ms)
    finals = [r for r in again.close(0, day_end + LATENESS) if r["window"] == "DAY"]
    assert finals and all(r["final"] for r in finals)
    assert len({r["stat_id"] for r in finals}) == len(finals) == len(windows.days)
    assert not [r for r in again.close(0, day_end + LATENESS + 1) if r["window"] == "DAY"]  # only once
    assert windows.minutes and not windows.counted  # closed minutes are kept for the rolling and day views
    again.close(0, day_end + DAY_MS + 3_600_000)  # the default retention after the day's end
    assert not windows.minutes and not windows.days


def test_rolling_finals_of_a_backlog_equal_a_merge_of_their_fifteen_minutes() -> None:
    """close() moves each rolling view on a minute at a time through a backlog; every final must
    be what merging its 15 minutes gives (rolling_record), whatever mix of facts, retractions and
    late facts came before, and however many minutes one close() closes."""
    import random

    rng = random.Random(11)
    windows = engine()
    watermark, finals = T0, 0
    for step in range(60):
        for _ in range(rng.randrange(0, 60)):
            at = watermark - rng.randrange(-300_000, 400_000)  # some late, some ahead
            kind = rng.choice(["OFFERED", "ANSWERED", "ANSWERED", "ABANDONED", "ENDED", "TRANSFER"])
            fact = {"fact_id": f"f{rng.randrange(5_000)}|{kind}|0", "kind": kind, "sign": rng.choice([1, 1, 1, -1]),
                    "queue": rng.choice(["voice-general", "chat-general"]), "channel": "VOICE",
                    "region": rng.choice(["moscow", "chelyabinsk", "ekaterinburg"]), "at": at,
                    "wait_ms": rng.randrange(0, 200_000), "handle_ms": rng.randrange(1, 500_000),
                    "duration_ms": rng.randrange(1, 900_000)}
            windows.apply(fact, 0, watermark)
        watermark += rng.choice([30_000, 60_000, 600_000, 3_600_000])  # one minute or an hour at once
        for record in windows.close(0, watermark):
            if record["window"] == "ROLLING_15_MIN":
                finals += 1
                assert record == windows.rolling_record(record["queue"], record["channel"], record["region"],
                                                        record["window_end"], final=True)
    assert finals > 500


def test_a_record_read_again_after_a_restart_is_not_counted_again_not_even_as_late() -> None:
    """Records 0..n-1 hold one fact each; the minutes they reached close; then the last three
    records come again (their offsets were not committed before a crash): nothing changes. A
    new record's fact for a closed minute is a late one."""
    windows = engine()
    facts = all_facts()
    watermark = 0
    for offset, fact in enumerate(facts):
        watermark = max(watermark, fact["at"])
        windows.mark_applied(windows.apply(fact, 0, watermark, offset), offset)
    windows.close(0, DAY0 + DAY_MS - 1)  # every minute, not the day
    before = {k: stored_minute(v) for k, v in windows.minutes.items()}
    for offset, fact in list(enumerate(facts))[-3:]:
        assert windows.apply(fact, 0, watermark, offset) == []
    assert {k: stored_minute(v) for k, v in windows.minutes.items()} == before
    changed = windows.apply(facts[-1], 0, watermark, len(facts))  # the same fact in a later record
    assert changed and all(windows.minutes[k]["agg"].late == 1 for k in changed)


def test_open_minutes_found_in_the_store_after_a_restart_are_handed_out_once_for_sending() -> None:
    """Their last update may not have gone out before the crash, and a record read again changes
    nothing, so the processor sends them again as the store has them."""
    first = engine()
    feed(first, all_facts())
    first.take_recovered()
    open_keys = {k for k, v in first.minutes.items() if v["open"]}
    assert open_keys
    again = QueueWindows(first.minutes, first.days, first.counted, LATENESS, Settings().sl_threshold_ms)
    again.close(0, 1)  # a new worker's first look at partition 0 (nothing closes)
    assert again.take_recovered() == open_keys
    assert again.take_recovered() == set()


def test_every_final_record_of_two_simulated_hours_equals_the_hand_fold() -> None:
    """Two hours of the seed's traffic (every channel, abandons, transfers, escalations), facts
    applied in time order and windows closed as the watermark passes them, as a worker does:
    every final MINUTE, ROLLING_15_MIN and DAY record of every queue (all regions) equals the
    hand fold of the same events for its window (tests/expected_figures.py, none of this code)."""
    from streams.simulator.engine import HOUR_MS, Simulation
    from streams.simulator.profile import seed_profile
    from tests import expected_figures

    start = DAY0 + 9 * HOUR_MS
    events = list(Simulation(seed_profile(), start, seed=4, id_prefix="qw").run(2 * HOUR_MS))
    contacts = expected_figures.contacts_of(events)
    by_contact: dict[str, list[dict]] = {}
    for topic, e in events:
        if topic == "contact-events":
            by_contact.setdefault(e["contact_id"], []).append(e)
    facts = sorted(({**f, "sign": 1} for evs in by_contact.values() for f in facts_of(state_of(evs)).values()),
                   key=lambda f: f["at"])
    windows = engine()
    finals: list[dict] = []
    watermark = 0
    for fact in facts:
        if fact["at"] > watermark + 10_000:  # the worker closes between batches
            finals += windows.close(0, watermark)
        watermark = max(watermark, fact["at"])
        windows.apply(fact, 0, watermark)
    finals += windows.close(0, DAY0 + DAY_MS + LATENESS)
    names = set(expected_figures.QueueDay("VOICE", 0).figures())
    got: dict[tuple, dict] = {}
    for r in finals:
        if r["region"] == "*":
            assert r["final"] is True and r["window_end"] == r["window_start"] + {
                "MINUTE": MINUTE_MS, "ROLLING_15_MIN": 15 * MINUTE_MS, "DAY": DAY_MS}[r["window"]]
            got[(r["queue"], r["window"], r["window_start"])] = {k: v for k, v in r.items() if k in names}
    want: dict[tuple, dict] = {}
    kinds = {"MINUTE": MINUTE_MS, "ROLLING_15_MIN": 15 * MINUTE_MS, "DAY": DAY_MS}
    for queue, window, window_start in got:
        figures = expected_figures.window_figures(contacts.values(), window_start, kinds[window])
        want[(queue, window, window_start)] = figures[queue].figures() if queue in figures else None
    empty = [k for k, v in want.items() if v is None]  # windows with nothing by hand must be empty
    assert all(got[k]["offered"] == got[k]["answered"] == got[k]["abandoned"] == 0 for k in empty)
    want = {k: v for k, v in want.items() if v is not None}
    assert not expected_figures.differences({k: got[k] for k in want}, want)
    windows_of = {w for _, w, _ in got}
    assert windows_of == set(kinds) and len(got) > 400
    for minute in range(start, start + 2 * HOUR_MS, MINUTE_MS):  # and no minute with outcomes is missing
        for queue, day in expected_figures.window_figures(contacts.values(), minute, MINUTE_MS).items():
            f = day.figures()
            if f["offered"] or f["answered"] or f["abandoned"] or f["transfers"] or day.handles:
                assert (queue, "MINUTE", minute) in got, (queue, minute)
    assert sum(v["abandoned"] for (_, w, _), v in got.items() if w == "DAY") > 0
    assert sum(v["transfers"] + v["escalations"] for (_, w, _), v in got.items() if w == "DAY") > 0


def offered_fact(fact_id: str, at: int, queue: str = "voice-general", channel: str = "VOICE",
                 region: str = "perm") -> dict:
    return {"kind": "OFFERED", "fact_id": fact_id, "contact_id": fact_id.split("|")[0], "queue": queue,
            "channel": channel, "region": region, "at": at, "wait_ms": None, "handle_ms": None,
            "duration_ms": None, "sign": 1}


def test_closing_bumps_the_version_once_and_the_retention_forgets_everything() -> None:
    windows = engine()
    at = T0 + 5_000
    assert windows.apply(offered_fact("a|OFFERED|0", at), 0, at)
    key = f"voice-general|VOICE|*|{T0}"
    (open_minute,) = [r for r in windows.updates([key]) if r["window"] == "MINUTE"]
    # a fact for a minute never seen, after its lateness: a closed minute is made for it
    late_at = T0 - 10 * MINUTE_MS
    windows.apply(offered_fact("b|OFFERED|0", late_at), 0, at + 10 * MINUTE_MS)
    finals = by_window(windows.close(0, T0 + MINUTE_MS + LATENESS))
    closed = finals[("voice-general", "*", "MINUTE", T0)]
    assert closed["version"] == open_minute["version"] + 1 and closed["final"] is True
    assert windows.counted == {}  # forgotten once its minute closed
    windows.day_record("voice-general", "VOICE", "*", at)  # the day in the cache
    windows.close(0, DAY0 + 2 * DAY_MS + 3_600_000)  # past the retention of the day and its minutes
    assert windows.minutes == {} and windows.days == {}
    assert all(starts == [] for starts in windows._all_starts().values())
    assert windows._day_cache == {}


def test_a_restarted_worker_indexes_every_partition_and_forgets_after_the_retention() -> None:
    windows = engine()
    for n in range(6):  # minutes and counted facts of two partitions, interleaved in the stores
        at = T0 + n * MINUTE_MS
        windows.apply(offered_fact(f"c{n}|OFFERED|0", at, queue=f"q{n % 2}"), n % 2, at)
    before = windows.day_record("q0", "VOICE", "*", T0)
    again = QueueWindows(windows.minutes, windows.days, windows.counted, LATENESS, Settings().sl_threshold_ms)
    assert again.day_record("q0", "VOICE", "*", DAY0 + DAY_MS - 1) == before  # merged from its minutes
    assert all(held[6] == int(key.split("|")[0][1]) for key, held in windows.counted.items())
    end = T0 + 6 * MINUTE_MS + LATENESS
    finals = again.close(0, end)
    assert windows.counted and all(held[6] == 1 for held in windows.counted.values())  # partition 1's wait
    finals += again.close(1, end)
    assert {(r["queue"], r["window_start"]) for r in finals if r["window"] == "MINUTE" and r["region"] == "*"} == {
        (f"q{n % 2}", T0 + n * MINUTE_MS) for n in range(6)}
    assert windows.counted == {}
    day_end = DAY0 + DAY_MS + LATENESS
    assert len([r for r in again.close(0, day_end) + again.close(1, day_end) if r["window"] == "DAY"]) == 4
    third = QueueWindows(windows.minutes, windows.days, windows.counted, LATENESS, Settings().sl_threshold_ms)
    far = DAY0 + 2 * DAY_MS + 3_600_000
    third.close(0, far)
    third.close(1, far)  # final days found in the store are forgotten too, none of them cached here
    assert windows.minutes == {} and windows.days == {}


def test_a_fact_is_remembered_until_its_minute_closes_and_then_forgotten() -> None:
    windows = engine()
    at = T0 + 30_000
    fact = offered_fact("d|OFFERED|0", at)
    windows.apply(fact, 0, at)
    end = T0 + MINUTE_MS
    windows.close(0, end + LATENESS - 1)  # not closed yet: delivered again, not counted again
    assert windows.apply(fact, 0, end + LATENESS - 1) == []
    windows.close(0, end + LATENESS)
    assert windows.counted == {}


def test_returned_keys_of_repeats_and_moves() -> None:
    windows = engine()
    at = T0 + 1_000
    fact = offered_fact("e|OFFERED|0", at)
    first = windows.apply(fact, 0, at)
    assert sorted(first) == sorted([f"voice-general|VOICE|perm|{T0}", f"voice-general|VOICE|*|{T0}"])
    assert windows.apply(fact, 0, at) == []  # delivered before: nothing changed
    moved = windows.apply({**fact, "at": at + MINUTE_MS}, 0, at)
    assert sorted(moved) == sorted(first + [f"voice-general|VOICE|perm|{T0 + MINUTE_MS}",
                                            f"voice-general|VOICE|*|{T0 + MINUTE_MS}"])


def test_offsets_and_merge_tags_decide_what_was_taken_in_before() -> None:
    windows = engine()
    at = T0 + 1_000
    keys = windows.apply(offered_fact("f|OFFERED|0", at), 0, at)
    # a minute that never recorded an offset takes in a record at offset 0 or 1
    assert windows.apply(offered_fact("g|OFFERED|0", at), 0, at, offset=0)
    assert windows.apply(offered_fact("h|OFFERED|0", at), 0, at, offset=1)
    windows.mark_applied(keys, 1)
    assert windows.apply(offered_fact("i|OFFERED|0", at), 0, at, offset=1) == []
    # deltas: tags of two senders are both remembered
    from streams.analytics.queue_window import WindowAgg

    one = WindowAgg(version=1, offered=1)
    minute = windows.apply_delta("chat-general", one, "CHAT", "perm", T0, 0, at, "0", [5, 0], offset=0)
    assert minute
    windows.mark_merged(minute, "0", [5, 0])
    windows.mark_merged(minute, "1", [3, 0])
    assert windows.minutes[minute[0]]["h"] == {"0": [5, 0], "1": [3, 0]}
    assert windows.apply_delta("chat-general", one, "CHAT", "perm", T0, 0, at, "0", [5, 0]) == []
    # a minute that exists but never recorded an offset takes in a delta of the record at offset 0
    assert windows.apply_delta("chat-general", one, "CHAT", "perm", T0, 0, at, "2", [1, 0], offset=0)
    assert windows.apply_delta("chat-general", one, "CHAT", "perm", T0, 0, at, "1", [3, 0]) == []


def test_updates_give_each_view_of_the_changed_minutes() -> None:
    thresholds = {"voice-general": 15_000}
    windows = QueueWindows(DictStore(), DictStore(), DictStore(), LATENESS,
                           lambda q, c: thresholds.get(q, 99_000) if c == "VOICE" else 1)
    keys: list[str] = []
    for n in (2, 0, 1):
        at = T0 + n * MINUTE_MS
        keys += windows.apply(offered_fact(f"u{n}|OFFERED|0", at), 0, at)
    out = windows.updates(["missing|VOICE|*|0", *keys])
    rolling = [r for r in out if r["window"] == "ROLLING_15_MIN"]
    assert sorted((r["queue"], r["channel"], r["region"], r["window_end"], r["final"], r["sl_threshold_ms"])
                  for r in rolling) == [
        ("voice-general", "VOICE", "*", T0 + 3 * MINUTE_MS, False, 15_000),
        ("voice-general", "VOICE", "perm", T0 + 3 * MINUTE_MS, False, 15_000)]
    assert len([r for r in out if r["window"] == "MINUTE"]) == 6
    days = [r for r in out if r["window"] == "DAY"]
    assert sorted((r["channel"], r["region"], r["window_start"], r["offered"]) for r in days) == [
        ("VOICE", "*", DAY0, 3), ("VOICE", "perm", DAY0, 3)]


def test_one_queue_name_on_two_channels_has_two_days() -> None:
    windows = engine()
    at = T0 + 1_000
    windows.apply(offered_fact("v|OFFERED|0", at, queue="shared", channel="VOICE"), 0, at)
    windows.apply(offered_fact("w|OFFERED|0", at, queue="shared", channel="CHAT"), 0, at)
    windows.apply(offered_fact("x|OFFERED|0", at + 1, queue="shared", channel="CHAT"), 0, at + 1)
    voice = windows.day_record("shared", "VOICE", "*", at)
    chat = windows.day_record("shared", "CHAT", "*", at)
    assert (voice["channel"], voice["offered"], chat["channel"], chat["offered"]) == ("VOICE", 1, "CHAT", 2)
    assert voice["window_start"] == chat["window_start"] == DAY0 and voice["window_end"] == DAY0 + DAY_MS


def test_a_closed_day_stays_closed_when_a_late_fact_makes_a_new_minute_in_it() -> None:
    windows = engine()
    at = T0 + 1_000
    windows.apply(offered_fact("y|OFFERED|0", at), 0, at)
    day_end = DAY0 + DAY_MS
    assert [r["window"] for r in windows.close(0, day_end + LATENESS) if r["window"] == "DAY"] == ["DAY", "DAY"]
    windows.apply(offered_fact("z|OFFERED|0", at + 7 * MINUTE_MS), 0, day_end + LATENESS)  # late, a new minute
    assert not [r for r in windows.close(0, day_end + LATENESS + MINUTE_MS) if r["window"] == "DAY"]
    assert windows.day_record("voice-general", "VOICE", "*", at)["late_events"] == 1


def test_an_older_workers_closed_minute_of_a_region_and_a_stored_json_minute() -> None:
    windows = engine()
    closed = {"q": "voice-general", "c": "VOICE", "r": "perm", "s": T0, "p": 0, "facts": None,
              "agg": {"v": 1}}
    windows.minutes[f"voice-general|VOICE|perm|{T0}"] = closed
    windows.close(0, T0)  # builds the index, which upgrades it
    assert closed["open"] is False and "facts" not in closed and windows.counted == {}
    entry = {"agg": {"v": 3}, "s": T0}
    assert stored_minute(entry) is entry
