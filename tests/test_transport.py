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


def test_a_partition_never_committed_is_read_from_its_first_record_which_becomes_its_baseline() -> None:
    """A worker's first records of a never-committed partition, fetched and dropped in a
    rebalance, were committed over: the seek to committed offsets had no offset to go to."""
    import asyncio
    import logging

    fresh, committed, changelog = TP("t.sms-messages", 2), TP("t.sms-messages", 0), TP("t-state-changelog", 0)
    sought: dict[TP, int] = {}
    worker = object.__new__(Consumer)
    worker.__dict__.update(
        app=SimpleNamespace(batch_channels={"t.sms-messages": object()}), log=logging.getLogger("test"),
        _read_offset=defaultdict(lambda: None, {fresh: 106}), _committed_offset=defaultdict(lambda: None),
        _acked=defaultdict(list), _gap=defaultdict(IntervalTree))

    async def seek_to_committed() -> dict[TP, int | None]:
        return {fresh: None, committed: 40, changelog: None}

    async def earliest_offsets(*tps: TP) -> dict[TP, int]:
        assert set(tps) == {fresh}  # not the one with a committed offset, nor a changelog
        return {tp: 0 for tp in tps}

    async def seek_wait(offsets: dict[TP, int]) -> None:
        sought.update(offsets)

    worker.__dict__.update(seek_to_committed=seek_to_committed, earliest_offsets=earliest_offsets,
                           seek_wait=seek_wait, assignment=lambda: {fresh, committed, changelog})
    asyncio.run(worker.perform_seek())
    assert sought == {fresh: 0}
    assert worker._committed_offset[fresh] == 0 and worker._committed_offset[committed] == 40
    assert worker._read_offset[fresh] is None
    # the records before 106 dropped again, later ones acknowledged: the head is missing
    worker._acked[fresh] = [106, 107]
    assert Consumer._head_missing(worker, fresh) == 0 and Consumer._new_offset(worker, fresh) is None
