"""Block lists: each subscriber's own (the Antispam-SMS service) and the operator-wide one.

A change is (subscriber, sender, BLOCK | UNBLOCK, time); subscriber '*' is the operator-wide list,
and UNBLOCK of sender '*' clears a subscriber's whole list (the USSD "clear all" command) in a
contract that older readers still decode. Lists answer by event time: a message sent at t is
judged by the newest change made at or before t, so changes read late or out of order, and a
replay after a restart, give the same verdicts. Senders named `content:*` (all paid content) and
`content:<provider>` are the subscriber's content bans (subscriptions.py): "clear all" of the
Antispam-SMS list leaves them. Each (subscriber, sender) keeps its last
HISTORY changes, and each subscriber its last HISTORY "clear all" times.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass, field

from streams.protection.addresses import canonical

OPERATOR = "*"
ALL = "*"
CONTENT_PREFIX = "content:"
HISTORY = 8


@dataclass
class BlockLists:
    # subscriber -> canonical sender -> changes sorted by time: (time, blocked?, source)
    entries: dict[str, dict[str, list[tuple[int, bool, str]]]] = field(default_factory=dict)
    cleared: dict[str, list[int]] = field(default_factory=dict)  # subscriber -> "clear all" times

    def apply(self, subscriber: str, sender: str, block: bool, at: int, note: str = "") -> None:
        if sender == ALL and not block:
            times = self.cleared.setdefault(subscriber, [])
            if at not in times:
                insort(times, at)
                del times[:-HISTORY]
            return
        changes = self.entries.setdefault(subscriber, {}).setdefault(canonical(sender), [])
        change = (at, block, note)
        if change not in changes:
            insort(changes, change)
            del changes[:-HISTORY]

    def _blocks(self, subscriber: str, sender: str, at: int) -> tuple[bool, str]:
        held = self.entries.get(subscriber)
        if not held:
            return False, ""
        changes = held.get(sender)
        if not changes:
            return False, ""
        i = bisect_right(changes, (at, True, "\U0010ffff"))  # the changes made at or before `at`
        if i == 0:
            return False, ""
        when, blocked, note = changes[i - 1]
        if not blocked:
            return False, ""
        clears = self.cleared.get(subscriber)
        if clears and not sender.startswith(CONTENT_PREFIX):
            j = bisect_right(clears, at)
            if j and clears[j - 1] >= when:  # cleared after the block, before the message
                return False, ""
        return True, note

    def by_recipient(self, recipient: str, sender: str, at: int) -> bool:
        """`recipient` had `sender` (both canonical) blocked at `at`."""
        return self._blocks(recipient, sender, at)[0]

    def has_content_ban(self, subscriber: str, names: tuple[str, ...], at: int) -> bool:
        return any(self._blocks(subscriber, name, at)[0] for name in names)

    def by_operator(self, sender: str, at: int) -> bool:
        return self._blocks(OPERATOR, sender, at)[0]

    def operator_source(self, sender: str, at: int) -> str | None:
        """The source of the operator-wide block of `sender` in force at `at`, if any."""
        blocked, note = self._blocks(OPERATOR, sender, at)
        return note if blocked else None

    def latest(self, subscriber: str, sender: str) -> tuple[int, bool, str] | None:
        changes = self.entries.get(subscriber, {}).get(sender)
        return changes[-1] if changes else None

    def size(self) -> int:
        return sum(len(v) for v in self.entries.values())
