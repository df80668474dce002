"""A broker-less context for processors, as bytewax's TestingSource/TestingSink: feed a processor
records, read back its outputs, state writes and dead letters, and see what a restart after a
failed checkpoint step would find.

    h = Harness(ContactSummary)
    h.feed("contact-events", event)            # a dict (encoded as a producer would) or raw bytes
    h.run()                                    # one batch, then a checkpoint
    h.outputs("contact-summaries")             # decoded records, in the order sent
    h.dead_letters()
    h.state("contact-state")                   # the table as the processor holds it

Records are placed on partitions by Kafka's default partitioner, outputs and changelog records
go through the same Outbox, encoder and BufferedTable code as in a worker, and the checkpoint is
the engine's (checkpoint.py). `fail("state")` makes that step's sends fail; `restart()` builds a
new processor from what the "broker" holds: the changelogs as delivered and the inputs from the
last acknowledged offset. Only Kafka itself is missing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord

from streams.codec import Codec, load_registry
from streams.engine.checkpoint import Checkpoint
from streams.engine.context import BaseContext
from streams.engine.processor import Processor
from streams.engine.producer import KeyHashes
from streams.engine.tables import BufferedTable
from streams.settings import Settings
from streams.topics import spec


class DeliveryFailed(ConnectionError):
    """What a send to a topic made to fail looks like to the processor."""


@dataclasses.dataclass
class Sent:
    topic: str
    partition: int
    key: bytes | None
    value: bytes | None


class MemoryBroker:
    """Topics as lists of delivered records; `failing`: topics whose sends fail."""

    def __init__(self) -> None:
        self.topics: dict[str, list[Sent]] = {}
        self.failing: set[str] = set()

    def deliver(self, records: list[Sent]) -> None:
        for record in records:
            if record.topic in self.failing or "*" in self.failing:
                raise DeliveryFailed(f"delivery to {record.topic} failed (made to fail by the test)")
        for record in records:
            self.topics.setdefault(record.topic, []).append(record)


class MemorySender:
    def __init__(self, broker: MemoryBroker, partitions: Callable[[str], int], hashes: KeyHashes) -> None:
        self._broker = broker
        self._partitions = partitions
        self._hashes = hashes
        self._pending: list[Sent] = []

    def __bool__(self) -> bool:
        return bool(self._pending)

    def add(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        if partition is None:
            if key is None:
                raise ValueError(f"a record for {topic} has neither key nor partition")
            partition = self._hashes.partition(key, self._partitions(topic))
        self._pending.append(Sent(topic, partition, key, value))

    async def send(self) -> list[Awaitable[Any]]:
        pending, self._pending = self._pending, []
        self._broker.deliver(pending)
        return []


class BrokerlessContext(BaseContext):
    """`Context` (processor.py) without Kafka. `assignment`: partitions held per topic (all by
    default); `ends`: the partitions' ends as the consumer would know them."""

    def __init__(self, settings: Settings, codec: Codec, broker: MemoryBroker, processor: str) -> None:
        self.broker = broker
        self.hashes = KeyHashes()
        super().__init__(settings, codec, processor)
        self.stores: dict[str, dict[Any, Any]] = {}
        self.assignment: dict[str, list[int]] = {}
        self.positions: dict[tuple[str, int], int] = {}
        self.ends: dict[tuple[str, int], int] = {}

    def partitions(self, full_name: str) -> int:
        short = full_name.rsplit(".", 1)[-1]
        try:
            return spec(short).partition_count(self.settings)
        except KeyError:  # a changelog: its table's partitions are named on each record
            return self.settings.partitions

    def _sender(self) -> MemorySender:
        return MemorySender(self.broker, self.partitions, self.hashes)

    def table(self, name: str, *, partitions: int, encode: Callable[[Any], Any] | None = None,
              marker: bool = False, raw_restore: bool = False) -> BufferedTable:
        store = self.stores.setdefault(name, {})
        changelog = f"{self.settings.namespace}-{name}-changelog"
        for sent in self.broker.topics.get(changelog, []):  # restore, as a worker does on start
            key = orjson.loads(sent.key)  # type: ignore[arg-type]
            if sent.value is None:
                store.pop(key, None)
            else:
                store[key] = sent.value if raw_restore else orjson.loads(sent.value)
        return self._held(BufferedTable(name, changelog, lambda: (store, None), self._sender, encode), marker)

    def partition_of(self, key: bytes, partitions: int) -> int:
        return self.hashes.partition(key, partitions)

    def assigned(self, topic: str) -> list[int]:
        return self.assignment.get(topic, list(range(spec(topic).partition_count(self.settings))))

    async def position(self, topic: str, partition: int) -> int | None:
        return self.positions.get((topic, partition))

    def highwater(self, topic: str, partition: int) -> int | None:
        return self.ends.get((topic, partition))

    def yield_requested(self) -> bool:
        return self.stopping

    stopping = False


def offline_settings(**overrides: Any) -> Settings:
    """Settings for a broker-less run: small partition counts, nothing on disk is touched."""
    values: dict[str, Any] = dict(namespace="t", web_port=0, partitions=3)
    values.update(overrides)
    return dataclasses.replace(Settings(), **values)


class Harness:
    """One processor on a BrokerlessContext, fed and checkpointed by hand."""

    def __init__(self, cls: type[Processor], settings: Settings | None = None, broker: MemoryBroker | None = None,
                 codec: Codec | None = None, **kwargs: Any) -> None:
        self.cls, self.kwargs = cls, kwargs
        self.settings = settings or offline_settings()
        self.codec = codec or Codec(load_registry(self.settings.schemas_dir))
        self.broker = broker or MemoryBroker()
        self.loop = asyncio.new_event_loop()
        self.ctx = BrokerlessContext(self.settings, self.codec, self.broker, cls.name)
        self.processor = cls(self.ctx, **kwargs)  # type: ignore[call-arg]
        self.ctx.bind(self.processor)
        self.queued: list[ConsumerRecord] = []
        self.acked: dict[tuple[str, int], int] = {}  # (topic, partition) -> next offset to read
        self.inputs: dict[tuple[str, int], list[ConsumerRecord]] = {}  # everything fed, per partition
        self.pending: list[ConsumerRecord] = []  # handed to the processor since the last checkpoint
        self.replica_log: list[ConsumerRecord] = []  # every record of a replicated topic fed
        self.replica_queued: list[ConsumerRecord] = []
        self.last_checkpoint: Checkpoint | None = None

    # -- inputs ---------------------------------------------------------------------------------

    def feed(self, topic: str, record: dict[str, Any] | bytes | None, key: str | bytes | None = None,
             partition: int | None = None, timestamp: int = 0) -> ConsumerRecord:
        """Queue one input record: a dict is encoded with the topic's schema, its key taken from
        the topic's key field unless given; bytes go as they are."""
        s = spec(topic)
        value = self.codec.encode(s.value_schema, record) if isinstance(record, dict) else record
        if key is None and isinstance(record, dict):
            key = record[s.key_field]
        raw_key = key.encode() if isinstance(key, str) else key
        if partition is None:
            partition = self.ctx.hashes.partition(raw_key or b"", s.partition_count(self.settings))
        name = s.full_name(self.settings)
        if topic in self.cls.replicas:
            message = ConsumerRecord(name, partition, len(self.replica_log), timestamp, 0, raw_key, value, None,
                                     len(raw_key or b""), len(value or b""), ())
            self.replica_log.append(message)
            self.replica_queued.append(message)
            return message
        fed = self.inputs.setdefault((name, partition), [])
        message = ConsumerRecord(name, partition, len(fed), timestamp, 0, raw_key, value, None,
                                 len(raw_key or b""), len(value or b""), ())
        fed.append(message)
        self.queued.append(message)
        self.ctx.ends[(s.name, partition)] = len(fed)
        return message

    # -- running --------------------------------------------------------------------------------

    def call(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    def run(self, checkpoint: bool = True) -> Checkpoint | None:
        """The queued records as one batch (the engine's loop: early cuts included), then a
        checkpoint unless told not to. Raises what the checkpoint raised."""
        if self.replica_queued:  # read before the batch, as a worker's replica reader is at start
            replicated, self.replica_queued = self.replica_queued, []
            self.processor.on_replica(replicated)
        batch, self.queued = self.queued, []
        for r in batch:  # the consumer's position: past what it handed over
            key = (r.topic[len(self.settings.namespace) + 1:], r.partition)
            self.ctx.positions[key] = max(self.ctx.positions.get(key, 0), r.offset + 1)
        rest = batch
        while rest:
            taken = self.processor.on_batch(rest)
            if taken is None or taken >= len(rest):
                self.pending += rest
                break
            self.pending += rest[:taken]
            self._commit()
            rest = rest[taken:]
        return self._commit() if checkpoint else None

    def _commit(self) -> Checkpoint:
        def acknowledge() -> None:
            for r in self.pending:
                self.acked[(r.topic, r.partition)] = max(self.acked.get((r.topic, r.partition), 0), r.offset + 1)
            self.pending = []

        async def commit() -> Checkpoint:
            await self.processor.on_checkpoint()
            cp = self.ctx.checkpoint(acknowledge)
            self.last_checkpoint = cp
            await cp.commit()
            return cp

        return self.call(commit())  # type: ignore[no-any-return]

    def tick(self) -> None:
        """Run every timer of the processor once."""
        for _, callback in self.processor.timers():
            self.call(callback())

    def fail(self, *topics: str) -> None:
        """Make sends to these topics fail: catalogue names, `changelog` for every table's
        changelog (`changelog:NAME` for one), `*` for all; no arguments: nothing fails."""
        names = set()
        for t in topics:
            if t == "changelog":
                names.update(tb.changelog for tb in self.ctx.tables)
            elif t.startswith("changelog:"):
                names.add(f"{self.settings.namespace}-{t.split(':', 1)[1]}-changelog")
            elif t == "*":
                names.add("*")
            else:
                names.add(spec(t).full_name(self.settings))
        self.broker.failing = names

    def restart(self) -> "Harness":
        """A new worker after a crash: tables from the changelogs as delivered, inputs again from
        the last acknowledged offsets; outputs stay on the broker."""
        self.broker.failing = set()
        fresh = Harness(self.cls, self.settings, self.broker, self.codec, **self.kwargs)
        fresh.inputs = {tp: list(records) for tp, records in self.inputs.items()}
        fresh.acked = dict(self.acked)
        for tp, records in sorted(self.inputs.items()):
            fresh.queued += records[self.acked.get(tp, 0):]
        fresh.ctx.ends = dict(self.ctx.ends)
        fresh.replica_log = list(self.replica_log)
        fresh.replica_queued = list(self.replica_log)  # replicas are read again from the beginning
        self.loop.close()
        return fresh

    # -- reading back ---------------------------------------------------------------------------

    def sent(self, topic: str) -> list[Sent]:
        return list(self.broker.topics.get(spec(topic).full_name(self.settings), []))

    def outputs(self, topic: str) -> list[dict[str, Any]]:
        return [self.codec.decode(s.value, spec(topic).value_schema) for s in self.sent(topic)]

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.outputs("dead-letters")

    def state(self, table: str) -> dict[Any, Any]:
        return self.ctx.stores.get(table, {})

    def changelog(self, table: str) -> list[tuple[Any, Any]]:
        name = f"{self.settings.namespace}-{table}-changelog"
        return [(orjson.loads(s.key), None if s.value is None else orjson.loads(s.value))  # type: ignore[arg-type]
                for s in self.broker.topics.get(name, [])]
