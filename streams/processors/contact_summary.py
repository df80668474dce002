"""contact-events + survey-responses -> contact-summaries (and queue-facts for the statistics).

Both inputs are keyed by contact_id with the same partition count, so one agent folds a contact's
lifecycle events and its survey answers into one state (a faust table, changelog-backed). Between
two checkpoints (FIRSTLINE_CHECKPOINT_INTERVAL_MS, see streams/batch_channel.py), a contact's
events are folded together and its summary is sent once, with the version (count of distinct
events) it reached. The facts that changed (per queue: offered, answered,
abandoned, ...) are summed per queue/channel/region/minute and sent as minute deltas, re-keyed by
queue, to the queue-statistics processor (minute_deltas.py).

Deltas are delivered before the states they came from are written, so a crash in between sends
them again after the restart, from the same events replayed onto the same older states. The
checkpoint is then cut where it was cut before (the offsets written to `contact-deltas-sent`
before the deltas went out), so they go out under the same identifiers, and the statistics skip
them. (Before a cut of its own, a worker whose state was written sends the subset of contacts
not yet written: under the same identifiers, all skipped too.)

A duplicate event re-emits the current summary instead of nothing: if the worker died after the
changelog write but before the output was sent, the replayed event must still produce it.
Downstream upserts by (contact_id, version), so a repeat costs nothing. Facts are only sent for a
change of state, and the state is written only after its facts are delivered.

States are forgotten after FIRSTLINE_CONTACT_STATE_RETENTION_H of event time (state_expiry.py).
"""

from __future__ import annotations

import time
from typing import Any

from aiokafka.structs import ConsumerRecord

from streams.app import Outbox, Pipeline
from streams.processors import source_heartbeats
from streams.processors.contact_lifecycle import (ContactState, InvalidEvent, validate_event,
                                                  validate_survey)
from streams.processors.minute_deltas import CheckpointDeltas
from streams.processors.queue_facts import outcome_changes, outcomes_of
from streams.processors.source_heartbeats import PartitionProgress
from streams.processors.state_expiry import Expiry
from streams.processors.table_state import BufferedTable
from streams.topics import spec

PROCESSOR = "contact-summary"


class _Touched:
    __slots__ = ("contact", "message", "changed", "facts_before", "summary")

    def __init__(self, contact: ContactState, message: ConsumerRecord) -> None:
        self.contact = contact
        self.message = message
        self.changed = False
        self.facts_before = contact.facts if contact.facts is not None else outcomes_of(contact)
        self.summary: dict[str, Any] | None = None  # of the state after the batch, once made


def register(pipeline: Pipeline) -> None:
    app, settings, codec = pipeline.app, pipeline.settings, pipeline.codec
    events_topic = spec("contact-events").full_name(settings)
    source = pipeline.source("contact-events", "survey-responses")
    event_schema = spec("contact-events").value_schema
    survey_schema = spec("survey-responses").value_schema
    # Untyped values (the app's JSON serializer): value_type=dict fails on changelog recovery.
    # The store keeps ContactState objects (JSON after a recovery, replaced on first use).
    state = BufferedTable(app.Table("contact-state", default=None, key_type=str,
                                    partitions=spec("contact-events").partition_count(settings)),
                          encode=ContactState.to_json)
    # Per contact-events partition: the offset through which the last checkpoint that sent
    # minute deltas took its records, written before the deltas are sent. A replay cuts its
    # checkpoint there again (see `cut_before`), so it sends the same deltas under the same
    # identifiers, which the statistics skip (minute_deltas.py).
    sent_through = BufferedTable(app.Table("contact-deltas-sent", default=None, key_type=str,
                                           partitions=spec("contact-events").partition_count(settings)))

    # What this worker has processed per contact-events partition: the watermark sent along with
    # the facts and in heartbeats (see source_heartbeats.py and watermarks.py).
    heartbeats = source_heartbeats.register(pipeline)
    progress = heartbeats.progress

    expiry = Expiry(int(settings.contact_state_retention_h * 3_600_000))
    partitions = spec("contact-events").partition_count(settings)

    @app.on_rebalance_complete.connect  # type: ignore[misc]
    async def reindex(*args: Any, **kwargs: Any) -> None:
        expiry.forget()
        cuts.clear()  # partitions may come back from another worker, with its offsets

    def newest_event(stored: ContactState | dict[str, Any]) -> int | None:
        if isinstance(stored, dict):
            return stored["last_seen"] if stored["last_seen"] is not None else (stored["survey"] or [None])[0]
        return stored.last_seen if stored.last_seen is not None else (stored.survey or [None])[0]

    def now_in(p: int) -> int:
        """Event-time "now" of a partition, never past the wall clock (see state_expiry.py)."""
        held = progress.get(p)
        return min(held.watermark if held and held.watermark else 0, int(time.time() * 1000))

    def expire(p: int) -> None:
        if not expiry.indexed(p):
            place = pipeline.key_hashes.partition
            expiry.index(p, ((cid, seen) for cid, stored in state.items()
                             if place(cid.encode(), partitions) == p and (seen := newest_event(stored)) is not None))
        now = now_in(p)
        for contact_id in expiry.due(p, now):
            stored = state.get(contact_id)
            if stored is not None and (seen := newest_event(stored)) is not None and expiry.too_old(seen, now):
                state.delete(contact_id, p)

    def contact_of(contact_id: str) -> ContactState:
        """The stored state, changed in place by the batch: a failure before the batch's facts are
        delivered ends the task and the worker, and a new one rebuilds the state from the
        changelog, where nothing of the batch was written."""
        stored = state.get(contact_id)
        if stored is None:
            return ContactState(contact_id)
        if isinstance(stored, dict):
            stored = ContactState.from_json(stored)
            state.data[contact_id] = stored  # the same value as an object, not a change
        return stored

    @app.task
    async def build_summaries() -> None:
        # What the batches since the last checkpoint did, kept in memory until it.
        out = pipeline.outbox()
        touched: dict[str, _Touched] = {}
        newest: dict[int, int] = {}  # newest event time per input partition
        last_offset: dict[int, int] = {}  # and the last offset, usable or not
        async for messages in pipeline.checkpointed(source):
            for message in messages:
                is_event = message.topic == events_topic
                if is_event:
                    if cuts.get(message.partition, -1) is not None and cut_before(message, last_offset):
                        await checkpoint(out, touched, newest, last_offset)
                        out, touched, newest, last_offset = pipeline.outbox(), {}, {}, {}
                    last_offset[message.partition] = message.offset
                try:
                    record = codec.decode(message.value, event_schema if is_event else survey_schema)
                    (validate_event if is_event else validate_survey)(record)
                    contact_id = record["contact_id"]
                    if message.key != contact_id.encode():
                        # The table's partition follows the record key: a wrong key would split
                        # one contact's state across partitions.
                        raise InvalidEvent(f"record key {message.key!r} is not the contact_id")
                    entry = touched.get(contact_id)
                    if entry is None:
                        if (is_event and state.get(contact_id) is None
                                and expiry.too_old(record["occurred_at"], now_in(message.partition))):
                            raise InvalidEvent("older than FIRSTLINE_CONTACT_STATE_RETENTION_H: the state of "
                                               "its contact is no longer kept")
                        entry = touched[contact_id] = _Touched(contact_of(contact_id), message)
                    entry.message = message
                    if is_event and record["occurred_at"] > newest.get(message.partition, 0):
                        newest[message.partition] = record["occurred_at"]
                    folded = entry.contact.apply(record) if is_event else entry.contact.apply_survey(record)
                    entry.changed = folded or entry.changed
                except Exception as exc:  # anything a hostile record can cause goes to the DLQ
                    out.reject(message, exc, PROCESSOR)
            if messages.checkpoint:
                await checkpoint(out, touched, newest, last_offset)
                out, touched, newest, last_offset = pipeline.outbox(), {}, {}, {}

    # Per partition, the offset a replay must cut its checkpoint after (`sent_through` as
    # restored), or None once past it: this worker's own checkpoints finish before it goes on.
    cuts: dict[int, int | None] = {}

    def cut_before(message: ConsumerRecord, last_offset: dict[int, int]) -> bool:
        """Whether the checkpoint must end before this contact event: it is the first one past
        the end of a checkpoint that sent its deltas but may not have written its state (a
        replay after a crash). Their deltas must come out again exactly as they were sent."""
        p = message.partition
        through = cuts.get(p, -1)
        if through is None:
            return False
        if through == -1:
            through = cuts[p] = sent_through.get(str(p))
            if through is None:
                return False
        if message.offset <= through:
            return False
        cuts[p] = None
        taken = last_offset.get(p)
        return taken is not None and taken <= through

    async def checkpoint(out: Outbox, touched: dict[str, _Touched], newest: dict[int, int],
                         last_offset: dict[int, int]) -> None:
        """Minute deltas, state and summaries of every contact the batches since the last one
        changed: one summary and one changelog record per contact, the net change of its
        outcomes summed into its minutes."""
        # Deltas must be delivered before the states that produced them are written, or a crash
        # in between would lose them for good (the replayed events would be duplicates of the
        # stored states). Sent again after a crash, they carry the same identifiers: see the
        # module's docstring. They carry their partition's watermark from before these batches:
        # the batches' newest event time would run ahead of the outcomes still to come from them
        # and make those late downstream.
        deltas = CheckpointDeltas(settings.sl_threshold_ms)
        for entry in touched.values():
            if entry.changed:
                p = entry.message.partition
                entry.summary = entry.contact.summary()
                entry.contact.facts = after = outcomes_of(entry.contact, entry.summary)
                changes = outcome_changes(entry.facts_before, after)
                if changes:
                    held = progress.get(p)
                    deltas.add(p, entry.contact, changes, held.watermark if held else None)
        records = []
        for p in deltas.sources():
            held = progress.get(p)
            # Outcomes change only with contact events (a survey changes none), so the partition
            # took some in this checkpoint.
            records += deltas.records(p, held.watermark if held else None, last_offset[p])
            sent_through.put(str(p), last_offset[p], p)
        await sent_through.flush()
        async with heartbeats.sending:
            for queue, record in records:
                out.emit("queue-facts", queue, record)
            # Only now may a heartbeat carry these batches' watermark: their facts are ahead of it.
            for p, offset in last_offset.items():
                progress.setdefault(p, PartitionProgress()).processed(offset, newest.get(p))
            await heartbeats.after_batch(out, last_offset)
            await out.delivered()
        for contact_id, entry in touched.items():
            contact = entry.contact
            if entry.changed:
                state.put(contact_id, contact, entry.message.partition)
                if (seen := newest_event(contact)) is not None:
                    expiry.touch(entry.message.partition, contact_id, seen)
            if contact.has_events:  # a survey alone makes no summary yet
                # A duplicate still re-emits: see the module's docstring.
                out.emit("contact-summaries", contact_id, entry.summary or contact.summary())
        for p in last_offset:
            expire(p)
        await state.flush()
        await out.delivered()
