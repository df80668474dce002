"""The engine in a worker: processors run on the faust app, one consumer group, the real broker.

`Engine.add(ProcessorClass)` gives the processor a `WorkerContext` (tables on faust's memory
store and changelogs, outboxes on Kafka record batches), subscribes a batch channel to its inputs
(channel.py), and runs its batches, checkpoints and timers one at a time. A processor that
raises outside a record (a failed delivery, a bug) crashes the worker on purpose: the process
exits and its successor resumes from the last checkpoint, instead of a worker that looks alive
while one of its processors is dead; `/health` reports it until then.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from streams.codec import Codec
from streams.engine import diagnostics
from streams.engine.channel import BatchChannel
from streams.engine.consumer import App
from streams.engine.context import BaseContext
from streams.engine.errors import Abandoned
from streams.engine.meters import EngineMeters
from streams.engine.processor import Processor
from streams.engine.producer import KeyHashes, RecordBatches
from streams.engine.replicas import ReplicaReader
from streams.engine.tables import BufferedTable
from streams.settings import Settings
from streams.topics import spec

log = logging.getLogger(__name__)
P = TypeVar("P", bound=Processor)


class WorkerContext(BaseContext):
    def __init__(self, engine: Engine, processor: str) -> None:
        self.engine = engine
        super().__init__(engine.settings, engine.codec, processor)

    def _sender(self) -> RecordBatches:
        return RecordBatches(self.engine.app, self.engine.key_hashes)

    def table(self, name: str, *, partitions: int, encode: Callable[[Any], Any] | None = None,
              marker: bool = False, raw_restore: bool = False) -> BufferedTable:
        # Untyped JSON values: value_type=dict fails on changelog recovery.
        table = self.engine.app.Table(name, default=None, key_type=str, partitions=partitions)
        table.firstline_raw_restore = raw_restore  # type: ignore[attr-defined]  # read by consumer.py
        if (table.key_serializer, table.value_serializer) != ("json", "json"):
            raise ValueError(f"table {name}: keys and values must use the json serializer")

        def open_store() -> tuple[Any, dict[Any, int] | None]:
            store = table.data
            inner = getattr(store, "data", None)
            where = getattr(store, "_key_partition", None)
            return (inner if isinstance(inner, dict) else store), (where if isinstance(where, dict) else None)

        buffered = BufferedTable(name, table.changelog_topic.get_topic_name(), open_store,
                                 lambda: RecordBatches(self.engine.app), encode)
        buffered.faust_table = table  # type: ignore[attr-defined]  # for tests of the store's own rules
        return self._held(buffered, marker)

    def partition_of(self, key: bytes, partitions: int) -> int:
        return self.engine.key_hashes.partition(key, partitions)

    def _tp(self, topic: str, partition: int) -> Any:
        from faust.types import TP

        return TP(spec(topic).full_name(self.settings), partition)

    def assigned(self, topic: str) -> list[int]:
        name = spec(topic).full_name(self.settings)
        return sorted(tp.partition for tp in self.engine.app.consumer.assignment() if tp.topic == name)

    async def position(self, topic: str, partition: int) -> int | None:
        try:
            return await self.engine.app.consumer.position(self._tp(topic, partition))
        except Exception:  # not positioned yet (assignment in progress)
            return None

    def highwater(self, topic: str, partition: int) -> int | None:
        return self.engine.app.consumer.highwater(self._tp(topic, partition))

    def yield_requested(self) -> bool:
        return self.channel.yield_requested or bool(self.engine.app.should_stop)

    channel: BatchChannel


class Engine:
    def __init__(self, app: App, settings: Settings, codec: Codec) -> None:
        self.app = app
        self.settings = settings
        self.codec = codec
        self.key_hashes = KeyHashes()
        self.processors: dict[str, Processor] = {}
        self.failures: dict[str, str] = {}  # processor -> why it stopped
        self.replicas: dict[str, ReplicaReader] = {}
        self.meters = EngineMeters()
        self.turns: dict[str, asyncio.Lock] = {}  # processor -> its turn (one callback at a time)
        diagnostics.install(self)

        @app.on_rebalance_complete.connect  # type: ignore[misc]
        async def counted(*args: Any, **kw: Any) -> None:
            self.meters.rebalances += 1

    def add(self, cls: type[P], **kwargs: Any) -> P:
        ctx = WorkerContext(self, cls.name)
        processor = cls(ctx, **kwargs)  # type: ignore[call-arg]
        ctx.bind(processor)
        self.processors[cls.name] = processor
        specs = [spec(name) for name in cls.inputs]
        channel = self.app.batch_channel(*(s.full_name(self.settings) for s in specs),
                                         capacity=self.settings.batch_max * 4,
                                         partitions=specs[0].partition_count(self.settings))
        ctx.channel = channel
        turn = self.turns[cls.name] = asyncio.Lock()  # one callback of a processor at a time
        replica = None
        if cls.replicas:
            async def apply(records: list[Any]) -> None:
                async with turn:
                    processor.on_replica(records)

            replica = ReplicaReader(self.settings.kafka_servers,
                                    [(spec(t).full_name(self.settings), spec(t).partition_count(self.settings))
                                     for t in cls.replicas], apply,
                                    client_options=self.settings.kafka_auth.aiokafka())
            self.replicas[cls.name] = replica
            self.app.task(self._guarded(cls.name, replica.run))
        self.app.task(self._guarded(cls.name, lambda: self._run(processor, ctx, channel, turn, replica)))
        for interval, callback in processor.timers():
            self.app.timer(interval)(self._guarded(cls.name, self._locked(turn, callback)))

        @self.app.on_rebalance_complete.connect  # type: ignore[misc]
        async def rebalanced(*args: Any, **kw: Any) -> None:
            processor.on_rebalanced()

        @self.app.on_before_shutdown.connect  # type: ignore[misc]
        async def stopping(*args: Any, **kw: Any) -> None:
            try:
                await processor.on_stop()
            except Exception:  # the worker stops anyway: say so, and stop the others too
                log.exception("Processor %s failed while stopping", cls.name)

        return processor

    async def _run(self, processor: Processor, ctx: WorkerContext, channel: BatchChannel,
                   turn: asyncio.Lock, replica: ReplicaReader | None = None) -> None:
        s = self.settings
        if replica is not None:
            await replica.ready.wait()
        every = s.checkpoint_interval_s if processor.checkpointed else 0.0
        linger = s.batch_linger_s if processor.linger_s is None else processor.linger_s
        meters = self.meters.of(processor.name)
        clock = time.perf_counter

        async def checkpoint() -> None:
            began = clock()
            await processor.on_checkpoint()
            await ctx.commit()
            meters.checkpoints.observe(clock() - began)

        while True:
            try:
                async for batch in channel.batches(s.batch_max, linger, every):
                    async with turn:
                        meters.records_in += len(batch)
                        meters.batches += 1
                        rest: list[Any] = batch
                        while rest:
                            taken = processor.on_batch(rest)
                            if taken is None or taken >= len(rest):
                                break
                            await checkpoint()
                            rest = rest[taken:]
                        if batch.checkpoint:
                            await checkpoint()
                        elif processor.eager:
                            await ctx.out.send_now()
                    # returning here acknowledges the batches since the last checkpoint (channel.py)
                return
            except Abandoned as exc:  # nothing of it acknowledged: read again (channel.py)
                log.warning("%s", exc)

    @staticmethod
    def _locked(turn: asyncio.Lock, callback: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def locked() -> None:
            async with turn:
                await callback()

        locked.__name__ = getattr(callback, "__name__", "timer")
        return locked

    def _guarded(self, name: str, body: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def guarded() -> None:
            try:
                await body()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures[name] = f"{type(exc).__name__}: {exc}"[:1000]
                log.exception("Processor %s failed; stopping the worker so that a new one resumes "
                              "from the last checkpoint", name)
                await self.app.crash(exc)

        guarded.__name__ = guarded.__qualname__ = f"{name}-{getattr(body, '__name__', 'task')}"
        return guarded

