"""/metrics on a real worker: Prometheus's own checker (promtool, Debian's prometheus package)
accepts it, every family the README names is there with the figures that happened, no label is a
subscriber or a contact; and every panel of the Grafana dashboard parses as PromQL and asks only
for metrics the endpoint exports."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.admin.topics import create_topics
from streams.engine.meters import Timings
from streams.producers import ChannelProducer
from streams.settings import REPO_ROOT
from tests.scenarios import ev
from tests.support import Worker, free_port, isolated_settings, wait_until

DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "firstline.json"
SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def test_timings_are_cumulative_prometheus_buckets() -> None:
    t = Timings(bounds=(0.1, 1.0), counts=[0, 0, 0])
    for seconds in (0.05, 0.1, 0.5, 3.0):
        t.observe(seconds)
    assert t.cumulative() == [("0.1", 2), ("1.0", 3), ("+Inf", 4)]  # le: at or below the bound
    assert (t.count, t.total) == (4, pytest.approx(3.65))


WEB_TOKEN, METRICS_TOKEN = "web-token-1", "metrics-token-2"


def status(port: int, path: str, authorization: str | None) -> int:
    headers = {"Authorization": authorization} if authorization else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers),
                                    timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def scrape(port: int) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def selectors(node: Any) -> list[str]:
    """The metric names of every vector selector in a parsed PromQL expression."""
    import promql_parser

    if isinstance(node, promql_parser.VectorSelector):
        return [node.name]
    found: list[str] = []
    for attr in ("expr", "lhs", "rhs", "param", "vector_selector"):
        child = getattr(node, attr, None)
        if child is not None and not isinstance(child, (str, int, float)):
            found += selectors(child)
    for child in getattr(node, "args", None) or []:
        found += selectors(child)
    return found


@pytest.mark.kafka
def test_metrics_endpoint_promtool_and_the_dashboard(tmp_path: Path) -> None:
    port = free_port()
    settings = isolated_settings(tmp_path, web_port=port, partitions=1, web_token=WEB_TOKEN.encode(),
                                 metrics_token=METRICS_TOKEN.encode())
    create_topics(settings)
    with Worker(settings) as worker, ChannelProducer(settings) as producer:
        for e in (ev("m1", "CREATED", 0), ev("m1", "QUEUED", 1, queue="qm-voice"),
                  ev("m1", "ANSWERED", 6, queue="qm-voice", agent_id="a1"),
                  ev("m1", "ENDED", 66, queue="qm-voice", agent_id="a1", disposition="RESOLVED"),
                  ev("m2", "CREATED", 70), ev("m2", "QUEUED", 70, queue="qm-voice")):
            producer.send("contact-events", e)
        producer.flush()
        producer.send_raw("contact-events", b"m3", b"\xff not avro")  # one dead letter
        producer.flush()

        def ready() -> dict | None:
            got = samples(scrape(port))
            waiting = got.get(("firstline_queue_waiting_contacts", (("queue", "qm-voice"),)))
            dead = got.get(("firstline_dead_letters_total", (("kind", "UNDECODABLE"), ("processor", "contact-summary"))))
            stored = got.get(("firstline_sink_write_duration_seconds_count", (("sink", "contact-summaries-sink"),)))
            return got if waiting == 1 and dead == 1 and stored else None

        got = wait_until(ready, timeout=90, what="the figures on /metrics", worker=worker)
        text = scrape(port)
        # every endpoint wants its token: the web token (bearer, or Basic's password) for the
        # pages and JSON, the metrics token for /metrics
        basic = "Basic " + base64.b64encode(f"ops:{WEB_TOKEN}".encode()).decode()
        for path in ("/wallboard/", "/wallboard/data", "/queues/", "/queues/qm-voice/", "/health/", "/"):
            assert status(port, path, None) == 401, path
            assert status(port, path, "Bearer wrong") == 401, path
            assert status(port, path, f"Bearer {METRICS_TOKEN}") == 401, path
            assert status(port, path, f"Bearer {WEB_TOKEN}") == 200, path
            assert status(port, path, basic) == 200, path
        assert status(port, "/metrics", None) == 401 and status(port, "/metrics", f"Bearer {WEB_TOKEN}") == 401
        assert status(port, "/metrics", f"Bearer {METRICS_TOKEN}") == 200
        assert WEB_TOKEN not in worker.log() and METRICS_TOKEN not in worker.log()

    assert got[("firstline_processor_records_in_total", (("processor", "contact-summary"),))] == 7
    assert got[("firstline_processor_records_out_total", (("processor", "contact-summary"),
                                                           ("topic", "contact-summaries")))] >= 2
    assert got[("firstline_processor_up", (("processor", "router"),))] == 1
    assert got[("firstline_rebalances_total", ())] >= 1
    assert got[("firstline_checkpoint_duration_seconds_count", (("processor", "contact-summary"),))] >= 1
    assert ("firstline_recovery_duration_seconds_count", ()) in got
    assert ("firstline_consumer_lag_records", (("topic", "contact-events"),)) in got
    assert got[("firstline_queue_agents", (("queue", "qm-voice"), ("state", "available")))] == 0
    # every label value is a processor, topic, queue, channel, state, kind or reason: no contact
    # or subscriber (the scenario's contacts are m1..m3, their subscribers sub-m1..)
    for (_, labels) in got:
        for _, value in labels:
            assert not value.startswith(("m1", "m2", "m3", "sub-")), labels

    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed (.ci/run installs Debian's prometheus)")
        pytest.skip("promtool is not installed: apt-get install prometheus")
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    import promql_parser

    families = {f.name for f in text_string_to_metric_families(text)}
    names = {name for name, _ in got} | families
    dashboard = json.loads(DASHBOARD.read_text())
    assert len(dashboard["panels"]) >= 15
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used = selectors(promql_parser.parse(target["expr"]))
            assert used, target["expr"]
            for name in used:
                base = next((name[: -len(s)] for s in SUFFIXES if name.endswith(s)), name)
                assert name in names or base in families, f"panel {panel['title']!r} asks for {name}, not exported"


def test_prometheus_configuration_passes_promtool_with_the_token_file(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is not installed (.ci/run installs Debian's prometheus)")
        pytest.skip("promtool is not installed: apt-get install prometheus")
    token = tmp_path / "metrics_token"
    token.write_text("t" * 48)
    config = tmp_path / "prometheus.yml"
    text = (REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()
    assert "/run/secrets/metrics_token" in text
    config.write_text(text.replace("/run/secrets/metrics_token", str(token)))
    checked = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
