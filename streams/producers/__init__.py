"""The producer library for upstream channel systems, and the built-in event generators."""

from streams.producers.producer import ChannelProducer, InvalidRecord

__all__ = ["ChannelProducer", "InvalidRecord"]
