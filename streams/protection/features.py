"""Hashed character and word n-grams of a batch of texts, computed for the whole batch at once.

The hashing trick (as scikit-learn's HashingVectorizer): every character 2- to 5-gram and every
word and word pair of a normalised text is hashed into one of 2**bits buckets. scikit-learn's
analyzer builds the n-grams one text at a time in Python, several times the SMS path's budget
per message, so the n-grams here are hashed with numpy over the whole batch: a polynomial hash
of any substring comes from two prefix sums (Karp-Rabin), so every n-gram of every text costs a
few vector operations. The hash is fixed (no per-process seed), so a model trained on one machine
scores the same on another. The same n-gram hashes give the MinHash signatures of campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHAR_NGRAMS = (2, 3, 4, 5)
SHINGLE = 5  # character n-gram used for near-duplicate (MinHash) signatures

_P = np.uint64(0x100000001B3)  # FNV prime: odd, so invertible modulo 2**64
_P_INV = np.uint64(pow(0x100000001B3, -1, 2**64))
_SEP = "\x00"
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)


def mix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: every input bit reaches every output bit."""
    h = h ^ (h >> _S33)
    h = h * _M1
    h = h ^ (h >> _S33)
    h = h * _M2
    return h ^ (h >> _S33)


_powers: tuple[np.ndarray, np.ndarray] = (np.ones(1, np.uint64), np.ones(1, np.uint64))


def _powers_to(n: int) -> tuple[np.ndarray, np.ndarray]:
    global _powers
    if len(_powers[0]) < n:
        size = max(n, 2 * len(_powers[0]), 1 << 16)
        pw = np.empty(size, np.uint64)
        inv = np.empty(size, np.uint64)
        pw[0] = inv[0] = 1
        p, q = 1, 1
        # built once per size (doubling), so a plain loop is fine
        for i in range(1, size):
            p = (p * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
            q = (q * int(_P_INV)) & 0xFFFFFFFFFFFFFFFF
            pw[i] = p
            inv[i] = q
        _powers = (pw, inv)
    return _powers


@dataclass(frozen=True)
class Grams:
    """Every feature of a batch: `rows[i]` is the text feature i belongs to, `hashes[i]` its
    64-bit hash; `shingle_rows` / `shingles` the same for the character 5-grams alone."""

    texts: int
    rows: np.ndarray
    hashes: np.ndarray
    shingle_rows: np.ndarray
    shingles: np.ndarray

    def buckets(self, bits: int) -> np.ndarray:
        return (self.hashes >> np.uint64(64 - bits)).astype(np.int64)

    def per_row(self) -> np.ndarray:
        return np.bincount(self.rows, minlength=self.texts)


def grams(texts: list[str]) -> Grams:
    """The hashed n-grams of normalised texts (text.normalise): character 2- to 5-grams of
    ' text ', words and word pairs."""
    n = len(texts)
    joined = _SEP + _SEP.join(f" {t} " for t in texts) + _SEP
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    size = len(codes)
    pw, inv = _powers_to(size + 1)
    is_sep = codes == 0
    row_of = np.cumsum(is_sep) - 1  # the text each position belongs to (separators: the one before)
    seps = np.concatenate(([0], np.cumsum(is_sep)))
    with np.errstate(over="ignore"):
        prefix = np.concatenate((np.zeros(1, np.uint64), np.cumsum(codes * inv[:size], dtype=np.uint64)))

        def span_hash(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # hash of codes[a:b]
            return pw[b - 1] * (prefix[b] - prefix[a])

        rows, hashes = [], []
        shingle_rows = shingles = np.empty(0, np.uint64)
        for k in CHAR_NGRAMS:
            a = np.arange(0, size - k + 1)
            ok = seps[a + k] == seps[a]
            a = a[ok]
            h = mix(span_hash(a, a + k) ^ np.uint64(k * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF))
            rows.append(row_of[a])
            hashes.append(h)
            if k == SHINGLE:
                shingle_rows, shingles = row_of[a], h
        # words: maximal runs between spaces and separators
        blank = (codes == 32) | is_sep
        edges = np.flatnonzero(np.diff(blank.astype(np.int8)))
        starts, ends = edges[::2] + 1, edges[1::2] + 1
        if len(starts) > len(ends):
            starts = starts[:len(ends)]
        wh = mix(span_hash(starts, ends) ^ np.uint64(0x5851F42D4C957F2D))
        wrow = row_of[starts]
        rows.append(wrow)
        hashes.append(wh)
        pair = wrow[1:] == wrow[:-1]
        rows.append(wrow[1:][pair])
        hashes.append(mix(wh[:-1][pair] * _P + wh[1:][pair]))
    return Grams(n, np.concatenate(rows).astype(np.int64), np.concatenate(hashes),
                 shingle_rows.astype(np.int64), shingles)
