"""The faust application: one worker process runs every processor and sink.

`create_app` builds it from settings; nothing here is global, so tests and the benchmark can build
apps with their own namespaces side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import AsyncIterator
from typing import Any

import faust

from streams.batch_channel import Batch, BatchChannel
from streams.codec import Codec, load_registry
from streams.codec.faust_codec import register_all
from streams.outbox import KeyHashes, Outbox
from streams.settings import Settings
from streams.transport import App
from streams.topics import spec


@dataclass
class Pipeline:
    """What the processors share: the faust app, settings, the codec and key hashes."""

    app: faust.App
    settings: Settings
    codec: Codec
    key_hashes: KeyHashes = field(default_factory=KeyHashes)

    def source(self, *names: str) -> BatchChannel:
        """Input topics read as raw records in batches: processors decode them themselves and
        dead-letter what fails."""
        specs = [spec(name) for name in names]
        return self.app.batch_channel(*(s.full_name(self.settings) for s in specs),
                                      capacity=self.settings.batch_max * 4,
                                      partitions=specs[0].partition_count(self.settings))

    def batches(self, source: BatchChannel) -> AsyncIterator[Batch]:
        """Batches each of which is a checkpoint: the caller makes its work durable per batch."""
        return source.batches(self.settings.batch_max, self.settings.batch_linger_s)

    def checkpointed(self, source: BatchChannel) -> AsyncIterator[Batch]:
        """Batches with checkpoints (see batch_channel.py): every FIRSTLINE_CHECKPOINT_INTERVAL_MS
        on a backlog, at once when caught up."""
        return source.batches(self.settings.batch_max, self.settings.batch_linger_s,
                              self.settings.checkpoint_interval_s)

    def outbox(self) -> Outbox:
        return Outbox(self)


def create_app(settings: Settings | None = None) -> Pipeline:
    settings = settings or Settings.from_env()
    codec = Codec(load_registry(settings.schemas_dir), native=settings.native_codec)
    register_all(codec)
    # The sinks alone are a consumer group of their own (FIRSTLINE_ROLE=sinks).
    app_id = settings.namespace if settings.role != "sinks" else f"{settings.namespace}-sinks"
    datadir = settings.data_dir / "faust" / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)  # faust creates only the last level
    app = App(
        app_id,
        broker=[f"kafka://{server}" for server in settings.kafka_servers],
        # Tables live in memory and are rebuilt from their changelog topics on start.
        store="memory://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_commit_interval=settings.commit_interval_s,
        producer_acks=-1,
        # One produce request at a time goes to a broker, with at most one batch per partition:
        # faust's 16 KiB batches made a processor's outputs wait for a train of round trips.
        producer_max_batch_size=512 * 1024,
        web_enabled=settings.web_port > 0,
        web_port=max(settings.web_port, 1),
        web_bind=settings.web_host,
        web_host=settings.web_host,
        consumer_auto_offset_reset="earliest",
        # A worker that subscribed before its topics were visible (a broker just started, topics
        # just created) got no partitions until the next metadata refresh: 5 minutes by default.
        consumer_metadata_max_age_ms=10_000,
        # A killed worker's partitions move to a live one after this long, not faust's 60 s.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        # At-least-once with idempotent outputs, not faust's exactly_once (see DESIGN.md).
        processing_guarantee="at_least_once",
        table_standby_replicas=settings.standby_replicas,
    )
    # A batch sends a summary and a changelog record per event; faust's default buffer of 100
    # would stall every batch with "producer buffer full" flushes.
    app.producer.buffer.max_messages = settings.batch_max * 4
    pipeline = Pipeline(app=app, settings=settings, codec=codec)
    from streams.processors import agent_state, contact_summary, queue_stats
    from streams.sinks import storage_sink
    from streams.web import views

    live = None
    if settings.role in ("all", "processors"):
        contact_summary.register(pipeline)
        agent_state.register(pipeline)
        live = queue_stats.register(pipeline)
    if settings.role in ("all", "sinks"):
        storage_sink.register(pipeline)
    views.register(pipeline, live)
    return pipeline
