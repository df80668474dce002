"""The consumer's commit rule (streams/engine/consumer.py), on its bookkeeping alone."""

from collections import defaultdict
from types import SimpleNamespace

from faust.types import TP
from intervaltree import IntervalTree

from streams.engine.consumer import Consumer

TP0 = TP("contact-events", 0)


def consumer(acked: list[int], committed: int | None, gaps: tuple[tuple[int, int], ...] = ()) -> SimpleNamespace:
    fake = SimpleNamespace(_acked={TP0: acked}, _committed_offset={TP0: committed}, _gap=defaultdict(IntervalTree))
    fake._head_missing = lambda tp: Consumer._head_missing(fake, tp)
    for begin, end in gaps:
        fake._gap[TP0].addi(begin, end)
    return fake


def test_one_skipped_record_at_the_head_holds_the_commit() -> None:
    # faust alone would commit past offset 32 here: it compares min(acked) - committed > 1.
    assert Consumer._head_missing(consumer([33, 34], committed=32), TP0) == 32
    assert Consumer._new_offset(consumer([33, 34], committed=32), TP0) is None


def test_contiguous_acks_and_known_gaps_do_not() -> None:
    assert Consumer._head_missing(consumer([32, 33], committed=32), TP0) is None
    assert Consumer._head_missing(consumer([], committed=32), TP0) is None
    assert Consumer._head_missing(consumer([33], committed=None), TP0) is None
    # compacted away (faust records it as a gap and commits over it)
    assert Consumer._head_missing(consumer([35], committed=32, gaps=((32, 35),)), TP0) is None
