"""contact-events -> contact-summaries: one summary per contact, re-emitted whenever events arrive.

Within a batch, a contact's events are folded together and its summary is sent once, with the
version (count of distinct events) it reached.

State per contact lives in a faust table (changelog-backed). A duplicate event re-emits the current
summary instead of nothing: if the worker died after the changelog write but before the output was
sent, the replayed event must still produce it. Downstream upserts by (contact_id, version), so a
repeat costs nothing.
"""

from __future__ import annotations

from faust.types import EventT

from streams.app import Pipeline
from streams.processors.contact_lifecycle import ContactState, InvalidEvent, validate_event
from streams.processors.table_state import put
from streams.topics import spec

PROCESSOR = "contact-summary"


def register(pipeline: Pipeline) -> None:
    app, settings, codec = pipeline.app, pipeline.settings, pipeline.codec
    source = pipeline.raw_topic("contact-events")
    event_schema = spec("contact-events").value_schema
    # Untyped values (the app's JSON serializer): value_type=dict fails on changelog recovery.
    state = app.Table("contact-state", default=None, key_type=str, partitions=source.partitions)

    @app.agent(source, name=PROCESSOR)
    async def build_summaries(stream):  # type: ignore[no-untyped-def]
        async for events in stream.take_events(settings.batch_max, within=settings.batch_within_s):
            # Fold the whole batch first; write each touched contact's state and summary once.
            touched: dict[str, tuple[ContactState, EventT, bool]] = {}
            for event in events:
                try:
                    ev = codec.decode(event.message.value, event_schema)
                    validate_event(ev)
                    contact_id = ev["contact_id"]
                    if event.message.key != contact_id.encode():
                        # The table's partition follows the record key: a wrong key would split
                        # one contact's state across partitions.
                        raise InvalidEvent(f"record key {event.message.key!r} is not the contact_id")
                    held = touched.get(contact_id)
                    if held is None:
                        stored = state.get(contact_id)
                        held = (ContactState.from_json(stored) if stored else ContactState(contact_id),
                                event, False)
                    contact, _, changed = held
                    changed = contact.apply(ev) or changed
                    touched[contact_id] = (contact, event, changed)
                except Exception as exc:  # anything a hostile record can cause goes to the DLQ
                    await pipeline.reject(event, exc, PROCESSOR)
            for contact_id, (contact, event, changed) in touched.items():
                if changed:
                    put(state, contact_id, contact.to_json(), event.message.partition)
                # A duplicate still re-emits: see the module's docstring.
                await pipeline.emit("contact-summaries", contact_id, contact.summary())
