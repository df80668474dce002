"""A day of an operator's SMS traffic, deterministic per seed, with what each message should get.

Person-to-person messages on a daily profile (ordinary texts), registered bulk (A2P) senders
sending codes and notices to many subscribers, one number mass-mailing an advert, a campaign of
fraud texts from many numbers with small variations, subscribers' block-list changes (one
"clear all" among them), complaints (about the mass mailer from several subscribers after its
mailing, forwarding its text; one repeated, one naming no sender, one about something else) and
content providers' paid-subscription requests: most confirmed within minutes, some never, one late,
some to subscribers with a content ban, and one provider sending many that nobody confirms. Each
SMS carries its truth (`kind`), and each subscription request the outcome it should get
('ALLOWED/CONFIRMED', 'BLOCKED/CONTENT_BAN', 'BLOCKED/NOT_CONFIRMED'); the tests and the report
use them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from streams.protection.corpus import HAM_EN, HAM_RU

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
A2P = ("MTS", "SBERBANK", "OZON")
PROVIDERS = (("horoscope-daily", "Гороскоп на каждый день", 1500), ("games-club", "Игровой клуб", 3000),
             ("music-plus", "Музыка+", 2500))
ABUSIVE_PROVIDER = ("premium-lure", "Премиум-контент", 4900)
A2P_TEXTS = ("Код подтверждения: {n}. Никому не сообщайте его.", "Ваш заказ №{n} передан в доставку.",
             "Покупка {n} р. Баланс {m} р.")
MASS_TEXT = "Только сегодня скидки до 50% на всё в магазине у дома! Ждём вас с 10 до 22. Адрес: ул. Ленина, {n}"
# Not among the content model's training templates: the campaign must be found by its spread.
CAMPAIGN_TEXT = ("Здравствуйте! Вам положена единовременная выплата {n} р. Заявление заполните на {link}",
                 "ЗДРАВСТВУЙТЕ! Вам положена единовременная выплата {n} руб. Заявление заполните на {link}",
                 "Здравствуйте, вам пoложена eдиновременная выплата {n} р. Заявление заполните тут {link}")


@dataclass(frozen=True)
class SmsProfile:
    subscribers: int = 3000
    p2p_per_hour: int = 1500  # at the daily peak
    a2p_per_hour: int = 600
    mass_recipients: int = 500  # the mass mailer's messages, each to another subscriber
    mass_minutes: int = 8
    campaign_senders: int = 25
    campaign_messages: int = 250
    campaign_minutes: int = 40
    block_changes: int = 40
    complaints_about_mailer: int = 4
    subscription_requests: int = 40
    content_bans: int = 6
    abusive_requests: int = 25  # from one provider, none confirmed
    confirm_s: int = 600  # FIRSTLINE_SUBSCRIPTION_CONFIRM_S the truth assumes


@dataclass(frozen=True)
class Sms:
    record: dict[str, Any]
    kind: str  # p2p, a2p, mass, campaign


@dataclass
class SmsDay:
    start: int
    hours: float
    seed: int
    profile: SmsProfile = field(default_factory=SmsProfile)
    mass_sender: str = "79990001111"
    run_id: str = ""  # put before every id, so that runs of one seed do not share ids

    def subscriber(self, rng: random.Random) -> str:
        return f"7916{rng.randrange(self.profile.subscribers):07d}"

    def events(self) -> list[tuple[str, dict[str, Any], str]]:
        """(topic, record, kind) in event-time order; kind is the SMS truth ('' for others)."""
        rng = random.Random(self.seed)
        p = self.profile
        end = self.start + int(self.hours * HOUR_MS)
        out: list[tuple[int, int, str, dict[str, Any], str]] = []
        n = 0

        def add(topic: str, record: dict[str, Any], kind: str = "") -> None:
            nonlocal n
            out.append((record["occurred_at"], n, topic, record, kind))
            n += 1

        def sms(at: int, sender: str, recipient: str, text: str, kind: str) -> None:
            add("sms-messages", {"message_id": f"{self.run_id}s{self.seed}-{n}", "occurred_at": at, "sender": sender,
                                 "recipient": recipient, "text": text, "origin_network": None, "source": "smsc"}, kind)

        # person to person, on a daily profile peaking at 19:00 (a quiet night)
        pairs: list[tuple[str, str]] = []
        t = self.start
        while t < end:
            hour = (t // HOUR_MS) % 24
            rate = p.p2p_per_hour * (0.15 + 0.85 * math.exp(-((hour - 19) / 5.0) ** 2))
            t += int(rng.expovariate(rate / HOUR_MS)) + 1
            if t >= end:
                break
            a, b = self.subscriber(rng), self.subscriber(rng)
            if a == b:
                continue
            pool = HAM_RU if rng.random() < 0.7 else HAM_EN
            sms(t, a, b, rng.choice(pool)(rng), "p2p")
            pairs.append((a, b))
        # registered bulk senders: codes and notices to anyone
        for _ in range(int(p.a2p_per_hour * self.hours)):
            at = self.start + rng.randrange(int(self.hours * HOUR_MS))
            text = rng.choice(A2P_TEXTS).format(n=rng.randrange(1000, 999999), m=rng.randrange(100, 99999))
            sms(at, rng.choice(A2P), self.subscriber(rng), text, "a2p")
        # the mass mailer: one number, many recipients in a few minutes, an ordinary-looking advert
        mass_at = self.start + int(self.hours * HOUR_MS * 0.4)
        mass_ms = min(p.mass_minutes * MINUTE_MS, int(self.hours * HOUR_MS * 0.3))  # within the span
        for i in range(p.mass_recipients):
            at = mass_at + i * mass_ms // p.mass_recipients
            sms(at, self.mass_sender, f"7926{i:07d}", MASS_TEXT.format(n=rng.randrange(1, 99)), "mass")
        # the campaign: many numbers, small variations of one fraud text, each with its own link
        senders = [f"7985{rng.randrange(10**7):07d}" for _ in range(p.campaign_senders)]
        camp_at = self.start + int(self.hours * HOUR_MS * 0.6)
        camp_ms = min(p.campaign_minutes * MINUTE_MS, int(self.hours * HOUR_MS * 0.35))  # within the span
        for i in range(p.campaign_messages):
            at = camp_at + i * camp_ms // p.campaign_messages
            link = f"{rng.choice(['bit.ly', 'clck.ru', 'tinyurl.com'])}/{rng.randrange(36**5):x}"
            text = rng.choice(CAMPAIGN_TEXT).format(n=rng.randrange(150, 990), link=link)
            sms(at, rng.choice(senders), self.subscriber(rng), text, "campaign")
        # block lists: subscribers block someone who writes to them; one clears all later
        chosen = rng.sample(pairs, min(p.block_changes, len(pairs)))
        for i, (a, b) in enumerate(chosen):
            at = self.start + rng.randrange(int(self.hours * HOUR_MS))
            add("block-list-changes", {"change_id": f"{self.run_id}b{self.seed}-{i}", "subscriber_id": b, "sender": a,
                                       "action": "BLOCK", "occurred_at": at, "source": "ussd"})
        if chosen:
            a, b = chosen[0]
            add("block-list-changes", {"change_id": f"{self.run_id}b{self.seed}-clear", "subscriber_id": b, "sender": "*",
                                       "action": "UNBLOCK", "occurred_at": end - (end - self.start) // 4,
                                       "source": "ussd"})
        # complaints about the mass mailer (one repeated), one naming nobody, one about something else
        for i in range(p.complaints_about_mailer):
            add("complaints", {"complaint_id": f"{self.run_id}k{self.seed}-{i}",
                               "occurred_at": mass_at + mass_ms + (i + 1) * MINUTE_MS,
                               "subscriber_id": f"7926{i:07d}", "kind": "SMS_SPAM", "about": self.mass_sender,
                               "contact_id": None, "text": MASS_TEXT.format(n=i + 1), "source": "app"})
        add("complaints", {"complaint_id": f"{self.run_id}k{self.seed}-again", "occurred_at": mass_at + mass_ms + 2 * MINUTE_MS + 1,
                           "subscriber_id": "79260000000", "kind": "SMS_SPAM", "about": self.mass_sender,
                           "contact_id": None, "text": None, "source": "app"})
        add("complaints", {"complaint_id": f"{self.run_id}k{self.seed}-nobody", "occurred_at": mass_at, "subscriber_id": "79160000001",
                           "kind": "FRAUD_SMS", "about": None, "contact_id": None, "text": None, "source": "app"})
        add("complaints", {"complaint_id": f"{self.run_id}k{self.seed}-other", "occurred_at": mass_at, "subscriber_id": "79160000002",
                           "kind": "OTHER", "about": None, "contact_id": None, "text": "связь", "source": "app"})
        self._subscriptions(rng, add)
        out.sort(key=lambda e: (e[0], e[1]))
        return [(topic, record, kind) for _, _, topic, record, kind in out]

    def _subscriptions(self, rng: random.Random, add: Any) -> None:
        p = self.profile
        span = int(self.hours * HOUR_MS * 0.7)  # requests early enough that their time to confirm ends
        confirm_ms = p.confirm_s * 1000
        banned: dict[str, str] = {}  # subscriber -> content:* or content:<provider>
        for i in range(p.content_bans):
            who = f"7915{i:07d}"
            banned[who] = "content:*" if i % 2 == 0 else f"content:{PROVIDERS[i % len(PROVIDERS)][0]}"
            add("block-list-changes", {"change_id": f"{self.run_id}cb{self.seed}-{i}", "subscriber_id": who, "sender": banned[who],
                                       "action": "BLOCK", "occurred_at": self.start, "source": "ussd"})

        def request(rid: str, at: int, who: str, provider: tuple[str, str, int], confirmed: bool, kind: str) -> None:
            add("subscription-requests", {"request_id": rid, "occurred_at": at, "subscriber_id": who,
                                          "provider": provider[0], "service": provider[1], "price_minor": provider[2],
                                          "currency": "RUB", "confirmed": confirmed, "source": "provider-gateway"}, kind)

        for i in range(p.subscription_requests):
            rid, at, provider = f"{self.run_id}r{self.seed}-{i}", self.start + rng.randrange(span), rng.choice(PROVIDERS)
            who = list(banned)[i % len(banned)] if banned and i % 8 == 0 else self.subscriber(rng)
            ban = banned.get(who)
            if ban in ("content:*", f"content:{provider[0]}"):
                request(rid, at, who, provider, False, "BLOCKED/CONTENT_BAN")
                request(rid, at + 60_000, who, provider, True, "")  # confirmed, and still refused
            elif i % 10 == 3:
                request(rid, at, who, provider, False, "BLOCKED/NOT_CONFIRMED")  # never confirmed
            elif i % 10 == 7:
                request(rid, at, who, provider, False, "BLOCKED/NOT_CONFIRMED")
                request(rid, at + confirm_ms + 60_000, who, provider, True, "")  # too late
            elif i % 10 == 9:
                request(rid, at, who, provider, True, "ALLOWED/CONFIRMED")  # confirmed in the app at once
            else:
                request(rid, at, who, provider, False, "ALLOWED/CONFIRMED")
                request(rid, at + rng.randrange(30_000, confirm_ms // 2), who, provider, True, "")
        abuse_at = self.start + int(self.hours * HOUR_MS * 0.3)
        for i in range(p.abusive_requests):
            request(f"{self.run_id}a{self.seed}-{i}", abuse_at + i * 20_000, self.subscriber(rng), ABUSIVE_PROVIDER, False,
                    "BLOCKED/NOT_CONFIRMED")

    def messages(self) -> Iterator[Sms]:
        for topic, record, kind in self.events():
            if topic == "sms-messages":
                yield Sms(record, kind)
