"""The SMS path of `make bench` (tests/bench.py --only sms,sms-latency): verdicts with every
detector on, next to a raw consumer that decodes the same topic in the same run.

  sms          a backlog of generated SMS traffic (person-to-person texts, bulk senders, a mass
               mailer, a campaign, block lists) through the sms-verdicts processor (block lists,
               mass mailing, campaign bands and sightings, content score, pseudonyms), the campaign
               detector behind it; verdicts/s from the worker's ready to its consumer group
               committing every message, CPU per SMS after start-up; vs a raw aiokafka consumer
               decoding every message with the same codec
  sms-latency  SMS offered at a fixed rate (--sms-rate), each stamped with the time it was due;
               latency = when its verdict is readable by a consumer of sms-verdicts - that time,
               p50/p99, next to a raw consumer of sms-messages
"""

from __future__ import annotations

import asyncio
import math
import random
import re
import statistics
import time
from pathlib import Path
from typing import Any

import aiokafka

from streams.admin.topics import create_topics
from streams.codec import Codec, load_registry
from streams.producers import ChannelProducer
from streams.settings import Settings
from streams.simulator.sms import SmsDay, SmsProfile
from streams.topics import spec
from tests.support import Worker, isolated_settings, wait_until

A2P = "MTS,SBERBANK,OZON"


def traffic(messages: int, start: int, seed: int = 5) -> list[tuple[str, dict[str, Any], str]]:
    """About `messages` SMS of a generated operator's evening hours (and their block-list changes)."""
    hours = 2.0
    start -= start % 86_400_000 - 17 * 3_600_000  # 17:00-19:00 UTC of that day, near the daily peak
    profile = SmsProfile(subscribers=200_000, p2p_per_hour=int(messages / hours * 0.95), a2p_per_hour=messages // 10,
                         mass_recipients=2_000, campaign_senders=40, campaign_messages=2_000, block_changes=5_000,
                         subscription_requests=0, abusive_requests=0, content_bans=0)
    events = [e for e in SmsDay(start=start, hours=hours, seed=seed, profile=profile).events()
              if e[0] in ("sms-messages", "block-list-changes")]
    # The simulator's person-to-person texts come from a few templates; people's texts are nearly
    # all different, and the verdict processor featurises a batch's repeated texts once. So each
    # gets a few words of the templates' own vocabulary added: the benchmark pays for every text.
    rng = random.Random(seed)
    words = sorted({w for _, r, kind in events if kind == "p2p" for w in r["text"].split() if w.isalpha()})
    russian = [w for w in words if not w.isascii()]
    english = [w for w in words if w.isascii()]
    for _, r, kind in events:
        if kind == "p2p":
            more = rng.sample(english if r["text"].isascii() else russian, 3)
            r["text"] = f"{r['text']} {' '.join(more)}"
    return events


async def raw_decode(settings: Settings, expected: int, topic: str = "sms-messages") -> tuple[float, float]:
    """(seconds, CPU seconds) for a bare aiokafka consumer to read and decode `expected` records
    of a catalogue topic."""
    codec = Codec(load_registry(settings.schemas_dir))
    schema = spec(topic).value_schema
    consumer = aiokafka.AIOKafkaConsumer(spec(topic).full_name(settings),
                                         bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                         auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        seen, began, cpu = 0, None, 0.0
        while seen < expected:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
            if batch and began is None:
                began, cpu = time.perf_counter(), time.process_time()
            for records in batch.values():
                for r in records:
                    codec.decode(r.value, schema)
                seen += len(records)
        return time.perf_counter() - (began or time.perf_counter()), time.process_time() - cpu
    finally:
        await consumer.stop()


def committed(settings: Settings, topic: str) -> int:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_servers)
    try:
        name = spec(topic).full_name(settings)
        return sum(m.offset for offsets in admin.list_group_offsets([settings.namespace]).values()
                   for tp, m in offsets.items() if tp.topic == name and m.offset > 0)
    finally:
        admin.close()


def workers_through(settings: Settings, workers: int, name: str, topic: str, total: int,
                    what: str) -> tuple[int, float, float]:
    """Start `workers` worker processes on a backlog of `total` records of `topic` and wait until
    their group has committed all: (records counted, seconds, CPU seconds of all the workers). The
    clock starts once every worker is ready in the generation they share; with two workers the
    first works alone until the second has joined, so what the group had committed by then is not
    counted (nor its CPU, nor its time)."""
    from tests.bench import cpu_seconds  # here: tests.bench imports this module

    running = [Worker(settings, f"{name}-{i + 1}").start(wait_ready=False) for i in range(workers)]
    try:
        def settled() -> bool:
            logs = [w.log() for w in running]
            generations = {m[-1] if (m := re.findall(r"generation id (\d+)", log)) else None for log in logs}
            return len(generations) == 1 and None not in generations and all(
                log.rfind("Worker ready") > log.rfind("generation id") for log in logs)

        wait_until(settled, timeout=120, what="the workers ready in one generation")
        began = time.time()
        cpu_from = sum(cpu_seconds(w.proc.pid) for w in running if w.proc)
        before = committed(settings, topic)
        done = wait_until(lambda: committed(settings, topic) >= total and time.time(), timeout=600,
                          interval=0.1, what=what, worker=running[0])
        cpu = sum(cpu_seconds(w.proc.pid) for w in running if w.proc) - cpu_from
    finally:
        for w in running:
            w.stop()
    if before >= total:
        raise SystemExit(f"{what} before every worker was ready: the backlog is too small to count")
    return total - before, done - began, cpu


def bench_sms(messages: int, tmp: Path, workers: int = 1, partitions: int = 3, **overrides: Any) -> dict[str, float]:
    defaults = Settings.from_env()
    settings = isolated_settings(tmp / f"sms-{workers}-{partitions}", partitions=partitions, role="processors",
                                 sms_a2p_senders=A2P, commit_interval_s=defaults.commit_interval_s,
                                 checkpoint_interval_s=defaults.checkpoint_interval_s,
                                 **{"gc_young_threshold": defaults.gc_young_threshold, **overrides})
    create_topics(settings)
    events = traffic(messages, int(time.time() * 1000) - 86_400_000)
    sms = sum(t == "sms-messages" for t, _, _ in events)
    with ChannelProducer(settings, check=False, linger_ms=20) as producer:
        for topic, record, _ in events:
            producer.send(topic, record)
    raw_s, raw_cpu = asyncio.run(raw_decode(settings, sms))
    judged, span, cpu = workers_through(settings, workers, "sms", "sms-messages", sms, "every SMS judged")
    return {"sms_messages": sms, "sms_counted": judged, "sms_verdicts_per_s": judged / span,
            "sms_raw_decode_per_s": sms / raw_s, "sms_cpu_us_per_message": cpu / judged * 1e6,
            "sms_raw_cpu_us_per_message": raw_cpu / sms * 1e6}


TICK_S = 0.005


def offer(settings: Settings, rate: float, seconds: float, texts: list[str], done: Any, part: int = 0,
          parts: int = 1) -> None:
    """In a process of its own (the measuring consumers must not slow the load, nor it them): send
    SMS at `rate` for `seconds`; `part` of `parts` such processes."""
    asyncio.run(_offer(settings, rate, seconds, texts, done, part, parts))


async def _offer(settings: Settings, rate: float, seconds: float, texts: list[str], done: Any, part: int,
                 parts: int) -> None:
    # The SMS centre's side is not what is measured, and on these 2 cores what it spends the
    # worker lacks: every 5 ms the SMS due since the last tick are encoded with the product's
    # codec and sent as one record batch per partition (aiokafka builds them in C), where
    # ChannelProducer (kafka-python) took a third of the machine for 5,000 SMS/s. Each SMS is
    # stamped with the time it was due, not the time it was sent, so the generator's own delays
    # count in its latency (no coordinated omission).
    from streams.engine.producer import KeyHashes

    codec = Codec(load_registry(settings.schemas_dir))
    s = spec("sms-messages")
    topic, schema, count = s.full_name(settings), s.value_schema, s.partition_count(settings)
    hashes = KeyHashes()
    producer = aiokafka.AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                                         max_batch_size=512 * 1024)
    await producer.start()
    n, began, epoch_ms = 0, time.perf_counter(), time.time() * 1000
    sent: list[Any] = []
    while (elapsed := time.perf_counter() - began) < seconds:
        batches: dict[int, Any] = {}
        while n < elapsed * rate:
            k = n * parts + part
            due = int(epoch_ms + n / rate * 1000)
            sender = f"7916{k % 50_000:07d}"
            # the due time in the id too: a verdict's key is the SMS's id, so the measuring
            # consumer reads the time without decoding the record
            value = codec.encode(schema, {"message_id": f"{due}-{k}", "occurred_at": due, "sender": sender,
                                          "recipient": f"7926{k % 70_001:07d}", "text": texts[k % len(texts)],
                                          "origin_network": None, "source": "smsc"})
            key = sender.encode()
            p = hashes.partition(key, count)
            batch = batches.get(p) or batches.setdefault(p, producer.create_batch())
            batch.append(key=key, value=value, timestamp=due)
            n += 1
        for p, batch in batches.items():
            sent.append(await producer.send_batch(batch, topic, partition=p))
        await asyncio.sleep(max(0.0, TICK_S - (time.perf_counter() - began - elapsed)))
    await asyncio.gather(*sent)
    await producer.stop()
    done.put((n, time.perf_counter() - began))


async def bench_sms_latency(rate: float, seconds: float, tmp: Path, senders: int = 0,
                            **overrides: Any) -> dict[str, float]:
    import multiprocessing

    settings = isolated_settings(tmp / "sms-latency", partitions=3, role="processors", sms_a2p_senders=A2P,
                                 **overrides)
    create_topics(settings)
    texts = [r["text"] for t, r, _ in traffic(20_000, int(time.time() * 1000)) if t == "sms-messages"]
    lat: dict[str, list[float]] = {"sms-verdicts": [], "sms-messages": []}
    with Worker(settings, "sms-latency") as worker:
        time.sleep(8)  # let the worker join its group before the clock starts
        stop = asyncio.Event()

        async def read(topic: str) -> None:
            verdicts = topic == "sms-verdicts"
            consumer = aiokafka.AIOKafkaConsumer(spec(topic).full_name(settings),
                                                 bootstrap_servers=settings.bootstrap_servers,
                                                 group_id=None, auto_offset_reset="latest", fetch_max_wait_ms=5)
            await consumer.start()
            try:
                while not stop.is_set():
                    batch = await consumer.getmany(timeout_ms=100)
                    now = time.time() * 1000
                    # Not decoded (that was a fifth of the machine's CPU beside the worker): a
                    # verdict's key is the SMS's id, which starts with its send time; an SMS's
                    # Kafka timestamp is the time its producer was handed it.
                    for records in batch.values():
                        if verdicts:
                            lat[topic].extend(now - int(r.key.split(b"-", 1)[0]) for r in records)
                        else:
                            lat[topic].extend(now - r.timestamp for r in records)
            finally:
                await consumer.stop()

        readers = [asyncio.create_task(read(t)) for t in lat]
        await asyncio.sleep(3)
        fork = multiprocessing.get_context("fork")
        done: Any = fork.Queue()
        parts = senders or max(1, math.ceil(rate / 20_000))
        processes = [fork.Process(target=offer, args=(settings, rate / parts, seconds, texts, done, part, parts))
                     for part in range(parts)]
        from tests.bench import cpu_seconds  # here: tests.bench imports this module

        assert worker.proc is not None
        cpu_from = cpu_seconds(worker.proc.pid)
        for sender in processes:
            sender.start()
        while any(sender.is_alive() for sender in processes):
            await asyncio.sleep(0.2)
        sent = [done.get(timeout=10) for _ in processes]
        n, offered_s = sum(c for c, _ in sent), max(t for _, t in sent)
        await asyncio.sleep(3)
        cpu = cpu_seconds(worker.proc.pid) - cpu_from  # the offer's, and 3 s idle either side
        stop.set()
        await asyncio.gather(*readers)
        if not worker.alive():
            raise SystemExit(worker.log()[-60000:])

    def pct(xs: list[float], q: int) -> float:
        return statistics.quantiles(xs, n=100)[q - 1] if len(xs) > 2 else float("nan")

    v, raw = lat["sms-verdicts"], lat["sms-messages"]
    return {"sms_offered": n, "sms_offered_per_s": n / offered_s, "sms_senders": parts, "sms_verdicts_read": len(v),
            "sms_verdict_p50_ms": pct(v, 50), "sms_verdict_p99_ms": pct(v, 99),
            "sms_raw_p50_ms": pct(raw, 50), "sms_raw_p99_ms": pct(raw, 99),
            "sms_latency_cpu_us_per_message": cpu / max(n, 1) * 1e6}


def report_sms(messages: int, tmp: Path) -> dict[str, float]:
    b = bench_sms(messages, tmp)
    print(f"sms verdicts  {b['sms_verdicts_per_s']:>9,.0f} SMS/s  raw decoding consumer {b['sms_raw_decode_per_s']:>9,.0f}/s  "
          f"ratio {b['sms_verdicts_per_s'] / b['sms_raw_decode_per_s']:.3f}  ({b['sms_messages']:,} SMS, every detector on)")
    print(f"{'':<13} worker CPU {b['sms_cpu_us_per_message']:.0f} us per SMS after start-up; raw decoding consumer "
          f"{b['sms_raw_cpu_us_per_message']:.1f} us per SMS")
    return b


def report_sms_pair(messages: int, tmp: Path) -> dict[str, float]:
    """One worker process, then two in one consumer group, on 4 partitions of the same traffic."""
    out: dict[str, float] = {}
    for workers in (1, 2):
        b = bench_sms(messages, tmp, workers=workers, partitions=4)
        print(f"sms, {workers} worker{'s' if workers > 1 else ''}  {b['sms_verdicts_per_s']:>9,.0f} SMS/s  "
              f"({b['sms_verdicts_per_s'] / workers:,.0f} per process)  CPU {b['sms_cpu_us_per_message']:.0f} us per SMS  "
              f"raw decoding consumer {b['sms_raw_decode_per_s']:,.0f}/s")
        out.update({f"sms_{workers}w_{k}": v for k, v in b.items()})
    return out


def report_sms_latency(rate: float, seconds: float, tmp: Path) -> dict[str, float]:
    r = asyncio.run(bench_sms_latency(rate, seconds, tmp))
    print(f"sms latency at {r['sms_offered_per_s']:,.0f} SMS/s offered by {r['sms_senders']} process{'es' if r['sms_senders'] > 1 else ''} "
          f"({r['sms_offered']:,}; {r['sms_verdicts_read']:,} "
          f"verdicts read)  verdict p50 {r['sms_verdict_p50_ms']:.0f} ms p99 {r['sms_verdict_p99_ms']:.0f} ms  "
          f"raw consumer p50 {r['sms_raw_p50_ms']:.0f} ms p99 {r['sms_raw_p99_ms']:.0f} ms  "
          f"worker CPU {r['sms_latency_cpu_us_per_message']:.0f} us per SMS")
    return r
