"""The campaign detector's pure logic, on sightings whose band keys the test chooses: when a cluster
starts and is confirmed (each threshold at its edge), how clusters merge and expire, the windows of
the band counts, the reach's bound, the state's round trip, and the band keys themselves (pinned:
confirmed campaigns' keys are stored on a topic and must mean the same to every later version)."""

from __future__ import annotations

import numpy as np
import pytest

from streams.protection import campaigns
from streams.protection.campaigns import CampaignRule, Cluster, Detector, Sighting, band_keys
from streams.protection.features import grams
from streams.protection.text import normalise

RULE = CampaignRule(window_ms=60_000, min_senders=3, min_messages=4, min_chars=30, min_score=0.5, hot_count=2)
EASY = CampaignRule(window_ms=60_000, min_senders=1, min_messages=1, min_chars=30, min_score=0.0, hot_count=2)


def see(det: Detector, n: int, sender: str, at: int, bands: list[int], score: float = 0.9, chars: int = 40,
        link: bool = False, recipient: int | None = None) -> Cluster | None:
    return det.see(Sighting(f"m{n}", at, sender, n if recipient is None else recipient, bands, score, chars, link,
                            f"text {n}"))


def cid(band: int) -> str:
    return f"c{band & 0xFFFFFFFFFFFFFFFF:016x}"


def test_a_cluster_starts_at_the_second_sighting_and_is_confirmed_exactly_at_every_threshold():
    det = Detector(RULE)
    assert see(det, 0, "a", 1_000, [10]) is None and det.clusters == {}  # new bands: not kept at all
    assert see(det, 1, "b", 2_000, [10]) is None  # hot now: a cluster of one message
    c = det.clusters[cid(10)]
    assert (c.messages, c.senders, c.first_at, c.last_at, c.sample) == (1, {"b"}, 2_000, 2_000, "text 1")
    assert see(det, 2, "c", 3_000, [10]) is None
    assert see(det, 3, "d", 4_000, [10]) is None  # 3 senders, 3 messages: one message short
    got = see(det, 4, "d", 5_000, [10], chars=30)  # 4 messages, 3 senders, 30 characters: every edge met
    assert got is c and c.confirmed_at == 5_000 and c.messages == 4 and len(c.senders) == 3
    assert see(det, 5, "e", 6_000, [10], score=0.0) is c and c.confirmed_at == 5_000  # stays confirmed


def test_a_short_text_does_not_confirm_and_the_next_long_one_does():
    det = Detector(RULE)
    for n, sender in enumerate("abcd"):
        see(det, n, sender, 1_000 + n, [7])
    assert see(det, 4, "e", 2_000, [7], chars=29) is None  # the thresholds met, but this text is short
    assert see(det, 5, "e", 2_001, [7], chars=30).confirmed_at == 2_001


@pytest.mark.parametrize("links, expected", [(2, True), (1, False)])
def test_half_the_messages_with_links_confirm_without_a_spammy_score(links, expected):
    det = Detector(RULE)
    see(det, 0, "a", 1_000, [3], score=0.0)
    flags = [False] * (4 - links) + [True] * links
    out = [see(det, n + 1, "abcd"[n], 1_001 + n, [3], score=0.0, link=flag) for n, flag in enumerate(flags)]
    assert (out[-1] is not None) is expected
    assert det.clusters[cid(3)].links == links and det.clusters[cid(3)].score_sum == 0.0


def test_one_link_in_three_is_not_enough():
    det = Detector(CampaignRule(60_000, 1, 3, 30, 0.5))
    see(det, 0, "a", 1_000, [3], score=0.0)
    out = [see(det, n + 1, "a", 1_001 + n, [3], score=0.0, link=n == 0) for n in range(3)]
    assert out == [None, None, None]


@pytest.mark.parametrize("scores, expected", [([0.5, 0.5, 0.5, 0.5], True), ([1.0, 1.0, 1.0, 0.0], True),
                                              ([0.5, 0.5, 0.5, 0.49], False)])
def test_the_mean_score_confirms_at_the_minimum_itself(scores, expected):
    det = Detector(RULE)
    see(det, 0, "a", 1_000, [4])
    out = [see(det, n + 1, "abcd"[n], 1_001 + n, [4], score=s) for n, s in enumerate(scores)]
    assert (out[-1] is not None) is expected
    assert det.clusters[cid(4)].score_sum == pytest.approx(sum(scores))


def test_the_id_comes_from_the_founding_texts_first_band_and_the_fields_add_up():
    det = Detector(EASY)
    see(det, 0, "a", 5_000, [10])
    got = see(det, 1, "b", 6_000, [-5, 10], score=0.25, link=True)  # band 10 is hot: -5 names the cluster
    assert got is not None and got.campaign_id == "cfffffffffffffffb" == cid(-5)
    see(det, 2, "c", 5_500, [-5], score=0.5, recipient=1)  # earlier in time, and to a recipient seen before
    assert got.record() == {"campaign_id": "cfffffffffffffffb", "first_at": 6_000, "last_at": 6_000,
                            "confirmed_at": 6_000, "bands": [-5, 10], "senders": ["b", "c"], "sender_count": 2,
                            "messages": 2, "reach": 1, "sample": "text 1"}
    assert (got.score_sum, got.links, got.recipients) == (0.75, 1, {1})
    assert det.by_band == {-5: got.campaign_id, 10: got.campaign_id}


def test_the_reach_is_counted_exactly_up_to_its_bound_then_by_message(monkeypatch):
    monkeypatch.setattr(campaigns, "REACH_MAX", 2)
    det = Detector(EASY)
    see(det, 0, "a", 1_000, [1], recipient=1)
    for n, recipient in enumerate([1, 2, 3, 3, 4]):
        got = see(det, n + 1, "a", 1_001 + n, [1], recipient=recipient)
    assert got.recipients == {1, 2} and got.reach_overflow == 3 and got.reach == 5


def _three_clusters(det: Detector, chars: tuple[int, int, int] = (40, 40, 40)) -> None:
    for band, at, c in zip((1, 2, 3), (2_000, 4_000, 6_000), chars):
        see(det, band * 10, f"x{band}", at - 1, [band], chars=c)
        see(det, band * 10 + 1, f"s{band}", at, [band], chars=c, score=0.1 * band, link=band == 2,
            recipient=100 + band)


def test_a_text_bridging_clusters_merges_them_into_the_first_one_it_names():
    det = Detector(EASY)
    _three_clusters(det)
    assert set(det.clusters) == {cid(1), cid(2), cid(3)}
    got = see(det, 99, "g", 7_000, [2, 1, 3, 2], score=0.4, recipient=101)
    assert got is det.clusters[cid(2)] and set(det.clusters) == {cid(2)}
    assert det.expired == [cid(1), cid(3)]
    assert (got.first_at, got.last_at, got.confirmed_at) == (2_000, 7_000, 2_000)
    assert got.bands == {1, 2, 3} and got.senders == {"s1", "s2", "s3", "g"} and got.messages == 4
    assert got.recipients == {101, 102, 103} and got.links == 1 and got.score_sum == pytest.approx(1.0)
    assert det.by_band == {1: cid(2), 2: cid(2), 3: cid(2)}
    assert see(det, 100, "h", 8_000, [3]) is got and got.messages == 5  # its bands lead to the merged one


def test_a_merge_takes_the_bands_and_links_the_bridging_text_does_not_carry():
    det = Detector(EASY)
    see(det, 0, "a", 1_000, [1, 11])
    see(det, 1, "b", 1_001, [1, 11], link=True)
    see(det, 2, "c", 2_000, [2, 22])
    see(det, 3, "d", 2_001, [2, 22])
    got = see(det, 4, "e", 3_000, [2, 1])
    assert got.campaign_id == cid(2) and got.bands == {1, 2, 11, 22} and got.links == 1
    assert det.by_band == {1: cid(2), 2: cid(2), 11: cid(2), 22: cid(2)}


def test_a_merge_keeps_the_earliest_confirmation_and_none_stays_none(monkeypatch):
    det = Detector(EASY)
    _three_clusters(det, chars=(40, 10, 10))  # only the first is confirmed
    assert det.clusters[cid(2)].confirmed_at is None
    got = see(det, 99, "g", 7_000, [2, 1], chars=10)
    assert got is det.clusters[cid(2)] and got.confirmed_at == 2_000
    det = Detector(EASY)
    _three_clusters(det, chars=(10, 10, 10))
    assert see(det, 99, "g", 7_000, [2, 3], chars=10) is None and det.clusters[cid(2)].confirmed_at is None
    det.clusters[cid(2)].reach_overflow, det.clusters[cid(1)].reach_overflow = 2, 5
    see(det, 100, "g", 7_001, [2, 1], chars=10)
    assert det.clusters[cid(2)].reach_overflow == 7


# -- the band counts' windows: two halves of window_ms --------------------------------------------------------

def test_a_band_seen_in_this_half_and_the_one_before_is_hot():
    det = Detector(RULE)
    see(det, 0, "a", 45_000, [8])  # half 1
    see(det, 1, "b", 60_000, [8])  # half 2
    assert cid(8) in det.clusters


def test_the_start_of_the_previous_half_still_counts_at_the_end_of_this_one():
    det = Detector(RULE)
    see(det, 0, "a", 0, [8])
    see(det, 1, "b", 59_999, [8])
    assert cid(8) in det.clusters


def test_a_band_two_halves_back_is_forgotten():
    det = Detector(RULE)
    see(det, 0, "a", 0, [8])  # half 0
    see(det, 1, "b", 30_000, [9])  # half 1
    see(det, 2, "c", 60_000, [8])  # half 2: half 0's counts are gone
    assert det.clusters == {}


def test_a_jump_of_two_halves_or_more_forgets_both():
    det = Detector(RULE)
    see(det, 0, "a", 0, [8])  # half 0
    see(det, 1, "b", 60_000, [8])  # half 2
    assert det.clusters == {}
    see(det, 2, "c", 90_000, [7])  # half 3
    see(det, 3, "d", 120_000, [9])  # half 4
    see(det, 4, "e", 180_000, [7])  # half 6: half 3's counts (in the slot half 5 would use) are gone
    see(det, 5, "e", 180_001, [9])
    assert det.clusters == {}


@pytest.mark.parametrize("window, first, second, hot", [(2, 0, 2, False), (2, 0, 1, True), (61, 0, 60, False),
                                                         (61, 0, 59, True)])
def test_halves_of_small_and_odd_windows_are_whole_milliseconds(window, first, second, hot):
    det = Detector(CampaignRule(window, 3, 4, 30, 0.5))
    see(det, 0, "a", first, [8])
    see(det, 1, "b", second, [8])
    assert (cid(8) in det.clusters) is hot


def test_bands_differing_in_the_lowest_bit_are_counted_apart():
    det = Detector(RULE)
    see(det, 0, "a", 1_000, [2])
    see(det, 1, "b", 1_001, [3])
    assert det.clusters == {}


def test_a_cluster_is_dropped_once_its_last_text_is_older_than_the_window():
    det = Detector(RULE)
    see(det, 0, "a", 29_000, [5, 6])
    see(det, 1, "b", 30_000, [5, 6])  # half 1; the cluster's last text
    c = det.clusters[cid(5)]
    see(det, 2, "c", 90_000, [1])  # half 3: exactly one window after it, kept
    assert det.clusters == {cid(5): c} and det.expired == []
    see(det, 3, "d", 120_000, [2])  # half 4: older than the window
    assert det.clusters == {} and det.expired == [cid(5)] and det.by_band == {}


def test_an_expired_cluster_leaves_the_bands_another_cluster_took():
    det = Detector(RULE)
    see(det, 0, "a", 29_000, [5])
    see(det, 1, "b", 30_000, [5])
    det.by_band[5] = "another"
    see(det, 2, "c", 120_000, [1])
    assert det.by_band == {5: "another"} and det.expired == [cid(5)]


# -- the state ----------------------------------------------------------------------------------------------

def _cluster() -> Cluster:
    return Cluster("cx", 1, 2, {5, -3}, {"b", "a"}, messages=7, recipients={9, 8}, reach_overflow=3, score_sum=2.5,
                   links=4, sample="s", confirmed_at=2)


def test_a_cluster_is_published_and_kept_whole():
    c = _cluster()
    record = {"campaign_id": "cx", "first_at": 1, "last_at": 2, "confirmed_at": 2, "bands": [-3, 5],
              "senders": ["a", "b"], "sender_count": 2, "messages": 7, "reach": 5, "sample": "s"}
    assert c.record() == record
    assert c.encode() == {**record, "recipients": [8, 9], "ro": 3, "score_sum": 2.5, "links": 4}
    assert Cluster.decode(c.encode()) == c


def test_the_published_record_lists_a_bounded_number_of_bands_and_senders(monkeypatch):
    monkeypatch.setattr(campaigns, "MAX_BANDS", 1)
    monkeypatch.setattr(campaigns, "MAX_SENDERS_LISTED", 1)
    c = _cluster()
    assert c.record()["bands"] == [-3] and c.record()["senders"] == ["a"] and c.record()["sender_count"] == 2
    assert c.encode()["bands"] == [-3, 5] and c.encode()["senders"] == ["a", "b"]


# -- band keys ------------------------------------------------------------------------------------------------

def test_band_keys_are_pinned_and_only_texts_with_five_grams_have_them():
    texts = [normalise("Вам положена выплата 500 р. на bit.ly/x"), "abcde", "", normalise("Привет, как дела?")]
    keys, has = band_keys(grams(texts))
    assert keys.dtype == np.uint64 and has.dtype == np.bool_ and keys.shape == (4, campaigns.BANDS)
    assert has.tolist() == [True, True, False, True]
    assert keys[0].tolist() == [4028589405964357431, 16544315750124711183, 3918048429314863981, 2770670814599190777,
                                5791858193778013081, 18331324625649149634, 15885195865143994679,
                                14897145483808288709]
    assert keys[1].tolist() == [4541667215260410135, 3674607716527963116, 29634160760405425, 15731001780132688236,
                                4554090406370762700, 15208550076851968413, 15354642217696990828,
                                10367017737540453172]
    assert keys[2].tolist() == [0] * campaigns.BANDS
    only, only_has = band_keys(grams(texts), only=np.array([True, False, False, True]))
    assert only_has.tolist() == [True, False, False, True]
    assert (only[0] == keys[0]).all() and (only[3] == keys[3]).all() and only[1].tolist() == [0] * campaigns.BANDS


def test_one_five_gram_alone_has_keys():
    keys, has = band_keys(grams(["abc"]))  # padded at both ends: one 5-gram
    assert has.tolist() == [True] and (keys[0] != 0).all()
