"""Event-time watermarks across the repartition (pure logic of streams/processors/watermarks.py)."""

from streams.processors import watermarks as wm

T0 = 1_764_000_000_000


def test_source_is_idle_only_when_fully_processed_and_quiet() -> None:
    assert wm.source_idle(now=20, last_record=5, processed_up_to=100, highwater=100, idle_s=10)
    assert not wm.source_idle(now=20, last_record=15, processed_up_to=100, highwater=100, idle_s=10)  # recent
    assert not wm.source_idle(now=20, last_record=5, processed_up_to=90, highwater=100, idle_s=10)  # lagging
    assert not wm.source_idle(now=20, last_record=5, processed_up_to=None, highwater=100, idle_s=10)
    assert not wm.source_idle(now=20, last_record=5, processed_up_to=100, highwater=None, idle_s=10)


def test_minimum_over_sources_and_never_backwards() -> None:
    state: dict = {}
    assert wm.observe(state, 0, T0 + 5_000, now=1)
    assert wm.effective(state, 2, now=1, started=0, silent_s=30) == 0  # source 1 not heard yet
    wm.observe(state, 1, T0 + 2_000, now=2)
    assert wm.effective(state, 2, now=2, started=0, silent_s=30) == T0 + 2_000
    assert not wm.observe(state, 1, T0 + 1_000, now=3)  # an older watermark does not move it back
    wm.observe(state, 1, T0 + 9_000, now=4)
    assert wm.effective(state, 2, now=4, started=0, silent_s=30) == T0 + 5_000


def test_a_lagging_source_holds_the_watermark_however_long_it_takes() -> None:
    # The defect this replaced: a source whose facts came slowly (a backlog) counted as idle after
    # some seconds of wall clock, the watermark jumped ahead and its facts arrived late.
    state: dict = {}
    wm.observe(state, 0, T0 + 3_600_000, now=100)  # source 0 is an hour ahead
    wm.observe(state, 1, T0, now=100, idle=False)  # source 1's heartbeat: lagging, not idle
    for now in (100, 120, 125):
        wm.observe(state, 0, T0 + 3_600_000 + now, now=now)
        wm.observe(state, 1, T0, now=now, idle=False)
        assert wm.effective(state, 2, now=now, started=0, silent_s=30) == T0


def test_an_idle_source_stops_holding_and_a_fact_makes_it_active_again() -> None:
    state: dict = {}
    wm.observe(state, 0, T0 + 60_000, now=1)
    wm.observe(state, 1, T0, now=1, idle=True)
    assert wm.effective(state, 2, now=1, started=0, silent_s=30) == T0 + 60_000
    wm.observe(state, 1, T0 + 10_000, now=2)  # a fact: active again, but the watermark stays
    assert wm.effective(state, 2, now=2, started=0, silent_s=30) == T0 + 60_000
    wm.observe(state, 0, T0 + 120_000, now=3)
    assert wm.effective(state, 2, now=3, started=0, silent_s=30) == T0 + 60_000  # held by source 1
    wm.observe(state, 1, None, now=4, idle=True)
    assert wm.effective(state, 2, now=4, started=0, silent_s=30) == T0 + 120_000


def test_all_idle_takes_the_newest_and_a_silent_source_is_presumed_gone() -> None:
    state: dict = {}
    wm.observe(state, 0, T0 + 1_000, now=1, idle=True)
    wm.observe(state, 1, T0 + 7_000, now=1, idle=True)
    assert wm.effective(state, 2, now=1, started=0, silent_s=30) == T0 + 7_000

    state = {}
    wm.observe(state, 0, T0 + 1_000, now=1)
    wm.observe(state, 1, T0 + 7_000, now=1)
    wm.observe(state, 1, T0 + 8_000, now=40)  # source 0 silent for 39 s while source 1 is heard
    assert wm.effective(state, 2, now=40, started=0, silent_s=30) == T0 + 8_000


def test_when_nothing_is_heard_nothing_moves() -> None:
    # A stalled receiver hears no source for a while: that is not a reason to jump ahead.
    state: dict = {}
    wm.observe(state, 0, T0 + 1_000, now=1)
    wm.observe(state, 1, T0 + 7_000, now=1)
    assert wm.effective(state, 2, now=100, started=0, silent_s=30) == T0 + 1_000


def test_silence_threshold_is_a_multiple_of_idleness_with_a_floor() -> None:
    assert wm.silent_after(2) == wm.MIN_SILENT_S
    assert wm.silent_after(10) == 60


def test_no_watermark_passes_the_wall_clock() -> None:
    # An event dated 2099 that got past validation (or a clock that jumped) must not close today's
    # windows for good: watermarks are held at the wall clock, and the closing one never passes it.
    state: dict = {}
    wall = T0 + 60_000
    assert wm.observe(state, 0, 4_070_908_800_000, now=1, wall_ms=wall)
    assert state["sources"]["0"][0] == wall
    assert wm.effective(state, 1, now=1, started=0, silent_s=30, wall_ms=wall) == wall
    assert wm.effective(state, 1, now=1, started=0, silent_s=30, wall_ms=wall - 1) == wall - 1
    assert not wm.observe(state, 0, T0, now=2, wall_ms=wall)  # and it never moves back


def test_edges_of_idleness_silence_and_the_start() -> None:
    """Exactly `idle_s` quiet is idle; exactly `silent_s` unheard is gone; a source not heard
    since a start `silent_s` ago no longer holds the watermark at 0 (the start need not be 0)."""
    assert wm.source_idle(now=20, last_record=10, processed_up_to=100, highwater=100, idle_s=10)
    state: dict = {}
    wm.observe(state, 1, T0 + 1_000, now=70)
    wm.observe(state, 0, T0 + 7_000, now=99)
    assert wm.effective(state, 2, now=99, started=0, silent_s=30) == T0 + 1_000  # 29 s: still holds
    wm.observe(state, 0, T0 + 7_000, now=100)
    assert wm.effective(state, 2, now=100, started=0, silent_s=30) == T0 + 7_000  # 30 s: gone

    started = 1_000.0  # a worker's monotonic clock starts anywhere
    state = {}
    wm.observe(state, 0, T0 + 5_000, now=started + 10)
    assert wm.effective(state, 2, now=started + 10, started=started, silent_s=30) == 0  # 1 not heard yet
    assert wm.effective(state, 2, now=started + 29, started=started, silent_s=30) == 0
    wm.observe(state, 0, T0 + 5_000, now=started + 30)
    assert wm.effective(state, 2, now=started + 30, started=started, silent_s=30) == T0 + 5_000


def test_empty_and_first_states() -> None:
    assert wm.effective({}, 2, now=100, started=0, silent_s=30) == 0  # nobody heard, ever
    assert wm.effective({}, 2, now=100, started=0, silent_s=30, wall_ms=T0) == 0
    state: dict = {}
    assert not wm.observe(state, 3, None, now=1)  # a heartbeat with no watermark yet
    assert state["sources"]["3"] == [0, 1, False]
    # The changelog of an earlier version held [watermark, heard] without the idle flag.
    old = {"sources": {"0": [T0 + 4_000, 1], "1": [T0 + 9_000, 1]}}
    assert wm.effective(old, 2, now=2, started=0, silent_s=30) == T0 + 4_000


def test_the_closing_watermark_never_moves_back_under_the_wall_clock() -> None:
    wall = T0 + 600_000
    state: dict = {}
    wm.observe(state, 0, T0 + 60_000, now=1, wall_ms=wall)
    wm.observe(state, 1, T0, now=1, idle=True, wall_ms=wall)
    assert wm.effective(state, 2, now=1, started=0, silent_s=30, wall_ms=wall) == T0 + 60_000
    wm.observe(state, 1, T0 + 1_000, now=2, wall_ms=wall)  # wakes up behind: holds from now on
    assert wm.effective(state, 2, now=2, started=0, silent_s=30, wall_ms=wall) == T0 + 60_000
