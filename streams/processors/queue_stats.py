"""queue-facts -> queue-statistics, and the live state of every queue.

Minute deltas and facts arrive keyed by queue, so one partition holds everything about a queue:
its minute windows (queue_windows.py), its live state (live_queues.py) and the partition's
watermark, all in changelog-backed tables. Final records are sent when the watermark closes a
window; open windows are re-sent at most every FIRSTLINE_STATS_UPDATE_INTERVAL_S while they
change. Every statistics record goes out before the state that says it was sent (the engine's
checkpoint order), so a crash in between sends it again, never loses it.

The service-level alerts (streams/alerting/service_rules.py) are judged here too, where each
queue's closed windows and live state are: on each final 15-minute and minute record of all
regions, and on the timer for the oldest waiting contact. Their state is the `queue-alerts` table.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from streams.alerting import service_rules
from streams.alerting.levels import Levels
from streams.codec.errors import DecodeError
from streams.engine.processor import Context, Processor, Timer
from streams.identifiers import join_id, unescape
from streams.processors import live_queues
from streams.processors import watermarks as watermark_logic
from streams.processors.contact_lifecycle import InvalidEvent, check_time
from streams.processors.minute_deltas import from_delta, validate_delta
from streams.processors.queue_windows import ALL_REGIONS, QueueWindows, minute_key, stored_minute
from streams.topics import spec

KINDS = {"OFFERED", "ANSWERED", "ABANDONED", "ENDED", "TRANSFER", "ESCALATION", "WAITING", "AGENT"}
_NEEDS = {"ANSWERED": "wait_ms", "ABANDONED": "wait_ms", "ENDED": "handle_ms", "WAITING": "contact_id",
          "AGENT": "agent_id"}  # the field a kind of fact cannot do without


def validate_source(fact: dict[str, Any], sources: int, max_time_ms: int) -> None:
    """A heartbeat's, or a contact fact's, source partition and watermark: either moves the
    closing watermark, and one from the far future would close every window early."""
    if fact["source_partition"] is None or not 0 <= fact["source_partition"] < sources:
        raise InvalidEvent(f"source partition {fact['source_partition']}, not one of 0..{sources - 1}")
    if fact["watermark"] is not None:
        check_time("watermark", fact["watermark"], max_time_ms)


def validate_fact(fact: dict[str, Any], max_time_ms: int) -> None:
    if fact["kind"] not in KINDS or fact["sign"] not in (1, -1) or not fact["queue"]:
        raise InvalidEvent(f"not a usable fact: kind {fact['kind']}, sign {fact['sign']}, queue {fact['queue']!r}")
    check_time("at", fact["at"], max_time_ms)
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
        state = self.live.get(live_queues.queue_key(queue))
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
        queues = sorted(unescape(key) for key, _ in self.live.items() if live_queues.is_queue_key(key))
        return [v for v in (self.view(q) for q in queues) if v is not None]


class QueueStatistics(Processor):
    name = "queue-stats"
    inputs = ("queue-facts",)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        settings = ctx.settings
        self.schema = spec("queue-facts").value_schema
        (self.single_schema,) = spec("queue-facts").also_reads
        partitions = spec("queue-facts").partition_count(settings)
        self.minutes, self.days, self.counted, self.live, self.watermarks = (
            ctx.table(name, partitions=partitions, encode=stored_minute if name == "queue-minutes" else None)
            for name in ("queue-minutes", "queue-days", "queue-counted", "queue-live", "queue-watermarks"))
        self.windows = QueueWindows(self.minutes, self.days, self.counted, int(settings.allowed_lateness_s * 1000),
                                    settings.sl_threshold_ms)
        self.dirty: set[str] = set()  # minute keys changed since the last update was sent
        # Of those, the minutes whose final record close() sent after their last change: an
        # update would repeat it (in a backlog most minutes close between two updates).
        self.sent_final: set[str] = set()
        self.last_update = time.monotonic()
        self.started: dict[int, float] = {}  # when this process first saw each partition
        self.sources = spec("contact-events").partition_count(settings)
        self.silent_s = watermark_logic.silent_after(settings.watermark_idle_s)
        self.view = LiveQueues(self.live, self.watermarks, self.windows)
        self.alert_state = ctx.table("queue-alerts", partitions=partitions)
        levels = Levels.parse(settings.wallboard_levels)
        self.rules = service_rules.RuleSettings.parse(settings.alert_rules, levels.sl_warn, levels.wait_alert,
                                                      levels.abandon_alert, levels.abandon_warn)
        self.channel_of: dict[str, str] = {}  # queue -> channel of its latest waiting contact (for its T)

    def watermark_state(self, p: int) -> dict[str, Any]:
        # The stored dict itself: changed in place per fact, written to the changelog per batch.
        state = self.watermarks.get(str(p))
        if state is None:
            state = {}
            self.watermarks.data[str(p)] = state
        return state

    def closing_watermark(self, p: int) -> int:
        now = time.time()
        return watermark_logic.effective(self.watermark_state(p), self.sources, now,
                                         self.started.setdefault(p, now), self.silent_s, int(now * 1000))

    def close_windows(self, partitions: Iterable[int]) -> None:
        out = self.ctx.out
        for p in partitions:
            # A minute closed here stays dirty: the day and rolling views it belongs to still need
            # an update with its last facts.
            for record in self.windows.close(p, self.closing_watermark(p)):
                out.emit("queue-statistics", record["stat_id"], record)
                if record["region"] == ALL_REGIONS and record["window"] != "DAY":
                    self.judge_window(record, p)
                if record["window"] == "MINUTE":
                    self.sent_final.add(minute_key(record["queue"], record["channel"], record["region"],
                                                   record["window_start"]))
        self.dirty.update(self.windows.take_recovered())

    def judge_window(self, record: dict[str, Any], p: int) -> None:
        key = join_id(record["queue"], record["channel"])
        state = self.alert_state.get(key) or service_rules.empty()
        if record["window"] == "ROLLING_15_MIN":
            raised = service_rules.on_rolling(self.rules, state, record)
        else:
            raised = service_rules.on_minute(self.rules, state, record)
        self.alert_state.put(key, state, p)
        for alert in raised:
            self.ctx.out.emit("alerts", alert["alert_id"], alert)

    def judge_live(self) -> None:
        """The oldest-wait rule over the queues this worker holds."""
        for key, entry in list(self.live.items()):
            if not live_queues.is_queue_key(key) or not isinstance(entry, dict):
                continue
            queue = unescape(key)
            view = self.view.view(queue)
            if view is None:
                continue
            state_key = join_id(queue, "*")
            stored = self.alert_state.get(state_key)
            if stored is None and not view["waiting"]:
                continue
            state = stored or service_rules.empty()
            since = view["as_of"] - view["oldest_wait_ms"] if view["waiting"] else None
            threshold = self.ctx.settings.sl_threshold_ms(queue, self.channel_of.get(queue, "VOICE"))
            raised = service_rules.on_live(self.rules, state, queue, threshold, view["waiting"], since, view["as_of"])
            if raised or stored is None:
                self.alert_state.put(state_key, state, entry["p"])
            for alert in raised:
                self.ctx.out.emit("alerts", alert["alert_id"], alert)

    def on_rebalanced(self) -> None:
        self.windows.forget_cache()  # another worker may have changed partitions this one gets back

    def send_updates(self) -> None:
        if self.dirty:
            for record in self.windows.updates(list(self.dirty), self.sent_final):
                self.ctx.out.emit("queue-statistics", record["stat_id"], record)
            self.dirty.clear()
        self.sent_final.clear()
        self.last_update = time.monotonic()

    def decode_batch(self, value: bytes | None) -> dict[str, Any]:
        try:
            return self.ctx.codec.decode(value, self.schema)
        except DecodeError as exc:
            if exc.kind != "WRONG_TYPE":
                raise
            # written one per record by an older worker
            return {"facts": [self.ctx.codec.decode(value, self.single_schema)], "minutes": ()}

    def apply_fact(self, fact: dict[str, Any], p: int, seen: set[int], closing: dict[int, int], now: float,
                   offset: int, max_time: int) -> list[str]:
        """`closing`: the closing watermark per partition as of this batch's facts so far, worked
        out again only when a fact moves a source on (it was most of the cost of a fact)."""
        if fact["kind"] == "WATERMARK":
            validate_source(fact, self.sources, max_time)
            seen.add(p)
            watermark_logic.observe(self.watermark_state(p), fact["source_partition"], fact["watermark"],
                                    now, idle=fact["source_idle"], wall_ms=int(now * 1000))
            closing.pop(p, None)
            return []
        validate_fact(fact, max_time)
        if fact["source_partition"] is not None or fact["watermark"] is not None:
            validate_source(fact, self.sources, max_time)
        seen.add(p)
        self.started.setdefault(p, now)
        if fact["watermark"] is not None and fact["source_partition"] is not None:
            if watermark_logic.observe(self.watermark_state(p), fact["source_partition"], fact["watermark"], now,
                                       wall_ms=int(now * 1000)):
                closing.pop(p, None)
        if fact["kind"] in ("WAITING", "AGENT"):
            live, queue = self.live, fact["queue"]
            key = live_queues.queue_key(queue)
            entry = live.get(key)
            if entry is None or "waiting" in entry:
                entry = live_queues.entry_of(live, queue, entry, p)
            if fact["kind"] == "AGENT":
                if live_queues.apply_agent(entry, fact):
                    live.put(key, entry, p)
            else:
                self.channel_of[queue] = fact["channel"]
                bucket_key = live_queues.waiting_key(queue, fact["contact_id"])
                bucket = live.get(bucket_key) or live_queues.empty_bucket(p)
                if live_queues.apply_waiting(bucket, fact):
                    live.put(bucket_key, bucket, p)
            return []
        watermark = closing.get(p)
        if watermark is None:
            watermark = closing[p] = self.closing_watermark(p)
        changed = self.windows.apply(fact, p, watermark, offset)
        self.dirty.update(changed)
        self.sent_final.difference_update(changed)
        return changed

    def apply_deltas(self, batch: dict[str, Any], message: Any, seen: set[int], closing: dict[int, int],
                     now: float, max_time: int) -> list[str]:
        """A record's minute deltas (minute_deltas.py); returns the minute keys changed."""
        p, deltas, out = message.partition, batch["minutes"], self.ctx.out
        try:
            validate_source(batch, self.sources, max_time)
            if batch["through_offset"] is None or batch["through_offset"] < 0 or batch["part"] < 0:
                raise InvalidEvent(f"minute deltas without a usable through offset and part: "
                                   f"{batch['through_offset']}, {batch['part']}")
        except InvalidEvent as exc:
            out.reject(message, InvalidEvent(f"{len(deltas)} minute deltas: {exc}"))
            return []
        seen.add(p)
        self.started.setdefault(p, now)
        if batch["watermark"] is not None:
            if watermark_logic.observe(self.watermark_state(p), batch["source_partition"], batch["watermark"], now,
                                       wall_ms=int(now * 1000)):
                closing.pop(p, None)
        watermark = closing.get(p)
        if watermark is None:
            watermark = closing[p] = self.closing_watermark(p)
        queue, sender, tag = batch["queue"], str(batch["source_partition"]), [batch["through_offset"], batch["part"]]
        merged: list[str] = []
        for i, delta in enumerate(deltas):
            try:
                if not queue:
                    raise InvalidEvent("minute delta without a queue")
                validate_delta(delta, max_time)
                merged += self.windows.apply_delta(queue, from_delta(delta), delta["channel"], delta["region"],
                                                   delta["start"], p, watermark, sender, tag, message.offset)
            except Exception as exc:  # the others of the record still count
                out.reject(message, InvalidEvent(f"minute delta {i} of {len(deltas)}: {exc}"))
        self.windows.mark_merged(merged, sender, tag)
        self.dirty.update(merged)
        self.sent_final.difference_update(merged)
        return merged

    def on_batch(self, records: Sequence[Any]) -> None:
        seen: set[int] = set()
        closing: dict[int, int] = {}
        now = time.time()
        max_time = self.ctx.clock.max_event_time()
        out = self.ctx.out
        for message in records:
            p = message.partition
            try:
                self.ctx.bounds.record_size(message.value, internal=True)
                batch = self.decode_batch(message.value)
            except Exception as exc:
                out.reject(message, exc)
                continue
            facts = batch["facts"]
            changed: list[str] = []
            for i, fact in enumerate(facts):
                try:
                    changed += self.apply_fact(fact, p, seen, closing, now, message.offset, max_time)
                except Exception as exc:  # the others of the record still count
                    out.reject(message, InvalidEvent(f"fact {i} of {len(facts)}: {exc}"))
            if batch["minutes"]:
                changed += self.apply_deltas(batch, message, seen, closing, now, max_time)
            if changed:
                self.windows.mark_applied(changed, message.offset)
        for p in seen:
            self.watermarks.put(str(p), self.watermark_state(p), p)
        self.close_windows(seen)
        if time.monotonic() - self.last_update >= self.ctx.settings.stats_update_interval_s:
            self.send_updates()

    def timers(self) -> list[Timer]:
        return [(self.ctx.settings.stats_update_interval_s, self.tick)]

    async def tick(self) -> None:
        """Between batches: idle sources time out and windows close, and a quiet queue's last
        change is not held back."""
        partitions = [int(p) for p, _ in list(self.watermarks.items())]
        self.close_windows(partitions)
        self.judge_live()
        for p in partitions:  # idle sources may have moved the closing watermark
            self.watermarks.put(str(p), self.watermark_state(p), p)
        if time.monotonic() - self.last_update >= self.ctx.settings.stats_update_interval_s:
            self.send_updates()
        await self.ctx.commit()
