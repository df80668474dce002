"""Campaigns: near-duplicate texts sent by many senders (spammers rotate numbers and vary the
text, so per-sender limits miss them).

Texts are normalised (text.py), cut into character 5-grams, and each gets a MinHash signature of
NUM_PERM values (multiply-shift hashes over the n-gram hashes of features.py, the whole batch at
once). LSH with BANDS bands of ROWS values: two texts share a band key with probability
1 - (1 - J**ROWS)**BANDS for Jaccard similarity J of their 5-gram sets, about 1/2 at
J = (1/BANDS)**(1/ROWS) = 0.59, 0.92 at J = 0.75 and 0.01 below J = 0.3: this is the threshold
the README states.

Detection (one detector sees every sender's texts): band keys are counted per window in a
count-min row; a text none of whose bands has been seen before (most person-to-person texts) is
not kept at all. A text sharing a band with earlier ones joins their cluster (or starts one,
whose id is stable: the band key that founded it). A cluster is confirmed as a campaign when it
has at least `min_senders` distinct senders and `min_messages` messages within the window, and is
not short (short texts like "ok, call me" are near-duplicates of each other in any crowd) and
looks like spam or carries a link. Confirmed campaigns' band keys are given to the verdict
processors, which block every later text that shares one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streams.protection.features import Grams, mix

NUM_PERM = 32
BANDS = 8
ROWS = NUM_PERM // BANDS
_rng = np.random.default_rng(20261202)  # fixed: signatures must agree between processes
_A = (_rng.integers(0, 2**31, NUM_PERM, dtype=np.uint32) << np.uint32(1)) | np.uint32(1)  # odd
_B = _rng.integers(0, 2**32, NUM_PERM, dtype=np.uint32)
_S32 = np.uint64(32)
_BAND_SALT = np.arange(1, BANDS + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)


def band_keys(g: Grams, only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(BANDS band keys per text as an (n, BANDS) uint64 array, which texts have any 5-gram);
    `only`: a boolean mask of the texts wanted (the others get no keys)."""
    n = g.texts
    has = np.zeros(n, bool)
    keys = np.zeros((n, BANDS), np.uint64)
    rows, shingles = g.shingle_rows, g.shingles
    if only is not None:
        wanted = only[rows]
        rows, shingles = rows[wanted], shingles[wanted]
    if len(shingles) == 0:
        return keys, has
    starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
    present = rows[starts]
    has[present] = True
    with np.errstate(over="ignore"):
        # The n-gram hashes are already uniform (features.mix), so a*x + b mod 2**32 with odd a
        # is a random permutation of them, and the minimum under each is a MinHash value.
        x = (shingles >> _S32).astype(np.uint32)
        values = x[:, None] * _A[None, :] + _B[None, :]
        sig = np.minimum.reduceat(values, starts, axis=0)  # (texts with shingles, NUM_PERM)
        folded = sig.reshape(len(present), BANDS, ROWS).astype(np.uint64)
        acc = np.zeros((len(present), BANDS), np.uint64)
        for r in range(ROWS):
            acc = mix(acc * np.uint64(0x100000001B3) + folded[:, :, r] + _BAND_SALT)
    keys[present] = acc
    return keys, has


@dataclass(frozen=True)
class CampaignRule:
    window_ms: int
    min_senders: int
    min_messages: int
    min_chars: int  # shorter normalised texts never make a campaign
    min_score: float  # mean content score a campaign without links needs
    hot_count: int = 2  # a band seen this many times in the window keeps its texts


@dataclass
class Cluster:
    campaign_id: str
    first_at: int
    last_at: int
    bands: set[int]
    senders: set[str]
    messages: int = 0
    recipients: set[int] = field(default_factory=set)  # pseudonyms, up to REACH_MAX
    reach_overflow: int = 0
    score_sum: float = 0.0
    links: int = 0
    sample: str = ""
    confirmed_at: int | None = None

    @property
    def reach(self) -> int:
        return len(self.recipients) + self.reach_overflow

    def record(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "first_at": self.first_at, "last_at": self.last_at,
                "confirmed_at": self.confirmed_at, "bands": sorted(self.bands)[:MAX_BANDS],
                "senders": sorted(self.senders)[:MAX_SENDERS_LISTED], "sender_count": len(self.senders),
                "messages": self.messages, "reach": self.reach, "sample": self.sample}

    def encode(self) -> dict[str, Any]:
        return {**self.record(), "bands": sorted(self.bands), "senders": sorted(self.senders),
                "recipients": sorted(self.recipients), "ro": self.reach_overflow,
                "score_sum": self.score_sum, "links": self.links}

    @classmethod
    def decode(cls, v: dict[str, Any]) -> Cluster:
        return cls(v["campaign_id"], v["first_at"], v["last_at"], set(v["bands"]), set(v["senders"]),
                   v["messages"], set(v["recipients"]), v["ro"], v["score_sum"], v["links"], v["sample"],
                   v["confirmed_at"])


REACH_MAX = 10_000
MAX_BANDS = 512  # of a confirmed campaign, given to the verdict processors
MAX_SENDERS_LISTED = 200
SKETCH_BITS = 22  # count-min row of 4M counters per window half


@dataclass
class Sighting:
    """One text as the detector sees it."""
    message_id: str
    at: int
    sender: str
    recipient: int  # pseudonym
    bands: list[int]
    score: float
    chars: int
    link: bool
    text: str  # normalised, kept only as a campaign's sample


class Detector:
    """The campaign detector's state; `see` returns the campaigns each sighting confirmed or grew."""

    def __init__(self, rule: CampaignRule) -> None:
        self.rule = rule
        self.half_ms = max(rule.window_ms // 2, 1)
        self.counts = {0: np.zeros(1 << SKETCH_BITS, np.uint16), 1: np.zeros(1 << SKETCH_BITS, np.uint16)}
        self.half = 0  # index of the current window half (time // half_ms)
        self.by_band: dict[int, str] = {}
        self.clusters: dict[str, Cluster] = {}
        self.expired: list[str] = []  # clusters dropped since the caller last looked

    def _advance(self, at: int) -> None:
        half = at // self.half_ms
        if half <= self.half:
            return
        if half - self.half >= 2:
            self.counts[0][:] = 0
            self.counts[1][:] = 0
        else:
            self.counts[half % 2][:] = 0
        self.half = half
        oldest = at - self.rule.window_ms
        for cid in [c for c, cl in self.clusters.items() if cl.last_at < oldest]:
            for b in self.clusters[cid].bands:
                if self.by_band.get(b) == cid:
                    del self.by_band[b]
            del self.clusters[cid]
            self.expired.append(cid)

    def see(self, s: Sighting) -> Cluster | None:
        """Take one sighting (in order); returns its cluster when that is, or has become, a
        campaign."""
        self._advance(s.at)
        mask = (1 << SKETCH_BITS) - 1
        idx = np.array([b & mask for b in s.bands], np.int64)
        cur, prev = self.counts[self.half % 2], self.counts[(self.half + 1) % 2]
        np.add.at(cur, idx, 1)
        seen = int((cur[idx].astype(np.int32) + prev[idx]).max())
        known = [self.by_band[b] for b in s.bands if b in self.by_band]
        if not known and seen < self.rule.hot_count:
            return None
        if known:
            cid = known[0]
            cluster = self.clusters[cid]
            for other in dict.fromkeys(known[1:]):  # texts bridging two clusters merge them
                if other != cid and other in self.clusters:
                    self._merge(cluster, self.clusters.pop(other))
                    self.expired.append(other)
        else:
            cid = f"c{s.bands[0] & 0xFFFFFFFFFFFFFFFF:016x}"
            cluster = self.clusters.get(cid) or Cluster(cid, s.at, s.at, set(), set(), sample=s.text)
            self.clusters[cid] = cluster
        for b in s.bands:
            self.by_band[b] = cid
        cluster.bands.update(s.bands)
        cluster.senders.add(s.sender)
        cluster.messages += 1
        cluster.last_at = max(cluster.last_at, s.at)
        if len(cluster.recipients) < REACH_MAX:
            cluster.recipients.add(s.recipient)
        else:
            cluster.reach_overflow += 1
        cluster.score_sum += s.score
        cluster.links += s.link
        if cluster.confirmed_at is None and self._confirms(cluster, s):
            cluster.confirmed_at = s.at
        return cluster if cluster.confirmed_at is not None else None

    def _confirms(self, c: Cluster, s: Sighting) -> bool:
        r = self.rule
        return (len(c.senders) >= r.min_senders and c.messages >= r.min_messages and s.chars >= r.min_chars
                and (c.links * 2 >= c.messages or c.score_sum / c.messages >= r.min_score))

    def _merge(self, into: Cluster, other: Cluster) -> None:
        into.bands |= other.bands
        into.senders |= other.senders
        into.messages += other.messages
        into.recipients |= other.recipients
        into.reach_overflow += other.reach_overflow
        into.score_sum += other.score_sum
        into.links += other.links
        into.first_at = min(into.first_at, other.first_at)
        into.last_at = max(into.last_at, other.last_at)
        if other.confirmed_at is not None:
            into.confirmed_at = min(into.confirmed_at or other.confirmed_at, other.confirmed_at)
        for b in other.bands:
            self.by_band[b] = into.campaign_id
