"""The AsyncAPI 3.0 document of the bus, made from the topic catalogue and the schemas: what a
downstream team reads instead of the code. `firstline asyncapi` writes `schemas/asyncapi.json`;
a test fails when the committed file differs from what the catalogue makes, and validates it
against the AsyncAPI 3.0.0 JSON Schema.

Channels are the input and output topics (internal ones are the processors' own business), with
their Kafka bindings (partitions, replicas, retention or compaction) and the record key. Payloads
are the Avro schemas in `schemas/`, by reference; on the wire each value is Avro single-object
encoding (the 0xC3 0x01 marker, the schema's 8-byte fingerprint, then the binary body), so a
reader finds the writer's schema among the current and released versions in `schemas/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streams.codec import load_registry
from streams.settings import Settings
from streams.topics import CATALOGUE, TopicSpec

AVRO = "application/vnd.apache.avro+json;version=1.9.0"
BINDING_VERSION = "0.5.0"
VERSION = "0.1.0"


def _camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(part.title() for part in rest)


def _binding(spec: TopicSpec, settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {"cleanup.policy": [spec.config()["cleanup.policy"]]}
    if not spec.compacted:
        config["retention.ms"] = spec.retention_ms
    return {"kafka": {"topic": None, "partitions": spec.partition_count(settings),
                      "replicas": settings.replication_factor, "topicConfiguration": config,
                      "bindingVersion": BINDING_VERSION}}


def document(settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or Settings()
    registry = load_registry(settings.schemas_dir)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in CATALOGUE:
        if spec.role == "internal":
            continue
        record = registry.current[spec.value_schema]
        message = spec.value_schema.rsplit(".", 1)[1]
        messages[message] = {
            "name": message,
            "title": message,
            "summary": json.loads(record.source.read_text()).get("doc", ""),
            "contentType": "application/octet-stream",
            "payload": {"schemaFormat": AVRO, "schema": {"$ref": f"./{record.source.name}"}},
            "bindings": {"kafka": {"key": {"type": "string", "description": f"the record's `{spec.key_field}`"},
                                   "bindingVersion": BINDING_VERSION}},
        }
        channel = _camel(spec.name)
        binding = _binding(spec, settings)
        del binding["kafka"]["topic"]  # the address says it, with the namespace as a parameter
        channels[channel] = {
            "address": "{namespace}." + spec.name,
            "title": spec.name,
            "description": spec.doc + (" Compacted: the newest record per key is kept." if spec.compacted else ""),
            "parameters": {"namespace": {"default": "firstline",
                                         "description": "FIRSTLINE_NAMESPACE, the prefix of every topic"}},
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
            "bindings": binding,
        }
        action = "receive" if spec.role == "input" else "send"
        verb = "consume" if action == "receive" else "publish"
        operations[f"{verb}{channel[0].upper()}{channel[1:]}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": ("firstline reads this topic: channel systems publish to it." if action == "receive"
                        else "firstline writes this topic: downstream teams subscribe to it."),
            "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "firstline",
            "version": VERSION,
            "description": "The topics of firstline, the event-driven support pipeline of a telecom contact "
                           "centre: what channel systems publish and what the stream processors write. Values "
                           "are Avro single-object encoding; the schemas, current and released, are in schemas/.",
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/octet-stream",
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka",
                              "description": "The local broker of `make run` (KAFKA_BOOTSTRAP_SERVERS elsewhere)."}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render(settings: Settings | None = None) -> str:
    return json.dumps(document(settings), indent=2, ensure_ascii=False) + "\n"


def write(path: Path, settings: Settings | None = None) -> bool:
    """Write the document; False when the file was already up to date."""
    text = render(settings)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True
