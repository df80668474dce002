"""The main job's per-channel report (streams/reports/run_report.py) on rows worked out by hand."""

from __future__ import annotations

import pytest

from streams.reports.outcomes import Contact
from streams.reports.run_report import channel_reports

DAY = 86_400_000
T = {"VOICE": 20_000, "CHAT": 60_000}

# contact_id, channel, first_queue, status, queued_at, answered_at, wait_ms, handle_time_ms, duration_ms
ROWS = [
    ("v1", "VOICE", "voice-general", "ENDED", 10, 20, 10_000, 100_000, 200_000),    # within T
    ("v2", "VOICE", "voice-general", "ENDED", 10, 30, 20_000, 200_000, 300_000),    # at T: within
    ("v3", "VOICE", "voice-general", "ENDED", 10, 40, 30_000, 300_000, 400_000),    # after T
    ("v4", "VOICE", "voice-general", "ABANDONED", 10, None, 5_000, None, 6_000),    # short abandon
    ("v5", "VOICE", "voice-general", "ABANDONED", 10, None, 25_000, None, 26_000),  # after T
    ("v6", "VOICE", "voice-general", "ANSWERED", 10, 50, 40_000, None, None),       # not ended yet
    ("v7", "VOICE", None, "CREATED", None, None, None, None, None),                 # never queued
    ("c1", "CHAT", "chat-general", "ENDED", 10, 20, 61_000, 500_000, 600_000),
]
CONTACTS = [
    Contact("v1", "VOICE", "voice-general", "s1", "billing", "ENDED", 1, 0, True, 5),
    Contact("v2", "VOICE", "voice-general", "s1", "billing", "ENDED", 1, DAY, True, 4),  # repeat of v1
    Contact("v3", "VOICE", "voice-general", "s2", "billing", "ENDED", 2, 0, True, None),  # line 2
    Contact("v6", "VOICE", "voice-general", "s3", "tariff", "ANSWERED", 1, 0, True, 5),
    Contact("c1", "CHAT", "chat-general", "s4", "billing", "ENDED", 1, 0, True, 3),
]


def test_per_channel_figures_by_hand() -> None:
    voice, chat = channel_reports(ROWS, lambda queue, channel: T[channel], CONTACTS)
    assert (voice.channel, voice.contacts, voice.offered, voice.answered, voice.abandoned) == ("VOICE", 7, 6, 4, 2)
    assert voice.asa_s == pytest.approx((10 + 20 + 30 + 40) / 4)
    # within T: v1, v2 (at T); answered 4, abandoned after T: v5 (v4 left out)
    assert voice.service_level == pytest.approx(2 / (4 + 1))
    assert voice.abandonment == pytest.approx(2 / 6)
    assert voice.aht_s == pytest.approx((100 + 200 + 300) / 3) and voice.duration_s == pytest.approx(300)
    # first contacts: v1 (repeated by v2: not resolved), v3 (line 2); v6, still being handled,
    # not yet (it may still be escalated): 0 of 2
    assert voice.fcr == 0.0
    assert (voice.surveys, voice.csat_top_box, voice.csat_mean) == (3, pytest.approx(2 / 3), pytest.approx(14 / 3))
    assert (chat.contacts, chat.service_level, chat.abandonment, chat.fcr, chat.csat_top_box) == (1, 0.0, 0.0, 1.0, 0.0)


def test_a_channel_with_nothing_answered_or_surveyed() -> None:
    (only,) = channel_reports([("e1", "EMAIL", "email", "QUEUED", 10, None, None, None, None)],
                              lambda q, c: 1000, [])
    assert (only.contacts, only.offered, only.answered) == (1, 1, 0)
    assert (only.asa_s, only.service_level, only.aht_s, only.fcr, only.csat_top_box) == (None, None, None, None, None)
    assert only.abandonment == 0.0


def test_each_queue_its_own_threshold_and_the_edges() -> None:
    """SL within each contact's own queue's T (a queue of its own at 5 s, the channel's 20 s
    otherwise, and the channel's for a contact with no queue); an abandon at exactly T is a short
    one; a contact answered and not yet ended counts; an ended contact never answered has no
    handle time; channels with as many contacts are listed by name."""
    thresholds = {("vip", "VOICE"): 5_000}
    rows = [
        ("a1", "VOICE", "vip", "ENDED", 10, 20, 6_000, 60_000, 70_000),              # after vip's 5 s
        ("a2", "VOICE", "voice-general", "ANSWERED", 10, 20, 6_000, None, None),     # within 20 s, not ended
        ("a3", "VOICE", None, "ENDED", 10, 20, 19_000, 30_000, 40_000),              # no queue: 20 s
        ("a4", "VOICE", "voice-general", "ABANDONED", 10, None, 20_000, None, 21_000),  # at T: short
        ("a5", "VOICE", "vip", "ABANDONED", 10, None, 6_000, None, 7_000),           # after vip's T
        ("a6", "VOICE", "voice-general", "ENDED", None, None, None, None, 9_000),     # IVR only
        ("z1", "AAA", None, "CREATED", None, None, None, None, None),
        ("a0", "ZZZ", None, "CREATED", None, None, None, None, None),
    ]
    voice, first, last = channel_reports(rows, lambda q, c: thresholds.get((q, c), T.get(c, 1)), [])
    assert voice.service_level == pytest.approx(2 / (3 + 1))  # a2, a3 of 3 answered + a5
    assert voice.aht_s == pytest.approx((60 + 30) / 2) and voice.duration_s == pytest.approx((70 + 40 + 9) / 3)
    assert (first.channel, last.channel) == ("AAA", "ZZZ")
    assert (first.offered, first.abandonment, first.surveys, first.service_level) == (0, None, 0, None)


def test_the_progress_line_weighs_asa_and_sl_by_answered_contacts() -> None:
    """Without a terminal the main job prints a line of progress; its ASA and SL are the
    channels' weighted by what each answered (a channel with no SL yet counts for ASA only)."""
    from streams.cli.progress import Observed, Progress, progress_line

    p = Progress(start_ms=0, end_ms=3_600_000, simulated_ms=(13 * 60 + 5) * 60_000, published=12_345,
                 finished={"a", "b"})
    seen = Observed(processed=1_000, lag=7, day={"VOICE": (300, 80.0, 0.5), "CHAT": (100, 40.0, 0.9),
                                                   "EMAIL": (100, 10.0, None), "SMS": (0, None, None)})
    line = progress_line(p, seen)
    # ASA (300*80 + 100*40 + 100*10) / 500 = 58; SL (300*0.5 + 100*0.9) / 400 = 60 %
    assert line == ("  simulated 13:05  published 12,345  processed 1,000  lag 7  finished contacts 2"
                    "  answered 500  ASA 58 s  SL 60%")
    assert progress_line(Progress(start_ms=0, end_ms=1), Observed()).endswith("answered 0  ASA -  SL -")
