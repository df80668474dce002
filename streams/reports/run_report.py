"""The main job's closing report: per channel, over the contacts of one run as storage holds them
(definitions as in the README's metric table).

  contacts      summaries of the run's contacts
  offered       of those, contacts that entered a queue
  ASA           mean wait of the answered
  SL            answered within T / (answered + abandoned after T); T of the contact's first
                queue and channel; abandons within T are left out
  abandonment   abandoned / offered
  AHT, duration mean handle time and mean created-to-ended time of the ended contacts
  FCR           first contacts resolved on the first line without a repeat within 7 days
  CSAT          share of survey scores of 5 (top box), and the mean score
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from streams.reports import outcomes

SUMMARY_SQL = ("SELECT contact_id, channel, first_queue, status, queued_at, answered_at, wait_ms, "
               "handle_time_ms, duration_ms FROM contact_summaries WHERE contact_id LIKE %s")


@dataclass(frozen=True)
class ChannelReport:
    channel: str
    contacts: int
    offered: int
    answered: int
    abandoned: int
    asa_s: float | None
    service_level: float | None
    abandonment: float | None
    aht_s: float | None
    duration_s: float | None
    fcr: float | None
    csat_top_box: float | None
    csat_mean: float | None
    surveys: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def channel_reports(rows: Iterable[Sequence[Any]], threshold_ms: Callable[[str, str], int],
                    contacts: Sequence[outcomes.Contact]) -> list[ChannelReport]:
    """`rows`: SUMMARY_SQL's columns; `contacts`: the same contacts for FCR and CSAT."""
    by_channel: dict[str, list[Sequence[Any]]] = {}
    for row in rows:
        by_channel.setdefault(row[1], []).append(row)
    fcr = outcomes.fcr_rates(outcomes.fcr_outcomes(contacts), ("channel",))
    fcr_by = {r.group[0]: r.rate for r in fcr}
    csat = {r.group[0]: r for r in outcomes.csat(contacts, ("channel",))}
    reports = []
    for channel, group in sorted(by_channel.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        answered = [r for r in group if r[5] is not None]
        abandoned = [r for r in group if r[3] == "ABANDONED"]
        ended = [r for r in group if r[3] == "ENDED"]
        within = sum(1 for r in answered if r[6] is not None and r[6] <= threshold_ms(r[2] or "", channel))
        late_abandons = sum(1 for r in abandoned if r[6] is not None and r[6] > threshold_ms(r[2] or "", channel))
        offered = sum(1 for r in group if r[4] is not None)
        surveys = csat.get(channel)
        reports.append(ChannelReport(
            channel=channel, contacts=len(group), offered=offered, answered=len(answered), abandoned=len(abandoned),
            asa_s=_mean([r[6] / 1000 for r in answered if r[6] is not None]),
            service_level=within / (len(answered) + late_abandons) if answered or late_abandons else None,
            abandonment=len(abandoned) / offered if offered else None,
            aht_s=_mean([r[7] / 1000 for r in ended if r[7] is not None]),
            duration_s=_mean([r[8] / 1000 for r in ended if r[8] is not None]),
            fcr=fcr_by.get(channel),
            csat_top_box=surveys.top_box if surveys else None,
            csat_mean=surveys.mean if surveys else None,
            surveys=surveys.responses if surveys else 0))
    return reports
