"""Sender and subscriber addresses: one spelling per address, and a keyed pseudonym.

"+7 (916) 123-45-67", "89161234567" and "79161234567" are one number; "MTS-Info" and
"mts-info" one sender name. Pseudonyms are HMAC-SHA256 of the canonical address, keyed so
that nobody without the key can test a guessed number against them; the key comes from
FIRSTLINE_PSEUDONYM_KEY (rotation: docs/design.md).
"""

from __future__ import annotations

import hashlib
import re
import hmac

_PUNCT = str.maketrans("", "", " +-()")


def canonical(address: str) -> str:
    if address.isdigit():  # most are digits already: the same answer as below, sooner
        return "7" + address[1:] if len(address) == 11 and address[0] == "8" else address
    a = address.strip()
    digits = a.translate(_PUNCT)
    if digits.isdigit():
        if len(digits) == 11 and digits[0] == "8":  # Russian trunk prefix
            return "7" + digits[1:]
        return digits
    return a.casefold()


def pseudonym64(address: str, key: bytes) -> int:
    """A 64-bit keyed hash of a canonical address: distinct counting without the number."""
    return int.from_bytes(hmac.digest(key, address.encode(), "sha256")[:8], "little")


def pseudonym(address: str, key: bytes) -> str:
    """A keyed pseudonym of a canonical address for outputs: 'p:' and 20 hex digits."""
    return "p:" + hmac.digest(key, address.encode(), "sha256")[:10].hex()


class Pseudonyms:
    """Both pseudonyms of canonical addresses from one HMAC each, remembered for the addresses
    seen lately (senders and recipients repeat: bulk senders, mass mailers, busy subscribers).
    Forgets everything when full, so its memory is bounded.

    The HMAC is RFC 2104's, from SHA-256 states keyed once (the inner and outer pads hashed at
    start, copied per address): the same bytes as `hmac.digest`, which the tests check, for
    less than half its cost per call."""

    def __init__(self, key: bytes, size: int = 1 << 16) -> None:
        self.size = size
        self._known: dict[str, tuple[str, int]] = {}
        block = key if len(key) <= 64 else hashlib.sha256(key).digest()
        block = block.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def digest(self, address: str) -> bytes:
        """HMAC-SHA256(key, address)."""
        inner = self._inner.copy()
        inner.update(address.encode())
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def of(self, address: str) -> tuple[str, int]:
        """(pseudonym, pseudonym64) of a canonical address."""
        known = self._known.get(address)
        if known is None:
            if len(self._known) >= self.size:
                self._known.clear()
            digest = self.digest(address)
            known = self._known[address] = ("p:" + digest[:10].hex(), int.from_bytes(digest[:8], "little"))
        return known


# A subscriber number inside bytes nobody decoded: 10 to 12 digits (a national number, or one with
# its 7 or 8), or '+' and 10 to 15 (E.164), not part of a longer run of digits. Times in epoch
# milliseconds have 13 digits and stay.
_NUMBER_RUN = re.compile(rb"(?<![0-9])(\+[0-9]{10,15}|[0-9]{10,12})(?![0-9])")


class NumberMask:
    """Replaces every subscriber number in raw bytes or text (a dead letter's key, value and
    reason) by a token of the same length: 'p' and the leading hex digits of the pseudonym of its
    canonical form. The bytes keep their framing (an Avro string its length), one number keeps one
    token, and the token is the start of the pseudonym the processors publish for it."""

    def __init__(self, pseudonyms: Pseudonyms) -> None:
        self.pseudonyms = pseudonyms

    def _token(self, match: re.Match[bytes]) -> bytes:
        run = match.group(0)
        hexed = self.pseudonyms.of(canonical(run.decode()))[0][2:]  # 20 hex digits
        return ("p" + (hexed * 2)[:len(run) - 1]).encode()

    def bytes(self, data: bytes) -> bytes:
        return _NUMBER_RUN.sub(self._token, data)

    def text(self, text: str) -> str:
        return self.bytes(text.encode("utf-8", "surrogatepass")).decode("utf-8", "surrogatepass")
