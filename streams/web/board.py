"""Pure logic of the wallboard: every queue's figures folded from what the bus carries, and the
colour of each tile. No Kafka here (the feed is streams/web/wallboard.py).

Inputs, all read whole by every worker, so that any worker's page shows every queue:

  queue statistics   (the `queue-statistics` topic) the newest record per queue, channel and
                     window kind, all regions ("*"): the 15 minutes to the last closed minute
                     (ROLLING_15_MIN) for the tile, the day so far (DAY) beside it, and the
                     one-minute windows of the last hours for the charts;
  live queues        (the live-queue table's changelog) contacts waiting, their oldest entry and
                     the agents by state, as the queue-stats processor keeps them;
  alerts             (the `alerts` topic) the latest ones;
  routing decisions  (the `routing-decisions` topic) per queue, the decisions of the last 15
                     minutes of event time by kind, and the newest position and EWT announced;
  spam campaigns     (the `spam-campaigns` topic, compacted) the confirmed campaigns.

A tile is green, amber or red by the worst of three figures against levels from settings
(FIRSTLINE_WALLBOARD_LEVELS): the service level of the last 15 minutes below its warn / alert
level, the oldest waiting contact's age beyond a multiple of the queue's threshold T, and the
abandonment rate of the last 15 minutes above its levels.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from streams.alerting.levels import LEVELS, Levels
from streams.identifiers import unescape
from streams.processors import live_queues

CHART_MINUTES = 180  # the charts show this many one-minute windows per queue
ALERTS_KEPT = 20
ROUTING_WINDOW_MS = 15 * 60_000
ROUTING_KINDS = ("QUEUED", "OFFERED", "ASSIGNED", "REQUEUED", "ESCALATED", "UNROUTABLE")


def _key_text(key: Any) -> str | None:
    return key if isinstance(key, str) else None


class Board:
    """Every queue's latest figures; `snapshot()` is what the page and /wallboard/data show."""

    def __init__(self, levels: Levels | None = None) -> None:
        self.levels = levels or Levels()
        self.rolling: dict[tuple[str, str], dict[str, Any]] = {}  # (queue, channel) -> newest record
        self.day: dict[tuple[str, str], dict[str, Any]] = {}
        self.minutes: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
        self.live: dict[str, dict[str, Any]] = {}  # queue -> its entry (agents)
        self.waiting: dict[str, dict[int, dict[str, int]]] = {}  # queue -> bucket -> contact -> since
        self.newest_event = 0  # newest event time seen: "now" for the oldest wait, as /queues/ does
        self.alerts: deque[dict[str, Any]] = deque(maxlen=ALERTS_KEPT)
        self.alert_kinds: dict[str, int] = {}  # raised alerts by kind, since the worker started
        self.routing: dict[str, deque[tuple[int, str]]] = {}  # queue -> (event time, kind)
        self.announced: dict[str, dict[str, Any]] = {}  # queue -> newest QUEUED decision's position and EWT
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.version = 0  # changes with every fold: the page is pushed only when it moved

    # -- folds -------------------------------------------------------------------------------

    def on_statistic(self, record: dict[str, Any]) -> None:
        if record.get("region") != "*":
            return
        key = (record["queue"], record["channel"])
        window = record["window"]
        if window == "MINUTE":
            minutes = self.minutes.setdefault(key, {})
            old = minutes.get(record["window_start"])
            if old is None or old["version"] <= record["version"]:
                minutes[record["window_start"]] = record
            if len(minutes) > CHART_MINUTES:
                for start in sorted(minutes)[:-CHART_MINUTES]:
                    del minutes[start]
        elif window in ("ROLLING_15_MIN", "DAY"):
            held = self.rolling if window == "ROLLING_15_MIN" else self.day
            old = held.get(key)
            if old is None or (old["window_start"], old["version"]) <= (record["window_start"], record["version"]):
                held[key] = record
        else:
            return
        self.version += 1

    def on_live(self, key: str | None, value: dict[str, Any] | None) -> None:
        """A record of the live-queue table's changelog (json key and value; None: deleted)."""
        key = _key_text(key)
        if key is None:
            return
        if live_queues.is_queue_key(key):
            queue = unescape(key)
            if value is None:
                self.live.pop(queue, None)
            else:
                self.live[queue] = value
                for since in (value.get("waiting") or {}).values():  # an older worker's entry
                    self.newest_event = max(self.newest_event, int(since))
        else:
            queue, _, bucket = key.rpartition("|waiting|")
            queue = unescape(queue)
            buckets = self.waiting.setdefault(queue, {})
            if value is None or not value.get("waiting"):
                buckets.pop(int(bucket) if bucket.isdigit() else -1, None)
            else:
                buckets[int(bucket) if bucket.isdigit() else -1] = value["waiting"]
                self.newest_event = max(self.newest_event, max(value["waiting"].values()))
        self.version += 1

    def on_watermark(self, value: dict[str, Any] | None) -> None:
        """A record of the queue-watermarks table's changelog: the newest event time per source."""
        for held in ((value or {}).get("sources") or {}).values():
            if held:
                self.newest_event = max(self.newest_event, int(held[0]))

    def on_alert(self, record: dict[str, Any]) -> None:
        key = (record["alert_id"], record.get("state", "RAISED"))
        if any((a["alert_id"], a.get("state", "RAISED")) == key for a in self.alerts):
            return
        self.alerts.appendleft(record)
        if key[1] == "RAISED":
            self.alert_kinds[record["kind"]] = self.alert_kinds.get(record["kind"], 0) + 1
        self.version += 1

    def on_routing(self, record: dict[str, Any]) -> None:
        queue, at, kind = record.get("queue") or "-", record["occurred_at"], record["kind"]
        held = self.routing.setdefault(queue, deque())
        held.append((at, kind))
        newest = max(at, held[-1][0])
        while held and held[0][0] < newest - ROUTING_WINDOW_MS:
            held.popleft()
        if kind == "QUEUED" and record.get("ewt_ms") is not None:
            self.announced[queue] = {"position": record.get("position"), "ewt_ms": record["ewt_ms"], "at": at,
                                     "group": record.get("group")}
        self.version += 1

    def on_campaign(self, record: dict[str, Any]) -> None:
        self.campaigns[record["campaign_id"]] = record
        self.version += 1

    # -- the page's data ---------------------------------------------------------------------

    def queue_live(self, queue: str) -> dict[str, Any] | None:
        entry = self.live.get(queue)
        buckets = list(self.waiting.get(queue, {}).values())
        if entry is None and not buckets:
            return None
        buckets.append(entry.get("waiting", {}) if entry else {})
        return live_queues.view(queue, entry or {"agents": {}}, buckets, self.newest_event, None)

    def snapshot(self) -> dict[str, Any]:
        tiles = []
        queues = {q for q, _ in self.rolling} | {q for q, _ in self.day} | set(self.live) | set(self.waiting)
        channels_of: dict[str, list[str]] = {}
        for q, c in list(self.rolling) + list(self.day):
            if c not in channels_of.setdefault(q, []):
                channels_of[q].append(c)
        for queue in sorted(queues):
            live = self.queue_live(queue) or {}
            for channel in sorted(channels_of.get(queue) or ["UNKNOWN"]):
                rolling = self.rolling.get((queue, channel)) or {}
                day = self.day.get((queue, channel)) or {}
                threshold = int(rolling.get("sl_threshold_ms") or day.get("sl_threshold_ms") or 0)
                oldest = int(live.get("oldest_wait_ms") or 0)
                level, why = self.levels.grade(rolling.get("service_level"), oldest, threshold,
                                               rolling.get("abandonment_rate"))
                tiles.append({
                    "queue": queue, "channel": channel, "level": level, "why": why,
                    "waiting": live.get("waiting", 0), "oldest_wait_ms": oldest,
                    "agents_available": live.get("agents_available", 0), "agents_busy": live.get("agents_busy", 0),
                    "agents_wrap_up": live.get("agents_wrap_up", 0),
                    "sl_threshold_ms": threshold,
                    "service_level": rolling.get("service_level"), "asa_ms": rolling.get("asa_ms"),
                    "abandonment_rate": rolling.get("abandonment_rate"), "offered": rolling.get("offered", 0),
                    "day": {k: day.get(k) for k in ("offered", "answered", "abandoned", "service_level",
                                                    "asa_ms", "abandonment_rate", "aht_ms")},
                })
        mix: dict[str, int] = {}
        for (_, channel), record in self.day.items():
            mix[channel] = mix.get(channel, 0) + int(record.get("offered") or 0)
        charts: dict[str, dict[str, list[Any]]] = {}
        for (queue, channel), minutes in self.minutes.items():
            series = charts.setdefault(f"{queue} · {channel}", {"t": [], "offered": [], "asa_s": []})
            for start in sorted(minutes):
                record = minutes[start]
                series["t"].append(start)
                series["offered"].append(record["offered"])
                asa = record.get("asa_ms")
                series["asa_s"].append(None if asa is None else round(asa / 1000, 1))
        routing = []
        for queue in sorted(self.routing):
            held = self.routing[queue]
            counts = {k: 0 for k in ROUTING_KINDS}
            newest = held[-1][0] if held else 0
            for at, kind in held:
                if at >= newest - ROUTING_WINDOW_MS and kind in counts:
                    counts[kind] += 1
            routing.append({"queue": queue, "decisions": counts, **self.announced.get(queue, {})})
        campaigns = sorted(self.campaigns.values(), key=lambda c: -c["confirmed_at"])
        protection = {"campaigns": len(campaigns), "senders": sum(c["sender_count"] for c in campaigns),
                      "reach": sum(c["reach"] for c in campaigns),
                      "latest": [{"campaign_id": c["campaign_id"], "senders": c["sender_count"], "reach": c["reach"],
                                  "sample": c["sample"][:80]} for c in campaigns[:3]],
                      "alerts": dict(sorted(self.alert_kinds.items()))}
        return {"version": self.version, "as_of": self.newest_event, "tiles": tiles, "mix": mix,
                "charts": charts, "alerts": list(self.alerts), "routing": routing, "protection": protection}
