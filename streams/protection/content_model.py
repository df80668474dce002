"""The content score: a linear model (logistic regression) on hashed n-grams (features.py).

Trained offline with scikit-learn (`firstline spam train FILE`), shipped as weights in
`content_model.npz`, scored in the SMS path with numpy over a whole batch: the score of a text is
sigmoid(bias + sum of its n-grams' weights / sqrt(number of n-grams)). `learn` moves the weights
online, one stochastic-gradient step of the same logistic loss per labelled text (from confirmed
complaints).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streams.protection.features import Grams, grams
from streams.protection.text import normalise

SHIPPED = Path(__file__).with_name("content_model.npz")
BITS = 18  # 262,144 buckets: collisions among an SMS corpus's n-grams stay rare
LEARNING_RATE = 2.0  # one confirmed spam text moves its own score most of the way, few others'
C = 10.0  # inverse regularisation strength: a common default for length-normalised n-gram counts


class CorpusError(ValueError):
    pass


@dataclass
class ContentModel:
    weights: np.ndarray  # float64, 2**bits
    bias: float
    bits: int = BITS

    def scores_of(self, g: Grams) -> np.ndarray:
        contrib = self.weights[g.buckets(self.bits)]
        sums = np.bincount(g.rows, weights=contrib, minlength=g.texts)
        z = self.bias + sums / np.sqrt(np.maximum(g.per_row(), 1))
        return 1.0 / (1.0 + np.exp(-z))

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Spam probability of each raw text, 0 to 1."""
        return self.scores_of(grams([normalise(t) for t in texts]))

    def buckets_of(self, text: str) -> list[int]:
        """The buckets of a raw text's n-grams: what an online update carries instead of the text."""
        return grams([normalise(text)]).buckets(self.bits).tolist()

    def learn_buckets(self, buckets: Sequence[int], spam: bool, rate: float = LEARNING_RATE) -> float:
        """One stochastic-gradient step of the logistic loss on one example, the bias left alone
        (the examples come from complaints, nearly all spam: moving the bias would move every
        score). Returns the example's score before the step."""
        b = np.asarray(buckets, dtype=np.int64)
        if len(b) == 0:
            return float(1.0 / (1.0 + math.exp(-self.bias)))
        scale = 1.0 / math.sqrt(len(b))
        p = 1.0 / (1.0 + math.exp(-(self.bias + float(self.weights[b].sum()) * scale)))
        np.add.at(self.weights, b, rate * ((1.0 if spam else 0.0) - p) * scale)
        return p

    def learn(self, texts: Sequence[str], spam: Sequence[bool], rate: float = LEARNING_RATE) -> None:
        """`learn_buckets` for raw texts, in order."""
        for text, label in zip(texts, spam):
            self.learn_buckets(self.buckets_of(text), label, rate)

    def save(self, path: Path | str) -> None:
        np.savez_compressed(path, weights=self.weights.astype(np.float32), bias=np.float64(self.bias),
                            bits=np.int64(self.bits))

    @classmethod
    def load(cls, path: Path | str = SHIPPED) -> ContentModel:
        with np.load(path) as data:
            return cls(data["weights"].astype(np.float64), float(data["bias"]), int(data["bits"]))


def matrix(texts: Sequence[str], bits: int = BITS):  # -> scipy.sparse.csr_matrix
    from scipy.sparse import csr_matrix

    g = grams([normalise(t) for t in texts])
    value = 1.0 / np.sqrt(np.maximum(g.per_row(), 1))
    return csr_matrix((value[g.rows], (g.rows, g.buckets(bits))), shape=(len(texts), 2 ** bits))


def train(texts: Sequence[str], spam: Sequence[bool], bits: int = BITS, c: float = C) -> ContentModel:
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(spam, dtype=bool)
    if len(set(y.tolist())) < 2:
        raise CorpusError("training needs both spam and ham messages")
    fit = LogisticRegression(C=c, solver="liblinear").fit(matrix(texts, bits), y)
    return ContentModel(fit.coef_[0].astype(np.float64), float(fit.intercept_[0]), bits)


def read_labelled(lines: Iterable[str], origin: str = "input") -> list[tuple[bool, str]]:
    """`spam<TAB>text` / `ham<TAB>text` lines; blank lines skipped; anything else is an error
    naming the line."""
    out = []
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        label, sep, text = line.partition("\t")
        if not sep or label.strip().lower() not in ("spam", "ham"):
            raise CorpusError(f"{origin}, line {number}: expected 'spam' or 'ham', a tab, the text")
        out.append((label.strip().lower() == "spam", text))
    return out


def unique(rows: Sequence[tuple[bool, str]]) -> list[tuple[bool, str]]:
    """Each text once (its first label), so that no message is both in training and in test."""
    seen: set[str] = set()
    out = []
    for label, text in rows:
        if text not in seen:
            seen.add(text)
            out.append((label, text))
    return out


@dataclass(frozen=True)
class Evaluation:
    messages: int
    trained_on: int
    tested_on: int
    spam_caught: float  # recall
    ham_blocked: float  # false-positive rate
    accuracy: float
    precision: float
    recall: float
    mcc: float  # Matthews correlation coefficient

    def lines(self) -> list[str]:
        return [f"messages       {self.messages} (after duplicates were removed)",
                f"trained on     {self.trained_on}", f"tested on      {self.tested_on}",
                f"spam caught    {self.spam_caught:.2%}", f"ham blocked    {self.ham_blocked:.2%}",
                f"accuracy       {self.accuracy:.4f}", f"precision      {self.precision:.4f}",
                f"recall         {self.recall:.4f}", f"MCC            {self.mcc:.4f}"]


def evaluate(rows: Sequence[tuple[bool, str]], train_fraction: float = 0.5, seed: int = 1,
             block_at: float = 0.5) -> Evaluation:
    """Duplicates removed, shuffled by `seed`, the first `train_fraction` trains a new model, the
    rest is judged at `block_at`."""
    if not 0.0 < train_fraction < 1.0:
        raise CorpusError("the train fraction must be between 0 and 1")
    rows = unique(rows)
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    cut = round(len(rows) * train_fraction)
    train_rows, test_rows = [rows[i] for i in order[:cut]], [rows[i] for i in order[cut:]]
    if not test_rows:
        raise CorpusError("nothing left to test on")
    model = train([t for _, t in train_rows], [s for s, _ in train_rows])
    truth = np.array([s for s, _ in test_rows])
    said = model.scores([t for _, t in test_rows]) >= block_at
    return figures(truth, said, len(rows), len(train_rows))


def figures(truth: np.ndarray, said: np.ndarray, messages: int, trained_on: int) -> Evaluation:
    """The evaluation's figures from what was true and what the model said (True: spam)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, matthews_corrcoef

    tn, fp, fn, tp = (int(x) for x in confusion_matrix(truth, said, labels=[False, True]).ravel())
    return Evaluation(messages, trained_on, len(truth),
                      spam_caught=tp / max(tp + fn, 1), ham_blocked=fp / max(fp + tn, 1),
                      accuracy=float(accuracy_score(truth, said)), precision=tp / max(tp + fp, 1),
                      recall=tp / max(tp + fn, 1), mcc=float(matthews_corrcoef(truth, said)))
