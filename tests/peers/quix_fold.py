"""The contact-summary fold in quix-streams, as its documentation writes one: an `Application`,
a StreamingDataFrame over the topic with a stateful `apply` (RocksDB state per key, with its
changelog topic), `to_topic` for the summaries; at-least-once, quix's default.

  PEER_INPUT, PEER_OUTPUT  topic names; PEER_GROUP the consumer group; PEER_EXPECTED records
  PEER_DATADIR the state directory
  .venv-peers/bin/python -m tests.peers.quix_fold
"""

from __future__ import annotations


from quixstreams import Application, State

from streams.settings import Settings
from tests.peers.fold import Fold, Meter, env

settings = Settings.from_env()
fold = Fold(settings)
app = Application(broker_address=",".join(settings.kafka_servers), consumer_group=env("GROUP"),
                  auto_offset_reset="earliest", state_dir=env("DATADIR"), loglevel="WARNING")
source = app.topic(env("INPUT"), key_deserializer="bytes", value_deserializer="bytes")
summaries = app.topic(env("OUTPUT"), key_serializer="bytes", value_serializer="bytes")
meter = Meter(int(env("EXPECTED")), app.stop)


def fold_contact(value: bytes, state: State) -> bytes:
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
