"""ChannelProducer: how a channel system (ACD, chat, SMS centre, survey tool) publishes to firstline.

It checks each record against the topic's schema, keys it per the catalogue, encodes it in Avro
single-object encoding and sends it with acks=all, idempotence and retries. Records are batched
by kafka-python; flush() or close() waits until every record is acknowledged.

    with ChannelProducer() as producer:
        producer.send("contact-events", {"event_id": ..., "contact_id": ..., ...})
"""

from __future__ import annotations

from typing import Any

from kafka import KafkaProducer

from streams.codec import Codec, EncodeError, load_registry
from streams.settings import Settings
from streams.topics import TopicSpec, spec


class InvalidRecord(ValueError):
    """A record that does not fit its topic's schema or key; nothing was sent."""


class ChannelProducer:
    def __init__(self, settings: Settings | None = None, *, check: bool = True,
                 linger_ms: int = 5, **kafka_options: Any) -> None:
        self.settings = settings or Settings.from_env()
        self.codec = Codec(load_registry(self.settings.schemas_dir))
        # check=False skips the field-by-field validation for trusted, high-rate producers (the
        # simulator, the benchmark); encoding still rejects a record that does not fit.
        self.check = check
        options: dict[str, Any] = dict(
            bootstrap_servers=self.settings.kafka_servers,
            acks="all",
            enable_idempotence=True,
            retries=2_147_483_647,
            delivery_timeout_ms=120_000,
            linger_ms=linger_ms,
            batch_size=256 * 1024,
            max_in_flight_requests_per_connection=5,
            compression_type=None,
            client_id=f"{self.settings.namespace}-producer",
            **self.settings.kafka_auth.kafka_python(),
        )
        options.update(kafka_options)
        self._producer = KafkaProducer(**options)

    def encode(self, topic: str, record: dict[str, Any]) -> tuple[TopicSpec, bytes, bytes]:
        """(topic spec, key, value) for a record, or InvalidRecord."""
        s = spec(topic)
        key = record.get(s.key_field)
        if not isinstance(key, str) or not key:
            raise InvalidRecord(f"{s.name}: the key field {s.key_field!r} must be a non-empty string, got {key!r}")
        try:
            value = self.codec.encode(s.value_schema, record, check=self.check)
        except EncodeError as exc:
            raise InvalidRecord(str(exc)) from None
        return s, key.encode(), value

    def send(self, topic: str, record: dict[str, Any]) -> Any:
        """Queue a record; returns kafka-python's future. Raises InvalidRecord for a bad record."""
        s, key, value = self.encode(topic, record)
        return self._producer.send(s.full_name(self.settings), key=key, value=value)

    def send_raw(self, topic: str, key: bytes | None, value: bytes | None) -> Any:
        """Send bytes as they are (for tools and tests that must put hostile input on the bus)."""
        return self._producer.send(spec(topic).full_name(self.settings), key=key, value=value)

    def flush(self, timeout: float | None = None) -> None:
        self._producer.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        self._producer.flush(timeout)
        self._producer.close(timeout)

    def __enter__(self) -> "ChannelProducer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
