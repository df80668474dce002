"""What a processor is, and what the engine gives it.

A processor is a small class: it names its input topics, takes batches of raw records
(`on_batch`), and keeps its state in attributes and in tables it asks its `Context` for. It
decodes and validates what it reads (a bad record goes to `ctx.out.reject`), emits outputs on
`ctx.out` (delivered before its state is written) or `ctx.after_state` (after), and adds its last
changes in `on_checkpoint`. The engine runs its callbacks one at a time (batches, checkpoints,
timers, rebalances: never two at once, so a processor needs no locks of its own) and makes
everything durable in the order of checkpoint.py.

Two contexts implement `Context`: the worker's (runner.py, on faust and the real broker) and
the broker-less one of the tests (testing.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Protocol

from streams.codec import Codec
from streams.engine.limits import Bounds, Clock
from streams.engine.outbox import Outbox
from streams.engine.tables import BufferedTable
from streams.settings import Settings

Timer = tuple[float, Callable[[], Awaitable[None]]]


class Context(Protocol):
    settings: Settings
    codec: Codec
    out: Outbox  # delivered before the state is written
    after_state: Outbox  # delivered after it
    bounds: Bounds  # size bounds on inputs (limits.py)
    clock: Clock  # the wall clock and the newest event time allowed

    def table(self, name: str, *, partitions: int, encode: Callable[[Any], Any] | None = None,
              marker: bool = False, raw_restore: bool = False) -> BufferedTable:
        """A changelog-backed table; `marker`: flushed before the outputs (checkpoint.py, step 1);
        `raw_restore`: values restored from the changelog stay the record's JSON bytes until the
        processor reads them (a large table then takes its bytes' memory, not their objects')."""

    def outbox(self) -> Outbox:
        """An outbox of the processor's own, delivered when it says (timers)."""

    def partition_of(self, key: bytes, partitions: int) -> int:
        """The partition Kafka's default partitioner gives `key`."""

    def assigned(self, topic: str) -> list[int]:
        """The partitions of catalogue topic `topic` this worker holds now."""

    async def position(self, topic: str, partition: int) -> int | None:
        """The next offset the consumer will fetch, None when not positioned yet."""

    def highwater(self, topic: str, partition: int) -> int | None:
        """The partition's end as last fetched, None when not known."""

    async def commit(self) -> None:
        """Make everything durable now (checkpoint.py, steps 1-4): for timers."""

    def yield_requested(self) -> bool:
        """The worker stops or rebalances and waits for this processor's batch in hand."""


class Processor:
    name: ClassVar[str]  # in dead letters, logs and /health
    inputs: ClassVar[tuple[str, ...]]  # catalogue topics, co-partitioned when more than one
    # Catalogue topics every worker reads whole, from the beginning (replicas.py): given to
    # `on_replica`; the first batch waits until they are read up to their ends at start.
    replicas: ClassVar[tuple[str, ...]] = ()
    # True: durable once per FIRSTLINE_CHECKPOINT_INTERVAL_MS (and when caught up or rebalancing);
    # False: every batch is a checkpoint.
    checkpointed: ClassVar[bool] = True
    # Seconds a batch waits for more records after its first (None: FIRSTLINE_BATCH_LINGER_MS);
    # 0 for a processor whose every record waits on it (an offer, a verdict in a delivery path).
    linger_s: ClassVar[float | None] = None
    # True: `ctx.out` is sent after every batch, not held until the checkpoint (which still waits
    # for it before the state). Only for a processor that decides alike on a replay: a crash
    # replays the inputs since the checkpoint onto its state and sends the same outputs again,
    # under the same ids.
    eager: ClassVar[bool] = False

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def on_batch(self, records: Sequence[Any]) -> int | None:
        """Take records (aiokafka ConsumerRecords: topic, partition, offset, timestamp, key,
        value). Return None when all were taken, or how many were, to end the checkpoint there
        (the engine commits and hands over the rest)."""
        raise NotImplementedError

    def on_replica(self, records: Sequence[Any]) -> None:
        """Records of the replicated topics, in order per partition."""

    async def on_checkpoint(self) -> None:
        """Last changes before the engine commits (checkpoint.py)."""

    async def before_delivery(self) -> None:
        """Runs right before `ctx.out` is delivered at a commit."""

    def on_rebalanced(self) -> None:
        """Partitions moved: caches of what this worker held may be stale."""

    async def on_stop(self) -> None:
        """The worker stops (its consumer already stopped): release what the processor holds,
        such as connections."""

    def timers(self) -> list[Timer]:
        """(interval in seconds, coroutine function) pairs the engine runs between batches."""
        return []

    def status(self) -> dict[str, Any]:
        """Figures for /health."""
        return {}
