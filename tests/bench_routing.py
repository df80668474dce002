"""The routing path of `make bench` (tests/bench.py --only routing,routing-latency).

  routing          a backlog of routing requests (agents logging in, contacts queued, offers
                   accepted, contacts leaving), made by driving the routing engine with desks that
                   accept every offer at once and hold each contact an exponential handle time:
                   calls and chats into the shipped configuration's queues at about 0.8
                   occupancy. Requests/s and decisions/s from the worker's ready to its group
                   committing every request, CPU per request after start-up; next to a raw
                   aiokafka consumer decoding the same topic, and the engine alone in-process
  routing-latency  contacts queued at a fixed rate (--routing-rate) while desks in a process of
                   their own accept each offer and end the contact; latency = when the OFFERED
                   decision is readable by a consumer of routing-decisions - when the contact
                   was queued, p50/p99, for contacts offered at once (an agent was free); next to a
                   raw consumer of routing-requests
"""

from __future__ import annotations

import asyncio
import heapq
import random
import statistics
import time
from pathlib import Path
from typing import Any

import aiokafka

from streams.admin.topics import create_topics
from streams.codec import Codec, load_registry
from streams.producers import ChannelProducer
from streams.routing.config import load
from streams.routing.engine import AgentChanged, ContactLeft, ContactQueued, OfferAnswered, Router, Tick
from streams.settings import REPO_ROOT, Settings
from streams.topics import spec
from tests.routing_requests import agent, answer, left, queued
from tests.support import Worker, isolated_settings, wait_until

CONFIG = REPO_ROOT / "deploy" / "routing.toml"
VOICE_AGENTS, CHAT_AGENTS = 40, 10


def agents_at(at: int) -> list[dict[str, Any]]:
    return ([agent(at, f"v{i:03d}", voice=2, ru=1) for i in range(VOICE_AGENTS)]
            + [agent(at, f"t{i:03d}", capacity={"CHAT": 3}, chat=1) for i in range(CHAT_AGENTS)])


def _event(r: dict[str, Any]) -> Any:
    kind, at = r["kind"], r["occurred_at"]
    if kind == "AGENT":
        return AgentChanged(at, r["agent_id"], r["agent_state"], {s["name"]: s["level"] for s in r["skills"]},
                            r["capacity"])
    if kind == "CONTACT_QUEUED":
        return ContactQueued(at, r["contact_id"], r["channel"], r["queue"])
    if kind == "CONTACT_LEFT":
        return ContactLeft(at, r["contact_id"])
    return OfferAnswered(at, r["contact_id"], r["agent_id"], kind == "OFFER_ACCEPTED", r["offer_id"])


def backlog(contacts: int, end_ms: int, rate: float = 500.0, seed: int = 7) -> tuple[list[dict[str, Any]], int]:
    """(requests, decisions the engine made for them): `contacts` arriving at `rate`/s (a fifth of
    them chats), ending at `end_ms`; calls held 0.064 s, chats 0.48 s on average (exponential):
    occupancy about 0.8 of the 40 call agents and 30 chat places."""
    rng = random.Random(seed)
    router = Router(load(CONFIG))
    start = end_ms - int(contacts / rate * 1000) - 1000
    requests: list[dict[str, Any]] = []
    ends: list[tuple[int, int, str]] = []  # (when the contact leaves, order, id)
    decisions = 0

    def send(r: dict[str, Any]) -> None:
        nonlocal decisions
        requests.append(r)
        for d in router.handle(_event(r)):
            decisions += 1
            if d.kind == "OFFERED":
                send(answer(r["occurred_at"], d.contact_id, d.agent_id or "", offer_id=d.decision_id))
            elif d.kind == "ASSIGNED":
                hold = rng.expovariate(1 / (0.064 if d.channel == "VOICE" else 0.48))
                heapq.heappush(ends, (r["occurred_at"] + max(1, int(hold * 1000)), len(requests), d.contact_id))

    for r in agents_at(start):
        send(r)
    t = float(start + 1000)
    for n in range(contacts):
        t += rng.expovariate(rate) * 1000
        while ends and ends[0][0] <= t:
            at, _, contact_id = heapq.heappop(ends)
            send(left(at, contact_id))
        chat = rng.random() < 0.2
        send(queued(int(t), f"b{n:07d}", queue="chat-general" if chat else "voice-general",
                    channel="CHAT" if chat else "VOICE"))
    while ends:
        at, _, contact_id = heapq.heappop(ends)
        send(left(at, contact_id))
    return requests, decisions


def engine_alone(requests: list[dict[str, Any]]) -> tuple[float, float]:
    """(requests/s, CPU us per request) of the engine in-process, no Kafka, no codec."""
    events = [_event(r) for r in requests]
    router = Router(load(CONFIG))
    began, cpu = time.perf_counter(), time.process_time()
    for e in events:
        router.handle(e)
    router.handle(Tick(events[-1].at))
    return len(events) / (time.perf_counter() - began), (time.process_time() - cpu) / len(events) * 1e6


def bench_routing(contacts: int, tmp: Path) -> dict[str, float]:
    from tests.bench import cpu_seconds
    from tests.bench_sms import committed, raw_decode

    settings = isolated_settings(tmp / "routing", partitions=3, role="processors")
    create_topics(settings)
    requests, decisions = backlog(contacts, int(time.time() * 1000) - 5_000)
    alone_per_s, alone_cpu = engine_alone(requests)
    with ChannelProducer(settings, check=False, linger_ms=20) as producer:
        for r in requests:
            producer.send("routing-requests", r)
    raw_s, raw_cpu = asyncio.run(raw_decode(settings, len(requests), "routing-requests"))
    with Worker(settings, "routing") as worker:
        assert worker.proc is not None
        ready_ms, cpu_from = worker.ready_ms(), cpu_seconds(worker.proc.pid)
        done = wait_until(lambda: committed(settings, "routing-requests") >= len(requests) and time.time(),
                          timeout=600, interval=0.1, what="every request routed", worker=worker)
        cpu = cpu_seconds(worker.proc.pid) - cpu_from
    span = done - ready_ms / 1000
    n = len(requests)
    return {"routing_requests": n, "routing_decisions": decisions, "routing_requests_per_s": n / span,
            "routing_decisions_per_s": decisions / span, "routing_cpu_us_per_request": cpu / n * 1e6,
            "routing_raw_decode_per_s": n / raw_s, "routing_raw_cpu_us_per_request": raw_cpu / n * 1e6,
            "routing_engine_alone_per_s": alone_per_s, "routing_engine_alone_cpu_us": alone_cpu}


def desks(settings: Settings, seconds: float, ready: Any) -> None:
    """In a process of its own: accept every offer at once and end the contact right after. The
    answers go as a desktop's producer sends them (ChannelProducer's 5 ms linger), not with a
    blocking flush after every fetch: that cost this process and the broker CPU the worker beside
    them on the same 2 cores lacked (docs/benchmarks.md, 2026-12-05, second)."""
    async def run() -> None:
        codec = Codec(load_registry(settings.schemas_dir))
        producer = ChannelProducer(settings, check=False)
        consumer = aiokafka.AIOKafkaConsumer(spec("routing-decisions").full_name(settings),
                                             bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                             auto_offset_reset="latest", fetch_max_wait_ms=5)
        await consumer.start()
        ready.put(True)
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for r in records:
                    d = codec.decode(r.value)
                    if d["kind"] == "OFFERED":
                        now = int(time.time() * 1000)
                        producer.send("routing-requests", answer(now, d["contact_id"], d["agent_id"],
                                                                 offer_id=d["decision_id"]))
                        producer.send("routing-requests", left(now, d["contact_id"]))
        await consumer.stop()
        producer.close()
    asyncio.run(run())


WARM_UP = 5  # contacts, one every 200 ms, before the measured ones


def offer_contacts(settings: Settings, rate: float, seconds: float, done: Any) -> None:
    """In a process of its own: queue contacts at `rate`, each id carrying its send time. A few
    contacts first, not measured (ids "w..."): the first of each process's operations (this
    producer's and the desks' first sends, which fetch metadata and connect; the worker's first
    decisions) would otherwise hold up the first second of the measured ones. What they cost is
    what a worker's start costs once, not a routing delay (docs/benchmarks.md, 2026-12-05). The
    contacts go with ChannelProducer's 5 ms linger, each stamped before it is sent, so its time in
    the linger counts in its latency."""
    producer = ChannelProducer(settings, check=False)
    for w in range(WARM_UP):
        producer.send("routing-requests", queued(int(time.time() * 1000), f"w{w}"))
        producer.flush()
        time.sleep(0.2)
    n, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        now = int(time.time() * 1000)
        producer.send("routing-requests", queued(now, f"l{n}-{now}"))
        n += 1
        delay = n / rate - (time.perf_counter() - began)
        if delay > 0:
            time.sleep(delay)
    producer.close()
    done.put((n, time.perf_counter() - began))


async def bench_routing_latency(rate: float, seconds: float, tmp: Path) -> dict[str, float]:
    import multiprocessing

    fork = multiprocessing.get_context("fork")
    settings = isolated_settings(tmp / "routing-latency", partitions=3, role="processors")
    create_topics(settings)
    lat: dict[str, list[float]] = {"routing-decisions": [], "routing-requests": []}
    sent_at: list[int] = []  # of each offer's contact, beside its latency
    with Worker(settings, "routing-latency") as worker:
        with ChannelProducer(settings, check=False) as producer:
            for r in agents_at(int(time.time() * 1000)):
                producer.send("routing-requests", r)
        time.sleep(8)  # let the worker join its group before the clock starts
        codec = Codec(load_registry(settings.schemas_dir))
        stop = asyncio.Event()

        async def read(topic: str) -> None:
            consumer = aiokafka.AIOKafkaConsumer(spec(topic).full_name(settings),
                                                 bootstrap_servers=settings.bootstrap_servers,
                                                 group_id=None, auto_offset_reset="latest", fetch_max_wait_ms=5)
            await consumer.start()
            try:
                while not stop.is_set():
                    batch = await consumer.getmany(timeout_ms=100)
                    now = time.time() * 1000
                    for records in batch.values():
                        for r in records:
                            v = codec.decode(r.value)
                            cid = v.get("contact_id") or ""
                            if not cid.startswith("l"):
                                continue
                            if topic == "routing-decisions" and not (v["kind"] == "OFFERED" and v["reason"]):
                                continue
                            if topic == "routing-requests" and v["kind"] != "CONTACT_QUEUED":
                                continue
                            sent = int(cid.rsplit("-", 1)[1])
                            lat[topic].append(now - sent)
                            if topic == "routing-decisions":
                                sent_at.append(sent)
            finally:
                await consumer.stop()

        readers = [asyncio.create_task(read(t)) for t in lat]
        ready: Any = fork.Queue()
        desk = fork.Process(target=desks, args=(settings, seconds + 8, ready))
        desk.start()
        ready.get(timeout=30)
        await asyncio.sleep(2)
        done: Any = fork.Queue()
        sender = fork.Process(target=offer_contacts, args=(settings, rate, seconds, done))
        from tests.bench import cpu_seconds  # here: tests.bench imports this module

        assert worker.proc is not None
        cpu_from = cpu_seconds(worker.proc.pid)
        sender.start()
        while sender.is_alive():
            await asyncio.sleep(0.2)
        n, offered_s = done.get(timeout=10)
        await asyncio.sleep(3)
        cpu = cpu_seconds(worker.proc.pid) - cpu_from  # the offer's (its answers' too), and 3 s idle
        stop.set()
        await asyncio.gather(*readers)
        desk.join(timeout=30)
        if not worker.alive():
            raise SystemExit(worker.log()[-60000:])

    def pct(xs: list[float], q: int) -> float:
        return statistics.quantiles(xs, n=100)[q - 1] if len(xs) > 2 else float("nan")

    offers, raw = lat["routing-decisions"], lat["routing-requests"]
    # Without the first 3 s of traffic, while the worker's consumer, the desks and the caches warm up.
    steady = [x for x, t in zip(offers, sent_at) if t - min(sent_at) >= 3000]
    return {"routing_offered": n, "routing_offered_per_s": n / offered_s, "routing_offers_read": len(offers),
            "routing_offer_p50_ms": pct(offers, 50), "routing_offer_p99_ms": pct(offers, 99),
            "routing_offer_steady_p99_ms": pct(steady, 99),
            "routing_raw_p50_ms": pct(raw, 50), "routing_raw_p99_ms": pct(raw, 99),
            "routing_latency_cpu_us_per_contact": cpu / max(n, 1) * 1e6}


def report_routing(contacts: int, tmp: Path) -> dict[str, float]:
    b = bench_routing(contacts, tmp)
    print(f"routing       {b['routing_requests_per_s']:>9,.0f} requests/s ({b['routing_decisions_per_s']:,.0f} decisions/s)  "
          f"raw decoding consumer {b['routing_raw_decode_per_s']:>9,.0f}/s  "
          f"ratio {b['routing_requests_per_s'] / b['routing_raw_decode_per_s']:.3f}  "
          f"({b['routing_requests']:,} requests, {b['routing_decisions']:,} decisions)")
    print(f"{'':<13} worker CPU {b['routing_cpu_us_per_request']:.0f} us per request after start-up; raw decoding "
          f"consumer {b['routing_raw_cpu_us_per_request']:.1f} us; the engine alone "
          f"{b['routing_engine_alone_per_s']:,.0f} requests/s, {b['routing_engine_alone_cpu_us']:.1f} us each")
    return b


def report_routing_latency(rate: float, seconds: float, tmp: Path) -> dict[str, float]:
    r = asyncio.run(bench_routing_latency(rate, seconds, tmp))
    print(f"routing latency at {r['routing_offered_per_s']:,.0f} contacts/s ({r['routing_offered']:,}; "
          f"{r['routing_offers_read']:,} offers read)  queued -> offer p50 {r['routing_offer_p50_ms']:.0f} ms "
          f"p99 {r['routing_offer_p99_ms']:.0f} ms (after 3 s {r['routing_offer_steady_p99_ms']:.0f} ms)  raw consumer p50 {r['routing_raw_p50_ms']:.0f} ms "
          f"p99 {r['routing_raw_p99_ms']:.0f} ms  worker CPU {r['routing_latency_cpu_us_per_contact']:.0f} us per contact")
    return r


GROUPS = 8  # routing groups in the pair run: a group is decided by one worker, so a second
# worker can only take whole groups


def grouped_config(path: Path, groups: int) -> Path:
    """The deployed configuration's general voice and chat queues, once per routing group."""
    config = load(CONFIG)
    lines = ["[routing]", f"offer_timeout_s = {config.offer_timeout_ms // 1000}", f'mixing = "{config.mixing}"', ""]
    for g in range(groups):
        for name in ("voice-general", "chat-general"):
            skills = ", ".join(f"{k} = {v}" for k, v in config.queues[name].skills.items())
            lines += ["[[queues]]", f'name = "{name}-g{g}"', f'group = "g{g}"', f"skills = {{ {skills} }}", ""]
    path.write_text("\n".join(lines))
    load(path)  # refused here, not in the worker, if the deployed queues ever change shape
    return path


def grouped_backlog(contacts: int, end_ms: int, groups: int) -> list[dict[str, Any]]:
    """`contacts` in `groups` routing groups, each group's traffic as backlog() makes it (its own
    agents and seed, a `groups`-th of the rate), merged in time."""
    merged: list[tuple[int, int, dict[str, Any]]] = []
    for g in range(groups):
        requests, _ = backlog(contacts // groups, end_ms, rate=500.0 / groups, seed=7 + g)
        for i, r in enumerate(requests):
            r["group"] = f"g{g}"
            if r["queue"]:
                r["queue"] = f"{r['queue']}-g{g}"
            merged.append((r["occurred_at"], i * groups + g, r))
    return [r for _, _, r in sorted(merged, key=lambda x: x[:2])]


def bench_routing_workers(contacts: int, tmp: Path, workers: int, groups: int = GROUPS,
                          partitions: int = 4) -> dict[str, float]:
    """The backlog of `groups` routing groups through `workers` worker processes in one group."""
    from tests.bench_sms import workers_through

    tmp.mkdir(parents=True, exist_ok=True)
    settings = isolated_settings(tmp / f"routing-{workers}", partitions=partitions, role="processors",
                                 routing_config=grouped_config(tmp / f"routing-{workers}.toml", groups))
    create_topics(settings)
    requests = grouped_backlog(contacts, int(time.time() * 1000) - 5_000, groups)
    with ChannelProducer(settings, check=False, linger_ms=20) as producer:
        for r in requests:
            producer.send("routing-requests", r)
    counted, span, cpu = workers_through(settings, workers, "routing", "routing-requests", len(requests),
                                         "every request routed")
    return {"requests": len(requests), "counted": counted, "requests_per_s": counted / span,
            "cpu_us_per_request": cpu / counted * 1e6}


def report_routing_pair(contacts: int, tmp: Path) -> dict[str, float]:
    """One worker process, then two in one consumer group, on GROUPS routing groups (4 partitions)."""
    from streams.engine.producer import KeyHashes

    hashes = KeyHashes()
    spread = sorted(hashes.partition(f"g{g}".encode(), 4) for g in range(GROUPS))
    out: dict[str, float] = {}
    for workers in (1, 2):
        b = bench_routing_workers(contacts, tmp, workers)
        print(f"routing, {workers} worker{'s' if workers > 1 else ''}  {b['requests_per_s']:>9,.0f} requests/s  "
              f"({b['requests_per_s'] / workers:,.0f} per process)  CPU {b['cpu_us_per_request']:.0f} us per request  "
              f"({GROUPS} routing groups on partitions {spread})")
        out.update({f"routing_{workers}w_{k}": v for k, v in b.items()})
    return out
