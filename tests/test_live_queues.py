"""The live state of a queue (pure logic): waiting contacts in buckets, agents, EWT."""

import json

from streams.processors import live_queues

T0 = 1_764_000_000_000


def waiting(contact: str, at: int, sign: int = 1) -> dict:
    return {"kind": "WAITING", "contact_id": contact, "at": at, "sign": sign}


def agent(agent_id: str, state: str) -> dict:
    return {"kind": "AGENT", "agent_id": agent_id, "agent_state": state}


def test_a_long_queue_is_spread_over_small_buckets_and_viewed_whole() -> None:
    store: dict[str, dict] = {}
    for i in range(30_000):  # an e-mail backlog
        key = live_queues.waiting_key("email", f"c{i}")
        bucket = store.setdefault(key, live_queues.empty_bucket(0))
        assert live_queues.apply_waiting(bucket, waiting(f"c{i}", T0 + i))
    key = live_queues.waiting_key("email", "c7")
    assert not live_queues.apply_waiting(store[key], waiting("c7", T0 + 7))  # again: no change
    c0 = store[live_queues.waiting_key("email", "c0")]
    assert live_queues.apply_waiting(c0, waiting("c0", T0, sign=-1))  # answered: leaves the queue
    assert not live_queues.apply_waiting(c0, waiting("c0", T0, sign=-1))
    assert max(len(json.dumps(b)) for b in store.values()) < 30_000  # far below a record's 1 MB
    entry = live_queues.empty(0)
    for a, state in (("a1", "AVAILABLE"), ("a2", "BUSY"), ("a3", "BUSY"), ("a4", "AWAY")):
        live_queues.apply_agent(entry, agent(a, state))
    assert live_queues.apply_agent(entry, agent("a4", "OFFLINE")) and "a4" not in entry["agents"]
    buckets = [store[k]["waiting"] for k in live_queues.waiting_keys("email") if k in store]
    view = live_queues.view("email", entry, buckets, T0 + 60_000, 120_000)
    assert view["waiting"] == 29_999
    assert view["oldest_wait_ms"] == 60_000 - 1  # c1 is the oldest left
    # 29,999 ahead + the new one - 1 available, over 3 staffed agents, at AHT 120 s
    assert view["ewt_ms"] == (29_999 + 1 - 1) * 120_000 / 3
    assert live_queues.is_queue_key("email") and not live_queues.is_queue_key(live_queues.waiting_key("email", "x"))


class DictStore(dict):
    def put(self, key, value, partition):  # noqa: ANN001 - mirrors the table's put
        self[key] = value


def test_an_entry_stored_by_an_older_worker_moves_its_waiting_contacts_to_buckets() -> None:
    store = DictStore()
    older = {"waiting": {"c1": T0, "c2": T0 + 5}, "agents": {"a1": "AVAILABLE"}, "p": 2}
    entry = live_queues.entry_of(store, "voice", older, 2)
    assert entry == {"agents": {"a1": "AVAILABLE"}, "p": 2} and store["voice"] is entry
    assert store[live_queues.waiting_key("voice", "c2")]["waiting"]["c2"] == T0 + 5
    buckets = [store[k]["waiting"] for k in live_queues.waiting_keys("voice") if k in store]
    assert live_queues.view("voice", entry, buckets, T0 + 10, None)["waiting"] == 2
    assert live_queues.entry_of(store, "chat", None, 0) == live_queues.empty(0)
