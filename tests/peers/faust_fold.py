"""The contact-summary fold in faust-streaming, as its documentation writes one: an agent over
the topic, the state in a Table (memory store, changelog), each summary sent with
`topic.send()`; faust's at-least-once acknowledgement per event. (With `stream.take()` a Table
cannot be written: a batch has no current event, "Cannot modify table key from outside of
stream iteration"; with `use_partitioner=True` it can, and the agent then stalled at its first
rebalance.)

  PEER_INPUT, PEER_OUTPUT  topic names; PEER_GROUP the app id; PEER_EXPECTED records to count
  python -m tests.peers.faust_fold worker -l warn
"""

from __future__ import annotations

import os

import faust

from streams.settings import Settings
from tests.peers.fold import Fold, Meter, env

settings = Settings.from_env()
fold = Fold(settings)
app = faust.App(env("GROUP"), broker=[f"kafka://{s}" for s in settings.kafka_servers], store="memory://",
                datadir=os.environ.get("PEER_DATADIR", "/tmp/peer-faust"), topic_partitions=settings.partitions,
                web_enabled=False, consumer_auto_offset_reset="earliest")
source = app.topic(env("INPUT"), key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
summaries = app.topic(env("OUTPUT"), key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw")
contacts = app.Table("peer-contact-state", default=None, partitions=settings.partitions)
meter = Meter(int(env("EXPECTED")), lambda: None)


@app.agent(source)
async def fold_contacts(stream: faust.StreamT) -> None:
    # Per event, as faust's table examples do. The batch form, `async for values in
    # stream.take(500, within=0.2)` with the same body, stalled at its first rebalance here
    # ("wait_empty: Waiting for tasks", an event taken but never acknowledged) for 30 minutes.
    async for value in stream:
        event = fold.decode(value)
        contact_id = event["contact_id"]
        contacts[contact_id], summary = fold.apply(event, contacts.get(contact_id))
        await summaries.send(key=contact_id.encode(), value=summary)
        meter.tick()


if __name__ == "__main__":
    app.main()
