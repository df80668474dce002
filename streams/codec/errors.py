"""Codec failures, classified the way the dead-letter record classifies them."""

from __future__ import annotations


class DecodeError(ValueError):
    """Bytes that are not a usable record. `kind` is a DeadLetter ErrorKind symbol."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class EncodeError(ValueError):
    """A record that does not fit its schema."""
