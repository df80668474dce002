"""sms-messages -> sms-verdicts: deliver or block every SMS, with every reason that applied.

Partitioned by sender (the topic's key), so a sender's mass-mailing window lives on one worker
(changelog-backed table `sms-senders`, keyed by the sender's pseudonym). The block lists, the
confirmed campaigns and the content model's updates are replicated: every worker reads
`block-list-changes`, `spam-campaigns` and `content-model-updates` whole (engine/replicas.py),
because any worker may judge a message to any subscriber, and all must score alike.

A batch is judged at once: texts normalised, their n-grams hashed, content-scored and
MinHash-banded with numpy over the whole batch (streams/protection/). Texts that may belong to a
campaign go to the one campaign detector (`sms-sightings`). A sender passing the mass-mailing
limit is blocked operator-wide (a `block-list-changes` record from `firstline:mass-mailing`) and
an alert is raised, both before the state is written, with ids that a replay repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from streams.engine.errors import InvalidRecord
from streams.engine.processor import Context, Processor
from streams.processors.block_list_view import BlockListView
from streams.processors.contact_lifecycle import check_time
from streams.protection import verdicts
from streams.protection.addresses import Pseudonyms, canonical
from streams.protection.alerts import alert, cooled
from streams.protection.campaigns import band_keys
from streams.protection.content_model import SHIPPED, ContentModel
from streams.protection.features import grams
from streams.protection.mass_mailing import MassMailingRule, SenderWindow, observe
from streams.protection.text import LINK, normalise
from streams.topics import spec

MASK63 = (1 << 63) - 1


class InvalidSms(InvalidRecord):
    pass


def validate_sms(ev: dict[str, Any], max_time_ms: int) -> None:
    if not ev["message_id"]:
        raise InvalidSms("message_id is empty")
    if not ev["sender"].strip() or not ev["recipient"].strip():
        raise InvalidSms("sender and recipient must not be empty")
    check_time("occurred_at", ev["occurred_at"], max_time_ms)


class SmsVerdicts(Processor):
    name = "sms-verdicts"
    inputs = ("sms-messages",)
    replicas = ("block-list-changes", "spam-campaigns", "content-model-updates")
    # In the delivery path of every SMS: a batch starts with its first message, without waiting
    # for more. (Sending the verdicts after every batch and the senders' windows only at the
    # checkpoint interval was tried: a checkpoint then writes the windows of every sender of the
    # interval at once, and the messages behind it wait; see docs/benchmarks.md.)
    linger_s = 0.0

    def __init__(self, ctx: Context, model: ContentModel | None = None) -> None:
        super().__init__(ctx)
        s = ctx.settings
        self.schema = spec("sms-messages").value_schema
        self.check = ctx.bounds.checker(ctx.codec.registry.reader(self.schema).definition)
        self.model = model or ContentModel.load(s.sms_model or SHIPPED)
        self.pseudonyms = Pseudonyms(s.pseudonym_key)
        self.rule = MassMailingRule(s.sms_mass_limit, int(s.sms_mass_window_s * 1000), s.a2p_senders)
        self.block_at, self.assist_at = s.sms_content_block_at, s.sms_content_assist_at
        self.campaign_min_chars, self.campaign_min_score = s.campaign_min_chars, s.campaign_min_score
        self.cooldown_ms = int(s.alert_cooldown_s * 1000)
        self.senders = ctx.table("sms-senders", partitions=spec("sms-messages").partition_count(s),
                                 encode=SenderWindow.encode)
        self.blocks = BlockListView(ctx)
        self.campaigns: dict[str, int] = {}  # campaign id -> confirmed at
        self.campaign_bands: dict[int, str] = {}  # band key (signed) -> campaign id
        self.campaign_schema = spec("spam-campaigns").value_schema
        self.update_schema = spec("content-model-updates").value_schema
        self.learned: set[str] = set()  # update ids applied: a replayed update is learned once
        self.judged = 0
        self.blocked = 0
        self.blocked_by: dict[str, int] = {}  # messages blocked per reason (one message, several)

    # -- replicas ---------------------------------------------------------------------------------

    def on_replica(self, records: Sequence[Any]) -> None:
        changes = [r for r in records if r.topic.endswith(".block-list-changes")]
        if changes:
            self.blocks.apply(changes)
        for message in records:
            if message.topic.endswith(".spam-campaigns"):
                try:
                    c = self.ctx.codec.decode(message.value, self.campaign_schema)
                except Exception as exc:
                    self.ctx.out.reject(message, exc)
                    continue
                self.campaigns[c["campaign_id"]] = c["confirmed_at"]
                for b in c["bands"]:
                    self.campaign_bands[b] = c["campaign_id"]
            elif message.topic.endswith(".content-model-updates"):
                try:
                    u = self.ctx.codec.decode(message.value, self.update_schema)
                    if u["bits"] != self.model.bits or any(not 0 <= b < 1 << u["bits"] for b in u["buckets"]):
                        raise InvalidRecord(f"buckets for a {u['bits']}-bit model; this one has {self.model.bits}")
                except Exception as exc:
                    self.ctx.out.reject(message, exc)
                    continue
                if u["update_id"] not in self.learned:
                    self.learned.add(u["update_id"])
                    self.model.learn_buckets(u["buckets"], u["spam"])

    # -- messages ---------------------------------------------------------------------------------

    def _window(self, key: str) -> SenderWindow | None:
        held = self.senders.get(key)
        if held is None or isinstance(held, SenderWindow):
            return held
        return SenderWindow.decode(held)  # as restored from the changelog

    def on_batch(self, records: Sequence[Any]) -> None:
        ctx = self.ctx
        decode, now, out = ctx.codec.decode, ctx.clock.max_event_time(), ctx.out
        good: list[tuple[Any, dict[str, Any]]] = []
        for message in records:
            try:
                ctx.bounds.record_size(message.value)
                ev = decode(message.value, self.schema)
                self.check(ev)
                validate_sms(ev, now)
                if message.key != ev["sender"].encode():
                    raise InvalidSms(f"record key {message.key!r} is not the sender")
                good.append((message, ev))
            except Exception as exc:
                out.reject(message, exc)
        if not good:
            return
        # Texts that are one after normalisation (a bank's codes, a mailing's copies, a campaign's
        # variations) are featurised once per batch.
        first: dict[str, int] = {}
        which = [first.setdefault(normalise(ev["text"]), len(first)) for _, ev in good]
        texts = list(first)
        g = grams(texts)
        scores_np = self.model.scores_of(g)
        # Only texts that could belong to a campaign are banded: those long enough, with a link or
        # a content score that could be fraud. Campaigns are made of such texts alone, so the
        # others could neither join one nor match it.
        long_enough = np.fromiter(map(len, texts), np.int64, len(texts)) >= self.campaign_min_chars
        linked = np.fromiter((LINK in t for t in texts), bool, len(texts))
        suspect = long_enough & (linked | (scores_np >= self.campaign_min_score))
        keys, has_bands = band_keys(g, suspect)
        signed = keys.view(np.int64)
        scores, has, links = scores_np.tolist(), has_bands.tolist(), linked.tolist()
        shown = np.round(scores_np, 4).tolist()
        lists = self.blocks.lists
        sightings: list[dict[str, Any]] = []
        origin = ""
        for (message, ev), i in zip(good, which):  # i: the message's text
            sender, recipient, at = canonical(ev["sender"]), canonical(ev["recipient"]), ev["occurred_at"]
            score = scores[i]
            found: set[str] = set()
            if lists.by_recipient(recipient, sender, at):
                found.add("RECIPIENT_BLOCK_LIST")
            source = lists.operator_source(sender, at)
            operator_blocked = source is not None
            if operator_blocked:
                found.add("OPERATOR_BLOCK_LIST")
                detector = verdicts.DETECTOR_SOURCES.get(source or "")
                if detector:
                    found.add(detector)
            campaign_id = None
            if self.campaign_bands and has[i]:
                for b in signed[i].tolist():
                    cid = self.campaign_bands.get(b)
                    if cid is not None and self.campaigns.get(cid, at + 1) <= at:
                        campaign_id = cid
                        found.add("CAMPAIGN")
                        break
            if score >= self.block_at:
                found.add("CONTENT")
            recipient_pseudonym, rhash = self.pseudonyms.of(recipient)
            sender_pseudonym = self.pseudonyms.of(sender)[0]
            if not operator_blocked:
                self._mass_mailing(message, sender, sender_pseudonym, rhash, at, score, found)
            reasons = verdicts.reasons_in_order(found) if found else []
            blocked = bool(reasons)
            out.emit("sms-verdicts", ev["message_id"], {
                "message_id": ev["message_id"], "occurred_at": at,
                "sender": sender if blocked or not sender.isdigit() else sender_pseudonym,
                "recipient": recipient_pseudonym, "verdict": "BLOCK" if blocked else "DELIVER",
                "reasons": reasons, "score": shown[i], "campaign_id": campaign_id})
            if blocked:
                self.blocked += 1
                for reason in reasons:
                    self.blocked_by[reason] = self.blocked_by.get(reason, 0) + 1
            if has[i] and sender not in self.rule.a2p:  # banded: suspect (above)
                text, link = texts[i], links[i]
                origin = f"sms-messages/{message.partition}"
                sightings.append({"message_id": ev["message_id"], "occurred_at": at, "sender": sender,
                                  "recipient": rhash & MASK63, "bands": signed[i].tolist(), "score": score,
                                  "chars": len(text), "link": link, "text": text[:1000]})
        self.judged += len(good)
        self._send_sightings(origin, sightings)

    def _mass_mailing(self, message: Any, sender: str, key: str, rhash: int, at: int, score: float,
                      found: set[str]) -> None:
        held = self._window(key)
        limit = self.rule.limit // 2 if score >= self.assist_at else self.rule.limit
        window, reached = observe(self.rule, held, sender, rhash, at, limit)
        self.senders.put(key, window, message.partition)
        if reached is None:
            return
        # Blocked operator-wide from the moment it was flagged: the same reasons whether the block
        # has come back through the replica yet or not.
        found.update(("MASS_MAILING", "OPERATOR_BLOCK_LIST"))
        if window.flagged_at != at:
            return
        since = at - at % self.rule.bucket_ms
        change_id = f"mass-mailing:{sender}:{since}"
        self.ctx.out.emit("block-list-changes", "*", {
            "change_id": change_id, "subscriber_id": "*", "sender": sender, "action": "BLOCK",
            "occurred_at": at, "source": "firstline:mass-mailing"})
        if cooled(window.alerted_at, at, self.cooldown_ms):
            window.alerted_at = at
            self.ctx.out.emit("alerts", change_id, alert(
                change_id, at, "MASS_MAILING", "WARNING", sender,
                f"{sender} reached {int(reached)} distinct recipients within "
                f"{self.rule.window_ms // 60000} min (limit {limit}); blocked operator-wide",
                {"recipients": int(reached), "limit": limit, "window_s": self.rule.window_ms // 1000}))

    def _send_sightings(self, origin: str, sightings: list[dict[str, Any]]) -> None:
        # Each record at most half of what the campaign detector accepts as input
        # (FIRSTLINE_MAX_RECORD_BYTES): a sighting is its text's bytes and under 200 more.
        most = min(self.ctx.settings.max_record_bytes, self.ctx.settings.max_output_bytes) // 2
        chunk: list[dict[str, Any]] = []
        size = 0
        for s in sightings:
            chunk.append(s)
            size += len(s["text"].encode()) + 200
            if size >= most:
                self.ctx.out.emit("sms-sightings", origin, {"origin": origin, "sightings": chunk})
                chunk, size = [], 0
        if chunk:
            self.ctx.out.emit("sms-sightings", origin, {"origin": origin, "sightings": chunk})

    def status(self) -> dict[str, Any]:
        return {"judged": self.judged, "blocked": self.blocked, "block_list_entries": self.blocks.lists.size(),
                "campaigns": len(self.campaigns), "bad_block_list_changes": self.blocks.rejected}
