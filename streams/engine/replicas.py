"""Replicated inputs: a topic read whole by every worker, as Kafka Streams' GlobalKTable and
faust's GlobalTable.

For lookups that every partition of a processor needs and that are small beside its traffic:
the SMS verdicts look up the recipient's block list, but SMS are partitioned by sender, so any
worker may judge a message to any subscriber. Each worker reads every partition of the topic
from the beginning (the topic is the state's log: nothing else to restore), hands the records to
the processor (`Processor.on_replica`, under the processor's turn), and keeps reading. The
processor's first batch waits until the reader has reached the ends the topic had when the worker
started, so that a restarted worker judges with every change made before it started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

log = logging.getLogger(__name__)


class ReplicaReader:
    def __init__(self, servers: list[str], topics: Sequence[tuple[str, int]],
                 apply: Callable[[list[Any]], Awaitable[None]], max_records: int = 5000,
                 client_options: dict[str, Any] | None = None) -> None:
        """`topics`: (full name, partitions) pairs, as the catalogue made them; `client_options`:
        the connection's security (KafkaAuth.aiokafka())."""
        self.servers = servers
        self.client_options = client_options or {}
        self.topics = [name for name, _ in topics]
        self.partitions = dict(topics)
        self.apply = apply
        self.max_records = max_records
        self.ready = asyncio.Event()
        self.records = 0
        self.behind: dict[TopicPartition, int] = {}

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.servers, group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest", client_id="firstline-replica",
                                    **self.client_options)
        await consumer.start()
        try:
            tps = [TopicPartition(t, p) for t in self.topics for p in range(self.partitions[t])]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            self.behind = {tp: end for tp, end in ends.items() if end > 0}
            if not self.behind:
                self.ready.set()
            while True:
                fetched = await consumer.getmany(timeout_ms=200, max_records=self.max_records)
                for tp, records in fetched.items():
                    if records:
                        await self.apply(records)
                        self.records += len(records)
                if not self.ready.is_set():
                    for tp in list(self.behind):
                        if await consumer.position(tp) >= self.behind[tp]:
                            del self.behind[tp]
                    if not self.behind:
                        log.info("replicas %s read (%d records)", ", ".join(self.topics), self.records)
                        self.ready.set()
        finally:
            await consumer.stop()
