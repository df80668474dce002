"""What the protection did with one run's SMS traffic: read back from the output topics and
storage, for `firstline run`'s report."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from streams.codec import Codec, load_registry
from streams.settings import Settings
from streams.topics import spec


# The contact centre's alerts (streams/alerting/service_rules.py), reported apart from the SMS.
SERVICE_KINDS = frozenset({"SERVICE_LEVEL", "OLDEST_WAIT", "ABANDONMENT", "VOLUME"})


class TopicReader:
    """Every record of some catalogue topics from their beginning, decoded, as they come."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        self.codec = Codec(load_registry(settings.schemas_dir))
        self.consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False,
                                      client_id=f"{settings.namespace}-report", **settings.kafka_auth.kafka_python())
        self.names = {spec(t).full_name(settings): t for t in topics}
        tps = [TopicPartition(name, p) for name in self.names
               for p in sorted(self.consumer.partitions_for_topic(name) or ())]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)

    def read(self, timeout_ms: int = 500) -> list[tuple[str, dict[str, Any], int]]:
        """(topic, record, the record's timestamp) of what came since the last call."""
        out = []
        for records in self.consumer.poll(timeout_ms=timeout_ms, max_records=50_000).values():
            for rec in records:
                out.append((self.names[rec.topic], self.codec.decode(rec.value), rec.timestamp))
        return out

    def close(self) -> None:
        self.consumer.close()


@dataclass
class SmsRun:
    """One run's figures, filled from the output topics: ids of the run's records start with
    `prefix`; campaigns and alerts (whose ids are the detections') count when written since
    `since` (wall clock, ms), the run's start."""

    prefix: str
    since: int
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    complaints: dict[str, str] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    campaigns: dict[str, dict[str, Any]] = field(default_factory=dict)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def take(self, records: list[tuple[str, dict[str, Any], int]]) -> None:
        for topic, r, written in records:
            if topic == "sms-verdicts" and r["message_id"].startswith(self.prefix):
                self.verdicts[r["message_id"]] = r
            elif topic == "complaint-outcomes" and r["complaint_id"].startswith(self.prefix):
                self.complaints[r["complaint_id"]] = r["outcome"]
            elif topic == "subscription-outcomes" and r["request_id"].startswith(self.prefix):
                self.subscriptions[(r["provider"], r["request_id"])] = (r["outcome"], r["reason"])
            elif topic == "spam-campaigns" and written >= self.since:
                self.campaigns[r["campaign_id"]] = r
            elif topic == "alerts" and written >= self.since and r["kind"] not in SERVICE_KINDS:
                self.alerts[r["alert_id"]] = r

    def lines(self) -> list[str]:
        blocked = [v for v in self.verdicts.values() if v["verdict"] == "BLOCK"]
        reasons = Counter(reason for v in blocked for reason in v["reasons"])
        outcomes = Counter(self.complaints.values())
        decided = Counter(f"{o} {r}" for o, r in self.subscriptions.values())
        alerts = Counter(a["kind"] for a in self.alerts.values())

        def listed(c: Counter[str]) -> str:
            return ", ".join(f"{k} {n:,}" for k, n in c.most_common()) or "none"

        out = [f"SMS: {len(self.verdicts):,} messages, {len(self.verdicts) - len(blocked):,} delivered, "
               f"{len(blocked):,} blocked",
               f"  blocked for (a message may have several reasons): {listed(reasons)}"]
        for c in self.campaigns.values():
            out.append(f"  campaign {c['campaign_id']}: {c['sender_count']} senders, {c['messages']} messages, "
                       f"reach {c['reach']}: \"{c['sample'][:60]}\"")
        out += [f"  complaints: {sum(outcomes.values()):,} ({listed(outcomes)})",
                f"  paid subscriptions: {len(self.subscriptions):,} ({listed(decided)})",
                f"  protection alerts: {listed(alerts)}"]
        return out


def consumed(settings: Settings, topic: str, deadline: float) -> bool:
    """Wait until the workers' consumer group has committed every record a topic holds now."""
    from kafka import KafkaAdminClient

    name = spec(topic).full_name(settings)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers, **settings.kafka_auth.kafka_python())
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, **settings.kafka_auth.kafka_python())
    try:
        ends = consumer.end_offsets([TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()])
        while time.monotonic() < deadline:
            committed = {tp: meta.offset for offsets in admin.list_group_offsets([settings.namespace]).values()
                         for tp, meta in offsets.items() if tp.topic == name}
            if all(committed.get(tp, 0 if end == 0 else -1) >= end for tp, end in ends.items()):
                return True
            time.sleep(0.5)
        return False
    finally:
        admin.close()
        consumer.close()


def follow(settings: Settings, run: SmsRun, messages: int, complaints: int, requests: int,
           deadline: float) -> bool:
    """Read the outputs until every message, complaint and request of the run has its own and
    the campaign detector has read every sighting, or the deadline passes; True when all came."""
    reader = TopicReader(settings, ["sms-verdicts", "complaint-outcomes", "subscription-outcomes",
                                    "spam-campaigns", "alerts"])
    try:
        while time.monotonic() < deadline:
            run.take(reader.read())
            if (len(run.verdicts) >= messages and len(run.complaints) >= complaints
                    and len(run.subscriptions) >= requests):
                # campaigns are found behind the verdicts (sms-sightings -> sms-campaigns), and
                # their alerts and blocks are sent before that group commits what it read
                done = consumed(settings, "sms-sightings", deadline)
                run.take(reader.read(timeout_ms=1000))
                return done
        return False
    finally:
        reader.close()
