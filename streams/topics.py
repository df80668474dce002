"""The topic catalogue: every topic on the bus, its key, value schema, partitions and retention.

Topic creation, `firstline topics list`, the README's topic table and the tests read this one list.
Names are `<namespace>.<name>`; the namespace is `firstline` unless FIRSTLINE_NAMESPACE says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from streams.settings import Settings

DAY_MS = 24 * 3600 * 1000

Role = Literal["input", "output", "internal"]


@dataclass(frozen=True)
class TopicSpec:
    name: str  # without the namespace
    value_schema: str  # full Avro name of the value record
    key_field: str  # field of the value whose string value is the record key
    role: Role
    doc: str
    partitions: int | None = None  # None: the settings' partition count
    compacted: bool = False
    retention_ms: int = 7 * DAY_MS
    # Older value records its readers still accept (written by workers of an earlier release).
    also_reads: tuple[str, ...] = ()

    def full_name(self, settings: Settings) -> str:
        return f"{settings.namespace}.{self.name}"

    def partition_count(self, settings: Settings) -> int:
        return self.partitions if self.partitions is not None else settings.partitions

    def config(self) -> dict[str, str]:
        if self.compacted:
            # Compacted topics keep the newest record per key for ever; min.compaction.lag keeps
            # a few minutes of history for consumers that read the updates as they come.
            return {"cleanup.policy": "compact", "min.compaction.lag.ms": str(5 * 60 * 1000),
                    "segment.ms": str(DAY_MS)}
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


NS = "io.firstline."

CATALOGUE: tuple[TopicSpec, ...] = (
    # inputs, published by the channel systems
    TopicSpec("contact-events", NS + "ContactEvent", "contact_id", "input",
              "Lifecycle events of contacts on every channel."),
    TopicSpec("agent-events", NS + "AgentEvent", "agent_id", "input",
              "Agent state, skills and capacity changes."),
    TopicSpec("survey-responses", NS + "SurveyResponse", "contact_id", "input",
              "Post-contact satisfaction survey answers."),
    TopicSpec("sms-messages", NS + "SmsMessage", "sender", "input",
              "SMS submitted to the SMS centre, before the spam verdict.", retention_ms=3 * DAY_MS),
    TopicSpec("block-list-changes", NS + "BlockListChange", "subscriber_id", "input",
              "Subscribers' Antispam-SMS block-list changes and operator-wide blocks.",
              retention_ms=365 * DAY_MS),
    # One partition: the complaints processor counts the distinct subscribers complaining about
    # each sender, so it must see all of them (thousands a year, not a throughput question).
    TopicSpec("complaints", NS + "Complaint", "subscriber_id", "input",
              "Fraud, spam and unwanted-service complaints.", partitions=1, retention_ms=365 * DAY_MS),
    TopicSpec("subscription-requests", NS + "SubscriptionRequest", "subscriber_id", "input",
              "Content providers' paid-subscription requests."),
    # The router's API on the bus: the ACD queues contacts, desktops answer offers, the workforce
    # system tells agents' states, all keyed by routing group so that one worker decides a group.
    TopicSpec("routing-requests", NS + "RoutingRequest", "group", "input",
              "Contacts to route, agents' states and answers to offers, by routing group."),
    # outputs, for downstream consumers and the sinks
    TopicSpec("contact-summaries", NS + "ContactSummary", "contact_id", "output",
              "One summary per contact, newest version wins.", compacted=True),
    TopicSpec("queue-statistics", NS + "QueueStatistics", "stat_id", "output",
              "Per-queue service figures per window.", partitions=3, compacted=True),
    TopicSpec("routing-decisions", NS + "RoutingDecision", "contact_id", "output",
              "Queue chosen, offers, assignments, returns and escalations, with position and EWT."),
    TopicSpec("sms-verdicts", NS + "SmsVerdict", "message_id", "output",
              "Deliver or block, with reasons, for every SMS.", retention_ms=3 * DAY_MS),
    TopicSpec("spam-campaigns", NS + "SpamCampaign", "campaign_id", "output",
              "Confirmed SMS spam campaigns, newest version per campaign.", partitions=1, compacted=True),
    TopicSpec("complaint-outcomes", NS + "ComplaintOutcome", "complaint_id", "output",
              "What was done with each complaint.", retention_ms=365 * DAY_MS),
    TopicSpec("subscription-outcomes", NS + "SubscriptionOutcome", "provider", "output",
              "The decision on each paid-subscription request.", retention_ms=365 * DAY_MS),
    TopicSpec("alerts", NS + "Alert", "alert_id", "output",
              "Detections for operators and the security team.", partitions=1,
              retention_ms=30 * DAY_MS),
    # internal: repartitioning between processors, not a contract for downstream teams
    TopicSpec("queue-facts", NS + "QueueFactBatch", "queue", "internal",
              "Contact outcomes and agent states re-keyed by queue, for queue statistics.",
              retention_ms=2 * DAY_MS, also_reads=(NS + "QueueFact",)),
    TopicSpec("sms-sightings", NS + "SmsSightingBatch", "origin", "internal",
              "Texts that may belong to a campaign, as band keys, for the one campaign detector.",
              partitions=1, retention_ms=DAY_MS),
    TopicSpec("subscription-refusals", NS + "SubscriptionOutcome", "provider", "internal",
              "The refused subscription requests, by provider, for the provider-abuse count.",
              retention_ms=7 * DAY_MS),
    TopicSpec("content-model-updates", NS + "ContentModelUpdate", "model", "internal",
              "Texts of confirmed complaints as hashed n-grams, which every worker's content model learns from.",
              partitions=1, retention_ms=365 * DAY_MS),
    # One partition, as the alerts: the retry sink keeps each endpoint's alerts in order.
    TopicSpec("webhook-retries", NS + "WebhookRetry", "endpoint", "internal",
              "Alerts an endpoint did not take at the first try, for the retry sink.",
              partitions=1, retention_ms=7 * DAY_MS),
    TopicSpec("dead-letters", NS + "DeadLetter", "source_topic", "output",
              "Records that could not be used, with their origin and the reason.", partitions=1,
              retention_ms=30 * DAY_MS),
)

_BY_NAME = {spec.name: spec for spec in CATALOGUE}


def spec(name: str) -> TopicSpec:
    """The spec of a topic by its short name ('contact-events') or full name ('firstline.contact-events')."""
    short = name.rsplit(".", 1)[-1]
    try:
        return _BY_NAME[short]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise KeyError(f"unknown topic {name!r}; known topics: {known}") from None
