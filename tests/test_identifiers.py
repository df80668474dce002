"""Identifiers built from several values never collide (pure logic)."""

from __future__ import annotations

from streams.analytics.queue_window import WindowAgg
from streams.identifiers import escape, id_prefix, join_id, unescape
from streams.processors.live_queues import is_queue_key, queue_key, waiting_key
from streams.processors.queue_windows import counted_key, minute_key
from tests.scenarios import T0


def test_identifiers_of_different_values_never_collide() -> None:
    a = WindowAgg().record("qa|VOICE|rb", "VOICE", "rc", "MINUTE", T0, T0 + 60_000, 20_000)
    b = WindowAgg().record("qa", "VOICE", "rb|VOICE|rc", "MINUTE", T0, T0 + 60_000, 20_000)
    assert a["stat_id"] != b["stat_id"]
    assert minute_key("qa|VOICE|rb", "VOICE", "rc", T0) != minute_key("qa", "VOICE", "rb|VOICE|rc", T0)
    assert join_id("a\\", "b") != join_id("a", "\\b")
    assert join_id("voice-general", "VOICE", "msk", 5) == "voice-general|VOICE|msk|5"  # as before
    for text in ("a|b", "a\\|b", "\\", "|", "plain"):
        assert unescape(escape(text)) == text
    assert id_prefix("q|x", "VOICE") == join_id("q|x", "VOICE") + "|"
    assert counted_key("qa|VOICE", "rb", "c|OFFERED|0") != counted_key("qa", "VOICE|rb", "c|OFFERED|0")
    assert counted_key("voice-general", "VOICE", "c|OFFERED|0") == "voice-general|VOICE|c|OFFERED|0"  # as before


def test_no_queue_name_is_taken_for_a_waiting_bucket() -> None:
    sneaky = waiting_key("a", "contact")  # "a|waiting|N" as a queue's own name
    assert queue_key(sneaky) != sneaky and is_queue_key(queue_key(sneaky))
    assert not is_queue_key(waiting_key(sneaky, "contact"))
    assert queue_key("voice-general") == "voice-general"


def test_escaping_round_trips_backslashes_and_bars() -> None:
    for part in ("a\\b", "a\\|b", "\\", "|", "a|b\\", "plain"):
        assert unescape(escape(part)) == part, part
    assert escape("a\\b") == "a\\\\b" and escape("a|b") == "a\\|b" and escape("plain") == "plain"
    assert unescape("a\\") == "a\\"  # a lone backslash at the end (not made by escape) is kept
