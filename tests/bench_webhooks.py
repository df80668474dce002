"""The alert-delivery path of `make bench` (tests/bench.py --only webhooks,webhooks-latency): the
webhook sink (FIRSTLINE_ROLE=sinks) POSTing alerts, signed, to a receiver on loopback that answers
204 at once (a threaded http.server).

  webhooks          a backlog of alerts on the topic: alerts/s from the worker's ready to the
                    receiver holding every one, the worker's CPU per alert; the yardstick in the
                    same run: a raw aiokafka consumer decoding the same topic
  webhooks-latency  alerts published at a fixed rate: publish to arrival at the receiver, p50/p99
  webhooks-hang     the same, with a second endpoint that never answers within the timeout (the
                    default settings: 5 s, 5 tries): what it costs the first endpoint's alerts
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

from streams.admin.topics import create_topics
from streams.producers import ChannelProducer
from streams.settings import Settings
from streams.topics import spec
from tests.support import Worker, free_port, isolated_settings, wait_until

SECRET = "whsec_" + "YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldC0xMjM0"


class Receiver:
    """Counts what arrives at /hook and when, by the alert id in the body; /hang answers after
    `hang_s` seconds."""

    def __init__(self, hang_s: float = 0.0) -> None:
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # connections kept open, as a real receiver's are

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.path == "/hang":
                    time.sleep(hang_s)
                else:
                    alert_id = orjson.loads(body)["data"]["alert_id"]
                    with receiver.lock:
                        receiver.arrived.setdefault(alert_id, time.time())
                try:
                    self.send_response(204)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def alert(n: int, at: int) -> dict[str, Any]:
    return {"alert_id": f"bench-{n}", "occurred_at": at, "kind": "SERVICE_LEVEL", "severity": "WARNING",
            "subject": f"queue-{n % 40}", "summary": f"queue-{n % 40} VOICE: service level 61 % below 80 % for 3 minutes",
            "details": {"level": "0.61", "target": "0.8"}, "state": "RAISED"}


def _settings(tmp: Path, receiver: Receiver, hang: bool = False) -> Settings:
    hooks = f"bench=http://127.0.0.1:{receiver.port}/hook"
    if hang:
        hooks += f",hang=http://127.0.0.1:{receiver.port}/hang"
    return isolated_settings(tmp, role="sinks", partitions=1, webhooks=hooks, webhook_secrets=SECRET.encode())


def raw_consumer(settings: Settings, count: int) -> tuple[float, float]:
    """(seconds, CPU seconds) of a raw aiokafka consumer decoding `count` alerts."""
    import aiokafka

    from streams.codec import Codec, load_registry

    codec, schema = Codec(load_registry(settings.schemas_dir)), spec("alerts").value_schema

    async def go() -> tuple[float, float]:
        consumer = aiokafka.AIOKafkaConsumer(spec("alerts").full_name(settings), bootstrap_servers=settings.kafka_servers,
                                             group_id=None, auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        seen, wall, cpu = 0, time.perf_counter(), time.process_time()
        try:
            while seen < count:
                for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                    for r in records:
                        codec.decode(r.value, schema)
                    seen += len(records)
        finally:
            await consumer.stop()
        return time.perf_counter() - wall, time.process_time() - cpu

    return asyncio.run(go())


def report_webhooks(count: int, tmp: Path) -> dict[str, float]:
    from tests.bench import cpu_seconds

    receiver = Receiver()
    try:
        settings = _settings(tmp / "webhooks", receiver)
        create_topics(settings)
        at = int(time.time() * 1000)
        with ChannelProducer(settings) as producer:
            for n in range(count):
                producer.send("alerts", alert(n, at))
        raw_s, raw_cpu = raw_consumer(settings, count)
        with Worker(settings) as worker:
            assert worker.proc is not None
            ready, cpu_at_ready = worker.ready_ms() / 1000, cpu_seconds(worker.proc.pid)
            wait_until(lambda: len(receiver.arrived) >= count, timeout=600, interval=0.2,
                       what="every alert delivered", worker=worker)
            done, cpu = max(receiver.arrived.values()), cpu_seconds(worker.proc.pid) - cpu_at_ready
    finally:
        receiver.close()
    figures = {"webhooks_alerts_per_s": count / max(done - ready, 1e-9), "webhooks_cpu_us_per_alert": cpu / count * 1e6,
               "webhooks_raw_per_s": count / raw_s, "webhooks_raw_cpu_us": raw_cpu / count * 1e6}
    figures["webhooks_ratio"] = figures["webhooks_alerts_per_s"] / figures["webhooks_raw_per_s"]
    print(f"webhooks        {figures['webhooks_alerts_per_s']:>9,.0f} alerts/s, worker CPU "
          f"{figures['webhooks_cpu_us_per_alert']:.0f} µs/alert  raw consumer {figures['webhooks_raw_per_s']:,.0f}/s "
          f"({figures['webhooks_raw_cpu_us']:.1f} µs)  ratio {figures['webhooks_ratio']:.3f}  ({count:,} alerts)")
    return figures


def report_webhooks_latency(rate: float, seconds: float, tmp: Path, hang: bool = False) -> dict[str, float]:
    receiver = Receiver(hang_s=30.0)
    sent: dict[str, float] = {}
    try:
        settings = _settings(tmp / ("webhooks-hang" if hang else "webhooks-latency"), receiver, hang)
        create_topics(settings)
        with Worker(settings) as worker, ChannelProducer(settings, linger_ms=0) as producer:
            n, start = 0, time.time()
            while time.time() - start < seconds:
                due = start + n / rate
                if due > time.time():
                    time.sleep(due - time.time())
                sent[f"bench-{n}"] = time.time()
                producer.send("alerts", alert(n, int(sent[f"bench-{n}"] * 1000)))
                producer.flush()
                n += 1
            wait_until(lambda: len(receiver.arrived) >= n, timeout=600, what="every alert delivered", worker=worker)
    finally:
        receiver.close()
    lat = sorted((receiver.arrived[k] - t) * 1000 for k, t in sent.items())
    p50, p99 = statistics.quantiles(lat, n=100)[49], statistics.quantiles(lat, n=100)[98]
    beside = ", another endpoint hanging," if hang else ""
    print(f"webhooks at {rate:,.0f} alerts/s{beside}  publish → receiver p50 {p50:.0f} ms p99 {p99:.0f} ms "
          f"max {lat[-1]:.0f} ms ({len(lat):,} alerts)")
    prefix = "webhooks_hang" if hang else "webhooks"
    return {f"{prefix}_latency_rate": rate, f"{prefix}_p50_ms": p50, f"{prefix}_p99_ms": p99, f"{prefix}_max_ms": lat[-1]}
