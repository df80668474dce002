"""complaints -> complaint-outcomes, block-list-changes, alerts.

Complaints about a sender's SMS or calls are counted per sender (streams/protection/complaints.py;
the topic has one partition, so this processor sees every complaint about a sender); K distinct
complainers within W block the sender operator-wide (`firstline:complaints`) and raise a
FRAUD_COMPLAINTS alert. Every complaint gets its outcome on `complaint-outcomes`. The block lists
are replicated here too, so that a sender blocked already (by an operator or a detector) is said
so. Subscribers appear only as keyed pseudonyms in what this processor writes.

A confirmed complaint about an SMS (its sender blocked, by it or before it) that carries the
message's text (as when a subscriber forwards the SMS to the operator's complaints number) becomes
a spam example for the content model: its n-grams' hash buckets, not its text, go to
`content-model-updates`, which every verdict worker learns from in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streams.engine.errors import InvalidRecord
from streams.engine.processor import Context, Processor
from streams.processors.contact_lifecycle import check_time
from streams.processors.block_list_view import BlockListView
from streams.protection.addresses import canonical, pseudonym
from streams.protection.alerts import alert
from streams.protection.complaints import ABOUT_SENDERS, ComplaintRule, SenderComplaints, judge
from streams.protection.content_model import SHIPPED, ContentModel
from streams.topics import spec


CONFIRMED = frozenset({"SENDER_BLOCKED", "ALREADY_BLOCKED"})
ABOUT_SMS = frozenset({"SMS_SPAM", "FRAUD_SMS"})


class Complaints(Processor):
    name = "complaints"
    inputs = ("complaints",)
    replicas = ("block-list-changes",)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        s = ctx.settings
        self.schema = spec("complaints").value_schema
        self.check = ctx.bounds.checker(ctx.codec.registry.reader(self.schema).definition)
        self.rule = ComplaintRule(s.complaint_threshold, int(s.complaint_window_s * 1000))
        self.key = s.pseudonym_key
        self.senders = ctx.table("complaint-senders", partitions=1, encode=SenderComplaints.encode)
        self.blocks = BlockListView(ctx)
        self.outcomes: dict[str, int] = {}
        self.model = ContentModel.load(s.sms_model or SHIPPED)  # for its hashing: buckets_of

    def on_replica(self, records: Sequence[Any]) -> None:
        self.blocks.apply(records)

    def on_batch(self, records: Sequence[Any]) -> None:
        ctx, out = self.ctx, self.ctx.out
        now = ctx.clock.max_event_time()
        for message in records:
            try:
                ctx.bounds.record_size(message.value)
                c = ctx.codec.decode(message.value, self.schema)
                self.check(c)
                if not c["complaint_id"] or not c["subscriber_id"].strip():
                    raise InvalidRecord("complaint_id and subscriber_id must not be empty")
                check_time("occurred_at", c["occurred_at"], now)
            except Exception as exc:
                out.reject(message, exc)
                continue
            self._judge(c, message.partition)

    def _judge(self, c: dict[str, Any], partition: int) -> None:
        at, subscriber = c["occurred_at"], pseudonym(canonical(c["subscriber_id"]), self.key)
        about = canonical(c["about"]) if c["about"] and c["about"].strip() else None
        record = {"complaint_id": c["complaint_id"], "occurred_at": at, "subscriber": subscriber,
                  "kind": c["kind"], "about": about, "complainers": 0, "threshold": self.rule.threshold,
                  "alert_id": None}
        if c["kind"] not in ABOUT_SENDERS:
            outcome = "FORWARDED"
        elif about is None:
            outcome = "NO_SENDER"
        else:
            held = self.senders.get(about)
            state = held if isinstance(held, SenderComplaints) else (
                SenderComplaints.decode(held) if held else SenderComplaints())
            entry = self.blocks.lists.latest("*", about)
            if state.blocked_at is not None and entry is not None and not entry[1] and entry[0] >= state.blocked_at:
                state.blocked_at = None  # an operator unblocked it since: complaints count again
            outcome, record["complainers"] = judge(self.rule, state, subscriber, at,
                                                   self.blocks.lists.by_operator(about, at))
            if outcome == "SENDER_BLOCKED":
                change_id = f"complaints:{about}:{at}"
                self.ctx.out.emit("block-list-changes", "*", {
                    "change_id": change_id, "subscriber_id": "*", "sender": about, "action": "BLOCK",
                    "occurred_at": at, "source": "firstline:complaints"})
                record["alert_id"] = change_id
                self.ctx.out.emit("alerts", change_id, alert(
                    change_id, at, "FRAUD_COMPLAINTS", "CRITICAL", about,
                    f"{record['complainers']} subscribers complained about {about} within "
                    f"{self.rule.window_ms // 3_600_000} h; blocked operator-wide",
                    {"complainers": record["complainers"], "threshold": self.rule.threshold, "kind": c["kind"]}))
            self.senders.put(about, state, partition)
        record["outcome"] = outcome
        if outcome in CONFIRMED and c["kind"] in ABOUT_SMS and c["text"] and len(c["text"].strip()) >= 10:
            self.ctx.out.emit("content-model-updates", "content", {
                "update_id": f"complaint:{c['complaint_id']}", "model": "content", "occurred_at": at,
                "spam": True, "bits": self.model.bits, "buckets": self.model.buckets_of(c["text"])})
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.ctx.out.emit("complaint-outcomes", c["complaint_id"], record)

    def status(self) -> dict[str, Any]:
        return {"outcomes": dict(self.outcomes)}
