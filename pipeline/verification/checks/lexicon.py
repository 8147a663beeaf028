"""What the slot checks share: their word lists (files under words/), where words start in a text,
the entities a text mentions (populations, contract roles, drug names, caller-supplied names) and
the topic words of a clause."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from pipeline.text import FUNCTION_WORDS, stem

_WORDS_DIR = Path(__file__).parent / "words"
_I = re.IGNORECASE


@cache
def word_list(name: str) -> tuple[str, ...]:
    """The entries of words/<name>.txt, one a line, in file order; blank lines and `#` comments skipped."""
    lines = (_WORDS_DIR / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    return tuple(s for s in (line.strip() for line in lines) if s and not s.startswith("#"))


@cache
def word_table(name: str) -> dict[str, Any]:
    """The mappings of words/<name>.toml, one per TOML table."""
    with open(_WORDS_DIR / f"{name}.toml", "rb") as f:
        return tomllib.load(f)


ONES: dict[str, int] = word_table("numbers")["ones"]
SCALES: dict[str, int] = word_table("numbers")["scales"]

# ============================================================================================
# Where words start
# ============================================================================================

# Words, numbers, clause punctuation and CJK characters: the tokens of a predicate's clause.
TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)*|[;:]|[\u4e00-\u9fff]")
_WORD_START_RE = re.compile(r"[A-Za-z][A-Za-z'’]*|[\u3400-\u9fff]")


@lru_cache(maxsize=4096)
def word_positions(text: str) -> dict[str, tuple[int, ...]]:
    """Lower-cased word (or CJK character) -> start offsets in `text`."""
    index: dict[str, list[int]] = {}
    low = text.lower()
    if len(low) != len(text):  # a few Unicode letters change length when lower-cased
        for w in _WORD_START_RE.finditer(text):
            index.setdefault(w.group(0).lower(), []).append(w.start())
    else:
        for w in _WORD_START_RE.finditer(low):
            index.setdefault(w.group(0), []).append(w.start())
    return {k: tuple(v) for k, v in index.items()}


def matches_at_words(
    pattern: re.Pattern[str], text: str, first: frozenset[str], original: str | None = None
) -> list[re.Match[str]]:
    """Non-overlapping matches of `pattern` tried only where a word listed in `first` starts.

    `re` tries a long alternation at every position; finding the few candidate words through a set
    intersection is much cheaper. `original` is the unmasked text the offsets were indexed from.
    """
    index = word_positions(original if original is not None else text)
    starts = sorted(p for w in first.intersection(index) for p in index[w])
    out: list[re.Match[str]] = []
    last = -1
    for pos in starts:
        if pos < last:
            continue
        m = pattern.match(text, pos)
        if m:
            out.append(m)
            last = m.end()
    return out


# ============================================================================================
# Entity mentions (the entity check compares them; quantities and predicates are scoped by them)
# ============================================================================================

# (type, canonical, pattern). Entities are compared only with entities of the same type.
_POPULATIONS: list[tuple[str, str, str]] = [
    ("age_group", "pediatric", r"p(?:a)?ediatric|children|child(?!-?bearing)|childhood|adolescents?|infants?|"
     r"neonates?|newborns?|juveniles?|儿童|青少年|婴儿|小儿"),
    ("age_group", "adult", r"adults?|成人|成年人?"),
    ("age_group", "elderly", r"elderly|geriatric|older\s+(?:adults|patients|people)|老年人?"),
    ("pregnancy", "pregnant", r"pregnant|pregnancy|pregnancies|孕妇|妊娠"),
    ("pregnancy", "lactating", r"lactating|lactation|breast-?feeding|nursing\s+mothers|哺乳期?"),
    ("impairment", "renal",
     r"(?:renal|kidney)\s+(?:impairment|insufficiency|failure|disease|dysfunction)|肾功能(?:不全|损害)"),
    ("impairment", "hepatic",
     r"(?:hepatic|liver)\s+(?:impairment|insufficiency|failure|disease|dysfunction)|肝功能(?:不全|损害)"),
]  # fmt: skip
POPULATION_TYPES = frozenset(typ for typ, _, _ in _POPULATIONS)
_POP_FIRST = frozenset(word_list("population_first_words"))
# One pass for all populations: group "p3" is _POPULATIONS[3].
_POP_RE = re.compile(
    "|".join(rf"(?<![A-Za-z])(?P<p{i}>{p})(?![A-Za-z])" for i, (_, _, p) in enumerate(_POPULATIONS)), _I
)
# Adults include the elderly; every other pair of one type excludes each other.
_COMPATIBLE = {("age_group", "adult", "elderly"), ("age_group", "elderly", "adult")}
# Distinctive contract roles match in any case; common words count only as capitalised defined terms.
_ROLES_ANY_CASE = word_list("roles_any_case")
_ROLES_CAPITALISED = word_list("roles_capitalised")
_ROLE_PHRASES = word_list("role_phrases")
_ROLE_RE = re.compile(
    r"\b(?:(?i:"
    + "|".join(_ROLE_PHRASES)
    + r")|(?i:"
    + "|".join(_ROLES_ANY_CASE)
    + r")|"
    + "|".join(_ROLES_CAPITALISED)
    + r")(?:s\b|['’]s\b|\b)"
)
_ROLE_FIRST = frozenset(
    [
        *(r.split()[0] for r in _ROLE_PHRASES),
        *(r + suf for r in _ROLES_ANY_CASE for suf in ("", "s", "'s", "’s")),
    ]
    + [r.lower() + suf for r in _ROLES_CAPITALISED for suf in ("", "s", "'s", "’s")]
)
ROLE_WORDS = frozenset([*_ROLES_ANY_CASE, *(r.lower() for r in _ROLES_CAPITALISED), "party", "parties"])
_STORAGE_PHRASE = re.compile(r"out\s+of\s+(?:the\s+)?reach\s+of\s+children|儿童(?:不可|无法)?触及", _I)
_BRAND_RE = re.compile(r"\b[A-Z][A-Z0-9-]{3,}\b")
_LETTERS_RE = re.compile(r"[A-Za-z]{2,}")
_GENERIC_SUFFIXES = word_list("generic_suffixes")
_LONG_WORD_RE = re.compile(r"\b[A-Za-z]{6,}\b")
_NOT_BRANDS = frozenset(word_list("not_brands"))


def compatible(typ: str, a: str, b: str) -> bool:
    """Whether two canonical mentions of type `typ` can name the same thing ("adult" covers "elderly")."""
    return a == b or (typ, a, b) in _COMPATIBLE


def _brand_matches(text: str) -> list[re.Match[str]]:
    if not _BRAND_RE.search(text):
        return []
    words = _LETTERS_RE.findall(text)
    # Shouted legal boilerplate ("IN NO EVENT SHALL ...") is not a list of product names.
    if words and sum(w.isupper() for w in words) > max(3, 0.3 * len(words)):
        return []
    return [
        m for m in _BRAND_RE.finditer(text) if m.group(0) not in _NOT_BRANDS and not m.group(0)[-1].isdigit()
    ]


@lru_cache(maxsize=4096)
def mention_spans(text: str, known: tuple[str, ...] = ()) -> tuple[tuple[str, str, int, int], ...]:
    """(type, canonical, start, end) of populations, contract roles, drug names and known names."""
    out: list[tuple[str, str, int, int]] = []
    scrubbed = _STORAGE_PHRASE.sub(lambda m: " " * len(m.group(0)), text)
    for m in matches_at_words(_POP_RE, scrubbed, _POP_FIRST, text):
        typ, canon, _ = _POPULATIONS[int((m.lastgroup or "p0")[1:])]
        out.append((typ, canon, m.start(), m.end()))
    for m in matches_at_words(_ROLE_RE, text, _ROLE_FIRST):
        low = " ".join(m.group(0).lower().replace("’", "'").split()).removesuffix("'s")
        if low.endswith("s") and low[:-1] in ROLE_WORDS:  # "Licensees" -> "licensee"
            low = low[:-1]
        out.append(("party", low, m.start(), m.end()))
    out.extend(("brand", m.group(0).lower(), m.start(), m.end()) for m in _brand_matches(text))
    for m in _LONG_WORD_RE.finditer(text):
        if m.group(0).lower().endswith(_GENERIC_SUFFIXES) and not m.group(0).isupper():
            out.append(("generic", m.group(0).lower(), m.start(), m.end()))
    names = []
    for name in known:
        for m in re.finditer(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text, _I):
            names.append(("name", name.lower(), m.start(), m.end()))
    # A caller-supplied name wins over the role word inside it ("Company" in "Operating Company").
    out = [x for x in out if not any(n[2] <= x[2] and x[3] <= n[3] for n in names)] + names
    return tuple(sorted(out, key=lambda x: x[2]))


def mentions(text: str, known: tuple[str, ...] = ()) -> dict[str, set[str]]:
    """Canonical mentions of `text` by type."""
    by_type: dict[str, set[str]] = {}
    for typ, canon, _, _ in mention_spans(text, known):
        by_type.setdefault(typ, set()).add(canon)
    return by_type


def entity_words(text: str, known: tuple[str, ...] = ()) -> set[str]:
    """Stems of the words inside the entity mentions of `text`."""
    return {stem(w) for _, _, s, e in mention_spans(text, known) for w in text[s:e].split()}


# ============================================================================================
# Topic words (what a clause is about)
# ============================================================================================

# "not"/"no" phrases that bound a quantity or are idioms rather than negating the predicate.
NOT_NEGATION = re.compile(
    r"\b(?:not|no)\s+(?:more|less|later|earlier|fewer|greater|sooner|longer|shorter)\s+than\b|\bnot\s+to\s+exceed\b|"
    r"\bnot\s+only\b|\bwhether\s+or\s+not\b|\bno\.|\bif\s+not\b|\bno\s+one\b|\bno\s+additional\s+(?:charge|cost)\b",
    _I,
)
# Words that name the same slot in different ways ("take up to 80 mg" vs "the maximum dose is 40 mg").
CONCEPT_OF = {w: c for c, ws in word_table("concepts")["concepts"].items() for w in ws}
# Words too general to show that two quantities describe the same thing.
_GATE_STOP = FUNCTION_WORDS | frozenset(word_list("gate_stop_words")) | frozenset(ONES)
_TOPIC_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z'’-]+")


def topic_words(text: str, exclude: set[str] | None = None) -> frozenset[str]:
    """Concepts or stems of the specific words of `text` (no function, number or role words), less `exclude`."""
    out = set()
    for w in _TOPIC_TOKEN_RE.findall(text):
        low = w.lower()
        if low in _GATE_STOP or low in ROLE_WORDS:
            continue
        st = stem(w)
        if exclude and st in exclude:
            continue
        out.add(CONCEPT_OF.get(low, st))
    return frozenset(out)


def strip_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """`text` with the given spans blanked out (offsets kept)."""
    for s, e in spans:
        text = text[:s] + " " * (e - s) + text[e:]
    return text
