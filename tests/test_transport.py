"""The consumer's commit rule (streams/engine/consumer.py), on its bookkeeping alone."""

from collections import defaultdict
from types import SimpleNamespace

from faust.types import TP
from intervaltree import IntervalTree

from streams.engine.consumer import Consumer

TP0 = TP("contact-events", 0)


def consumer(acked: list[int], committed: int | None, gaps: tuple[tuple[int, int], ...] = ()) -> SimpleNamespace:
    fake = SimpleNamespace(_acked={TP0: acked}, _committed_offset={TP0: committed}, _gap=defaultdict(IntervalTree),
                           _awaiting_baseline={})
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


class Bare(Consumer):
    """The consumer's methods on bookkeeping a test sets, without a service's start."""

    should_stop = False


def test_a_partition_never_committed_gets_its_first_offset_as_baseline_and_commits_nothing_before() -> None:
    """A worker's first records of a never-committed partition, fetched and dropped in a
    rebalance, were committed over: the seek to committed offsets had no offset to go to, and
    the watchdog nothing to compare with."""
    import asyncio
    import logging

    fresh, committed, changelog = TP("t.sms-messages", 2), TP("t.sms-messages", 0), TP("t-state-changelog", 0)
    background: list = []
    sought: list[dict[TP, int]] = []
    worker = object.__new__(Bare)

    class Channel:
        """A channel holding records of an older generation, dropped at the seek."""

        def drop_older(self, generation: int) -> None:
            assert generation == 2
            worker.note_dropped(fresh, 0)
            worker.note_dropped(committed, 41)

    async def seek_to_committed() -> dict[TP, int | None]:
        return {fresh: None, committed: 40, changelog: None}

    async def seek_wait(partitions: dict[TP, int]) -> None:
        sought.append(dict(partitions))

    worker.__dict__.update(
        app=SimpleNamespace(batch_channels={"t.sms-messages": Channel()}, consumer_generation_id=2),
        log=logging.getLogger("test"), _awaiting_baseline={}, _dropped={}, _sought=set(),
        _thread=SimpleNamespace(seek_to_committed=seek_to_committed), seek_wait=seek_wait,
        _read_offset=defaultdict(lambda: None), _committed_offset=defaultdict(lambda: None),
        _acked=defaultdict(list), _gap=defaultdict(IntervalTree), add_future=background.append,
        assignment=lambda: {fresh, committed, changelog})

    async def earliest_offsets(*tps: TP) -> dict[TP, int]:
        assert set(tps) == {fresh}  # not the one with a committed offset, nor a changelog
        return {tp: 0 for tp in tps}

    worker.__dict__.update(earliest_offsets=earliest_offsets)
    asyncio.run(worker.perform_seek())
    # the dropped records of the never-committed partition are read again; the committed one
    # went back to its committed offset already
    assert sought == [{fresh: 0}] and worker._sought == {committed} and not worker._dropped
    # records 0-105 dropped in the rebalance, later ones acknowledged: no commit before the
    # baseline is known, none over the missing head after
    worker._acked[fresh] = [106, 107]
    assert Consumer._new_offset(worker, fresh) is None and worker._committed_offset[committed] == 40
    asyncio.run(background.pop())
    assert worker._committed_offset[fresh] == 0 and not worker._awaiting_baseline
    assert Consumer._head_missing(worker, fresh) == 0 and Consumer._new_offset(worker, fresh) is None


def test_a_baseline_asked_for_before_a_rebalance_is_dropped_not_kept() -> None:
    import asyncio
    import logging

    tp = TP("t.sms-messages", 1)
    app = SimpleNamespace(consumer_generation_id=3)
    worker = object.__new__(Bare)

    async def earliest_offsets(*tps: TP) -> dict[TP, int]:
        app.consumer_generation_id = 4  # a rebalance while the broker answered
        return {t: 7 for t in tps}

    worker.__dict__.update(app=app, log=logging.getLogger("test"), _awaiting_baseline={tp: 3},
                           _committed_offset=defaultdict(lambda: None), earliest_offsets=earliest_offsets,
                           assignment=lambda: {tp})
    asyncio.run(Consumer._set_baselines(worker, {tp}, 3))
    assert worker._awaiting_baseline == {} and worker._committed_offset[tp] is None
