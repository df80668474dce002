"""The composition root: one worker process runs the engine with every processor and sink.

`create_app` builds it from settings; nothing here is global, so tests and the benchmark can build
apps with their own namespaces side by side. Only this module knows every processor, sink and
view; they know the engine, not each other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from streams.codec import Codec, load_registry
from streams.codec.faust_codec import register_all
from streams.engine import compat
from streams.engine.consumer import App
from streams.engine.runner import Engine
from streams.processors.agent_state import AgentState
from streams.processors.contact_summary import ContactSummary
from streams.processors.queue_stats import LiveQueues, QueueStatistics
from streams.processors.complaints import Complaints
from streams.processors.provider_abuse import ProviderAbuse
from streams.processors.router import Router
from streams.processors.sms_campaigns import SmsCampaigns
from streams.processors.subscriptions import Subscriptions
from streams.processors.sms_verdicts import SmsVerdicts
from streams.settings import Settings
from streams.sinks.storage_sink import SINKS, stores_for
from streams.sinks.webhook_sink import Deliveries, WebhookRetrySink, WebhookSink
from streams.web import metrics, views, wallboard
from streams.web.board import Board


@dataclass
class Pipeline:
    """A built worker: the faust app, the engine with its processors, and the live queue view."""

    app: App
    settings: Settings
    codec: Codec
    engine: Engine
    live: LiveQueues | None
    board: Board | None = None


def build_faust_app(settings: Settings) -> App:
    # The sinks alone are a consumer group of their own (FIRSTLINE_ROLE=sinks).
    app_id = settings.namespace if settings.role != "sinks" else f"{settings.namespace}-sinks"
    datadir = settings.data_dir / "faust" / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)  # faust creates only the last level
    app = App(
        app_id,
        broker=[f"kafka://{server}" for server in settings.kafka_servers],
        # plaintext on the local broker, or TLS and SASL/SCRAM (streams/kafka_auth.py)
        broker_credentials=settings.kafka_auth.faust_credentials(),
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
        # faust's own pages (/router/, /table/<name>/<key>/ with a contact's state, /graph/,
        # /stats/) would serve any table's data to anyone: only firstline's views are served.
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
        consumer_auto_offset_reset="earliest",
        # A worker that subscribed before its topics were visible (a broker just started, topics
        # just created) got no partitions until the next metadata refresh: 5 minutes by default.
        consumer_metadata_max_age_ms=10_000,
        # A killed worker's partitions move to a live one after this long, not faust's 60 s.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        # At-least-once with idempotent outputs, not faust's exactly_once (see docs/design.md).
        processing_guarantee="at_least_once",
        table_standby_replicas=settings.standby_replicas,
    )
    # A batch sends a summary and a changelog record per event; faust's default buffer of 100
    # would stall every batch with "producer buffer full" flushes.
    app.producer.buffer.max_messages = settings.batch_max * 4
    return app


def create_app(settings: Settings | None = None) -> Pipeline:
    settings = settings or Settings.from_env()
    compat.check()
    if settings.pseudonym_key == Settings.pseudonym_key and settings.role != "sinks":
        logging.getLogger("firstline").warning(
            "FIRSTLINE_PSEUDONYM_KEY is not set: subscriber pseudonyms use the development key, "
            "which anyone can read in the source; set a secret key before real traffic")
    if settings.web_port > 0 and not settings.web_token:
        logging.getLogger("firstline").warning(
            "FIRSTLINE_WEB_TOKEN is not set: the wallboard, the JSON views and /metrics answer "
            "anyone who reaches port %d; set a token outside a developer's machine", settings.web_port)
    codec = Codec(load_registry(settings.schemas_dir), native=settings.native_codec)
    register_all(codec)
    app = build_faust_app(settings)
    engine = Engine(app, settings, codec)
    live = None
    if settings.role in ("all", "processors"):
        wanted = set(settings.processors.split(",")) if settings.processors else None
        for processor in (ContactSummary, AgentState, QueueStatistics, SmsVerdicts, SmsCampaigns, Complaints,
                          Subscriptions, ProviderAbuse, Router):
            if wanted is None or processor.name in wanted:
                added = engine.add(processor)
                if processor is QueueStatistics:
                    live = added.view
    if settings.role in ("all", "sinks"):
        for sink, store in zip(SINKS, stores_for(settings.database_url)):
            engine.add(sink, store=store)
        if settings.webhooks:
            deliveries = Deliveries.from_settings(settings)
            engine.add(WebhookSink, deliveries=deliveries)
            engine.add(WebhookRetrySink, deliveries=deliveries)
    views.register(app, settings, engine, live)
    board = None
    if settings.web_port > 0:
        feed = wallboard.WallboardFeed(settings, codec)
        wallboard.register(app, settings, feed)
        metrics.register(app, metrics.Collector(engine, feed.board), settings.metrics_token or settings.web_token)
        board = feed.board
    return Pipeline(app=app, settings=settings, codec=codec, engine=engine, live=live, board=board)
