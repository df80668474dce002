"""`firstline produce` and `firstline tail`: JSON lines in, JSON lines out."""

from __future__ import annotations

import base64
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from streams.codec import Codec, DecodeError, load_registry
from streams.producers import ChannelProducer, InvalidRecord
from streams.settings import Settings
from streams.topics import spec


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(obj)).decode()
    raise TypeError(f"cannot show {type(obj).__name__} as JSON")


def produce_lines(settings: Settings, topic: str, lines: Iterable[bytes], err: IO[str]) -> tuple[int, int]:
    """Send each JSON line as a record; returns (sent, rejected). Bad lines are reported, not sent."""
    sent = rejected = 0
    with ChannelProducer(settings) as producer:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
                if not isinstance(record, dict):
                    raise InvalidRecord("a JSON object is expected")
                producer.send(topic, record)
                sent += 1
            except (orjson.JSONDecodeError, InvalidRecord) as exc:
                rejected += 1
                print(f"line {number}: {exc}", file=err)
    return sent, rejected


def tail(settings: Settings, topic: str, *, from_beginning: bool, max_records: int | None,
         idle_timeout_s: float | None, out: IO[bytes], err: IO[str]) -> int:
    """Print records of a topic as JSON lines until max_records or idle_timeout_s; returns the count."""
    name = spec(topic).full_name(settings)
    codec = Codec(load_registry(settings.schemas_dir))
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False,
                             client_id=f"{settings.namespace}-tail", **settings.kafka_auth.kafka_python())
    try:
        partitions = consumer.partitions_for_topic(name)
        if not partitions:
            raise SystemExit(f"topic {name} does not exist (run: firstline topics create)")
        tps = [TopicPartition(name, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            consumer.seek_to_beginning(*tps)
        else:
            consumer.seek_to_end(*tps)
        count = 0
        last_seen = time.monotonic()
        while max_records is None or count < max_records:
            batch = consumer.poll(timeout_ms=200)
            if not batch:
                if idle_timeout_s is not None and time.monotonic() - last_seen > idle_timeout_s:
                    break
                continue
            last_seen = time.monotonic()
            for records in batch.values():
                for rec in records:
                    try:
                        value = codec.decode(rec.value)
                    except DecodeError as exc:
                        print(f"{rec.topic}[{rec.partition}]@{rec.offset}: {exc}", file=err)
                        continue
                    out.write(orjson.dumps(value, default=_json_default) + b"\n")
                    count += 1
                    if max_records is not None and count >= max_records:
                        break
            out.flush()
        return count
    finally:
        consumer.close()


def stdin_lines(path: str | None) -> Iterable[bytes]:
    if path in (None, "-"):
        yield from sys.stdin.buffer
    else:
        with open(path, "rb") as fh:  # type: ignore[arg-type]
            yield from fh
