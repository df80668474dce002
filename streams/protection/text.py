"""Normalising SMS texts so that the variations spammers make do not make them different.

Case, digits, links, whitespace and Cyrillic/Latin look-alikes: "ВЫИГРАЛИ 50 000 р. bit.ly/x7"
and "Bыигpали 75 000 p. bit.ly/q1" (Latin B, p) normalise to the same text. Look-alikes go to
their Cyrillic letter only inside a word that has Cyrillic in it, so that English words stay
English ("cash" keeps its Latin "c", "аpple" with a Cyrillic "а" stays odd and so visible).
"""

from __future__ import annotations

import re

# Latin letters (and digits used as letters) that look like a Cyrillic one, lower case.
_LATIN_TO_CYRILLIC = str.maketrans({
    "a": "а", "b": "в", "c": "с", "e": "е", "h": "н", "k": "к", "m": "м", "o": "о", "p": "р",
    "t": "т", "x": "х", "y": "у", "3": "з", "0": "о", "6": "б", "u": "и", "n": "п",
})
# A whitespace-separated token that is a link: a scheme, www., or a host under a common domain.
_LINK = re.compile(r"[(\[\"'«]?(?:https?://|www\.|[\w-]+(?:\.[\w-]+)*\.(?:ru|com|net|org|info|biz|su|рф|"
                   r"ly|me|io|cc|xyz|top|club|online|site|link|click|pro)(?:[/?#:]|[.,!)\]»]*$))")
# A word with Cyrillic and a look-alike of a Cyrillic letter: the only words the look-alikes
# change (the same result as translating every word with Cyrillic in it, found in one pass).
_LOOKALIKE_CHARS = "abcehkmoptxyun036"
_MIXED_WORD = re.compile(r"\b\w*?(?:[а-яё]\w*?[" + _LOOKALIKE_CHARS + r"]|[" + _LOOKALIKE_CHARS + r"]\w*?[а-яё])\w*")
_CYRILLIC = re.compile(r"[а-яё]")
_LATIN = re.compile(r"[a-z]")
_DIGITS = re.compile(r"\d+")
_REPEAT = re.compile(r"(\W)\1{2,}")  # "!!!!!!" -> "!!"

# What any link has: a dot before a letter or digit, a slash, or "www." (a sentence's full stop
# has none of them, so most texts skip the word-by-word look for links).
_MAYBE_LINK = re.compile(r"\.\w|/|www\.")

LINK = "⟨url⟩"
NUMBER = "0"


def _unconfuse(word: re.Match[str]) -> str:
    return word.group(0).translate(_LATIN_TO_CYRILLIC)


def normalise(text: str) -> str:
    """Lower case, links to one token, look-alikes in Cyrillic words to Cyrillic, each run of
    digits to one '0', repeated punctuation shortened, whitespace collapsed."""
    t = text.lower().replace("ё", "е")
    if _MAYBE_LINK.search(t):
        t = " ".join(LINK if ("." in w or "/" in w) and _LINK.match(w) else w for w in t.split())
    if _LATIN.search(t) and _CYRILLIC.search(t):  # mixed scripts: look-alikes possible
        t = _MIXED_WORD.sub(_unconfuse, t)
    t = _DIGITS.sub(NUMBER, t)
    if "!!!" in t or "???" in t or "..." in t or "$$$" in t:
        t = _REPEAT.sub(r"\1\1", t)
    return " ".join(t.split())
