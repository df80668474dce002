"""queue-facts -> queue-statistics, and the live state of every queue.

Minute deltas and facts arrive keyed by queue, so one partition holds everything about a queue: its minute windows
(queue_windows.py), its live state (live_queues.py) and the partition's watermark, all in faust
tables. Final records are sent when the watermark closes a window; open windows are re-sent at
most every FIRSTLINE_STATS_UPDATE_INTERVAL_S while they change. Records and state changes are
made durable at checkpoints (streams/batch_channel.py), not per batch: a minute that takes facts
from many batches costs one changelog record per checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from streams.app import Outbox, Pipeline
from streams.codec.errors import DecodeError
from streams.processors import live_queues
from streams.processors import watermarks as watermark_logic
from streams.processors.contact_lifecycle import MAX_TIME_MS, MIN_TIME_MS, InvalidEvent
from streams.processors.minute_deltas import from_delta, validate_delta
from streams.processors.queue_windows import ALL_REGIONS, QueueWindows, minute_key, stored_minute
from streams.processors.table_state import BufferedTable, flush_all
from streams.topics import spec

PROCESSOR = "queue-stats"
KINDS = {"OFFERED", "ANSWERED", "ABANDONED", "ENDED", "TRANSFER", "ESCALATION", "WAITING", "AGENT"}
_NEEDS = {"ANSWERED": "wait_ms", "ABANDONED": "wait_ms", "ENDED": "handle_ms", "WAITING": "contact_id",
          "AGENT": "agent_id"}  # the field a kind of fact cannot do without


def validate_source(fact: dict[str, Any], sources: int) -> None:
    """A heartbeat's, or a contact fact's, source partition and watermark: either moves the
    closing watermark, and one from the far future would close every window early."""
    if fact["source_partition"] is None or not 0 <= fact["source_partition"] < sources:
        raise InvalidEvent(f"source partition {fact['source_partition']}, not one of 0..{sources - 1}")
    if fact["watermark"] is not None and not MIN_TIME_MS <= fact["watermark"] < MAX_TIME_MS:
        raise InvalidEvent(f"watermark {fact['watermark']} is not UTC epoch milliseconds between 2000 and 2100")


def validate_fact(fact: dict[str, Any]) -> None:
    if fact["kind"] not in KINDS or fact["sign"] not in (1, -1) or not fact["queue"]:
        raise InvalidEvent(f"not a usable fact: kind {fact['kind']}, sign {fact['sign']}, queue {fact['queue']!r}")
    if not MIN_TIME_MS <= fact["at"] < MAX_TIME_MS:
        raise InvalidEvent(f"at {fact['at']} is not UTC epoch milliseconds between 2000 and 2100")
    needs = _NEEDS.get(fact["kind"])
    if needs and fact[needs] is None:
        raise InvalidEvent(f"{fact['kind']} fact without {needs}")
    if fact["kind"] == "ENDED" and fact["duration_ms"] is None:
        raise InvalidEvent("ENDED fact without duration_ms")


class LiveQueues:
    """Read side of the live queue state, for the web views."""

    def __init__(self, live: Any, watermarks: Any, windows: QueueWindows) -> None:
        self.live, self.watermarks, self.windows = live, watermarks, windows

    def view(self, queue: str) -> dict[str, Any] | None:
        state = self.live.get(queue)
        if state is None:
            return None
        buckets = [b["waiting"] for b in (self.live.get(k) for k in live_queues.waiting_keys(queue)) if b]
        buckets.append(state.get("waiting", {}))  # kept inside the entry by an older worker
        sources = (self.watermarks.get(str(state["p"])) or {}).get("sources", {})
        # "Now" for a live view is the newest event time seen, not the closing watermark.
        watermark = max([held[0] for held in sources.values()] + [max(b.values(), default=0) for b in buckets])
        aht = None
        for key, info in self.windows.days.items():
            if info["q"] == queue and info["r"] == ALL_REGIONS and info["s"] <= watermark < info["s"] + 86_400_000:
                aht = self.windows.day_record(info["q"], info["c"], info["r"], info["s"])["aht_ms"] or aht
        return live_queues.view(queue, state, buckets, watermark, aht)

    def all(self) -> list[dict[str, Any]]:
        queues = sorted(key for key, _ in self.live.items() if live_queues.is_queue_key(key))
        return [v for v in (self.view(q) for q in queues) if v is not None]


def register(pipeline: Pipeline) -> LiveQueues:
    app, settings, codec = pipeline.app, pipeline.settings, pipeline.codec
    source = pipeline.source("queue-facts")
    schema = spec("queue-facts").value_schema
    (single_schema,) = spec("queue-facts").also_reads
    partitions = source.partitions
    minutes, days, counted, live, watermarks = (
        BufferedTable(app.Table(name, default=None, key_type=str, partitions=partitions),
                      encode=stored_minute if name == "queue-minutes" else None)
        for name in ("queue-minutes", "queue-days", "queue-counted", "queue-live", "queue-watermarks"))
    tables = (minutes, days, counted, live, watermarks)
    lateness_ms = int(settings.allowed_lateness_s * 1000)
    windows = QueueWindows(minutes, days, counted, lateness_ms, settings.sl_threshold_ms)
    dirty: set[str] = set()  # minute keys changed since the last update was sent
    # Of those, the minutes whose final record close() sent after their last change: an update
    # would repeat it (in a backlog most minutes close between two updates).
    sent_final: set[str] = set()
    last_update = [time.monotonic()]
    started: dict[int, float] = {}  # when this process first saw each partition
    sources = spec("contact-events").partition_count(settings)
    silent_s = watermark_logic.silent_after(settings.watermark_idle_s)

    def watermark_state(p: int) -> dict[str, Any]:
        # The stored dict itself: changed in place per fact, written to the changelog per batch.
        state = watermarks.get(str(p))
        if state is None:
            state = {}
            watermarks.data[str(p)] = state
        return state

    def closing_watermark(p: int) -> int:
        return watermark_logic.effective(watermark_state(p), sources, time.time(),
                                         started.setdefault(p, time.time()), silent_s)

    # aggregate() and tick() change the same stores: one at a time, each from its changes to its
    # records delivered and its state written, so neither writes state whose records the other
    # still has in flight.
    turn = asyncio.Lock()

    def close_windows(out: Outbox, partitions: Iterable[int]) -> None:
        for p in partitions:
            # A minute closed here stays dirty: the day and rolling views it belongs to still need
            # an update with its last facts.
            for record in windows.close(p, closing_watermark(p)):
                out.emit("queue-statistics", record["stat_id"], record)
                if record["window"] == "MINUTE":
                    sent_final.add(minute_key(record["queue"], record["channel"], record["region"],
                                              record["window_start"]))
        dirty.update(windows.take_recovered())

    @app.on_rebalance_complete.connect  # type: ignore[misc]
    async def rebuild_cache(*args: Any, **kwargs: Any) -> None:
        windows.forget_cache()  # another worker may have changed partitions this one gets back

    def send_updates(out: Outbox) -> None:
        if dirty:
            for record in windows.updates(list(dirty), sent_final):
                out.emit("queue-statistics", record["stat_id"], record)
            dirty.clear()
        sent_final.clear()
        last_update[0] = time.monotonic()

    def decode_batch(value: bytes | None) -> dict[str, Any]:
        try:
            return codec.decode(value, schema)
        except DecodeError as exc:
            if exc.kind != "WRONG_TYPE":
                raise
            # written one per record by an older worker
            return {"facts": [codec.decode(value, single_schema)], "minutes": ()}

    def apply_fact(fact: dict[str, Any], p: int, seen: set[int], closing: dict[int, int], now: float,
                   offset: int) -> list[str]:
        """`closing`: the closing watermark per partition as of this batch's facts so far, worked
        out again only when a fact moves a source on (it was most of the cost of a fact)."""
        if fact["kind"] == "WATERMARK":
            validate_source(fact, sources)
            seen.add(p)
            watermark_logic.observe(watermark_state(p), fact["source_partition"], fact["watermark"],
                                    now, idle=fact["source_idle"])
            closing.pop(p, None)
            return []
        validate_fact(fact)
        if fact["source_partition"] is not None or fact["watermark"] is not None:
            validate_source(fact, sources)
        seen.add(p)
        started.setdefault(p, now)
        if fact["watermark"] is not None and fact["source_partition"] is not None:
            if watermark_logic.observe(watermark_state(p), fact["source_partition"], fact["watermark"], now):
                closing.pop(p, None)
        if fact["kind"] in ("WAITING", "AGENT"):
            queue = fact["queue"]
            entry = live.get(queue)
            if entry is None or "waiting" in entry:
                entry = live_queues.entry_of(live, queue, entry, p)
            if fact["kind"] == "AGENT":
                if live_queues.apply_agent(entry, fact):
                    live.put(queue, entry, p)
            else:
                key = live_queues.waiting_key(queue, fact["contact_id"])
                bucket = live.get(key) or live_queues.empty_bucket(p)
                if live_queues.apply_waiting(bucket, fact):
                    live.put(key, bucket, p)
        else:
            watermark = closing.get(p)
            if watermark is None:
                watermark = closing[p] = closing_watermark(p)
            changed = windows.apply(fact, p, watermark, offset)
            dirty.update(changed)
            sent_final.difference_update(changed)
            return changed
        return []

    def apply_deltas(batch: dict[str, Any], message: Any, out: Outbox, seen: set[int], closing: dict[int, int],
                     now: float) -> list[str]:
        """A record's minute deltas (minute_deltas.py); returns the minute keys changed."""
        p, deltas = message.partition, batch["minutes"]
        try:
            validate_source(batch, sources)
            if batch["through_offset"] is None or batch["through_offset"] < 0 or batch["part"] < 0:
                raise InvalidEvent(f"minute deltas without a usable through offset and part: "
                                   f"{batch['through_offset']}, {batch['part']}")
        except InvalidEvent as exc:
            out.reject(message, InvalidEvent(f"{len(deltas)} minute deltas: {exc}"), PROCESSOR)
            return []
        seen.add(p)
        started.setdefault(p, now)
        if batch["watermark"] is not None:
            if watermark_logic.observe(watermark_state(p), batch["source_partition"], batch["watermark"], now):
                closing.pop(p, None)
        watermark = closing.get(p)
        if watermark is None:
            watermark = closing[p] = closing_watermark(p)
        queue, sender, tag = batch["queue"], str(batch["source_partition"]), [batch["through_offset"], batch["part"]]
        merged: list[str] = []
        for i, delta in enumerate(deltas):
            try:
                if not queue:
                    raise InvalidEvent("minute delta without a queue")
                validate_delta(delta)
                merged += windows.apply_delta(queue, from_delta(delta), delta["channel"], delta["region"],
                                              delta["start"], p, watermark, sender, tag, message.offset)
            except Exception as exc:  # the others of the record still count
                out.reject(message, InvalidEvent(f"minute delta {i} of {len(deltas)}: {exc}"), PROCESSOR)
        windows.mark_merged(merged, sender, tag)
        dirty.update(merged)
        sent_final.difference_update(merged)
        return merged

    # Records of the batches since the last checkpoint, and of the timer: delivered before any
    # state is written (both write the shared tables; see `turn`).
    pending = [pipeline.outbox()]

    async def make_durable() -> None:
        # The records first, then the state that says they were sent: a crash in between
        # must not leave a closed minute whose final record never went out. State written ahead
        # of its batches' acknowledgement is safe: a record read again changes nothing
        # (QueueWindows.mark_applied, counted facts, live state).
        out, pending[0] = pending[0], pipeline.outbox()
        await out.delivered()
        await flush_all(*tables)

    @app.task
    async def aggregate() -> None:
        async for messages in pipeline.checkpointed(source):
            async with turn:
                aggregate_batch(messages, pending[0])
                if messages.checkpoint:
                    await make_durable()

    def aggregate_batch(messages: list[Any], out: Outbox) -> None:
        seen: set[int] = set()
        closing: dict[int, int] = {}
        now = time.time()
        for message in messages:
            p = message.partition
            try:
                batch = decode_batch(message.value)
            except Exception as exc:
                out.reject(message, exc, PROCESSOR)
                continue
            facts = batch["facts"]
            changed: list[str] = []
            for i, fact in enumerate(facts):
                try:
                    changed += apply_fact(fact, p, seen, closing, now, message.offset)
                except Exception as exc:  # the others of the record still count
                    out.reject(message, InvalidEvent(f"fact {i} of {len(facts)}: {exc}"), PROCESSOR)
            if batch["minutes"]:
                changed += apply_deltas(batch, message, out, seen, closing, now)
            if changed:
                windows.mark_applied(changed, message.offset)
        for p in seen:
            watermarks.put(str(p), watermark_state(p), p)
        close_windows(out, seen)
        if time.monotonic() - last_update[0] >= settings.stats_update_interval_s:
            send_updates(out)

    @app.timer(settings.stats_update_interval_s)
    async def tick() -> None:
        async with turn:
            # Between batches: idle sources time out and windows close, and a quiet queue's last
            # change is not held back.
            out = pending[0]
            partitions = [int(p) for p, _ in list(watermarks.items())]
            close_windows(out, partitions)
            for p in partitions:  # idle sources may have moved the closing watermark
                watermarks.put(str(p), watermark_state(p), p)
            if time.monotonic() - last_update[0] >= settings.stats_update_interval_s:
                send_updates(out)
            await make_durable()

    return LiveQueues(live, watermarks, windows)
