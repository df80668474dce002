"""Avro single-object encoding for every record on the bus.

`SchemaRegistry` knows every schema version in `schemas/`; `Codec` encodes and decodes records with
it. No registry server is involved: the fingerprint in each record names its writer schema.
"""

from streams.codec.errors import DecodeError, EncodeError
from streams.codec.registry import SchemaRegistry, load_registry
from streams.codec.single_object import Codec

__all__ = ["Codec", "DecodeError", "EncodeError", "SchemaRegistry", "load_registry"]
