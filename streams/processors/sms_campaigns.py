"""sms-sightings -> spam-campaigns, block-list-changes, alerts: the one campaign detector.

One partition in, so one worker at a time sees every sender's candidate texts
(streams/protection/campaigns.py). A campaign's newest version is published (compacted topic)
when it is confirmed and whenever it gained band keys or senders since, once per batch; each of
its senders is blocked operator-wide (`firstline:campaign`), and its confirmation raises one
alert. Clusters live in the changelog-backed table `campaign-clusters`; the count-min row that
decides which texts are kept is not kept across restarts (a cluster after a restart needs one
more sighting to start).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streams.engine.errors import InvalidRecord
from streams.engine.processor import Context, Processor
from streams.protection.alerts import alert
from streams.protection.campaigns import CampaignRule, Cluster, Detector, Sighting
from streams.topics import spec


class SmsCampaigns(Processor):
    name = "sms-campaigns"
    inputs = ("sms-sightings",)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        s = ctx.settings
        self.schema = spec("sms-sightings").value_schema
        self.rule = CampaignRule(int(s.campaign_window_s * 1000), s.campaign_min_senders, s.campaign_min_messages,
                                 s.campaign_min_chars, s.campaign_min_score)
        self.detector = Detector(self.rule)
        self.table = ctx.table("campaign-clusters", partitions=1, encode=Cluster.encode)
        self.loaded = False
        self.blocked: set[tuple[str, str]] = set()  # (campaign, sender) blocks sent by this worker

    def _load(self) -> None:
        for cid, value in list(self.table.items()):
            c = value if isinstance(value, Cluster) else Cluster.decode(value)
            self.detector.clusters[cid] = c
            for b in c.bands:
                self.detector.by_band[b] = cid
            if c.confirmed_at is not None:
                self.blocked.update((cid, sender) for sender in c.senders)
        self.loaded = True

    def on_batch(self, records: Sequence[Any]) -> None:
        if not self.loaded:
            self._load()
        ctx, out = self.ctx, self.ctx.out
        changed: dict[str, None] = {}  # campaigns that grew in this batch, in order
        for message in records:
            try:
                ctx.bounds.record_size(message.value)
                batch = ctx.codec.decode(message.value, self.schema)
                for s in batch["sightings"]:
                    if len(s["bands"]) > 64 or len(s["text"]) > ctx.settings.max_text_chars:
                        raise InvalidRecord("a sighting with too many bands or too long a text")
            except Exception as exc:
                out.reject(message, exc)
                continue
            for s in batch["sightings"]:
                cluster = self.detector.see(Sighting(s["message_id"], s["occurred_at"], s["sender"], s["recipient"],
                                                     s["bands"], s["score"], s["chars"], s["link"], s["text"]))
                if cluster is None:
                    for cid in self._touched(s["bands"]):
                        self.table.put(cid, self.detector.clusters[cid], 0)
                    continue
                self.table.put(cluster.campaign_id, cluster, 0)
                changed[cluster.campaign_id] = None
        for cid in self.detector.expired:
            self.table.delete(cid, 0)
        self.detector.expired.clear()
        for cid in changed:
            cluster = self.detector.clusters.get(cid)
            if cluster is None:
                continue
            self._publish(cluster)

    def _touched(self, bands: list[int]) -> set[str]:
        by_band = self.detector.by_band
        return {by_band[b] for b in bands if b in by_band}

    def _publish(self, c: Cluster) -> None:
        out = self.ctx.out
        newly = not any(key[0] == c.campaign_id for key in self.blocked)
        out.emit("spam-campaigns", c.campaign_id, c.record())
        for sender in sorted(c.senders):
            if (c.campaign_id, sender) in self.blocked:
                continue
            self.blocked.add((c.campaign_id, sender))
            out.emit("block-list-changes", "*", {
                "change_id": f"campaign:{c.campaign_id}:{sender}", "subscriber_id": "*", "sender": sender,
                "action": "BLOCK", "occurred_at": c.confirmed_at or c.last_at, "source": "firstline:campaign"})
        if newly:
            out.emit("alerts", f"campaign:{c.campaign_id}", alert(
                f"campaign:{c.campaign_id}", c.confirmed_at or c.last_at, "SPAM_CAMPAIGN", "CRITICAL",
                c.campaign_id, f"SMS campaign from {len(c.senders)} senders, {c.messages} texts to "
                f"{c.reach} recipients: {c.sample[:120]}",
                {"senders": len(c.senders), "messages": c.messages, "reach": c.reach}))

    def status(self) -> dict[str, Any]:
        confirmed = sum(1 for c in self.detector.clusters.values() if c.confirmed_at is not None)
        return {"clusters": len(self.detector.clusters), "campaigns": confirmed}
