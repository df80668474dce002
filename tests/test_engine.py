"""The engine without a broker (streams/engine/testing.py): the checkpoint's order, what a restart
sees after each step fails, and the contact-summary processor fed by hand."""

from __future__ import annotations

import orjson
import pytest

from streams.engine.checkpoint import STEPS
from streams.engine.testing import DeliveryFailed, Harness
from streams.processors.contact_summary import ContactSummary
from tests.scenarios import EXPECTED, SCRIPTED

ORDER = [e for events in zip(*[SCRIPTED[c] + [None] * 7 for c in sorted(SCRIPTED)]) for e in events if e]


def fed(h: Harness) -> Harness:
    for e in ORDER:
        h.feed("contact-events", e)
    return h


def latest_summaries(h: Harness) -> dict[str, dict]:
    latest: dict[str, dict] = {}
    for s in h.outputs("contact-summaries"):
        if s["contact_id"] not in latest or s["version"] >= latest[s["contact_id"]]["version"]:
            latest[s["contact_id"]] = s
    return latest


def deltas(h: Harness, since: int = 0) -> dict[tuple, list]:
    """Minute deltas by their record's identifier (source partition, through offset, part,
    queue): the statistics count each identifier once (minute_deltas.py), so one sent again must
    carry the same minutes. (Its watermark and live facts may differ: a restarted worker's
    watermark starts again from the events it reads.)"""
    out: dict[tuple, list] = {}
    for r in h.outputs("queue-facts")[since:]:
        if r["minutes"]:
            key = (r["source_partition"], r["through_offset"], r["part"], r["queue"])
            assert out.setdefault(key, r["minutes"]) == r["minutes"], f"{key} sent twice with other minutes"
    return out


def undisturbed() -> Harness:
    h = fed(Harness(ContactSummary))
    h.run()
    return h


def test_summaries_and_steps_in_order() -> None:
    h = undisturbed()
    got = latest_summaries(h)
    for contact, expected in EXPECTED.items():
        assert {k: got[contact][k] for k in expected} == expected, contact
    assert h.last_checkpoint is not None and h.last_checkpoint.steps_done == list(STEPS)
    assert h.dead_letters() == []
    assert set(h.state("contact-state")) == set(SCRIPTED)
    assert [k for k, _ in h.changelog("contact-deltas-sent")]  # the marker went out


@pytest.mark.parametrize("failing, done", [
    ("changelog:contact-deltas-sent", []),
    ("queue-facts", ["markers", "before_delivery"]),
    ("changelog:contact-state", ["markers", "before_delivery", "outputs"]),
    ("contact-summaries", ["markers", "before_delivery", "outputs", "state"]),
])
def test_a_failed_step_and_a_restart_give_what_an_undisturbed_run_gives(failing: str, done: list[str]) -> None:
    reference = undisturbed()
    h = fed(Harness(ContactSummary))
    h.fail(failing)
    with pytest.raises(DeliveryFailed):
        h.run()
    assert h.last_checkpoint is not None and h.last_checkpoint.steps_done == done
    assert h.acked == {}  # nothing acknowledged: every input comes again
    again = h.restart()
    assert len(again.queued) == len(ORDER)
    again.run()
    assert latest_summaries(again) == latest_summaries(reference)
    # The same minute deltas under the same identifiers, however often sent: counted once.
    assert deltas(again) == deltas(reference)
    assert again.state("contact-state").keys() == reference.state("contact-state").keys()


def test_a_replay_after_the_deltas_went_out_cuts_its_checkpoint_where_the_first_one_ended() -> None:
    h = Harness(ContactSummary)
    first, second, third = ORDER[:5], ORDER[5:10], ORDER[10:]
    for e in first:
        h.feed("contact-events", e)
    h.run()  # a checkpoint over the first events
    first_done = len(h.outputs("queue-facts"))
    for e in second:
        h.feed("contact-events", e)
    h.fail("changelog:contact-state")  # the second checkpoint's deltas went out, its state did not
    with pytest.raises(DeliveryFailed):
        h.run()
    sent = deltas(h, since=first_done)
    before = len(h.outputs("queue-facts"))
    for e in third:  # more events arrive before the restart: the replay must not take them in
        h.feed("contact-events", e)
    again = h.restart()
    again.run()
    replayed = deltas(again, since=before)
    # sent again, each under its identifier, as before
    assert sent and {k: replayed.get(k) for k in sent} == sent
    assert latest_summaries(again) == latest_summaries(undisturbed())


def test_eager_outputs_go_at_once_and_the_checkpoint_still_waits_for_them():
    """Outbox.send_now (a processor with `eager = True`, after each batch) hands the records to
    the producer without waiting; the checkpoint's delivered() waits for those acknowledgements
    too, before the state is written."""
    import asyncio

    from streams.codec import Codec, load_registry
    from streams.engine.outbox import Outbox
    from streams.engine.testing import offline_settings
    from streams.processors.router import decision_record
    from streams.routing.engine import Decision

    class Acks:
        def __init__(self) -> None:
            self.records: list = []
            self.sent: list = []
            self.futures: list = []

        def __bool__(self) -> bool:
            return bool(self.records)

        def add(self, topic, key, value, partition=None) -> None:
            self.records.append((topic, key))

        async def send(self) -> list:
            self.sent += self.records
            self.records = []
            future = asyncio.get_running_loop().create_future()
            self.futures.append(future)
            return [future]

    async def run() -> None:
        settings = offline_settings()
        acks = Acks()
        out = Outbox(acks, Codec(load_registry(settings.schemas_dir)), settings, "router")
        decision = Decision("OFFERED", "c1:2", 1_764_000_000_000, "c1", "VOICE", "q", "as-queued", 0, "", "a1")
        out.emit("routing-decisions", "c1", decision_record(decision, "default"))
        await out.send_now()
        assert len(acks.sent) == 1 and out  # sent, not yet acknowledged: the outbox still holds it
        waiting = asyncio.ensure_future(out.delivered())
        await asyncio.sleep(0.01)
        assert not waiting.done()  # the checkpoint waits for the eager send's acknowledgement
        for f in acks.futures:
            f.set_result(None)
        await asyncio.wait_for(waiting, 1)
        assert not out

    asyncio.run(run())


def test_restored_contact_states_stay_bytes_until_their_contact_is_seen_again() -> None:
    """The contact-state table restores raw (raw_restore): a restarted worker holds the changelog's
    JSON bytes, and a contact becomes an object when its next event comes, folded as before."""
    from streams.processors.contact_lifecycle import ContactState

    h = fed(Harness(ContactSummary))
    h.run()
    again = h.restart()
    restored = again.state("contact-state")
    assert restored and all(isinstance(v, bytes) for v in restored.values())
    contact = sorted(restored)[0]
    before = ContactState.from_json(orjson.loads(restored[contact]))
    again.feed("contact-events", {**ORDER[0], "event_id": "late-one", "contact_id": contact, "type": "HELD",
                                  "occurred_at": before.last_seen})
    again.run()
    after = again.state("contact-state")[contact]
    assert isinstance(after, ContactState) and len(after.seen) == len(before.seen) + 1
    assert all(isinstance(v, bytes) for k, v in again.state("contact-state").items() if k != contact)
