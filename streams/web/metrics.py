"""GET /metrics: the worker's figures for Prometheus, by its naming conventions (the `firstline_`
prefix, base units: seconds and ratios 0-1, `_total` for counters; labels name processors,
topics, queues and reasons, never a subscriber or a contact).

The engine counts in plain integers (engine/meters.py); a collector turns them into metric
families when Prometheus scrapes, so the hot path pays no lock per record. Consumer lag is read
from the consumer's positions at the scrape. The queue gauges come from the wallboard's board,
which every worker folds from the whole statistics topic: every worker exports every queue, so
aggregate them with max by (queue, channel), not sum.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from streams.engine.meters import Timings
from streams.engine.runner import Engine
from streams.web.board import Board

CONTENT_TYPE = "text/plain; version=0.0.4"  # UTF-8, the exposition format's only encoding
AGENT_STATES = ("available", "busy", "wrap_up")


def _histogram(name: str, doc: str, labels: list[str]) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, labels=labels)


def _add(family: HistogramMetricFamily, labels: list[str], timings: Timings) -> None:
    family.add_metric(labels, buckets=timings.cumulative(), sum_value=timings.total)


class Collector:
    def __init__(self, engine: Engine, board: Board | None) -> None:
        self.engine = engine
        self.board = board
        self.lag: dict[str, int] = {}  # topic -> records behind, set by refresh() before a scrape

    async def refresh(self) -> None:
        """Consumer lag per input topic: the partitions' high watermarks less the positions."""
        consumer = self.engine.app.consumer
        lag: dict[str, int] = {}
        prefix = self.engine.settings.namespace + "."
        for tp in list(consumer.assignment()):
            if not tp.topic.startswith(prefix):
                continue  # changelogs: recovery's business, not the processors' lag
            try:
                high = consumer.highwater(tp)
                position = await consumer.position(tp)
            except Exception:  # not positioned yet
                continue
            if high is None or position is None:
                continue
            topic = tp.topic[len(prefix):]
            lag[topic] = lag.get(topic, 0) + max(0, high - position)
        self.lag = lag

    def collect(self) -> Iterator[Metric]:
        engine = self.engine
        meters = engine.meters
        records_in = CounterMetricFamily("firstline_processor_records_in", "Records handed to each processor.",
                                         labels=["processor"])
        records_out = CounterMetricFamily("firstline_processor_records_out",
                                          "Records each processor emitted, by output topic.", labels=["processor", "topic"])
        dead = CounterMetricFamily("firstline_dead_letters", "Records sent to the dead-letter topic, by error kind.",
                                   labels=["processor", "kind"])
        up = GaugeMetricFamily("firstline_processor_up", "1 while the processor runs, 0 once it failed.",
                               labels=["processor"])
        checkpoints = _histogram("firstline_checkpoint_duration_seconds",
                                 "Time to make a processor's outputs and state durable.", ["processor"])
        writes = _histogram("firstline_sink_write_duration_seconds",
                            "Time to write one batch to storage, retries included.", ["sink"])
        retries = CounterMetricFamily("firstline_sink_retries", "Transient storage failures retried.", labels=["sink"])
        for name, processor in engine.processors.items():
            m = meters.of(name)
            records_in.add_metric([name], m.records_in)
            up.add_metric([name], 0 if name in engine.failures else 1)
            _add(checkpoints, [name], m.checkpoints)
            for outbox in (processor.ctx.out, processor.ctx.after_state):
                for topic, n in outbox.emitted.items():
                    records_out.add_metric([name, topic], n)
                for kind, n in outbox.dead_letters.items():
                    dead.add_metric([name, kind], n)
            timings = getattr(processor, "writes", None)
            if isinstance(timings, Timings):
                _add(writes, [name], timings)
                retries.add_metric([name], getattr(processor, "retries", 0))
        yield from (records_in, records_out, dead, up, checkpoints, writes, retries)

        rebalances = CounterMetricFamily("firstline_rebalances", "Consumer-group rebalances this worker completed.")
        rebalances.add_metric([], meters.rebalances)
        yield rebalances
        recoveries = _histogram("firstline_recovery_duration_seconds",
                                "Time to restore the tables from their changelogs after an assignment.", [])
        consumer_timings = getattr(engine.app.consumer, "recoveries", None)
        _add(recoveries, [], consumer_timings if isinstance(consumer_timings, Timings) else Timings())
        yield recoveries
        lag = GaugeMetricFamily("firstline_consumer_lag_records",
                                "Records not yet read on this worker's partitions, by input topic.", labels=["topic"])
        for topic, n in sorted(self.lag.items()):
            lag.add_metric([topic], n)
        yield lag

        sms = engine.processors.get("sms-verdicts")
        judged = CounterMetricFamily("firstline_sms_judged", "SMS given a verdict by this worker.")
        blocked = CounterMetricFamily("firstline_sms_blocked", "SMS blocked, by reason (a message may have several).",
                                      labels=["reason"])
        if sms is not None:
            judged.add_metric([], getattr(sms, "judged", 0))
            for reason, n in sorted(getattr(sms, "blocked_by", {}).items()):
                blocked.add_metric([reason], n)
        yield judged
        yield blocked
        hooks = engine.processors.get("webhooks")
        deliveries = CounterMetricFamily("firstline_webhook_deliveries",
                                         "Alert deliveries to webhook endpoints, by outcome (delivered, retried: "
                                         "a try failed and another follows, failed: dead-lettered after the "
                                         "last try, skipped: the endpoint is disabled).", labels=["endpoint", "outcome"])
        enabled = GaugeMetricFamily("firstline_webhook_endpoint_enabled",
                                    "1 while the endpoint is sent alerts, 0 once disabled.", labels=["endpoint"])
        if hooks is not None:
            for (endpoint, outcome), n in sorted(getattr(hooks, "deliveries", {}).items()):
                deliveries.add_metric([endpoint, outcome], n)
            for endpoint in getattr(hooks, "endpoints", []):
                enabled.add_metric([endpoint.name], 0 if endpoint.name in hooks.disabled else 1)
        yield deliveries
        yield enabled
        yield from self._queues()

    def _queues(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily("firstline_queue_waiting_contacts", "Contacts waiting in the queue now.",
                                    labels=["queue"])
        oldest = GaugeMetricFamily("firstline_queue_oldest_wait_seconds",
                                   "Age of the oldest contact waiting in the queue.", labels=["queue"])
        agents = GaugeMetricFamily("firstline_queue_agents", "Agents serving the queue, by state.",
                                   labels=["queue", "state"])
        sl = GaugeMetricFamily("firstline_queue_service_level_ratio",
                               "Service level of the 15 minutes to the last closed minute (0-1).",
                               labels=["queue", "channel"])
        asa = GaugeMetricFamily("firstline_queue_asa_seconds",
                                "Average speed of answer of the 15 minutes to the last closed minute.",
                                labels=["queue", "channel"])
        abandon = GaugeMetricFamily("firstline_queue_abandonment_ratio",
                                    "Abandoned / offered over the 15 minutes to the last closed minute (0-1).",
                                    labels=["queue", "channel"])
        offered = GaugeMetricFamily("firstline_queue_offered_today_contacts",
                                    "Contacts offered to the queue since midnight UTC (event time).",
                                    labels=["queue", "channel"])
        board = self.board
        if board is not None:
            seen: set[str] = set()
            for tile in board.snapshot()["tiles"]:
                queue, channel = tile["queue"], tile["channel"]
                if queue not in seen:
                    seen.add(queue)
                    waiting.add_metric([queue], tile["waiting"])
                    oldest.add_metric([queue], tile["oldest_wait_ms"] / 1000)
                    for state in AGENT_STATES:
                        agents.add_metric([queue, state], tile[f"agents_{state}"])
                for family, value, scale in ((sl, tile["service_level"], 1), (asa, tile["asa_ms"], 1000),
                                             (abandon, tile["abandonment_rate"], 1)):
                    if value is not None:
                        family.add_metric([queue, channel], value / scale)
                offered.add_metric([queue, channel], tile["day"]["offered"] or 0)
        yield from (waiting, oldest, agents, sl, asa, abandon, offered)


def exposition(collector: Collector) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)  # type: ignore[arg-type]
    return generate_latest(registry)


def register(app: Any, collector: Collector, token: bytes) -> None:
    from faust.web import Request, Response, View

    from streams.web.auth import guarded

    protect = partial(guarded, token)

    @app.page("/metrics")
    @protect
    async def metrics(web: View, request: Request) -> Response:
        await collector.refresh()
        return web.bytes(exposition(collector), content_type=CONTENT_TYPE)
