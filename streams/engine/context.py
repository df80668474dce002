"""What both contexts of a processor share (the worker's, runner.py, and the broker-less one,
testing.py): its outboxes, its tables in their two groups, its bounds and clock, and the
checkpoint over them. Each context says where records go (`_sender`) and how a table is stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streams.codec import Codec
from streams.engine.checkpoint import Checkpoint
from streams.engine.limits import Bounds, Clock
from streams.engine.outbox import Outbox, Sender
from streams.engine.tables import BufferedTable
from streams.settings import Settings

if TYPE_CHECKING:
    from streams.engine.processor import Processor


class BaseContext:
    def __init__(self, settings: Settings, codec: Codec, processor: str) -> None:
        self.settings = settings
        self.codec = codec
        self.processor = processor
        self.bounds = Bounds.of(settings)
        self.clock = Clock(settings.max_future_skew_s)
        self.out = self.outbox()
        self.after_state = self.outbox()
        self.markers: list[BufferedTable] = []  # flushed before the outputs (checkpoint.py, step 1)
        self.tables: list[BufferedTable] = []
        self._processor: Processor | None = None

    def _sender(self) -> Sender:
        raise NotImplementedError

    def outbox(self) -> Outbox:
        return Outbox(self._sender(), self.codec, self.settings, self.processor)

    def _held(self, table: BufferedTable, marker: bool) -> BufferedTable:
        (self.markers if marker else self.tables).append(table)
        return table

    def bind(self, processor: Processor) -> None:
        self._processor = processor

    def checkpoint(self, acknowledge: Callable[[], None] = lambda: None) -> Checkpoint:
        assert self._processor is not None, "bind() the processor first"
        return Checkpoint(self.markers, self.out, self.tables, self.after_state,
                          before_delivery=self._processor.before_delivery, acknowledge=acknowledge)

    async def commit(self) -> None:
        await self.checkpoint().commit()

    def table(self, name: str, *, partitions: int, encode: Callable[[Any], Any] | None = None,
              marker: bool = False) -> BufferedTable:
        raise NotImplementedError
