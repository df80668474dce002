"""contact-events + survey-responses -> contact-summaries (and queue-facts for the statistics).

Both inputs are keyed by contact_id with the same partition count, so one agent folds a contact's
lifecycle events and its survey answers into one state (a changelog-backed table). Between
two checkpoints (FIRSTLINE_CHECKPOINT_INTERVAL_MS, see streams/engine/channel.py), a contact's
events are folded together and its summary is sent once, with the version (count of distinct
events) it reached. The facts that changed (per queue: offered, answered,
abandoned, ...) are summed per queue/channel/region/minute and sent as minute deltas, re-keyed by
queue, to the queue-statistics processor (minute_deltas.py).

Deltas are delivered before the states they came from are written (the engine's checkpoint
order: `contact-deltas-sent` is a marker table, deltas go on `ctx.out`, summaries on
`ctx.after_state`), so a crash in between sends them again after the restart, from the same
events replayed onto the same older states. The checkpoint is then cut where it was cut before
(the offsets written to `contact-deltas-sent` before the deltas went out: `on_batch` returns
early there), so they go out under the same identifiers, and the statistics skip them. (Before a cut of its own, a worker whose state was written sends the subset of contacts
not yet written: under the same identifiers, all skipped too.)

A duplicate event re-emits the current summary instead of nothing: if the worker died after the
changelog write but before the output was sent, the replayed event must still produce it.
Downstream upserts by (contact_id, version), so a repeat costs nothing. Facts are only sent for a
change of state, and the state is written only after its facts are delivered.

States are forgotten after FIRSTLINE_CONTACT_STATE_RETENTION_H of event time (state_expiry.py).

The subscriber is kept and published only as its keyed pseudonym (HMAC-SHA256 with
FIRSTLINE_PSEUDONYM_KEY, streams/protection/addresses.py), made as the event is read: the state,
its changelog, the summary and storage never hold the number. FCR matches contacts by it as well
as by the number. A state written before (a clear number) is pseudonymised when next read.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson
from typing import Any

from streams.engine.processor import Context, Processor, Timer
from streams.processors.contact_lifecycle import (ContactState, InvalidEvent, validate_event,
                                                  validate_survey)
from streams.processors.minute_deltas import CheckpointDeltas
from streams.processors.queue_facts import outcome_changes, outcomes_of
from streams.processors.source_heartbeats import Heartbeats, PartitionProgress
from streams.processors.state_expiry import Expiry
from streams.protection.addresses import Pseudonyms, canonical
from streams.topics import spec


class _Touched:
    __slots__ = ("contact", "message", "changed", "facts_before", "summary")

    def __init__(self, contact: ContactState, message: Any) -> None:
        self.contact = contact
        self.message = message
        self.changed = False
        self.facts_before = contact.facts if contact.facts is not None else outcomes_of(contact)
        self.summary: dict[str, Any] | None = None  # of the state after the batch, once made


def newest_event(stored: ContactState | dict[str, Any] | bytes) -> int | None:
    if isinstance(stored, bytes):
        stored = orjson.loads(stored)
    if isinstance(stored, dict):
        return stored["last_seen"] if stored["last_seen"] is not None else (stored["survey"] or [None])[0]
    return stored.last_seen if stored.last_seen is not None else (stored.survey or [None])[0]


class ContactSummary(Processor):
    name = "contact-summary"
    inputs = ("contact-events", "survey-responses")

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        settings = ctx.settings
        self.events_topic = spec("contact-events").full_name(settings)
        self.event_schema = spec("contact-events").value_schema
        self.survey_schema = spec("survey-responses").value_schema
        definition = ctx.codec.registry.reader
        self.check_event = ctx.bounds.checker(definition(self.event_schema).definition)
        self.check_survey = ctx.bounds.checker(definition(self.survey_schema).definition)
        self.partitions = spec("contact-events").partition_count(settings)
        self.max_events = settings.max_events_per_contact
        self.pseudonyms = Pseudonyms(settings.pseudonym_key)
        # The store keeps ContactState objects (after a recovery, JSON bytes or dicts until first use).
        # Restored as the changelog's bytes, made an object when the contact is next seen: a
        # restarted worker holds a million contacts in less memory, and is ready sooner.
        self.state = ctx.table("contact-state", partitions=self.partitions, encode=ContactState.to_json,
                               raw_restore=True)
        # Per contact-events partition: the offset through which the last checkpoint that sent
        # minute deltas took its records, written before the deltas are sent. A replay cuts its
        # checkpoint there again (see `cut_before`), so it sends the same deltas under the same
        # identifiers, which the statistics skip (minute_deltas.py).
        self.sent_through = ctx.table("contact-deltas-sent", partitions=self.partitions, marker=True)
        # What this worker has processed per contact-events partition: the watermark sent along
        # with the facts and in heartbeats (see source_heartbeats.py and watermarks.py).
        self.heartbeats = Heartbeats(ctx)
        self.progress = self.heartbeats.progress
        self.expiry = Expiry(int(settings.contact_state_retention_h * 3_600_000))
        # Per partition, the offset a replay must cut its checkpoint after (`sent_through` as
        # restored), or None once past it: this worker's own checkpoints finish before it goes on.
        self.cuts: dict[int, int | None] = {}
        # What the batches since the last checkpoint did, kept in memory until it.
        self.touched: dict[str, _Touched] = {}
        self.newest: dict[int, int] = {}  # newest event time per input partition
        self.last_offset: dict[int, int] = {}  # and the last offset, usable or not

    def timers(self) -> list[Timer]:
        return [(min(1.0, self.ctx.settings.watermark_idle_s / 2), self.heartbeats.tick)]

    def on_rebalanced(self) -> None:
        self.expiry.forget()
        self.cuts.clear()  # partitions may come back from another worker, with its offsets

    def now_in(self, p: int) -> int:
        """Event-time "now" of a partition, never past the wall clock (see state_expiry.py)."""
        held = self.progress.get(p)
        return min(held.watermark if held and held.watermark else 0, int(time.time() * 1000))

    def expire(self, p: int) -> None:
        state, expiry = self.state, self.expiry
        if not expiry.indexed(p):
            place, partitions = self.ctx.partition_of, self.partitions
            expiry.index(p, ((cid, seen) for cid, stored in state.items()
                             if place(cid.encode(), partitions) == p and (seen := newest_event(stored)) is not None))
        now = self.now_in(p)
        for contact_id in expiry.due(p, now):
            stored = state.get(contact_id)
            if stored is not None and (seen := newest_event(stored)) is not None and expiry.too_old(seen, now):
                state.delete(contact_id, p)

    def contact_of(self, contact_id: str) -> ContactState:
        """The stored state, changed in place by the batch: a failure before the checkpoint's
        facts are delivered stops the worker, and a new one rebuilds the state from the
        changelog, where nothing of the batch was written."""
        stored = self.state.get(contact_id)
        if stored is None:
            return ContactState(contact_id)
        if isinstance(stored, (bytes, dict)):
            stored = ContactState.from_json(orjson.loads(stored) if isinstance(stored, bytes) else stored)
            if stored.subscriber_id and not stored.subscriber_id.startswith("p:"):
                stored.subscriber_id = self.pseudonym(stored.subscriber_id)  # a state from before pseudonyms
            self.state.data[contact_id] = stored  # the same value as an object, not a change
        return stored

    def pseudonym(self, subscriber: str) -> str:
        """The subscriber's keyed pseudonym; one given already ('p:...') is kept."""
        return subscriber if subscriber.startswith("p:") else self.pseudonyms.of(canonical(subscriber))[0]

    def on_batch(self, records: Sequence[Any]) -> int | None:
        ctx, events_topic, touched = self.ctx, self.events_topic, self.touched
        decode, out, bounds = ctx.codec.decode, ctx.out, ctx.bounds
        max_time, max_events = ctx.clock.max_event_time(), self.max_events
        for i, message in enumerate(records):
            is_event = message.topic == events_topic
            p = message.partition
            if is_event:
                if self.cuts.get(p, -1) is not None and self.cut_before(message):
                    return i  # the engine makes a checkpoint, then hands over the rest
                self.last_offset[p] = message.offset
            try:
                bounds.record_size(message.value)
                if is_event:
                    record = decode(message.value, self.event_schema)
                    self.check_event(record)
                    validate_event(record, max_time)
                else:
                    record = decode(message.value, self.survey_schema)
                    self.check_survey(record)
                    validate_survey(record, max_time)
                contact_id = record["contact_id"]
                if message.key != contact_id.encode():
                    # The table's partition follows the record key: a wrong key would split
                    # one contact's state across partitions.
                    raise InvalidEvent(f"record key {message.key[:100]!r} is not the contact_id")
                entry = touched.get(contact_id)
                if entry is None:
                    if (is_event and self.state.get(contact_id) is None
                            and self.expiry.too_old(record["occurred_at"], self.now_in(p))):
                        raise InvalidEvent("older than FIRSTLINE_CONTACT_STATE_RETENTION_H: the state of "
                                           "its contact is no longer kept")
                    entry = touched[contact_id] = _Touched(self.contact_of(contact_id), message)
                entry.message = message
                if is_event and record["occurred_at"] > self.newest.get(p, 0):
                    self.newest[p] = record["occurred_at"]
                subscriber = record.get("subscriber_id")
                if subscriber and entry.contact.subscriber_id is None:
                    record["subscriber_id"] = self.pseudonym(subscriber)
                folded = (entry.contact.apply(record, max_events) if is_event
                          else entry.contact.apply_survey(record, max_events))
                entry.changed = folded or entry.changed
            except Exception as exc:  # anything a hostile record can cause goes to the dead letters
                out.reject(message, exc)
        return None

    def cut_before(self, message: Any) -> bool:
        """Whether the checkpoint must end before this contact event: it is the first one past
        the end of a checkpoint that sent its deltas but may not have written its state (a
        replay after a crash). Their deltas must come out again exactly as they were sent."""
        p = message.partition
        through = self.cuts.get(p, -1)
        if through is None:
            return False
        if through == -1:
            through = self.cuts[p] = self.sent_through.get(str(p))
            if through is None:
                return False
        if message.offset <= through:
            return False
        self.cuts[p] = None
        taken = self.last_offset.get(p)
        return taken is not None and taken <= through

    async def on_checkpoint(self) -> None:
        """Minute deltas, state and summaries of every contact the batches since the last one
        changed: one summary and one changelog record per contact, the net change of its
        outcomes summed into its minutes."""
        ctx, progress, last_offset = self.ctx, self.progress, self.last_offset
        # Deltas carry their partition's watermark from before these batches: the batches'
        # newest event time would run ahead of the outcomes still to come from them and make
        # those late downstream.
        deltas = CheckpointDeltas(ctx.settings.sl_threshold_ms)
        for entry in self.touched.values():
            if entry.changed:
                p = entry.message.partition
                entry.summary = entry.contact.summary()
                entry.contact.facts = after = outcomes_of(entry.contact, entry.summary)
                changes = outcome_changes(entry.facts_before, after)
                if changes:
                    held = progress.get(p)
                    deltas.add(p, entry.contact, changes, held.watermark if held else None)
        for p in deltas.sources():
            held = progress.get(p)
            # Outcomes change only with contact events (a survey changes none), so the partition
            # took some in this checkpoint.
            for queue, record in deltas.records(p, held.watermark if held else None, last_offset[p]):
                ctx.out.emit("queue-facts", queue, record)
            self.sent_through.put(str(p), last_offset[p], p)
        # A heartbeat may carry these batches' watermark only behind their facts.
        for p, offset in last_offset.items():
            progress.setdefault(p, PartitionProgress()).processed(offset, self.newest.get(p))
        self.heartbeats.after_batch(ctx.out, last_offset)
        for contact_id, entry in self.touched.items():
            contact = entry.contact
            if entry.changed:
                self.state.put(contact_id, contact, entry.message.partition)
                if (seen := newest_event(contact)) is not None:
                    self.expiry.touch(entry.message.partition, contact_id, seen)
            if contact.has_events:  # a survey alone makes no summary yet
                # A duplicate still re-emits: see the module's docstring.
                ctx.after_state.emit("contact-summaries", contact_id, entry.summary or contact.summary())
        for p in last_offset:
            self.expire(p)
        self.touched, self.newest, self.last_offset = {}, {}, {}
