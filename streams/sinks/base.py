"""The base of every sink: records of an output topic written to an external system in batches.

A sink is a processor without state. Decoded rows wait in `pending` (the newest version per key);
one writer task at a time `write()`s what is pending, up to WRITE_MAX_BATCHES batches of rows per
transaction, while the engine decodes the next batches: the database's time and the worker's
overlap, and under load a transaction (and its commit's flush) carries many batches. The
checkpoint (every FIRSTLINE_CHECKPOINT_INTERVAL_MS, and whenever the sink has caught up) waits
until nothing is pending or being written; only then are the batches acknowledged, so an offset
is committed only after its row is durable. A failure of a write decides what happens:

- a *transient* failure (the connection dropped, the server restarts, SQLite's lock; any failure
  to connect or to prepare the tables): retried
  with exponential backoff (0.2 s doubling to 10 s) for as long as it lasts, the store reopened
  each time; nothing is acknowledged meanwhile, and the batch channel's bound stops the fetching
  of this sink's partitions only (backpressure). A rebalance or a stop does not wait for the
  outage: the batch is given up unacknowledged (it is read again) and the worker stops at once.
- any other failure is about the rows: the batch is written row by row, each row tried
  FIRSTLINE_SINK_MAX_TRIES times, and a row still refused goes to the dead-letter topic with the
  reason (REFUSED) while the others are written. One bad row never stalls a partition.

A sink names its input topic and implements `decode`, `open`, `reconnect`, `write` and
`is_transient`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from streams.engine.errors import Abandoned, Refused
from streams.engine.meters import Timings
from streams.engine.processor import Context, Processor
from streams.settings import redact_url

log = logging.getLogger(__name__)
WRITE_MAX_BATCHES = 10  # rows of at most this many engine batches (FIRSTLINE_BATCH_MAX) per transaction


class BatchingSink(Processor):
    checkpointed: ClassVar[bool] = True
    initial_delay_s: ClassVar[float] = 0.2
    max_delay_s: ClassVar[float] = 10.0

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.pending: dict[Any, tuple[Any, Any, Any]] = {}  # key -> (version, row, message), not yet written
        self.opened = False
        self.stale = False  # a transient failure happened: reconnect before the next try
        self.retries = 0  # transient failures retried, in this process's life
        self.refused = 0  # rows dead-lettered
        self.writes = Timings()  # each batch's write, retries included, for /metrics
        self.writer: asyncio.Future[None] | None = None  # writes what is pending until nothing is

    # -- what a sink implements -----------------------------------------------------------------

    def decode(self, message: Any) -> tuple[Any, Any, Any]:
        """(key, version or None, row) of a record; raises for a record that is no row."""
        raise NotImplementedError

    async def open(self) -> None:
        """Connect, and create what is missing; once, before the first write."""

    async def reconnect(self) -> None:
        """After a transient failure: drop the connection, make a new one."""

    async def write(self, rows: Sequence[Any]) -> None:
        """Write rows durably in one transaction, idempotently (a replay rewrites the same rows)."""
        raise NotImplementedError

    def is_transient(self, exc: BaseException) -> bool:
        """Whether a failure is the connection's or the server's, not the rows'."""
        return False

    # -- the engine's side ----------------------------------------------------------------------

    def on_batch(self, records: Sequence[Any]) -> None:
        pending = self.pending
        for message in records:
            try:
                key, version, row = self.decode(message)
            except Exception as exc:
                self.ctx.out.reject(message, exc)
                continue
            held = pending.get(key)
            if held is None or version is None or version >= held[0]:
                pending[key] = (version, row, message)
        writer = self.writer
        if pending and (writer is None or (writer.done() and not _failed(writer))) and _in_loop():
            self.writer = asyncio.ensure_future(self._drain())  # a failed one waits for the checkpoint

    async def _drain(self) -> None:
        most = self.ctx.settings.batch_max * WRITE_MAX_BATCHES
        while self.pending:
            keys = list(itertools.islice(self.pending, most))
            await self._write_batch([self.pending.pop(k) for k in keys])

    async def on_checkpoint(self) -> None:
        """Wait until every row decoded so far is written (a failed write is raised here)."""
        try:
            while self.pending or self.writer is not None:
                writer = self.writer
                if writer is None or (writer.done() and not _failed(writer) and self.pending):
                    writer = self.writer = asyncio.ensure_future(self._drain())
                await writer
                if not self.pending:
                    self.writer = None
        except BaseException:
            self.pending.clear()  # nothing of it was acknowledged: it is read again
            self.writer = None
            raise

    async def _write_batch(self, batch: list[tuple[Any, Any, Any]]) -> None:
        try:
            began = time.perf_counter()
            await self._retrying(lambda: self.write([row for _, row, _ in batch]), len(batch))
            self.writes.observe(time.perf_counter() - began)
        except Abandoned:
            raise
        except Exception as exc:
            if self.is_transient(exc):
                raise
            log.warning("%s: a batch of %d rows was refused (%s); writing it row by row", self.name,
                        len(batch), _safe(exc))
            for _, row, message in batch:
                await self._row_by_row(row, message)

    async def _row_by_row(self, row: Any, message: Any) -> None:
        tries = max(1, self.ctx.settings.sink_max_tries)
        for attempt in range(1, tries + 1):
            try:
                await self._retrying(lambda: self.write([row]), 1)
                return
            except Abandoned:
                raise
            except Exception as exc:
                if attempt == tries:
                    self.refused += 1
                    self.ctx.out.reject(message, Refused(f"refused {tries} times by the storage: {_safe(exc)}"))

    async def _retrying(self, action: Any, rows: int) -> None:
        """Run `action` until it succeeds or fails for a reason other than a transient one."""
        delay = self.initial_delay_s
        while True:
            connecting = True
            try:
                if not self.opened:
                    await self.open()
                    self.opened = True
                elif self.stale:
                    await self.reconnect()
                self.stale = False
                connecting = False
                await action()
                return
            except Exception as exc:
                # A failure to connect or prepare the storage is never the rows' fault.
                if not connecting and not self.is_transient(exc):
                    raise
                self.retries += 1
                self.stale = True
                log.warning("%s: writing %d rows failed (%s); retrying in %.1f s", self.name, rows,
                            _safe(exc), delay)
                await self._pause(delay)
                delay = min(delay * 2, self.max_delay_s)

    async def _pause(self, delay: float) -> None:
        """Sleep, unless the worker wants this sink's partitions back (a stop or a rebalance)."""
        deadline = asyncio.get_running_loop().time() + delay
        while True:
            if self.ctx.yield_requested():
                raise Abandoned(f"{self.name}: storage unavailable while the worker stops or rebalances")
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.1))

    def status(self) -> dict[str, Any]:
        return {"retries": self.retries, "refused_rows": self.refused}


def _in_loop() -> bool:
    """Whether an event loop runs here (a broker-less test may call on_batch from outside one:
    the checkpoint then writes)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _failed(writer: asyncio.Future[None]) -> bool:
    return writer.cancelled() or writer.exception() is not None


def _safe(exc: BaseException) -> str:
    """An exception's text without secrets a driver may quote (a URL with its password)."""
    return redact_url(f"{type(exc).__name__}: {exc}")[:500]
