"""The single-object codec as faust codecs, one per record type: `avro:io.firstline.ContactSummary`.

For faust applications downstream that read or write firstline's topics: a topic declaring one as
its value serializer sends and receives plain dicts. firstline's own processors read raw bytes and
decode in the processor, where a failure can be routed to the dead-letter topic instead of
crashing the stream (robinhood/faust#143), and encode their outputs themselves (streams/engine/producer.py).
"""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from streams.codec.single_object import Codec


class AvroRecordCodec(codecs.Codec):
    def __init__(self, codec: Codec, full_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.codec = codec
        self.full_name = full_name

    def _dumps(self, obj: Any) -> bytes:
        return self.codec.encode(self.full_name, obj)

    def _loads(self, s: bytes) -> Any:
        return self.codec.decode(s, self.full_name)


def codec_name(full_name: str) -> str:
    return f"avro:{full_name}"


def register_all(codec: Codec) -> None:
    """Register a faust codec for every current schema (idempotent)."""
    for full_name in codec.registry.current:
        codecs.register(codec_name(full_name), AvroRecordCodec(codec, full_name))
