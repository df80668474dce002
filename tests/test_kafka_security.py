"""Kafka security on a real broker made by `kafkactl` with FIRSTLINE_KAFKA_SECURE=1: SASL/SCRAM-
SHA-512 over TLS only, ACLs enforced. The pipeline runs through it with each role's own
credentials (a producer publishes, a worker processes and stores, a downstream reader reads); wrong
credentials and a client without TLS are refused; each role can do only what its ACLs allow."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError

from streams.admin.acls import apply as apply_acls
from streams.admin.topics import create_topics
from streams.kafka_auth import KafkaAuth
from streams.producers import ChannelProducer
from streams.producers.contact_generator import contact_events
from streams.settings import REPO_ROOT, Settings
from streams.topics import spec
from tests.support import Worker, decoded, firstline, isolated_settings, query, wait_until

PORT = 19392
KAFKACTL = str(REPO_ROOT / "deploy" / "kafka" / "kafkactl")
pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("secure-kafka")
    env = {**os.environ, "FIRSTLINE_KAFKA_PORT": str(PORT), "FIRSTLINE_KAFKA_HOME": str(home),
           "FIRSTLINE_KAFKA_SECURE": "1", "FIRSTLINE_KAFKA_HEAP": "512m"}
    subprocess.run([KAFKACTL, "start"], env=env, check=True, timeout=240)
    try:
        yield home
    finally:
        subprocess.run([KAFKACTL, "stop"], env=env, timeout=60)


def role_env(home: Path, role: str) -> dict[str, str]:
    """The client settings `kafkactl env ROLE` prints, as a user would eval them."""
    out = subprocess.run([KAFKACTL, "env", role], env={**os.environ, "FIRSTLINE_KAFKA_HOME": str(home),
                                                       "FIRSTLINE_KAFKA_PORT": str(PORT)},
                         check=True, capture_output=True, text=True, timeout=30).stdout
    return dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())


def as_role(settings: Settings, home: Path, role: str, **changes: object) -> Settings:
    env = role_env(home, role)
    values: dict[str, object] = dict(
        bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], kafka_security_protocol=env["FIRSTLINE_KAFKA_SECURITY_PROTOCOL"],
        kafka_sasl_mechanism=env["FIRSTLINE_KAFKA_SASL_MECHANISM"], kafka_sasl_username=env["FIRSTLINE_KAFKA_SASL_USERNAME"],
        kafka_sasl_password=Path(env["FIRSTLINE_KAFKA_SASL_PASSWORD_FILE"]).read_bytes().strip(),
        kafka_ssl_ca_file=env["FIRSTLINE_KAFKA_SSL_CA_FILE"])
    values.update(changes)
    return dataclasses.replace(settings, **values)


def broker_log(home: Path) -> str:
    return (home / "logs" / "server.log").read_text(errors="replace")


def test_the_pipeline_runs_through_sasl_scram_over_tls_with_each_roles_own_credentials(
        tmp_path: Path, secure_broker: Path) -> None:
    base = isolated_settings(tmp_path, partitions=2)
    admin, worker_s = as_role(base, secure_broker, "admin"), as_role(base, secure_broker, "worker")
    producer_s, reader_s = as_role(base, secure_broker, "producer"), as_role(base, secure_broker, "reader")
    assert "password" not in repr(worker_s) and worker_s.kafka_sasl_password.decode() not in repr(worker_s)
    create_topics(admin)
    for role, s in (("worker", worker_s), ("producer", producer_s), ("reader", reader_s)):
        apply_acls(admin, role, f"User:{role}")

    t0 = int(time.time() * 1000) - 3_600_000
    contacts = list(contact_events(40, t0, seed=5))
    with ChannelProducer(producer_s) as producer:
        for events in contacts:
            for e in events:
                producer.send("contact-events", e)
    with Worker(worker_s) as worker:
        stored = wait_until(lambda: (n := query(worker_s, "SELECT COUNT(*) FROM contact_summaries")[0][0]) >= 40 and n,
                            timeout=120, what="every contact stored", worker=worker)
        log = worker.log()
    assert stored == 40
    # a downstream reader, with its own credentials, reads the summaries
    summaries = {s["contact_id"] for s in decoded(reader_s, "contact-summaries")}
    assert summaries == {events[0]["contact_id"] for events in contacts}
    # no secret in what the worker logged
    for s in (worker_s, admin, producer_s, reader_s):
        assert s.kafka_sasl_password.decode() not in log
    # the CLI, too, goes through it: a producer's `firstline produce`, a reader's `firstline tail`
    line = orjson.dumps({**contacts[0][0], "event_id": "cli-1"}) + b"\n"
    produced = firstline(producer_s, "produce", "contact-events", input=line)
    assert produced.returncode == 0, produced.stderr
    tailed = firstline(reader_s, "tail", "contact-summaries", "--from-beginning", "--max", "1", "--idle-timeout", "20")
    assert tailed.returncode == 0 and orjson.loads(tailed.stdout.splitlines()[0])["contact_id"] in summaries


def test_wrong_credentials_and_a_client_without_tls_are_refused(tmp_path: Path, secure_broker: Path) -> None:
    settings = as_role(isolated_settings(tmp_path), secure_broker, "worker")
    before = broker_log(secure_broker).count("invalid credentials")
    wrong = dataclasses.replace(settings, kafka_sasl_password=b"not-the-password")
    with pytest.raises(KafkaError):
        KafkaAdminClient(bootstrap_servers=wrong.kafka_servers, request_timeout_ms=5000, bootstrap_timeout_ms=4000,
                         **wrong.kafka_auth.kafka_python()).list_topics()
    assert broker_log(secure_broker).count("invalid credentials") > before
    # an unknown user, the same
    with pytest.raises(KafkaError):
        unknown = dataclasses.replace(settings, kafka_sasl_username="mallory")
        KafkaAdminClient(bootstrap_servers=unknown.kafka_servers, request_timeout_ms=5000, bootstrap_timeout_ms=4000,
                         **unknown.kafka_auth.kafka_python()).list_topics()
    # plaintext, and SASL without TLS: the listener speaks TLS only
    before = broker_log(secure_broker).count("SSL handshake failed")
    for protocol in ("PLAINTEXT", "SASL_PLAINTEXT"):
        clear = dataclasses.replace(settings, kafka_security_protocol=protocol)
        with pytest.raises(KafkaError):
            KafkaAdminClient(bootstrap_servers=clear.kafka_servers, request_timeout_ms=5000, bootstrap_timeout_ms=4000,
                             **clear.kafka_auth.kafka_python()).list_topics()
    assert broker_log(secure_broker).count("SSL handshake failed") >= before + 2
    # TLS with an authority the client does not trust: the client refuses the broker
    with pytest.raises(KafkaError):
        other_ca = dataclasses.replace(settings, kafka_ssl_ca_file="/etc/ssl/certs/ca-certificates.crt")
        KafkaAdminClient(bootstrap_servers=other_ca.kafka_servers, request_timeout_ms=5000, bootstrap_timeout_ms=4000,
                         **other_ca.kafka_auth.kafka_python()).list_topics()
    # and the right ones work
    KafkaAdminClient(bootstrap_servers=settings.kafka_servers, request_timeout_ms=10_000,
                     **settings.kafka_auth.kafka_python()).close()


def test_each_role_can_do_only_what_its_acls_allow(tmp_path: Path, secure_broker: Path) -> None:
    base = isolated_settings(tmp_path, partitions=1)
    admin = as_role(base, secure_broker, "admin")
    create_topics(admin)
    for role in ("producer", "reader"):
        apply_acls(admin, role, f"User:{role}")
    producer_s, reader_s = as_role(base, secure_broker, "producer"), as_role(base, secure_broker, "reader")
    summaries, events = spec("contact-summaries").full_name(base), spec("contact-events").full_name(base)

    def producer_of(s: Settings) -> KafkaProducer:
        return KafkaProducer(bootstrap_servers=s.kafka_servers, max_block_ms=10_000, **s.kafka_auth.kafka_python())

    def read(s: Settings, topic: str, group: str | None = None) -> None:
        """Describe the topic (its end offsets), then fetch from it, as a consumer does."""
        consumer = KafkaConsumer(bootstrap_servers=s.kafka_servers, group_id=group, request_timeout_ms=10_000,
                                 **s.kafka_auth.kafka_python())
        try:
            tp = TopicPartition(topic, 0)
            consumer.end_offsets([tp])
            if group is None:
                consumer.assign([tp])
                consumer.seek_to_beginning()
            else:
                consumer.subscribe([topic])
            for _ in range(3):
                consumer.poll(timeout_ms=1000)
        finally:
            consumer.close()

    # the producer writes the inputs, and nothing else; it reads nothing
    p = producer_of(producer_s)
    p.send(events, b"x", key=b"k").get(timeout=10)
    with pytest.raises(TopicAuthorizationFailedError):
        p.send(summaries, b"forged", key=b"k").get(timeout=10)
    p.close()
    with pytest.raises(TopicAuthorizationFailedError):
        read(producer_s, events)
    # the reader reads the outputs, in its own groups only, and writes nothing
    read(reader_s, summaries)
    read(reader_s, summaries, group="downstream-billing")
    with pytest.raises(GroupAuthorizationFailedError):
        read(reader_s, summaries, group=base.namespace)  # the workers' group
    with pytest.raises(TopicAuthorizationFailedError):
        read(reader_s, spec("dead-letters").full_name(base))  # raw bad records: operators only
    with pytest.raises(KafkaError, match="AuthorizationFailed"):  # not even a producer id
        producer_of(reader_s).send(summaries, b"forged", key=b"k").get(timeout=10)
    # another namespace's topics are not the worker's either
    other = isolated_settings(tmp_path / "other")
    create_topics(as_role(other, secure_broker, "admin"))
    apply_acls(as_role(other, secure_broker, "admin"), "worker", "User:worker")
    worker_s = as_role(other, secure_broker, "worker")
    producer_of(worker_s).send(spec("contact-summaries").full_name(other), b"{}", key=b"k").get(timeout=10)
    with pytest.raises(TopicAuthorizationFailedError):
        producer_of(worker_s).send(summaries, b"forged", key=b"k").get(timeout=10)


def test_settings_refuse_a_password_in_clear_and_half_a_client_certificate() -> None:
    with pytest.raises(ValueError, match="in clear"):
        KafkaAuth("SASL_PLAINTEXT", "PLAIN", "u", b"p")
    with pytest.raises(ValueError, match="USERNAME"):
        KafkaAuth("SASL_SSL", "SCRAM-SHA-512", "", b"")
    with pytest.raises(ValueError, match="one of"):
        KafkaAuth("SASL_TLS")
    with pytest.raises(ValueError, match="_KEY_FILE"):
        KafkaAuth("SSL", cert_file="client.pem")
    auth = KafkaAuth("SASL_SSL", "SCRAM-SHA-512", "worker", b"s3cret")
    assert "s3cret" not in repr(auth) and "s3cret" not in auth.describe()
    assert auth.kafka_python()["sasl_plain_password"] == "s3cret" and auth.ssl_context is not None
    assert auth.aiokafka()["security_protocol"] == "SASL_SSL"
    assert KafkaAuth().kafka_python() == {"security_protocol": "PLAINTEXT"} and KafkaAuth().faust_credentials() is None
