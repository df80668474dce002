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


class PartitionStore(dict):
    """A table's get/put by key, remembering the partition each key was put to."""

    def __init__(self) -> None:
        super().__init__()
        self.partitions: dict[str, int | None] = {}

    def put(self, key, value, partition):  # noqa: ANN001 - mirrors the table's put
        self[key] = value
        self.partitions[key] = partition


def test_entries_and_buckets_carry_their_partition_and_older_contacts_join_existing_buckets() -> None:
    assert live_queues.empty(3) == {"agents": {}, "p": 3}
    assert live_queues.empty_bucket(5) == {"waiting": {}, "p": 5}
    store = PartitionStore()
    key = live_queues.waiting_key("voice", "c1")
    store[key] = {"waiting": {"c0": T0 - 9}, "p": 2}  # c1's bucket holds another contact already
    older = {"waiting": {"c1": T0, "c2": T0 + 5}, "agents": {}, "p": 2}
    live_queues.entry_of(store, "voice", older, 2)
    assert store[key]["waiting"] == {"c0": T0 - 9, "c1": T0}
    c2_key = live_queues.waiting_key("voice", "c2")
    assert store[c2_key]["p"] == 2 or c2_key == key
    assert set(store.partitions.values()) == {2} and store.partitions["voice"] == 2


def test_agent_facts_say_whether_anything_changed() -> None:
    entry = live_queues.empty(0)
    assert live_queues.apply_agent(entry, agent("a1", "AVAILABLE"))
    assert not live_queues.apply_agent(entry, agent("a1", "AVAILABLE"))
    assert live_queues.apply_agent(entry, agent("a1", "BUSY")) and entry["agents"] == {"a1": "BUSY"}
    assert not live_queues.apply_agent(entry, agent("ghost", "OFFLINE"))  # never logged in here
    assert live_queues.apply_agent(entry, agent("a1", "OFFLINE")) and entry["agents"] == {}


def test_the_view_in_full_and_the_edges_of_ewt() -> None:
    entry = live_queues.empty(0)
    for a, state in (("a1", "BUSY"), ("a2", "WRAP_UP"), ("a3", "AWAY"), ("a4", "UNKNOWN")):
        live_queues.apply_agent(entry, agent(a, state))
    # Nobody available: 2 waiting + the new one ahead, over 2 staffed (busy, wrap-up); a4's state
    # is none the view counts, but it is logged in.
    assert live_queues.view("voice", entry, [{"c1": T0 + 1_000}, {}, {"c2": T0 + 4_000}], T0 + 10_000, None) == {
        "queue": "voice", "waiting": 2, "oldest_wait_ms": 9_000, "agents_logged_in": 4,
        "agents_available": 0, "agents_busy": 1, "agents_wrap_up": 1, "agents_away": 1,
        "ewt_ms": 3 * live_queues.DEFAULT_AHT_MS / 2, "aht_ms": live_queues.DEFAULT_AHT_MS, "as_of": T0 + 10_000}

    def ewt(waiting: int, available: int, busy: int, away: int = 0) -> float | None:
        e = live_queues.empty(0)
        for i, (state, n) in enumerate((("AVAILABLE", available), ("BUSY", busy), ("AWAY", away))):
            for j in range(n):
                live_queues.apply_agent(e, agent(f"a{i}{j}", state))
        buckets = [{f"c{k}": T0 for k in range(waiting)}]
        return live_queues.view("q", e, buckets, T0, 60_000)["ewt_ms"]

    assert ewt(0, 2, 0) == 0.0  # more available than waiting: answered at once
    assert ewt(1, 1, 0) == 60_000.0  # one ahead of the new contact, one agent
    assert ewt(1, 1, 1) == 30_000.0
    assert ewt(3, 0, 1) == 4 * 60_000.0
    assert ewt(2, 0, 0, away=2) is None  # nobody to answer: no estimate
    # A queued time after the watermark (facts of another partition came first): no negative wait.
    assert live_queues.view("q", entry, [{"c1": T0 + 5}], T0, None)["oldest_wait_ms"] == 0
    assert live_queues.view("q", entry, [{}], T0, None)["oldest_wait_ms"] == 0
