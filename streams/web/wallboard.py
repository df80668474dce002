"""The wallboard on the worker's web server: a page with no build step, its data, and updates
pushed as server-sent events.

  GET /                     redirects to the wallboard
  GET /wallboard/           the page (streams/web/static/wallboard.html)
  GET /wallboard/data       the board as JSON (the figures the page shows)
  GET /wallboard/events     text/event-stream: the board whenever it changed, at most once a second

Every worker reads the queue statistics, the live-queue and watermark tables' changelogs, the
alerts, the routing decisions and the spam campaigns whole, outside its consumer group (engine/replicas.py), so each worker's page shows every
queue, not only the partitions it holds.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web as aioweb
from faust.web import Request, Response, View

from streams.codec import Codec
from streams.engine.consumer import App
from streams.engine.replicas import ReplicaReader
from streams.settings import Settings
from streams.topics import spec
from streams.alerting.levels import Levels
from streams.web.auth import guarded
from streams.web.board import Board

log = logging.getLogger(__name__)
PAGE = Path(__file__).parent / "static" / "wallboard.html"
PUSH_EVERY_S = 1.0


def changelog(settings: Settings, table: str) -> str:
    """A processor table's changelog topic (faust names it after the processors' application id)."""
    return f"{settings.namespace}-{table}-changelog"


class WallboardFeed:
    """Folds the topics the board needs into a Board, in a task of the worker."""

    def __init__(self, settings: Settings, codec: Codec) -> None:
        self.settings = settings
        self.codec = codec
        self.board = Board(Levels.parse(settings.wallboard_levels))
        self.stats_topic = spec("queue-statistics").full_name(settings)
        self.alerts_topic = spec("alerts").full_name(settings)
        self.routing_topic = spec("routing-decisions").full_name(settings)
        self.campaign_topic = spec("spam-campaigns").full_name(settings)
        self.live_topic = changelog(settings, "queue-live")
        self.watermark_topic = changelog(settings, "queue-watermarks")
        tables = spec("queue-facts").partition_count(settings)
        self.reader = ReplicaReader(settings.kafka_servers, client_options=settings.kafka_auth.aiokafka(), topics=[
            (self.stats_topic, spec("queue-statistics").partition_count(settings)),
            (self.alerts_topic, spec("alerts").partition_count(settings)),
            (self.routing_topic, spec("routing-decisions").partition_count(settings)),
            (self.campaign_topic, spec("spam-campaigns").partition_count(settings)),
            (self.live_topic, tables), (self.watermark_topic, tables)], apply=self.apply)
        self.stats_schema = spec("queue-statistics").value_schema
        self.alert_schema = spec("alerts").value_schema
        self.routing_schema = spec("routing-decisions").value_schema
        self.campaign_schema = spec("spam-campaigns").value_schema
        self.bad = 0  # records that could not be read (they are the processors' own outputs)

    async def apply(self, records: list[Any]) -> None:
        board = self.board
        for message in records:
            try:
                topic = message.topic
                if topic == self.stats_topic:
                    board.on_statistic(self.codec.decode(message.value, self.stats_schema))
                elif topic == self.live_topic:
                    board.on_live(orjson.loads(message.key) if message.key else None,
                                  orjson.loads(message.value) if message.value is not None else None)
                elif topic == self.watermark_topic:
                    board.on_watermark(orjson.loads(message.value) if message.value is not None else None)
                elif topic == self.alerts_topic:
                    board.on_alert(self.codec.decode(message.value, self.alert_schema))
                elif topic == self.routing_topic:
                    board.on_routing(self.codec.decode(message.value, self.routing_schema))
                elif topic == self.campaign_topic and message.value is not None:
                    board.on_campaign(self.codec.decode(message.value, self.campaign_schema))
            except Exception:  # a board that skips one record is better than none
                self.bad += 1
                if self.bad <= 5:
                    log.warning("wallboard: a record of %s at offset %s could not be read",
                                message.topic, message.offset, exc_info=True)

    async def topics_exist(self) -> bool:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_servers, client_id="firstline-wallboard",
                                    **self.settings.kafka_auth.aiokafka())
        await consumer.start()
        try:
            return set(self.reader.topics) <= await consumer.topics()
        finally:
            await consumer.stop()

    async def run(self) -> None:
        # The changelog topics exist once the processors' worker created them (at its start, or a
        # sinks-only worker's processors elsewhere): the reader starts when every topic is there.
        while True:
            try:
                if not await self.topics_exist():
                    await asyncio.sleep(1)
                    continue
                await self.reader.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("wallboard feed: %s; retrying in 5 s", exc)
                await asyncio.sleep(5)


def register(app: App, settings: Settings, feed: WallboardFeed) -> None:
    app.task(feed.run)
    protect = partial(guarded, settings.web_token)  # 401 without the token (web/auth.py)

    @app.page("/")
    @protect
    async def root(web: View, request: Request) -> Response:
        raise aioweb.HTTPFound("/wallboard/")

    @app.page("/wallboard/")
    @protect
    async def page(web: View, request: Request) -> Response:
        return web.html(PAGE.read_text(encoding="utf-8"))

    @app.page("/wallboard/data")
    @protect
    async def data(web: View, request: Request) -> Response:
        return web.bytes(orjson.dumps(feed.board.snapshot()), content_type="application/json")

    @app.page("/wallboard/events")
    @protect
    async def events(web: View, request: Request) -> Any:
        stream = aioweb.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                                "X-Accel-Buffering": "no"})
        await stream.prepare(request)  # type: ignore[arg-type]  # faust's aiohttp request
        sent = -1
        try:
            while True:
                if feed.board.version != sent:
                    sent = feed.board.version
                    await stream.write(b"data: " + orjson.dumps(feed.board.snapshot()) + b"\n\n")
                else:
                    await stream.write(b": idle\n\n")  # keeps proxies from closing the stream
                await asyncio.sleep(PUSH_EVERY_S)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return stream
