"""firstline: an event-driven support pipeline for a telecom contact centre on Apache Kafka."""

__version__ = "0.1.0"
