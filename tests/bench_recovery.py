"""Recovery of `make bench` (tests/bench.py --only recovery): how long the SMS verdicts, the
heaviest path and the one in every message's delivery, take to come back after each fault.

SMS are offered at a fixed rate (--recovery-rate) to a broker of the run's own (so that it can
be restarted), each stamped with its send time; a consumer of sms-verdicts notes, for every
verdict, when it became readable. Then, in turn, on a running pipeline:

  kill       the only worker is killed with SIGKILL and a new one started at once (what a
             supervisor or Kubernetes does)
  kill-1-of-2  two workers share the partitions; one is killed and not replaced (the other
             takes its partitions after the session timeout, 10 s)
  broker     the broker is stopped (SIGTERM) and started again

For each: the outage (from the fault until the first verdict for a message sent after it), the
time until verdicts are back on time (the last verdict later than 1 s after its message became
readable then), the worst verdict latency, and whether every message offered got its verdict.
The offering producer blocks while the broker is away: during a broker restart fewer messages
are offered. The run's messages are the same before and after the fault, so a verdict missing
or a second, different one, would show.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import aiokafka

from streams.admin.topics import create_topics
from streams.codec import Codec, load_registry
from streams.settings import REPO_ROOT
from streams.topics import spec
from tests.bench_sms import A2P, offer, traffic
from tests.support import Worker, isolated_settings

PORT = 19292
ON_TIME_MS = 1000.0
SCENARIOS = ("kill", "kill-1-of-2", "broker")


def broker(home: Path, action: str) -> None:
    env = {**os.environ, "FIRSTLINE_KAFKA_PORT": str(PORT), "FIRSTLINE_KAFKA_HOME": str(home)}
    subprocess.run([str(REPO_ROOT / "deploy" / "kafka" / "kafkactl"), action], env=env, check=True, timeout=180,
                   stdout=subprocess.DEVNULL)


def figures(sent_at: dict[str, float], judged_at: dict[str, float], fault: float) -> dict[str, float]:
    """From each message's send time and when its first verdict was readable (epoch s)."""
    after = [m for m, t in sent_at.items() if t >= fault]
    first = min((judged_at[m] for m in after if m in judged_at), default=float("nan"))
    late = [judged_at[m] for m, t in sent_at.items() if m in judged_at and (judged_at[m] - t) * 1000 > ON_TIME_MS]
    latencies = [judged_at[m] - t for m, t in sent_at.items() if m in judged_at]
    return {"outage_s": first - fault,
            # when the last verdict later than 1 s became readable: on time again from then on
            "on_time_after_s": max(late) - fault if late else 0.0,
            "worst_latency_s": max(latencies, default=float("nan")),
            "missing": sum(m not in judged_at for m in sent_at)}


async def run(scenario: str, rate: float, seconds: float, tmp: Path) -> dict[str, float]:
    home = tmp / f"recovery-{scenario}"
    broker(home / "kafka", "start")
    settings = isolated_settings(home, bootstrap_servers=f"127.0.0.1:{PORT}", partitions=4, role="processors",
                                 sms_a2p_senders=A2P)
    workers: list[Worker] = []
    try:
        create_topics(settings)
        texts = [r["text"] for t, r, _ in traffic(20_000, int(time.time() * 1000)) if t == "sms-messages"]
        workers.append(Worker(settings, f"{scenario}-1").start())
        if scenario == "kill-1-of-2":
            workers.append(Worker(settings, f"{scenario}-2").start())
        codec = Codec(load_registry(settings.schemas_dir))
        judged_at: dict[str, float] = {}
        sent_at: dict[str, float] = {}
        stop = asyncio.Event()

        async def read(topic: str, into: dict[str, float], field: str) -> None:
            while not stop.is_set():  # a broker restart ends a consumer: start another
                consumer = aiokafka.AIOKafkaConsumer(spec(topic).full_name(settings),
                                                     bootstrap_servers=settings.bootstrap_servers, group_id=None,
                                                     auto_offset_reset="earliest", fetch_max_wait_ms=5)
                try:
                    await consumer.start()
                    while not stop.is_set():
                        batch = await consumer.getmany(timeout_ms=100)
                        now = time.time()
                        for records in batch.values():
                            for r in records:
                                value = codec.decode(r.value)
                                into.setdefault(value["message_id"], now if field == "now"
                                                else value[field] / 1000)
                except Exception:  # the broker away
                    await asyncio.sleep(0.5)
                finally:
                    await consumer.stop()

        readers = [asyncio.create_task(read("sms-verdicts", judged_at, "now")),
                   asyncio.create_task(read("sms-messages", sent_at, "occurred_at"))]
        done: Any = multiprocessing.get_context("fork").Queue()
        sender = multiprocessing.get_context("fork").Process(target=offer, args=(settings, rate, seconds, texts, done))
        sender.start()
        await asyncio.sleep(seconds / 3)
        fault = time.time()
        if scenario == "kill":
            workers[0].kill()
            workers.append(Worker(settings, f"{scenario}-2").start(wait_ready=False))
        elif scenario == "kill-1-of-2":
            workers[1].kill()
        else:
            broker(home / "kafka", "stop")
            broker(home / "kafka", "start")
        while sender.is_alive():
            await asyncio.sleep(0.2)
        n, _ = done.get(timeout=10)
        deadline = time.monotonic() + 120
        while (len(sent_at) < n or len(judged_at) < n) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*readers)
        result = figures(sent_at, judged_at, fault)
        return {"offered": n, **result}
    finally:
        for w in workers:
            w.stop()
        broker(home / "kafka", "stop")


def report_recovery(rate: float, seconds: float, tmp: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    print(f"recovery of the SMS verdicts at {rate:,.0f} SMS/s offered ({seconds:.0f} s, the fault a third in):")
    for scenario in SCENARIOS:
        r = asyncio.run(run(scenario, rate, seconds, tmp))
        print(f"  {scenario:<12} outage {r['outage_s']:5.1f} s  on time again after {r['on_time_after_s']:5.1f} s  "
              f"worst latency {r['worst_latency_s']:5.1f} s  verdicts missing {r['missing']} of {r['offered']:,}")
        results.update({f"recovery_{scenario.replace('-', '_')}_{k}": v for k, v in r.items()})
    return results
