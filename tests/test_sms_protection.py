"""Pure logic of subscriber protection, without a broker: text normalisation, features, the
content model, block lists, mass mailing, campaigns and complaints, each against figures worked
out by hand."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import orjson
import pytest

from streams.protection import content_model as cm
from streams.protection.addresses import canonical, pseudonym, pseudonym64
from streams.protection.block_lists import BlockLists
from streams.protection.campaigns import BANDS, CampaignRule, Detector, Sighting, band_keys
from streams.protection.complaints import ComplaintRule, SenderComplaints, judge
from streams.protection.corpus import messages
from streams.protection.features import grams
from streams.protection.mass_mailing import EXACT_MAX, Distinct, MassMailingRule, SenderWindow, observe
from streams.protection.text import LINK, normalise

T0 = 1_790_000_000_000
MIN = 60_000


# -- text ------------------------------------------------------------------------------------------

def test_normalise_folds_case_digits_links_spaces_and_look_alikes() -> None:
    a = normalise("ВЫИГРАЛИ 50 000 р!!!!!   Заберите: bit.ly/x7Ab")
    b = normalise("Bыигpали 75000 р!! заберите: https://clck.ru/QQ1")  # Latin B, p inside Cyrillic words
    assert a == f"выиграли 0 0 р!! заберите: {LINK}"
    assert b == f"выиграли 0 р!! заберите: {LINK}"
    assert normalise("Cash prize! Call 09061701461") == "cash prize! call 0"  # English stays Latin
    assert normalise("see www.x.com, or (mts.ru) then") == f"see {LINK} or {LINK} then"
    assert normalise("ok.thanks") == "ok.thanks"  # not a link: no known domain
    assert normalise("Ёлка") == "елка"


def test_look_alikes_change_exactly_the_words_with_cyrillic_in_them() -> None:
    """The rule, word by word (any word with a Cyrillic letter, digits-only words aside, has its
    look-alikes made Cyrillic), against normalise's one-pass form, on random mixtures."""
    import re

    from streams.protection import text

    def by_word(t: str) -> str:
        def one(m: re.Match[str]) -> str:
            w = m.group(0)
            return w.translate(text._LATIN_TO_CYRILLIC) if re.search("[а-яё]", w) and not w.isdigit() else w
        return re.sub(r"\w+", one, t)

    rng = random.Random(4)
    alphabet = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяabcdefghijklmnopqrstuvwxyz0123456789_ .,!-"
    for _ in range(5000):
        t = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 40)))
        if text._LATIN.search(t) and text._CYRILLIC.search(t):
            assert text._MIXED_WORD.sub(text._unconfuse, t) == by_word(t), t


def test_addresses_have_one_spelling_and_keyed_pseudonyms() -> None:
    assert canonical("+7 (916) 123-45-67") == canonical("89161234567") == canonical("79161234567") == "79161234567"
    assert canonical("MTS-Info") == canonical(" mts-info ") == "mts-info"
    assert pseudonym("79161234567", b"k1") != pseudonym("79161234567", b"k2")
    assert pseudonym("79161234567", b"k1") == pseudonym("79161234567", b"k1")
    assert "79161234567" not in pseudonym("79161234567", b"k1")
    assert 0 <= pseudonym64("7", b"k") < 2**64


# -- features ---------------------------------------------------------------------------------------

def test_grams_of_a_text_do_not_depend_on_its_batch_or_on_the_process() -> None:
    texts = [normalise(t) for t in ("привет, как дела?", "ok", "", "купи хлеба и молока")]
    batch = grams(texts)
    for i, t in enumerate(texts):
        alone = grams([t])
        assert sorted(batch.hashes[batch.rows == i].tolist()) == sorted(alone.hashes.tolist())
    # ' ok ': 2-grams 3, 3-grams 2, 4-grams 1; one word: 7 features
    assert batch.per_row().tolist()[1] == 3 + 2 + 1 + 1
    code = ("from streams.protection.features import grams; "
            "print(sorted(grams(['привет, как дела?']).hashes.tolist())[:3])")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(runs) == 1  # a model trained in one process scores the same in another


# -- content model ------------------------------------------------------------------------------------

def test_evaluate_on_a_generated_corpus_separates_spam_from_ham() -> None:
    rows = [(label == "spam", text) for label, text in messages(3000, seed=5)]
    result = cm.evaluate(rows, train_fraction=0.3, seed=2)
    assert result.messages == len(cm.unique(rows)) < 3000  # duplicates removed before the split
    assert result.trained_on == round(result.messages * 0.3)
    assert result.trained_on + result.tested_on == result.messages
    assert result.mcc > 0.95 and result.ham_blocked < 0.01
    lines = "\n".join(result.lines())
    for word in ("spam caught", "ham blocked", "accuracy", "precision", "recall", "MCC"):
        assert word in lines


def test_evaluation_figures_are_the_textbook_ones() -> None:
    # tp 3, fn 2, fp 1, tn 4
    truth = np.array([True] * 5 + [False] * 5)
    said = np.array([True, True, True, False, False, True, False, False, False, False])
    f = cm.figures(truth, said, messages=12, trained_on=2)
    assert (f.messages, f.trained_on, f.tested_on) == (12, 2, 10)
    assert f.accuracy == pytest.approx(7 / 10) and f.precision == pytest.approx(3 / 4)
    assert f.recall == f.spam_caught == pytest.approx(3 / 5) and f.ham_blocked == pytest.approx(1 / 5)
    assert f.mcc == pytest.approx((3 * 4 - 1 * 2) / (4 * 5 * 5 * 6) ** 0.5)


def test_labelled_files_are_checked_line_by_line() -> None:
    assert cm.read_labelled(["spam\tWIN", "", "HAM\thello\n"]) == [(True, "WIN"), (False, "hello")]
    with pytest.raises(cm.CorpusError, match="line 2"):
        cm.read_labelled(["spam\tWIN", "maybe\tx"])
    with pytest.raises(cm.CorpusError, match="line 1"):
        cm.read_labelled(["spam WIN"])
    with pytest.raises(cm.CorpusError, match="both spam and ham"):
        cm.train(["a", "b"], [True, True])
    with pytest.raises(cm.CorpusError, match="between 0 and 1"):
        cm.evaluate([(True, "a")], train_fraction=1.0)


def test_the_shipped_model_scores_and_learns_online(tmp_path) -> None:
    model = cm.ContentModel.load()
    spam, ham = model.scores(["Поздравляем! Вы выиграли 100000 руб, заберите приз bit.ly/x1",
                              "Мам, я буду дома в 7, купи хлеба"])
    assert spam > 0.9 > 0.1 > ham
    text = "zorblax quantum offer for you"
    before = float(model.scores([text])[0])
    model.learn([text] * 5, [True] * 5)
    assert float(model.scores([text])[0]) > before + 0.2
    model.save(tmp_path / "m.npz")
    again = cm.ContentModel.load(tmp_path / "m.npz")
    assert float(again.scores([text])[0]) == pytest.approx(float(model.scores([text])[0]), abs=1e-5)


# -- block lists ----------------------------------------------------------------------------------------

def test_block_lists_answer_by_event_time_whatever_order_changes_arrive_in() -> None:
    changes = [("79160000001", "+7 999 000-00-01", True, T0 + 10), ("79160000001", "89990000001", False, T0 + 20),
               ("79160000001", "SPAM-CO", True, T0 + 5), ("79160000001", "*", False, T0 + 30),
               ("79160000001", "spam-co", True, T0 + 40)]
    for order in (changes, changes[::-1], random.Random(1).sample(changes, len(changes))):
        lists = BlockLists()
        for c in order:
            lists.apply(*c)
        blocked = lambda s, t: lists.by_recipient("79160000001", s, t)  # noqa: E731
        assert not blocked("79990000001", T0 + 9)  # before the block
        assert blocked("79990000001", T0 + 10) and blocked("79990000001", T0 + 19)
        assert not blocked("79990000001", T0 + 20)  # unblocked
        assert blocked("spam-co", T0 + 5) and blocked("spam-co", T0 + 29)
        assert not blocked("spam-co", T0 + 30)  # "clear all"
        assert blocked("spam-co", T0 + 40)  # blocked again after the clear
        assert not blocked("79990000001", T0 + 10**9) or False
        assert not lists.by_recipient("79160000002", "spam-co", T0 + 40)  # someone else's list
        assert not lists.by_operator("spam-co", T0 + 40)


def test_operator_blocks_carry_their_source() -> None:
    lists = BlockLists()
    lists.apply("*", "79990000009", True, T0, "firstline:mass-mailing")
    assert lists.operator_source("79990000009", T0) == "firstline:mass-mailing"
    assert lists.operator_source("79990000009", T0 - 1) is None
    lists.apply("*", "79990000009", False, T0 + 5, "operator:anna: false alarm")
    assert lists.operator_source("79990000009", T0 + 5) is None
    assert lists.by_operator("79990000009", T0 + 4)


# -- mass mailing ---------------------------------------------------------------------------------------

def test_mass_mailing_flags_the_recipient_past_the_limit_exactly() -> None:
    rule = MassMailingRule(limit=200, window_ms=10 * MIN, a2p=frozenset({"sbank"}))
    w = None
    flagged = []
    for i in range(260):  # 260 distinct recipients in 260 s
        w, reached = observe(rule, w, "79990000000", pseudonym64(f"7926{i:07d}", b"k"), T0 + i * 1000)
        flagged.append(reached is not None)
    assert flagged.index(True) == 200  # the 201st distinct recipient: more than 200
    assert all(flagged[200:])
    assert w.flagged_at == T0 + 200_000 and w.reached == 201


def test_mass_mailing_ignores_repeats_a2p_and_old_recipients() -> None:
    rule = MassMailingRule(limit=10, window_ms=4 * MIN, a2p=frozenset({"sbank"}))
    w = None
    for i in range(100):  # 5 recipients again and again
        w, reached = observe(rule, w, "7999", i % 5, T0 + i)
        assert reached is None
    w2 = None
    for i in range(100):
        w2, reached = observe(rule, w2, "sbank", i, T0 + i)
        assert reached is None
    # the window is four buckets of a minute: recipients from five minutes ago are forgotten
    w3, hits = None, 0
    for i in range(3):
        w3, reached = observe(rule, w3, "7998", i, T0 + i * 5 * MIN)  # one recipient every 5 minutes
        hits += reached is not None
    assert hits == 0 and len(w3.buckets) == 1  # older buckets dropped
    w4, got = None, []
    for i in range(12):  # one every 10 s: all within the window
        w4, reached = observe(rule, w4, "7997", i, T0 + i * 10_000)
        got.append(reached)
    assert got == [None] * 10 + [11, 11]  # flagged at the 11th; the count at the flag is kept
    w5, got = None, []
    for i in range(30):  # one every 30 s: at most 8 in any four one-minute buckets
        w5, reached = observe(rule, w5, "7996", i, T0 + i * 30_000)
        got.append(reached)
    assert got == [None] * 30


def test_a_replay_over_a_window_that_is_ahead_decides_as_the_first_run() -> None:
    # the state was written after message 15 but the input resumes at message 5 (a crash between
    # the state and the offsets): the replayed messages must be judged as before
    rule = MassMailingRule(limit=10, window_ms=10 * MIN, a2p=frozenset())
    w, first = None, []
    for i in range(16):
        w, reached = observe(rule, w, "7999", i, T0 + i * 1000)
        first.append(reached)
    ahead = SenderWindow.decode(w.encode())
    again = []
    for i in range(5, 16):
        ahead, reached = observe(rule, ahead, "7999", i, T0 + i * 1000)
        again.append(reached)
    assert again == first[5:] == [None] * 5 + [11.0] * 6


def test_mass_mailing_limit_is_halved_by_a_spammy_text() -> None:
    rule = MassMailingRule(limit=10, window_ms=10 * MIN, a2p=frozenset())
    w, out = None, []
    for i in range(7):
        w, reached = observe(rule, w, "7999", i, T0 + i, limit=5)
        out.append(reached)
    assert out[:5] == [None] * 5 and out[5] == 6


def test_distinct_counts_exactly_then_with_a_sketch_within_its_stated_error() -> None:
    d = Distinct.empty()
    rng = random.Random(7)
    values = [rng.getrandbits(64) for _ in range(20_000)]
    for v in values[:EXACT_MAX]:
        d.add(v, T0)
    assert d.exact is not None and d.count() == EXACT_MAX
    back = Distinct.decode(d.encode())
    assert back.count() == EXACT_MAX
    for v in values:
        d.add(v, T0)
    assert d.exact is None
    assert abs(d.count() - 20_000) / 20_000 < 3 * 0.0163  # three standard errors of 2**12 registers
    assert Distinct.decode(d.encode()).count() == d.count()
    w = SenderWindow({T0: d}, T0, 20_000.0, T0)
    assert SenderWindow.decode(w.encode()).reached == 20_000.0


def test_sender_windows_restore_from_this_and_the_earlier_changelog_format() -> None:
    rule = MassMailingRule(limit=100, window_ms=10 * MIN, a2p=frozenset())
    w = None
    for i in range(12):
        w, _ = observe(rule, w, "7999", 1000 + i % 7, T0 + i * 60_000)  # several buckets, repeats
    w.flagged_at, w.reached, w.alerted_at = T0 + 5, 7.0, T0 + 6
    back = SenderWindow.decode(orjson.loads(orjson.dumps(w.encode())))
    assert back.buckets == w.buckets and (back.flagged_at, back.reached, back.alerted_at) == (T0 + 5, 7.0, T0 + 6)
    earlier = {"b": {str(k): sorted(v.exact.items()) for k, v in w.buckets.items()}, "f": T0 + 5, "r": 7.0,
               "a": T0 + 6}  # as a worker of the release before wrote it
    old = SenderWindow.decode(orjson.loads(orjson.dumps(earlier)))
    assert old.buckets == w.buckets and old.reached == 7.0


# -- campaigns -------------------------------------------------------------------------------------------

def _bands(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    return band_keys(grams([normalise(t) for t in texts]))


def test_lsh_bands_group_near_duplicates_and_separate_unrelated_texts() -> None:
    base = "Здравствуйте! Вам положена единовременная выплата {} р. Заявление заполните на {}"
    variants = [base.format(random.Random(i).randrange(100, 999), f"bit.ly/{i}x") for i in range(20)]
    keys, has = _bands(variants + ["Привет, я буду у метро в 7, не опаздывай", "ok"])
    assert has[:21].all() and not has[21]  # 'ok' has no 5-gram
    assert all((keys[i] == keys[0]).any() for i in range(20))  # digits and links normalised away
    assert not (keys[20] == keys[0]).any()
    # the S-curve: texts of Jaccard ~0.3 rarely share a band
    rng = random.Random(3)
    words = ["".join(rng.choice("абвгдежзиклмнопрстуфхцчшщыэюя") for _ in range(7)) for _ in range(300)]
    shared = 0
    for _ in range(200):
        a = rng.sample(words, 40)
        b = a[:12] + rng.sample(words, 28)
        ka, kb = _bands([" ".join(a), " ".join(b)])[0]
        shared += bool((ka == kb).any())
    assert shared < 20
    assert keys.shape[1] == BANDS


def _sighting(i: int, sender: str, text: str, at: int, score: float = 0.9) -> Sighting:
    keys, _ = _bands([text])
    norm = normalise(text)
    return Sighting(f"m{i}", at, sender, i, keys.view(np.int64)[0].tolist(), score, len(norm), LINK in norm, norm)


RULE = CampaignRule(window_ms=60 * MIN, min_senders=5, min_messages=10, min_chars=30, min_score=0.5)


def test_a_campaign_is_confirmed_by_enough_senders_and_texts_with_a_stable_id() -> None:
    base = "Здравствуйте! Вам положена единовременная выплата {} р. Заявление заполните на bit.ly/{}"
    ids = set()
    for _ in range(2):
        det, confirmed = Detector(RULE), []
        for i in range(12):
            c = det.see(_sighting(i, f"7985{i % 6}", base.format(100 + i, i), T0 + i * 1000))
            confirmed.append(c)
        first = next(i for i, c in enumerate(confirmed) if c is not None)
        assert first == 10  # the first text is not kept (its bands were new); 10 kept by the 11th
        c = confirmed[-1]
        assert c.confirmed_at == T0 + 10_000 and len(c.senders) == 6 and c.messages == 11 and c.reach == 11
        assert c.sample.startswith("здравствуйте! вам положена")
        ids.add(c.campaign_id)
    assert len(ids) == 1


def test_short_texts_and_harmless_crowds_are_never_campaigns() -> None:
    det = Detector(RULE)
    for i in range(50):  # the same greeting from 50 people: no link, a low score
        assert det.see(_sighting(i, f"7916{i}", "С Новым годом! Счастья, здоровья и всего самого доброго!",
                                 T0 + i, score=0.05)) is None
    det2 = Detector(CampaignRule(60 * MIN, 5, 10, min_chars=80, min_score=0.5))
    for i in range(50):
        assert det2.see(_sighting(i, f"7916{i}", "Вам выплата 500 р на bit.ly/x", T0 + i)) is None


def test_clusters_expire_after_the_window() -> None:
    det = Detector(RULE)
    text = "Здравствуйте! Вам положена единовременная выплата 500 р. Заявление заполните на bit.ly/x"
    for i in range(3):
        det.see(_sighting(i, f"7985{i}", text, T0 + i))
    assert det.clusters
    det.see(_sighting(9, "7000", "совсем другой текст про погоду и рыбалку на выходных", T0 + 3 * 60 * MIN))
    assert not det.clusters and det.expired


# -- complaints ------------------------------------------------------------------------------------------

def test_complaints_block_at_k_distinct_subscribers_within_the_window() -> None:
    rule = ComplaintRule(threshold=3, window_ms=60 * MIN)
    held = SenderComplaints()
    got = [judge(rule, held, s, T0 + t * MIN, False) for s, t in
           (("a", 0), ("b", 1), ("b", 2), ("c", 90), ("d", 91), ("e", 92), ("f", 93))]
    # a and b expire before c comes: c, d, e are the three within an hour
    assert got == [("COUNTED", 1), ("COUNTED", 2), ("REPEATED", 2), ("COUNTED", 1), ("COUNTED", 2),
                   ("SENDER_BLOCKED", 3), ("ALREADY_BLOCKED", 4)]
    assert judge(rule, SenderComplaints(), "z", T0, True) == ("ALREADY_BLOCKED", 1)
    assert SenderComplaints.decode(held.encode()) == held


# -- paid subscriptions ---------------------------------------------------------------------------------

def test_a_subscription_is_decided_once_by_confirmation_time_and_content_bans() -> None:
    from streams.protection.subscriptions import Pending, SubscriptionRule, decide_arrival, expired

    rule = SubscriptionRule(confirm_ms=600_000, abuse_limit=3, abuse_window_ms=3_600_000)
    waiting = Pending(T0, 0, "r1", "p:x", "games", "Игры", 3000, "RUB")
    assert decide_arrival(rule, None, T0, confirmed=False, banned=False) is None  # waits
    assert decide_arrival(rule, None, T0, confirmed=True, banned=False) == "ALLOWED/CONFIRMED"
    assert decide_arrival(rule, None, T0, confirmed=True, banned=True) == "BLOCKED/CONTENT_BAN"
    assert decide_arrival(rule, waiting, T0 + 600_000, confirmed=True, banned=False) == "ALLOWED/CONFIRMED"  # the edge
    assert decide_arrival(rule, waiting, T0 + 600_001, confirmed=True, banned=False) == "BLOCKED/NOT_CONFIRMED"
    assert decide_arrival(rule, waiting, T0 + 1, confirmed=True, banned=True) == "BLOCKED/CONTENT_BAN"
    assert decide_arrival(rule, waiting, T0 + 600_001, confirmed=False, banned=False) == "BLOCKED/NOT_CONFIRMED"
    assert not expired(rule, waiting, T0 + 600_000) and expired(rule, waiting, T0 + 600_001)
    waiting.outcome = "ALLOWED/CONFIRMED"
    assert decide_arrival(rule, waiting, T0 + 1, confirmed=True, banned=True) is None  # decided once
    assert not expired(rule, waiting, T0 + 10**9)
    assert Pending.decode(waiting.encode()) == waiting


def test_content_bans_live_in_the_block_list_and_survive_clear_all() -> None:
    from streams.protection.subscriptions import content_ban_names

    lists = BlockLists()
    lists.apply("79150000001", "content:*", True, T0)
    lists.apply("79150000002", "content:Games-Club", True, T0)
    lists.apply("79150000001", "*", False, T0 + 5)  # "clear all" of the Antispam-SMS list
    assert lists.has_content_ban("79150000001", content_ban_names("music"), T0 + 10)
    assert not lists.has_content_ban("79150000001", content_ban_names("music"), T0 - 1)
    assert lists.has_content_ban("79150000002", content_ban_names(" GAMES-club "), T0)
    assert not lists.has_content_ban("79150000002", content_ban_names("music"), T0)
    lists.apply("79150000002", "content:games-club", False, T0 + 20)
    assert not lists.has_content_ban("79150000002", content_ban_names("games-club"), T0 + 20)


def test_provider_refusals_are_counted_within_the_window_in_bounded_memory() -> None:
    from streams.protection.subscriptions import ProviderRefusals, SubscriptionRule

    rule = SubscriptionRule(confirm_ms=1, abuse_limit=3, abuse_window_ms=1000)
    held = ProviderRefusals()
    assert [held.count(rule, T0 + t) for t in (0, 500, 1000)] == [1, 2, 3]  # the window's edge counts
    assert held.count(rule, T0 + 1001) == 3  # the first one fell out
    assert held.count(rule, T0 + 400) == 1  # late: the window ending at its own time (0 was forgotten)
    for t in range(100):
        held.count(rule, T0 + 2000 + t)
    assert len(held.refused) <= 2 * rule.abuse_limit
    assert ProviderRefusals.decode(held.encode()) == held
    assert ProviderRefusals.decode([[T0, T0 + 1], None]).refused == [(T0, ""), (T0 + 1, "")]  # older state


def test_a_refusal_read_again_is_counted_once() -> None:
    from streams.protection.subscriptions import ProviderRefusals, SubscriptionRule

    rule = SubscriptionRule(confirm_ms=1, abuse_limit=3, abuse_window_ms=1000)
    held = ProviderRefusals()
    assert [held.count(rule, T0, "r1"), held.count(rule, T0 + 1, "r2")] == [1, 2]
    assert held.count(rule, T0, "r1") == 1  # replayed: the window ending at its time holds it once
    assert held.count(rule, T0 + 1, "r2") == 2
    assert held.count(rule, T0 + 1, "r3") == 3  # another request at the same time counts
    back = ProviderRefusals.decode(held.encode())
    assert back == held and back.count(rule, T0 + 1, "r3") == 3


def test_remembered_pseudonyms_are_the_hmac_sha256_of_the_address() -> None:
    import hmac

    from streams.protection.addresses import Pseudonyms

    for key in (b"", b"k", b"x" * 64, b"y" * 65, os.urandom(100)):  # a key longer than a block is hashed first
        p = Pseudonyms(key, size=3)
        for address in ("79161234567", "mts-info", "", "79161234567", "ы" * 40, "7916000000", "7"):
            digest = hmac.digest(key, address.encode(), "sha256")
            assert p.digest(address) == digest
            assert p.of(address) == (pseudonym(address, key), pseudonym64(address, key))
            assert p.of(address)[0] == "p:" + digest[:10].hex()
            assert len(p._known) <= 3  # forgets when full


# -- mutation-testing survivors, killed ---------------------------------------------------------------

def test_the_mass_mailing_window_slides_by_quarter_window_buckets() -> None:
    """W = 10 min in buckets of 2.5 min: a recipient counts while its bucket is one of the last
    four, so for between 7.5 and 10 minutes."""
    rule = MassMailingRule(limit=3, window_ms=10 * MIN, a2p=frozenset())
    start = T0 - T0 % (10 * MIN // 4)  # a bucket's start
    w, _ = observe(rule, None, "7999", 1, start)
    w, _ = observe(rule, w, "7999", 2, start + 1)
    w, _ = observe(rule, w, "7999", 3, start + 2)
    assert sorted(w.buckets) == [start] and all(k % (10 * MIN // 4) == 0 for k in w.buckets)
    # 9 min 59 s later (the 4th bucket after it): the first three still count, the 4th recipient is past the limit
    w2, reached = observe(rule, SenderWindow.decode(w.encode()), "7999", 4, start + 10 * MIN - 1000)
    assert reached == 4.0
    # 10 min later (a 5th bucket): the first bucket is gone
    w3, reached = observe(rule, SenderWindow.decode(w.encode()), "7999", 4, start + 10 * MIN)
    assert reached is None and sorted(w3.buckets) == [start + 10 * MIN]


def test_a2p_senders_keep_a_window_and_are_never_flagged() -> None:
    rule = MassMailingRule(limit=1, window_ms=10 * MIN, a2p=frozenset({"mts"}))
    w, reached = observe(rule, None, "mts", 1, T0)
    assert isinstance(w, SenderWindow) and reached is None
    for i in range(5):
        w, reached = observe(rule, w, "mts", i, T0 + i)
        assert reached is None


def test_a_flag_holds_for_messages_at_its_own_time_and_ends_with_its_bucket() -> None:
    rule = MassMailingRule(limit=2, window_ms=10 * MIN, a2p=frozenset())
    w = None
    for i in range(3):
        w, reached = observe(rule, w, "7999", i, T0)
    assert reached == 3.0 and w.flagged_at == T0
    w, reached = observe(rule, w, "7999", 1, T0)  # a repeat at the flag's own time: still flagged
    assert reached == 3.0
    w, reached = observe(rule, w, "7999", 9, T0 + 10 * MIN + 10 * MIN // 4)  # its bucket has gone
    assert reached is None and w.flagged_at is None


def test_a_large_limit_is_met_exactly_at_its_first_recipient_past_it() -> None:
    """With a limit above a hundred, the sum of buckets is recounted only when it has grown by a
    hundredth of the limit: that shortcut is for sketches; exact windows flag at N + 1 exactly."""
    rule = MassMailingRule(limit=200, window_ms=10 * MIN, a2p=frozenset())
    w, got = None, []
    for i in range(203):
        w, reached = observe(rule, w, "7999", i, T0 + i * 1000)  # over two buckets
        got.append(reached)
    assert got[:200] == [None] * 200 and got[200] == 201.0


def test_beyond_the_exact_size_the_sketch_flags_within_its_error() -> None:
    rule = MassMailingRule(limit=1000, window_ms=10 * MIN, a2p=frozenset())
    rng = random.Random(9)
    w, flagged_at = None, None
    for i in range(1300):
        w, reached = observe(rule, w, "7999", rng.getrandbits(64), T0 + i)  # one bucket: a sketch past 256
        if reached is not None and flagged_at is None:
            flagged_at = i + 1
    assert flagged_at is not None and abs(flagged_at - 1001) < 3 * 0.0163 * 1001 + 10
    assert all(b.exact is None for b in w.buckets.values())


def test_a_recipient_first_seen_earlier_keeps_its_first_time() -> None:
    d = Distinct.empty()
    d.add(7, T0 + 10)
    d.add(7, T0 + 5)  # read late: seen first at T0 + 5
    d.add(7, T0 + 20)
    assert d.exact == {7: T0 + 5}


def test_the_earlier_changelog_format_keeps_the_flag_and_the_alert() -> None:
    earlier = {"b": {str(T0): [[7, T0]]}, "f": T0 + 1, "r": 9.0, "a": T0 + 2}
    w = SenderWindow.decode(earlier)
    assert (w.flagged_at, w.reached, w.alerted_at) == (T0 + 1, 9.0, T0 + 2) and w.buckets[T0].exact == {7: T0}


def test_the_latest_clear_all_before_a_message_decides_and_empty_notes_still_block() -> None:
    lists = BlockLists()
    lists.apply("79160000001", "7999", True, T0 + 10)
    lists.apply("79160000001", "*", False, T0 + 5)   # cleared before the block
    lists.apply("79160000001", "*", False, T0 + 20)  # and after it
    assert lists.by_recipient("79160000001", "7999", T0 + 15)
    assert not lists.by_recipient("79160000001", "7999", T0 + 30)
    lists.apply("*", "7888", True, T0, "")  # an operator block without a note
    assert lists.by_operator("7888", T0) is True and lists.operator_source("7888", T0) == ""


def test_complaints_count_at_the_window_edge_and_keep_a_complainers_newest_time() -> None:
    rule = ComplaintRule(threshold=3, window_ms=10 * MIN)
    held = SenderComplaints()
    judge(rule, held, "p:a", T0, False)
    judge(rule, held, "p:b", T0 + 1, False)
    assert judge(rule, held, "p:c", T0 + 10 * MIN, False) == ("SENDER_BLOCKED", 3)  # "a" exactly W ago counts
    late = SenderComplaints()
    judge(rule, late, "p:a", T0 + 10, False)
    judge(rule, late, "p:a", T0 + 5, False)  # read late
    assert late.complainers["p:a"] == T0 + 10


def test_a_request_still_waits_at_the_last_moment_to_confirm() -> None:
    from streams.protection.subscriptions import Pending, SubscriptionRule, decide_arrival

    rule = SubscriptionRule(confirm_ms=600_000, abuse_limit=3, abuse_window_ms=3_600_000)
    waiting = Pending(T0, 0, "r1", "p:x", "games", "Игры", 3000, "RUB")
    assert decide_arrival(rule, waiting, T0 + 600_000, confirmed=False, banned=False) is None


def test_links_are_found_by_scheme_and_slash_as_well() -> None:
    assert normalise("go to http://localhost/x now") == f"go to {LINK} now"
    assert normalise("и/или") == "и/или"  # a slash alone is not a link
    assert normalise("wow??? really... $$$ now") == "wow?? really.. $$ now"


def test_numbers_are_canonical_with_or_without_punctuation_and_only_11_digit_8s_change() -> None:
    assert canonical("8 (916) 123-45-67") == canonical("+7 916 123 45 67") == "79161234567"
    assert canonical("4951234567") == "4951234567"  # ten digits: no trunk prefix to change
    assert canonical("8800") == "8800" and canonical("88005553535") == "78005553535"
    assert canonical("8 800") == "8800" and canonical("4 95 123 45 67") == "4951234567"


def test_an_a2p_senders_window_can_be_written_to_the_changelog() -> None:
    rule = MassMailingRule(limit=1, window_ms=10 * MIN, a2p=frozenset({"mts"}))
    w, _ = observe(rule, None, "mts", 1, T0)
    assert SenderWindow.decode(orjson.loads(orjson.dumps(w.encode()))).buckets == {}


def test_a_bucket_exactly_three_buckets_back_stays_while_older_ones_go() -> None:
    rule = MassMailingRule(limit=2, window_ms=10 * MIN, a2p=frozenset())
    q = 10 * MIN // 4
    start = T0 - T0 % q
    w, _ = observe(rule, None, "7999", 1, start - q)  # goes
    w, _ = observe(rule, w, "7999", 2, start)  # stays: three buckets back from the next one
    w, reached = observe(rule, w, "7999", 3, start + 3 * q)
    assert sorted(w.buckets) == [start, start + 3 * q] and reached is None
    w, reached = observe(rule, w, "7999", 4, start + 3 * q + 1)
    assert reached == 3.0


def test_recipients_repeated_across_buckets_are_counted_once_and_the_flag_comes_exactly() -> None:
    """The buckets' sum passes the limit long before their union does: every message from then on
    is recounted exactly (no skipping, which is for sketches), and the first recipient past the
    limit is flagged."""
    rule = MassMailingRule(limit=200, window_ms=10 * MIN, a2p=frozenset())
    q = 10 * MIN // 4
    start = T0 - T0 % q
    for again in (150, 149):  # both parities of the sum when the union passes the limit
        w = None
        for i in range(150):
            w, reached = observe(rule, w, "7999", i, start + i)
        for i in range(again):  # the same people again in the next bucket: the sum passes 200, the union is 150
            w, reached = observe(rule, w, "7999", i, start + q + i)
            assert reached is None
        got = []
        for i in range(150, 210):  # 60 new people: the union passes 200 at the 51st
            w, reached = observe(rule, w, "7999", i, start + q + 200 + i)
            got.append(reached)
        assert got[:50] == [None] * 50 and got[50] == 201.0, again


def test_provider_refusals_keep_their_last_alert_across_a_restart() -> None:
    from streams.protection.subscriptions import ProviderRefusals

    held = ProviderRefusals([(T0, "r1"), (T0 + 1, "r2")], alerted_at=T0 + 1)
    assert ProviderRefusals.decode(orjson.loads(orjson.dumps(held.encode()))) == held


def test_each_run_of_repeated_punctuation_is_shortened() -> None:
    assert normalise("что??? да") == "что?? да"
    assert normalise("ну... да") == "ну.. да"
    assert normalise("деньги $$$ тут") == "деньги $$ тут"
    assert normalise("ура!!!") == "ура!!"


def test_alerts_have_bounded_fields_and_a_cool_down_either_side() -> None:
    from streams.protection.alerts import alert, cooled

    a = alert("id-1", T0, "MASS_MAILING", "WARNING", "7999", "x" * 600, {"n": 1, "long": "y" * 300})
    assert a == {"alert_id": "id-1", "occurred_at": T0, "kind": "MASS_MAILING", "severity": "WARNING",
                 "subject": "7999", "summary": "x" * 500, "details": {"n": "1", "long": "y" * 200},
                 "state": "RAISED"}
    assert cooled(None, T0, 10)
    assert not cooled(T0, T0 + 9, 10) and cooled(T0, T0 + 10, 10)
    assert not cooled(T0, T0 - 9, 10) and cooled(T0, T0 - 10, 10)  # read out of order


def test_the_latest_change_of_a_pair_is_its_newest_by_time() -> None:
    lists = BlockLists()
    assert lists.latest("*", "7999") is None
    lists.apply("*", "7999", True, T0 + 10, "operator:anna: fraud")
    lists.apply("*", "7999", False, T0 + 20, "operator:anna: mistake")
    lists.apply("*", "7999", True, T0 + 5, "firstline:complaints")  # read late
    assert lists.latest("*", "7999") == (T0 + 20, False, "operator:anna: mistake")
    assert lists.size() == 1  # pairs of (subscriber, sender)
