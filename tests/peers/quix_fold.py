"""The contact-summary fold in quix-streams, as its documentation writes one: an `Application`,
a StreamingDataFrame over the topic with a stateful `apply` (RocksDB state per key, with its
changelog topic), `to_topic` for the summaries; at-least-once, quix's default.

With PEER_SERDE=quix the records are read and written by quix's own Avro serializers (fastavro,
as its documentation has them), the 10-byte single-object header checked and stripped in a
subclass; otherwise the fold is handed firstline's codec, the like-for-like comparison.

  PEER_INPUT, PEER_OUTPUT  topic names; PEER_GROUP the consumer group; PEER_EXPECTED records
  PEER_DATADIR the state directory; PEER_SERDE "quix" or "firstline" (the default)
  .venv-peers/bin/python -m tests.peers.quix_fold
"""

from __future__ import annotations

import os
from typing import Any

from quixstreams import Application, State

from streams.settings import Settings
from tests.peers.fold import Fold, Meter, env

settings = Settings.from_env()
fold = Fold(settings)
app = Application(broker_address=",".join(settings.kafka_servers), consumer_group=env("GROUP"),
                  auto_offset_reset="earliest", state_dir=env("DATADIR"), loglevel="WARNING")
meter = Meter(int(env("EXPECTED")), app.stop)

if os.environ.get("PEER_SERDE", "firstline") == "quix":
    from quixstreams.models.serializers.avro import AvroDeserializer, AvroSerializer

    event_version = fold.codec.registry.reader(fold.event_schema)
    summary_version = fold.codec.registry.reader(fold.summary_schema)

    class SingleObjectAvroDeserializer(AvroDeserializer):  # type: ignore[misc]
        def __call__(self, value: bytes, ctx: Any) -> Any:
            if value[:2] != b"\xc3\x01" or value[2:10] != event_version.fingerprint:
                raise ValueError("not a contact event in the current schema")
            return super().__call__(value[10:], ctx)

    class SingleObjectAvroSerializer(AvroSerializer):  # type: ignore[misc]
        def __call__(self, value: Any, ctx: Any) -> bytes:
            return b"\xc3\x01" + summary_version.fingerprint + super().__call__(value, ctx)

    source = app.topic(env("INPUT"), key_deserializer="bytes",
                       value_deserializer=SingleObjectAvroDeserializer(event_version.definition))
    summaries = app.topic(env("OUTPUT"), key_serializer="bytes",
                          value_serializer=SingleObjectAvroSerializer(summary_version.definition))

    def fold_contact(event: dict[str, Any], state: State) -> dict[str, Any]:
        event["occurred_at"] = int(event["occurred_at"].timestamp() * 1000)  # fastavro gives a datetime
        stored, summary = fold.apply_decoded(fold.check(event), state.get("contact"))
        state.set("contact", stored)
        meter.tick()
        return summary
else:
    source = app.topic(env("INPUT"), key_deserializer="bytes", value_deserializer="bytes")
    summaries = app.topic(env("OUTPUT"), key_serializer="bytes", value_serializer="bytes")

    def fold_contact(value: bytes, state: State) -> bytes:  # type: ignore[misc]
        event = fold.decode(value)
        stored, summary = fold.apply(event, state.get("contact"))
        state.set("contact", stored)
        meter.tick()
        return summary


sdf = app.dataframe(source)
sdf = sdf.apply(fold_contact, stateful=True)
sdf.to_topic(summaries)

if __name__ == "__main__":
    app.run()
