"""contact-events -> contact-summaries: one summary per contact, re-emitted on every event.

State per contact lives in a faust table (changelog-backed). A duplicate event re-emits the current
summary instead of nothing: if the worker died after the changelog write but before the output was
sent, the replayed event must still produce it. Downstream upserts by (contact_id, version), so a
repeat costs nothing.
"""

from __future__ import annotations

from streams.app import Pipeline
from streams.processors.contact_lifecycle import ContactState, InvalidEvent, validate_event
from streams.processors.dead_letters import dead_letter
from streams.topics import spec

PROCESSOR = "contact-summary"


def register(pipeline: Pipeline) -> None:
    app, settings, codec = pipeline.app, pipeline.settings, pipeline.codec
    source = pipeline.raw_topic("contact-events")
    summaries = pipeline.output_topic("contact-summaries")
    dead_letters = pipeline.output_topic("dead-letters")
    event_schema = spec("contact-events").value_schema
    # Untyped values (the app's JSON serializer): value_type=dict fails on changelog recovery.
    state = app.Table("contact-state", default=None, key_type=str, partitions=source.partitions)

    @app.agent(source, name=PROCESSOR)
    async def build_summaries(stream):  # type: ignore[no-untyped-def]
        async for events in stream.take_events(settings.batch_max, within=settings.batch_within_s):
            for event in events:
                # Tables write their changelog to the partition of the "current event"; in a
                # batch that must be this event's, not the newest one buffered.
                stream._set_current_event(event)
                try:
                    ev = codec.decode(event.message.value, event_schema)
                    validate_event(ev)
                    contact_id = ev["contact_id"]
                    if event.message.key != contact_id.encode():
                        # The table's partition follows the record key: a wrong key would split
                        # one contact's state across partitions.
                        raise InvalidEvent(f"record key {event.message.key!r} is not the contact_id")
                    stored = state.get(contact_id)
                    contact = ContactState.from_json(stored) if stored else ContactState(contact_id)
                    if contact.apply(ev):
                        state[contact_id] = contact.to_json()
                    summaries.send_soon(key=contact_id.encode(), value=contact.summary())
                except Exception as exc:  # anything a hostile record can cause goes to the DLQ
                    dead_letters.send_soon(key=event.message.topic.encode(),
                                           value=dead_letter(event, exc, PROCESSOR))
            stream._set_current_event(None)
