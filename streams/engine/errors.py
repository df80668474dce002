"""Why a record is refused: each class names the dead-letter ErrorKind it is filed under.

No Kafka here: the pure-logic modules of the processors raise these too.
"""

from __future__ import annotations


class InvalidRecord(ValueError):
    """A decoded record whose values are impossible or not allowed."""

    kind = "INVALID"


class TooLarge(InvalidRecord):
    """A record, one of its fields, or an output made from it, beyond a configured bound."""

    kind = "TOO_LARGE"


class Refused(InvalidRecord):
    """A row the storage refused for its content after the configured number of tries."""

    kind = "REFUSED"


class Abandoned(Exception):
    """A batch given up unacknowledged (a sink's storage is down while the worker stops or
    rebalances): its records are read again, by this worker or the next owner."""


class Undelivered(InvalidRecord):
    """An alert a webhook endpoint did not accept after the configured tries, or one for an
    endpoint disabled after persistent failures (REFUSED, as a row the storage refused)."""

    kind = "REFUSED"
