"""The live router on the real broker with real worker processes: desks in the test answer
offers from `routing-decisions` on `routing-requests`, as agents' desktops would.

Scenarios (skills, fraud to security, a chat agent at 3, a rejection, an offer that times out, an
agent leaving with an offer), then a stream of contacts during which the worker is killed with
SIGKILL in the middle of a backlog: a second worker decides the rest and sends some decisions
again (same ids, same agents), no contact is ever offered to two agents at once, and no offer
times out for the time no router ran."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.admin.topics import create_topics
from streams.codec import Codec, load_registry
from streams.producers import ChannelProducer
from streams.topics import spec
from tests.routing_requests import agent, answer, left, queued
from tests.support import Worker, isolated_settings, wait_until
from tests.test_faults import private_broker  # noqa: F401 - the fixture


class Desk:
    """Reads the decisions as they come and sends requests."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.codec = Codec(load_registry(settings.schemas_dir))
        name = spec("routing-decisions").full_name(settings)
        self.consumer = KafkaConsumer(bootstrap_servers=settings.kafka_servers, enable_auto_commit=False)
        tps = [TopicPartition(name, p) for p in sorted(self.consumer.partitions_for_topic(name) or [])]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.producer = ChannelProducer(settings)
        self.seen: list[dict[str, Any]] = []
        self.answered: set[str] = set()  # offers answered (a replay repeats some: answered once)
        self.ended: set[str] = set()  # contacts assigned and ended
        self.served = 0  # decisions in `seen` acted on

    def serve(self) -> None:
        """The desks: accept each new offer, end each contact once it is assigned."""
        for d in self.seen[self.served:]:
            c = d["contact_id"]
            if d["kind"] == "OFFERED" and d["decision_id"] not in self.answered:
                self.answered.add(d["decision_id"])
                self.send(answer(now(), c, d["agent_id"], offer_id=d["decision_id"]))
            elif d["kind"] == "ASSIGNED" and c not in self.ended:
                self.ended.add(c)
                self.send(left(now(), c))
        self.served = len(self.seen)

    def send(self, *requests: dict[str, Any]) -> None:
        for r in requests:
            self.producer.send("routing-requests", r)
        self.producer.flush()

    def poll(self) -> list[dict[str, Any]]:
        new = []
        for batch in self.consumer.poll(timeout_ms=200).values():
            new += [self.codec.decode(r.value) for r in batch]
        self.seen += new
        return new

    def until(self, check: Any, what: str, worker: Worker, timeout: float = 60) -> Any:
        def step() -> Any:
            self.poll()
            return check()
        return wait_until(step, timeout=timeout, interval=0.05, what=what, worker=worker)

    def latest(self, contact_id: str) -> dict[str, Any] | None:
        mine = [d for d in self.seen if d["contact_id"] == contact_id]
        return mine[-1] if mine else None

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()


def now() -> int:
    return int(time.time() * 1000)


@pytest.mark.kafka
def test_scenarios_on_the_broker(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, routing_tick_s=0.2)
    create_topics(settings)
    with Worker(settings) as worker:
        desk = Desk(settings)
        t = now()
        desk.send(agent(t, "v-junior", voice=1, ru=1), agent(t, "sec", security=3),
                  agent(t, "chat", capacity={"CHAT": 3}, chat=2))
        desk.send(queued(t + 1, "call-1"), queued(t + 2, "fraud-1", reason="fraud"),
                  *[queued(t + 3 + i, f"chat-{i}", queue="chat-general", channel="CHAT") for i in range(4)])
        kinds = lambda cid: [d["kind"] for d in desk.seen if d["contact_id"] == cid]  # noqa: E731
        desk.until(lambda: kinds("chat-3") == ["QUEUED"] and kinds("fraud-1")[-1:] == ["OFFERED"]
                   and kinds("call-1")[-1:] == ["OFFERED"], "the first decisions", worker)
        assert desk.latest("fraud-1")["agent_id"] == "sec" and desk.latest("fraud-1")["queue"] == "security"
        assert desk.latest("call-1")["agent_id"] == "v-junior"
        assert [desk.latest(f"chat-{i}")["agent_id"] for i in range(3)] == ["chat"] * 3  # capacity 3
        assert desk.latest("chat-3")["position"] == 0 and desk.latest("chat-3")["ewt_ms"] > 0
        # The junior rejects; nobody else has the skills: the call waits. The chat agent accepts
        # one chat and finishes it: the fourth chat is offered.
        call_offer = desk.latest("call-1")["decision_id"]
        desk.send(answer(now(), "call-1", "v-junior", accepted=False, offer_id=call_offer),
                  answer(now(), "chat-0", "chat", offer_id=desk.latest("chat-0")["decision_id"]))
        desk.until(lambda: kinds("chat-0")[-1:] == ["ASSIGNED"] and kinds("call-1")[-1:] == ["REQUEUED"],
                   "the answers", worker)
        desk.send(left(now(), "chat-0"))
        desk.until(lambda: kinds("chat-3")[-1:] == ["OFFERED"], "the freed chat place", worker)
        # A second voice agent logs in and takes the call; then logs out before answering: the
        # offer returns. The security agent never answers: its offer times out (20 s).
        desk.send(agent(now(), "v-two", voice=2, ru=1))
        desk.until(lambda: desk.latest("call-1")["kind"] == "OFFERED"
                   and desk.latest("call-1")["agent_id"] == "v-two", "the call offered to v-two", worker)
        desk.send(agent(now(), "v-two", state="OFFLINE"))
        desk.until(lambda: desk.latest("call-1")["kind"] == "REQUEUED", "the call back", worker)
        assert desk.latest("call-1")["reason"] == "agent offline"
        timed_out = desk.until(lambda: desk.latest("fraud-1")["kind"] == "REQUEUED" and desk.latest("fraud-1"),
                               "the security offer timed out", worker, timeout=60)
        assert timed_out["reason"] == "offer timed out" and timed_out["agent_id"] == "sec"
        desk.close()


ORDERING = """
[routing]
offer_timeout_s = 30
stall_s = 60  # the test moves the router's clock 7 s in one step: not a stall

[[queues]]
name = "general"
skills = { voice = 1 }
aging_s = 2
[[queues.escalation]]
after_s = 4
skills = {}

[[rules]]
segment = ["vip"]
queue = "general"
priority = 3
"""


@pytest.mark.kafka
def test_priority_fifo_aging_and_escalation_on_the_broker(tmp_path: Path) -> None:
    """Priority first, FIFO within it, aging that overtakes a higher priority after its delay, and
    escalation after a wait, with the worker's own clock (TICKs) moving time: a configuration with
    short delays (aging 2 s, skills widened after 4 s)."""
    config = tmp_path / "routing.toml"
    config.write_text(ORDERING)
    settings = isolated_settings(tmp_path, routing_tick_s=0.2, routing_config=config)
    create_topics(settings)
    with Worker(settings) as worker:
        desk = Desk(settings)
        desk.send(queued(now(), "old", queue="general"))
        # Everything after comes 7 s later by the router's clock (its time is the newest event's
        # or TICK's), so "old" has waited 7 s: priority 0 + 3 by aging, without sleeping here.
        ahead = lambda: now() + 7_000  # noqa: E731
        desk.send(queued(ahead(), "low", queue="general"), queued(ahead(), "vip", queue="general", segment="vip"))
        desk.until(lambda: desk.latest("vip") is not None and desk.latest("low") is not None, "queued", worker)
        assert desk.latest("vip")["priority"] == 3 and desk.latest("vip")["position"] == 0
        desk.send(agent(ahead(), "a", voice=1))
        order = []
        while len(order) < 3:
            offered = desk.until(lambda: next((d for d in desk.seen if d["kind"] == "OFFERED"
                                               and d["contact_id"] not in order), None), "an offer", worker)
            order.append(offered["contact_id"])
            desk.send(answer(ahead(), offered["contact_id"], "a", offer_id=offered["decision_id"]),
                      left(ahead(), offered["contact_id"]))
        # "old" at 0 + 3 ties with "vip" at 3 and is older; "low" (0, younger) last. Without aging
        # "vip" would come first.
        assert order == ["old", "vip", "low"]
        # Escalation: only an agent without the voice skill is there; after 4 s the ring widens.
        desk.send(agent(ahead(), "a", state="OFFLINE"), agent(ahead(), "b", other=1))
        desk.send(queued(ahead(), "esc", queue="general"))
        desk.until(lambda: desk.latest("esc") is not None and desk.latest("esc")["kind"] == "OFFERED",
                   "the escalated offer", worker, timeout=30)
        kinds = [(d["kind"], d["agent_id"]) for d in desk.seen if d["contact_id"] == "esc"]
        assert kinds == [("QUEUED", None), ("ESCALATED", None), ("OFFERED", "b")]
        assert [d["escalated"] for d in desk.seen if d["contact_id"] == "esc"] == [False, True, True]
        desk.close()


@pytest.mark.kafka
def test_a_worker_killed_mid_stream_never_offers_a_contact_twice(tmp_path: Path) -> None:
    settings = isolated_settings(tmp_path, routing_tick_s=0.2)
    create_topics(settings)
    agents = [f"a{i:02d}" for i in range(20)]
    contacts = [f"c{i:04d}" for i in range(1000)]
    worker = Worker(settings, "first").start()
    desk = Desk(settings)
    try:
        desk.send(*[agent(now(), a, voice=2, ru=1) for a in agents])
        sent = 0
        killed = replacement = None
        deadline = time.monotonic() + 240
        while len(desk.ended) < len(contacts) and time.monotonic() < deadline:
            if sent < len(contacts):
                desk.send(*[queued(now(), c) for c in contacts[sent:sent + 20]])
                sent += 20
            if killed is None and sent >= 200:
                # A backlog the worker is still deciding when it is killed: stopped (SIGSTOP) while
                # the rest of the contacts and 10,000 chats for a queue nobody serves are sent,
                # resumed, and killed as soon as its first decisions on them arrive: they go out
                # batch by batch, its state only at the next checkpoint, which it does not reach.
                assert worker.proc is not None
                worker.proc.send_signal(signal.SIGSTOP)
                desk.send(*[queued(now(), c) for c in contacts[sent:]],
                          *[queued(now(), f"chat{i:05d}", queue="chat-general", channel="CHAT")
                            for i in range(10_000)])
                sent = len(contacts)
                worker.proc.send_signal(signal.SIGCONT)
                desk.until(lambda: any(d["contact_id"].startswith("chat") for d in desk.seen[-500:]) or None,
                           "the first decisions on the backlog", worker)
                worker.kill()  # SIGKILL, in the middle of the stream
                assert not worker.alive()
                killed = len(desk.seen)
                replacement = Worker(settings, "second").start(wait_ready=False)
            desk.poll()
            desk.serve()
        assert len(desk.ended) == len(contacts), f"{len(desk.ended)} of {len(contacts)} assigned"
        # The second half was decided by the second worker (the first was dead by then).
        assert killed is not None and {d["contact_id"] for d in desk.seen[killed:]} >= set(contacts[220:])
    finally:
        desk.close()
        worker.stop()
        if replacement is not None:
            replacement.stop()
    by_id = assert_one_decision_per_id_and_one_agent_at_a_time(desk.seen)
    # The kill came between decisions sent and state written: the second worker sent some again.
    assert len(desk.seen) > len(by_id), "the kill came at no moment that mattered"
    # Nobody timed out: offers are not charged for the time no router ran.
    assert not [d for d in by_id.values() if d["reason"] == "offer timed out"]


def assert_one_decision_per_id_and_one_agent_at_a_time(seen: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every decision id names one decision (a replay repeats it with the same agent); replaying
    the distinct decisions in order, a contact is never with two agents at once."""
    by_id: dict[str, dict[str, Any]] = {}
    for d in seen:
        first = by_id.setdefault(d["decision_id"], d)
        assert (first["kind"], first["agent_id"]) == (d["kind"], d["agent_id"]), (first, d)
    holder: dict[str, str | None] = {}
    seen_ids = set()
    for d in seen:
        if d["decision_id"] in seen_ids:
            continue
        seen_ids.add(d["decision_id"])
        if d["kind"] == "OFFERED":
            assert holder.get(d["contact_id"]) is None, d
            holder[d["contact_id"]] = d["agent_id"]
        elif d["kind"] == "REQUEUED":
            holder[d["contact_id"]] = None
    return by_id


@pytest.mark.kafka
@pytest.mark.slow
def test_a_broker_restart_while_routing_assigns_every_contact_once(tmp_path: Path, private_broker) -> None:
    """The router and the desks through a broker stopped and started while contacts wait: every
    contact assigned, never to two agents at once, every decision id one decision."""
    settings = isolated_settings(tmp_path, bootstrap_servers="127.0.0.1:19192", routing_tick_s=0.2)
    create_topics(settings)
    agents = [f"a{i:02d}" for i in range(10)]
    contacts = [f"b{i:04d}" for i in range(300)]
    worker = Worker(settings).start()
    desk = Desk(settings)
    restarted_at = None
    try:
        desk.send(*[agent(now(), a, voice=2, ru=1) for a in agents])
        sent = 0
        deadline = time.monotonic() + 240
        while len(desk.ended) < len(contacts) and time.monotonic() < deadline:
            if sent < len(contacts):
                desk.send(*[queued(now(), c) for c in contacts[sent:sent + 20]])
                sent += 20
            if restarted_at is None and len(desk.ended) >= 60:
                private_broker("stop")  # contacts are waiting and offers are out
                private_broker("start")
                restarted_at = len(desk.seen)
            desk.poll()
            desk.serve()
        assert len(desk.ended) == len(contacts), f"{len(desk.ended)} of {len(contacts)} assigned"
        assert restarted_at is not None and len(desk.seen) > restarted_at
        assert worker.alive()
    finally:
        desk.close()
        worker.stop()
    assert_one_decision_per_id_and_one_agent_at_a_time(desk.seen)
