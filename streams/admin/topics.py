"""Create the catalogue's topics (idempotently) and describe them."""

from __future__ import annotations

from dataclasses import dataclass

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.settings import Settings
from streams.topics import CATALOGUE


@dataclass(frozen=True)
class TopicState:
    name: str
    exists: bool
    partitions: int | None
    config: dict[str, str]


def _admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.kafka_servers, **settings.kafka_auth.kafka_python(),
                            client_id=f"{settings.namespace}-admin", request_timeout_ms=30_000)


def create_topics(settings: Settings) -> list[str]:
    """Create every missing catalogue topic; returns the names created (none when all exist)."""
    admin = _admin(settings)
    try:
        existing = set(admin.list_topics())
        wanted = [NewTopic(s.full_name(settings), s.partition_count(settings),
                           settings.replication_factor, topic_configs=s.config())
                  for s in CATALOGUE if s.full_name(settings) not in existing]
        created = []
        for topic in wanted:  # one at a time: a concurrent creator only costs us that one topic
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


def describe_topics(settings: Settings) -> list[TopicState]:
    admin = _admin(settings)
    try:
        names = [s.full_name(settings) for s in CATALOGUE]
        existing = set(admin.list_topics())
        present = [n for n in names if n in existing]
        partitions = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(present)} if present else {}
        configs: dict[str, dict[str, str]] = {}
        if present:
            keys = ["cleanup.policy", "retention.ms"]
            described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n, keys) for n in present])
            for topic, entries in described.get("topic", {}).items():
                configs[topic] = {k: v["value"] for k, v in entries.items() if k in keys}
        return [TopicState(n, n in existing, partitions.get(n), configs.get(n, {})) for n in names]
    finally:
        admin.close()
