"""A labelled Russian + English SMS corpus that the project generates itself, for the content
model that ships with the package and for the tests.

Templates with realistic variation: spam (lotteries and prizes, fake bank and security notices,
phishing links, premium-number and paid-subscription lures, loans, adult and betting lures) and
ham (personal messages, one-time codes, deliveries, genuine bank and operator notices, taxis,
appointments). The model's defaults were chosen on this corpus alone: no public SMS corpus was
used to tune them. Deterministic per seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

NAMES_RU = ["Саша", "Маша", "Дима", "Лена", "Оля", "Серёжа", "Аня", "Игорь", "Наташа", "Катя", "мам", "пап"]
NAMES_EN = ["Tom", "Kate", "Mike", "Anna", "John", "Sue", "Dave", "Emma", "mum", "dad", "babe", "mate"]
PLACES_RU = ["у метро", "в кафе", "дома", "на работе", "у подъезда", "в центре", "на парковке", "в магазине"]
PLACES_EN = ["at the station", "at the pub", "at home", "at work", "outside", "in town", "at the gym", "at the shop"]
BANKS_RU = ["Сбербанк", "ВТБ", "Тинькофф", "Альфа-Банк", "Газпромбанк", "Банк"]
BANKS_EN = ["your bank", "Barclays", "HSBC", "Lloyds", "NatWest", "Santander"]
DOMAINS = ["bit.ly/{c}", "clck.ru/{c}", "tinyurl.com/{c}", "{w}-bonus.ru/{c}", "secure-{w}.com/login",
           "{w}-prize.net/{c}", "www.{w}-win.info", "http://{w}.top/{c}", "https://{w}-pay.site/{c}"]
WORDS = ["sber", "vtb", "lucky", "gift", "promo", "verify", "mts", "bonus", "club", "win", "card", "pay"]


def _code(rng: random.Random, n: int = 5) -> str:
    return "".join(rng.choice("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(n))


def _link(rng: random.Random) -> str:
    return rng.choice(DOMAINS).format(c=_code(rng), w=rng.choice(WORDS))


def _sum(rng: random.Random) -> str:
    return rng.choice(["5 000", "10000", "25 000", "50 000", "100 000", "250000", "1 000 000", "3500", "15 000"])


def _phone(rng: random.Random) -> str:
    return rng.choice(["8800", "8900", "+7900", "8909", "09061", "0871", "+44 7"]) + str(rng.randrange(10**6, 10**7))


def _time(rng: random.Random) -> str:
    return f"{rng.randrange(7, 23)}:{rng.choice(['00', '15', '30', '45'])}"


SPAM_RU = [
    lambda r: f"Поздравляем! Ваш номер выиграл {_sum(r)} руб. Для получения приза перейдите {_link(r)}",
    lambda r: f"Вы стали победителем розыгрыша! Приз {_sum(r)} р. ждёт вас. Подробности: {_link(r)}",
    lambda r: f"{r.choice(BANKS_RU)}: ваша карта заблокирована. Для разблокировки позвоните {_phone(r)}",
    lambda r: f"{r.choice(BANKS_RU)}: подозрительная операция на {_sum(r)} р. Если это не вы, перейдите {_link(r)}",
    lambda r: f"Служба безопасности банка. На вас оформлен кредит {_sum(r)} руб. Срочно перезвоните {_phone(r)}",
    lambda r: f"Одобрен займ {_sum(r)} руб без проверок! Деньги на карту за 5 минут {_link(r)}",
    lambda r: f"Мама, я попал в беду, срочно переведи {_sum(r)} на этот номер, потом объясню",
    lambda r: f"Ваш аккаунт Госуслуг будет удалён. Подтвердите данные: {_link(r)}",
    lambda r: f"Вам начислен бонус {_sum(r)} баллов! Успейте потратить до конца дня {_link(r)}",
    lambda r: f"Ставки на спорт! Бонус {_sum(r)} р. новым игрокам. Регистрация {_link(r)}",
    lambda r: f"Ваша посылка задержана на таможне. Оплатите пошлину {r.randrange(150, 990)} р: {_link(r)}",
    lambda r: f"Отправьте SMS с кодом {_code(r, 4)} на номер {r.randrange(1000, 9999)} и получите подарок!",
    lambda r: f"СРОЧНО! Ваш номер будет отключён. Для продления позвоните {_phone(r)}",
    lambda r: f"Выплата компенсации {_sum(r)} руб. Проверьте право на получение: {_link(r)}",
]
SPAM_EN = [
    lambda r: f"URGENT! You have won a £{_sum(r)} prize. To claim call {_phone(r)} now",
    lambda r: f"Congratulations! You've been selected for a FREE iPhone. Claim at {_link(r)}",
    lambda r: f"{r.choice(BANKS_EN)}: your account is suspended. Verify your details at {_link(r)}",
    lambda r: f"We detected unusual activity on your card. If this was not you reply STOP or visit {_link(r)}",
    lambda r: f"Your parcel could not be delivered. Pay the £{r.randrange(1, 5)}.{r.randrange(10, 99)} fee: {_link(r)}",
    lambda r: f"FREE entry into our weekly draw! Text WIN to {r.randrange(80000, 89999)} to get {_sum(r)} cash",
    lambda r: f"Hot singles in your area want to chat! Reply YES for {r.randrange(1, 3)}.50/msg",
    lambda r: f"You are pre-approved for a loan of ${_sum(r)}. No credit check! Apply {_link(r)}",
    lambda r: f"Your mobile is due an upgrade! Call {_phone(r)} free to claim your new phone",
    lambda r: f"Get {r.randrange(50, 500)} free spins at our casino today! Sign up {_link(r)}",
    lambda r: f"HMRC: you are owed a tax refund of £{r.randrange(100, 999)}. Claim here {_link(r)}",
    lambda r: f"Hi mum, I lost my phone, this is my new number. Can you send £{r.randrange(100, 900)}? urgent",
    lambda r: f"Your subscription to our ringtone service costs {r.randrange(2, 6)} a week. To stop text STOP to {r.randrange(80000, 89999)}",
]
HAM_RU = [
    lambda r: f"{r.choice(NAMES_RU)}, я буду {r.choice(PLACES_RU)} в {_time(r)}, не опаздывай",
    lambda r: f"Купи хлеба и молока по дороге домой, пожалуйста",
    lambda r: f"Код подтверждения: {r.randrange(1000, 999999)}. Никому не сообщайте его.",
    lambda r: f"{r.choice(BANKS_RU)}: покупка {r.randrange(100, 9999)} р. {r.choice(['Пятёрочка', 'Магнит', 'Перекрёсток', 'Аптека'])}. Баланс {r.randrange(1000, 99999)} р.",
    lambda r: f"Ваш заказ №{r.randrange(100000, 999999)} доставлен в пункт выдачи. Срок хранения 5 дней.",
    lambda r: f"Машина {r.choice(['белая Kia Rio', 'серый Hyundai Solaris', 'чёрная Skoda Octavia'])} подъедет через {r.randrange(2, 15)} мин.",
    lambda r: f"Напоминаем о записи к врачу завтра в {_time(r)}. Для отмены позвоните в регистратуру.",
    lambda r: f"Спасибо за звонок! Оцените работу оператора от 1 до 5 в ответном SMS.",
    lambda r: f"{r.choice(NAMES_RU)}, с днём рождения! Счастья, здоровья и всего самого доброго!",
    lambda r: f"Перезвони, когда освободишься",
    lambda r: f"Поезд задерживается на {r.randrange(10, 60)} минут, буду позже",
    lambda r: f"Ваш баланс {r.randrange(1, 500)} руб. Пополните счёт, чтобы оставаться на связи.",
    lambda r: f"Встреча переносится на {_time(r)}, зал {r.randrange(1, 9)}",
    lambda r: f"Ок, договорились. До завтра!",
    lambda r: f"{r.choice(NAMES_RU)}, ты забыл ключи {r.choice(PLACES_RU)}",
    lambda r: f"Пароль для входа в личный кабинет: {_code(r, 6)}",
]
HAM_EN = [
    lambda r: f"Hey {r.choice(NAMES_EN)}, I'll be {r.choice(PLACES_EN)} at {_time(r)}, see you there",
    lambda r: f"Can you pick up some milk on the way home?",
    lambda r: f"Your verification code is {r.randrange(1000, 999999)}. Do not share it with anyone.",
    lambda r: f"Sorry, running {r.randrange(5, 30)} mins late, start without me",
    lambda r: f"Your order #{r.randrange(10000, 99999)} has been dispatched and will arrive tomorrow.",
    lambda r: f"Happy birthday {r.choice(NAMES_EN)}! Have a great day x",
    lambda r: f"Reminder: dentist appointment on {r.choice(['Monday', 'Tuesday', 'Friday'])} at {_time(r)}.",
    lambda r: f"Ok thanks, talk later",
    lambda r: f"Did you watch the match last night? Unbelievable",
    lambda r: f"{r.choice(NAMES_EN)}, call me when you get this",
    lambda r: f"Your taxi is arriving in {r.randrange(2, 12)} minutes, a {r.choice(['silver Toyota', 'black Ford', 'white VW'])}",
    lambda r: f"I'm at home now, come round whenever",
    lambda r: f"Meeting moved to {_time(r)}, room {r.randrange(1, 9)}",
    lambda r: f"Lol yes I know, see you tomorrow",
]


def _vary(text: str, rng: random.Random) -> str:
    """Small variations: case, punctuation, a dropped word, a typo."""
    roll = rng.random()
    if roll < 0.15:
        text = text.upper()
    elif roll < 0.3:
        text = text.lower()
    if rng.random() < 0.2:
        text = text.rstrip(".!") + rng.choice(["!", "!!", "", ".", " :)"])
    if rng.random() < 0.15 and len(text) > 20:
        i = rng.randrange(1, len(text) - 1)
        text = text[:i] + text[i + 1:]
    return text


def messages(count: int, seed: int = 1, spam_share: float = 0.3) -> Iterator[tuple[str, str]]:
    """(label, text) pairs: 'spam' or 'ham', Russian and English mixed."""
    rng = random.Random(seed)
    for _ in range(count):
        spam = rng.random() < spam_share
        russian = rng.random() < 0.6
        pool = (SPAM_RU if russian else SPAM_EN) if spam else (HAM_RU if russian else HAM_EN)
        yield ("spam" if spam else "ham"), _vary(rng.choice(pool)(rng), rng)


def write(path: str, count: int, seed: int = 1) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for label, text in messages(count, seed):
            f.write(f"{label}\t{text}\n")
