"""One SMS's verdict from its signals: every reason that applied, in a fixed order, and the
content score. Any reason blocks; the content score is a reason only at or above
FIRSTLINE_SMS_CONTENT_BLOCK_AT (below it, it lowers the mass-mailing limit instead)."""

from __future__ import annotations

# The order reasons are listed in: the subscriber's own choice first, then the operator's.
ORDER = ("RECIPIENT_BLOCK_LIST", "OPERATOR_BLOCK_LIST", "MASS_MAILING", "CAMPAIGN", "COMPLAINTS", "CONTENT")
# What an operator-wide block made by a detector says it came from: its source.
DETECTOR_SOURCES = {"firstline:mass-mailing": "MASS_MAILING", "firstline:campaign": "CAMPAIGN",
                    "firstline:complaints": "COMPLAINTS"}


def reasons_in_order(found: set[str]) -> list[str]:
    return [r for r in ORDER if r in found]

