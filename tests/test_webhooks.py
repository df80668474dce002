"""Alert delivery: the Standard Webhooks signature by hand, then a real worker delivering to a
real local HTTP server that verifies every signature, fails on purpose and never answers in
time; and a service-level alert raised and resolved by the rules on the way."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import random
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from streams.admin.topics import create_topics
from streams.alerting import webhooks
from streams.producers import ChannelProducer
from tests.scenarios import T0, ev
from tests.support import Worker, decoded, free_port, isolated_settings, wait_until

NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()


def test_signature_by_the_scheme() -> None:
    # v1 = base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")), worked out here without the module
    key = b"n" * 32
    expected = base64.b64encode(hmac.new(key, b"msg_1.1700000000.{\"a\":1}", hashlib.sha256).digest()).decode()
    head = webhooks.headers([key, b"o" * 32], "msg_1", 1_700_000_000, b'{"a":1}')
    assert head["webhook-signature"].split(" ")[0] == f"v1,{expected}"
    assert len(head["webhook-signature"].split(" ")) == 2  # the old secret signs too while it rotates
    assert webhooks.verify(NEW, head, b'{"a":1}', now=1_700_000_100)
    assert webhooks.verify(OLD, head, b'{"a":1}', now=1_700_000_100)
    assert not webhooks.verify(NEW, head, b'{"a":2}', now=1_700_000_100)  # a changed body
    assert not webhooks.verify(NEW, head, b'{"a":1}', now=1_700_001_000)  # too old: a replay
    assert not webhooks.verify("whsec_" + base64.b64encode(b"x" * 32).decode(), head, b'{"a":1}', 1_700_000_000)
    assert webhooks.parse_secrets(f"{NEW} {OLD}".encode()) == [b"n" * 32, b"o" * 32]
    with pytest.raises(ValueError, match="whsec_"):
        webhooks.parse_secrets(b"plain-secret")


def test_message_ids_bodies_and_backoff() -> None:
    raised = {"alert_id": "a|1", "occurred_at": T0, "state": "RAISED", "kind": "SERVICE_LEVEL"}
    resolved = {**raised, "state": "RESOLVED"}
    assert webhooks.message_id(raised) == webhooks.message_id(dict(raised))  # a retry or replay: the same
    assert webhooks.message_id(raised) != webhooks.message_id(resolved)
    assert json.loads(webhooks.body(resolved)) == {"type": "alert.resolved", "timestamp": "2025-11-24T16:00:00Z",
                                                  "data": resolved}
    rng = random.Random(1)
    waits = [webhooks.backoff(n, 0.5, 4.0, rng) for n in (1, 2, 3, 4, 5, 6) for _ in range(200)]
    by_try = [waits[i * 200:(i + 1) * 200] for i in range(6)]
    for n, bound in enumerate((0.5, 1.0, 2.0, 4.0, 4.0, 4.0)):
        assert 0 <= min(by_try[n]) and max(by_try[n]) <= bound  # full jitter under the capped exponential
        assert max(by_try[n]) > 0.8 * bound
    for bad in ("x=ftp://h/", "=http://h/", "a=http://h/,a=http://g/"):
        with pytest.raises(ValueError, match="FIRSTLINE_WEBHOOKS"):
            webhooks.parse_endpoints(bad)


class Receiver(http.server.ThreadingHTTPServer):
    """Four endpoints: /good and /old verify the signature (with the new and the old secret),
    /flaky answers 503 twice per message first, /slow answers after the sender gave up; /ops
    answers 503 while `down`; /hang answers after 3 s."""

    def __init__(self, port: int) -> None:
        self.got: dict[str, list[dict[str, Any]]] = {"good": [], "old": [], "flaky": [], "slow": [], "ops": [],
                                                     "hang": []}
        self.down = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                name = self.path.strip("/")
                payload = self.rfile.read(int(self.headers["content-length"]))
                head = {k.lower(): v for k, v in self.headers.items()}
                secret = OLD if name == "old" else NEW
                valid = webhooks.verify(secret, head, payload, now=int(time.time()))
                with receiver.lock:
                    seen = [r for r in receiver.got[name] if r["id"] == head.get("webhook-id")]
                    status = (401 if not valid else 503 if name == "flaky" and len(seen) < 2
                              else 503 if name == "ops" and receiver.down else 204)
                    receiver.got[name].append({"id": head.get("webhook-id"), "valid": valid,
                                               "body": json.loads(payload), "status": status})
                if name == "slow":
                    time.sleep(1.5)
                if name == "hang":
                    time.sleep(3.0)
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

        super().__init__(("127.0.0.1", port), Handler)


@pytest.mark.kafka
def test_alerts_delivered_signed_retried_dead_lettered_and_disabled(tmp_path: Path) -> None:
    port, web = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    settings = isolated_settings(
        tmp_path, web_port=web, partitions=1,
        webhooks=f"good={base}/good,old={base}/old,flaky={base}/flaky,slow={base}/slow",
        webhook_secrets=f"{NEW} {OLD}".encode(), webhook_timeout_s=0.5, webhook_max_tries=3,
        webhook_backoff_s=0.05, webhook_backoff_max_s=0.2, webhook_disable_after=2)
    create_topics(settings)
    server = Receiver(port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Worker(settings) as worker, ChannelProducer(settings) as producer:
            for n in range(3):  # as a detection raises them
                producer.send("alerts", {"alert_id": f"direct-{n}", "occurred_at": T0 + n, "kind": "SPAM_CAMPAIGN",
                                         "severity": "CRITICAL", "subject": "sender", "summary": f"campaign {n}",
                                         "details": {"n": str(n)}})
            # a call waits 100 s (beyond 3 x T = 60 s): the rules raise OLDEST_WAIT; answered: resolved
            producer.send("contact-events", ev("w1", "CREATED", 0))
            producer.send("contact-events", ev("w1", "QUEUED", 0, queue="qw-voice"))
            producer.send("contact-events", ev("w2", "CREATED", 100))
            producer.flush()
            wait_until(lambda: any(r["body"]["data"]["kind"] == "OLDEST_WAIT" for r in server.got["good"]),
                       timeout=60, what="the oldest-wait alert", worker=worker)
            producer.send("contact-events", ev("w1", "ANSWERED", 110, queue="qw-voice", agent_id="a1"))
            producer.flush()

            def all_delivered() -> bool:
                good = {r["id"] for r in server.got["good"]}
                flaky_ok = {r["id"] for r in server.got["flaky"]}
                return len(good) == 5 and len(flaky_ok) == 5 and len(server.got["flaky"]) == 15

            wait_until(all_delivered, timeout=90, what="five alerts at every live endpoint", worker=worker)
            letters = wait_until(lambda: (d := [x for x in decoded(settings, "dead-letters")
                                                if "webhook slow" in x["error"]]) and len(d) == 5 and d,
                                 timeout=60, what="the slow endpoint's dead letters", worker=worker)
            with urllib.request.urlopen(f"http://127.0.0.1:{web}/metrics", timeout=10) as r:
                metrics = r.read().decode()
    finally:
        server.shutdown()

    good, old, flaky, slow = (server.got[n] for n in ("good", "old", "flaky", "slow"))
    assert all(r["valid"] for r in good + old + flaky + slow)  # every request signed by both secrets
    assert [r["body"]["data"]["alert_id"] for r in good[:3]] == ["direct-0", "direct-1", "direct-2"]  # in order
    rule = [r["body"] for r in good if r["body"]["data"]["kind"] == "OLDEST_WAIT"]
    assert [b["type"] for b in rule] == ["alert.raised", "alert.resolved"]
    assert rule[0]["data"]["alert_id"] == rule[1]["data"]["alert_id"] == f"OLDEST_WAIT|qw-voice|{T0}"
    assert rule[0]["data"]["subject"] == "qw-voice" and rule[0]["data"]["severity"] == "CRITICAL"
    assert {r["id"] for r in old} == {r["id"] for r in good} and len(old) == 5
    # flaky: each message three times under one id (two 503s, then accepted)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in flaky:
        by_id.setdefault(r["id"], []).append(r)
    assert sorted(len(v) for v in by_id.values()) == [3] * 5
    assert all(len({json.dumps(x["body"], sort_keys=True) for x in v}) == 1 for v in by_id.values())
    # slow: two alerts tried three times each, then the endpoint disabled: the rest not tried
    assert len(slow) == 6 and len({r["id"] for r in slow}) == 2
    assert all(x["error_kind"] == "REFUSED" and x["processor"] in ("webhooks", "webhook-retries") for x in letters)
    reasons = sorted(x["error"] for x in letters)
    assert sum("after 3 tries" in r for r in reasons) == 2 and sum("endpoint disabled" in r for r in reasons) == 3
    assert 'firstline_webhook_deliveries_total{endpoint="good",outcome="delivered"} 5.0' in metrics
    assert 'firstline_webhook_deliveries_total{endpoint="flaky",outcome="retried"} 10.0' in metrics
    assert 'firstline_webhook_deliveries_total{endpoint="slow",outcome="skipped"} 3.0' in metrics
    assert 'firstline_webhook_endpoint_enabled{endpoint="slow"} 0.0' in metrics
    assert 'firstline_webhook_endpoint_enabled{endpoint="good"} 1.0' in metrics
    # stopped cleanly: the engine let the sink close its HTTP session
    assert "webhooks: HTTP session to 4 endpoint(s) closed" in worker.log()


def test_exact_headers_ids_bodies_and_endpoints() -> None:
    alert = {"alert_id": "SERVICE_LEVEL|q|VOICE|60000", "occurred_at": 1_764_000_060_000, "state": "RAISED"}
    digest = hashlib.sha256(b"SERVICE_LEVEL|q|VOICE|60000\x1fRAISED").hexdigest()
    assert webhooks.message_id(alert) == "msg_" + digest[:32]
    assert webhooks.message_id({"alert_id": "x", "occurred_at": 0}) == webhooks.message_id(
        {"alert_id": "x", "occurred_at": 0, "state": "RAISED"})  # an alert of v1 has no state: raised
    assert webhooks.body(alert) == (b'{"type":"alert.raised","timestamp":"2025-11-24T16:01:00Z","data":'
                                    b'{"alert_id":"SERVICE_LEVEL|q|VOICE|60000","occurred_at":1764000060000,'
                                    b'"state":"RAISED"}}')
    key = b"k" * 32
    head = webhooks.headers([key], "msg_1", 1_700_000_000, b"{}")
    expected = base64.b64encode(hmac.new(key, b"msg_1.1700000000.{}", hashlib.sha256).digest()).decode()
    assert head == {"content-type": "application/json", "webhook-id": "msg_1", "webhook-timestamp": "1700000000",
                    "webhook-signature": f"v1,{expected}"}
    secret = "whsec_" + base64.b64encode(key).decode()
    assert webhooks.verify(secret, head, b"{}", now=1_700_000_300)  # at the tolerance's edge: accepted
    assert not webhooks.verify(secret, head, b"{}", now=1_700_000_301)
    assert not webhooks.verify(secret, {**head, "webhook-signature": f"v2,{expected}"}, b"{}", now=1_700_000_000)
    assert not webhooks.verify(secret, {k: v for k, v in head.items() if k != "webhook-id"}, b"{}", 1_700_000_000)
    assert webhooks.verify(secret, {k.upper(): v for k, v in head.items()}, b"{}", now=1_700_000_000)
    assert webhooks.parse_endpoints(" ops-1=https://a.example/h , sec_2=http://b:8080/x ") == [
        webhooks.Endpoint("ops-1", "https://a.example/h"), webhooks.Endpoint("sec_2", "http://b:8080/x")]
    assert webhooks.parse_endpoints("") == [] and webhooks.parse_secrets(b"  ") == []
    with pytest.raises(ValueError, match="not base64"):
        webhooks.parse_secrets(b"whsec_%%%")
    with pytest.raises(ValueError, match="named twice"):
        webhooks.parse_endpoints("a=http://h/,a=http://g/")
    with pytest.raises(ValueError, match="needs an http"):
        webhooks.parse_endpoints("a=http://")
    assert webhooks.new_secret().startswith("whsec_") and len(webhooks.parse_secrets(webhooks.new_secret().encode())[0]) == 32


def test_configuration_and_receiver_edges() -> None:
    """A URL may carry '=' in its query; a bad name is refused; the secrets' refusals word by
    word; an alert without a state is a raised one; a request without a signature is refused."""
    (ep,) = webhooks.parse_endpoints("ops=https://hooks.example/in?token=a=b")
    assert (ep.name, ep.url) == ("ops", "https://hooks.example/in?token=a=b")
    with pytest.raises(ValueError, match="is not a name"):
        webhooks.parse_endpoints("bad name=https://hooks.example/in")
    for raw, reason in ((b"sk_abc", "FIRSTLINE_WEBHOOK_SECRETS: each secret starts with whsec_"),
                        (b"whsec_!!notbase64", "FIRSTLINE_WEBHOOK_SECRETS: a secret is not base64 after whsec_")):
        with pytest.raises(ValueError) as refused:
            webhooks.parse_secrets(raw)
        assert str(refused.value) == reason
    alert = {"alert_id": "a1", "occurred_at": 1_764_000_000_000}
    assert json.loads(webhooks.body(alert))["type"] == "alert.raised"
    secret = webhooks.new_secret()
    payload = webhooks.body(alert)
    head = webhooks.headers(webhooks.parse_secrets(secret.encode()), "msg_1", 1_764_000_000, payload)
    assert webhooks.verify(secret, head, payload, now=1_764_000_000)
    unsigned = {k: v for k, v in head.items() if k != "webhook-signature"}
    assert not webhooks.verify(secret, unsigned, payload, now=1_764_000_000)


def test_an_endpoint_is_disabled_probed_and_enabled_again() -> None:
    h = webhooks.Health(disable_after=2, probe_after_s=60)
    assert h.may_try(0) and not h.failed("503 Service Unavailable, after 3 tries", 1) and not h.disabled
    assert h.failed("503 Service Unavailable, after 3 tries", 2) and h.why == "2 alerts in a row failed"
    assert not h.may_try(61) and h.may_try(62)  # untried until the probe is due
    assert not h.failed("503 Service Unavailable, after 1 tries", 62)  # a failed probe: not newly disabled
    assert h.disabled and not h.may_try(100) and h.may_try(122)  # the next probe a period later
    assert h.delivered() and not h.disabled and h.failures == 0 and h.why == ""
    assert not h.delivered()  # an ordinary delivery re-enables nothing
    assert not h.failed("ClientConnectorError, after 3 tries", 200)  # counting from nought again
    gone = webhooks.Health(disable_after=3, probe_after_s=60)
    assert gone.failed("410 Gone", 0) and gone.why == "410 Gone" and not gone.may_try(10_000)
    never = webhooks.Health(disable_after=1, probe_after_s=0)
    assert never.failed("no answer within 5 s, after 5 tries", 0) and not never.may_try(10_000)


@pytest.mark.kafka
def test_a_disabled_endpoint_gets_alerts_again_once_a_probe_is_delivered(tmp_path: Path) -> None:
    """A real receiver that answers 503 while it is down: the worker disables it, dead-letters
    what came meanwhile, and once the probe period passed and the receiver is back, delivers the
    next alert and those after it."""
    port, web = free_port(), free_port()
    settings = isolated_settings(
        tmp_path, web_port=web, partitions=1, webhooks=f"ops=http://127.0.0.1:{port}/ops",
        webhook_secrets=NEW.encode(), webhook_timeout_s=2.0, webhook_max_tries=1, webhook_backoff_s=0.05,
        webhook_backoff_max_s=0.05, webhook_disable_after=1, webhook_probe_after_s=2.0)
    create_topics(settings)
    server = Receiver(port)
    server.down = True
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def alert(n: int) -> dict[str, Any]:
        return {"alert_id": f"p-{n}", "occurred_at": T0 + n, "kind": "SPAM_CAMPAIGN", "severity": "CRITICAL",
                "subject": "sender", "summary": f"campaign {n}", "details": {}}

    def letters() -> list[dict[str, Any]]:
        return [x for x in decoded(settings, "dead-letters") if "webhook ops" in x["error"]]

    def enabled() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/metrics", timeout=10) as r:
            line = next(x for x in r.read().decode().splitlines()
                        if x.startswith('firstline_webhook_endpoint_enabled{endpoint="ops"}'))
        return line.split()[-1]

    try:
        with Worker(settings) as worker, ChannelProducer(settings) as producer:
            producer.send("alerts", alert(0))
            producer.flush()
            wait_until(lambda: len(letters()) == 1, timeout=60, what="the first alert's dead letter", worker=worker)
            assert enabled() == "0.0"
            producer.send("alerts", alert(1))  # while down: dead-lettered, tried at most as a probe
            producer.flush()
            wait_until(lambda: len(letters()) == 2, timeout=60, what="the second alert's dead letter", worker=worker)
            server.down = False
            time.sleep(2.5)  # the probe period since the last failure
            producer.send("alerts", alert(2))
            producer.send("alerts", alert(3))
            producer.flush()
            wait_until(lambda: {r["body"]["data"]["alert_id"] for r in server.got["ops"] if r["status"] == 204}
                       == {"p-2", "p-3"}, timeout=60, what="the alerts after the receiver came back", worker=worker)
            assert enabled() == "1.0"
    finally:
        server.shutdown()
    assert len(letters()) == 2 and all(x["error_kind"] == "REFUSED" for x in letters())
    assert "after 1 tries" in letters()[0]["error"]
    tried = [r["body"]["data"]["alert_id"] for r in server.got["ops"]]
    assert tried.count("p-0") == 1 and tried.count("p-1") <= 1 and all(r["valid"] for r in server.got["ops"])
    assert "webhook ops enabled again: a probe was delivered" in worker.log()


@pytest.mark.kafka
def test_an_endpoint_that_hangs_does_not_hold_back_the_others(tmp_path: Path) -> None:
    """/hang never answers within the timeout. Its first try of an alert holds that batch once;
    its retries run in the retry sink, so the next alert reaches /good while /hang still waits
    for its second and third tries (before, a batch waited for every try at every endpoint).
    /hang's alerts keep their order: the second waits behind the first in the retry queue."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = isolated_settings(
        tmp_path, partitions=1, webhooks=f"good={base}/good,hang={base}/hang", webhook_secrets=NEW.encode(),
        webhook_timeout_s=2.0, webhook_max_tries=3, webhook_backoff_s=0.5, webhook_backoff_max_s=0.5,
        webhook_disable_after=5)
    create_topics(settings)
    server = Receiver(port)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def alert(n: int) -> dict[str, Any]:
        return {"alert_id": f"h-{n}", "occurred_at": T0 + n, "kind": "SPAM_CAMPAIGN", "severity": "CRITICAL",
                "subject": "sender", "summary": f"campaign {n}", "details": {}}

    def ids(name: str) -> list[str]:
        with server.lock:
            return [r["body"]["data"]["alert_id"] for r in server.got[name]]

    def hang_tries_once_good_has(alert_id: str) -> int | None:
        with server.lock:  # both lists at one moment
            good = [r["body"]["data"]["alert_id"] for r in server.got["good"]]
            return len(server.got["hang"]) if alert_id in good else None

    try:
        with Worker(settings) as worker, ChannelProducer(settings) as producer:
            producer.send("alerts", alert(0))
            producer.flush()
            wait_until(lambda: "h-0" in ids("good") and "h-0" in ids("hang"), timeout=60,
                       what="the first alert at both endpoints", worker=worker)
            producer.send("alerts", alert(1))
            producer.flush()
            hang_tries = wait_until(lambda: hang_tries_once_good_has("h-1"), timeout=60,
                                    what="the second alert at /good", worker=worker)
            letters = wait_until(lambda: (d := [x for x in decoded(settings, "dead-letters")
                                                if "webhook hang" in x["error"]]) and len(d) == 2 and d,
                                 timeout=90, what="/hang's two dead letters", worker=worker)
    finally:
        server.shutdown()
    assert hang_tries <= 2  # the first alert's third try at /hang had not begun
    assert ids("good") == ["h-0", "h-1"]
    assert ids("hang") == ["h-0"] * 3 + ["h-1"] * 3
    assert sorted(x["error"] for x in letters) == ["webhook hang: no answer within 2 s, after 3 tries"] * 2


def test_the_retry_queue_without_a_network() -> None:
    """Broker-less: while an endpoint has alerts waiting in the retry topic, its next alert is
    queued behind them untried, the others' is not; the retry sink dead-letters a record it
    cannot read, one for an endpoint no longer configured and one for a disabled endpoint, each
    with its reason, and opens no connection for any of them."""
    from streams.engine.testing import Harness, offline_settings
    from streams.sinks.webhook_sink import Deliveries, WebhookRetrySink, WebhookSink

    settings = offline_settings(webhooks="ops=http://127.0.0.1:9/ops,pager=http://127.0.0.1:9/pager",
                                webhook_secrets=NEW.encode(), webhook_max_tries=3)
    shared = Deliveries.from_settings(settings)
    shared.waiting["ops"] = 1
    shared.health["pager"].failed("410 Gone", 0)  # disabled for good: untried
    first = Harness(WebhookSink, settings, deliveries=shared)
    alert = {"alert_id": "q-1", "occurred_at": T0, "kind": "SPAM_CAMPAIGN", "severity": "CRITICAL",
             "subject": "s", "summary": "x", "details": {}}
    sent = first.feed("alerts", alert)
    first.run()
    assert first.outputs("webhook-retries") == [{"endpoint": "ops", "alert_id": "q-1", "tries": 0, "reason": "",
                                                 "alert": sent.value}]
    assert [d["error"] for d in first.dead_letters()] == ["webhook pager: endpoint disabled (410 Gone)"]
    assert shared.waiting["ops"] == 2 and shared.session is None

    retries = Harness(WebhookRetrySink, settings, deliveries=shared)
    retries.feed("webhook-retries", b"\x00garbage", key="ops")
    retries.feed("webhook-retries", {"endpoint": "ops", "alert_id": "q-2", "tries": 1, "reason": "503",
                                     "alert": b"not an alert"})
    retries.feed("webhook-retries", {"endpoint": "gone", "alert_id": "q-3", "tries": 1, "reason": "503",
                                     "alert": sent.value})
    retries.feed("webhook-retries", {"endpoint": "pager", "alert_id": "q-4", "tries": 1, "reason": "503",
                                     "alert": sent.value})
    retries.run()
    letters = retries.dead_letters()
    assert len(letters) == 4 and all(d["processor"] == "webhook-retries" for d in letters)
    assert [d["error"] for d in letters][2:] == ["webhook gone: no longer configured",
                                                  "webhook pager: endpoint disabled (410 Gone)"]
    assert shared.session is None and shared.counts[("pager", "skipped")] == 2
