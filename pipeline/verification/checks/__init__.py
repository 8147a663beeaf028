"""Deterministic slot checks between one claim and one evidence window: numbers, polarity/modality, entities.

A model can read "40 mg" and "40 g", or "may assign" and "shall not assign", as near-paraphrases; these
checks cannot. Each check returns SlotChecks; ok=False is a contradiction signal that the engine lets
outweigh model entailment, so every rule fires only when claim and evidence clearly address the same
slot, and stays silent otherwise. Pure functions over strings (stdlib `re` only), cached per text.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pipeline.schema import SlotCheck
from pipeline.text import FUNCTION_WORDS, split_sentences, stem

_I = re.IGNORECASE
_CJK_RE = re.compile(r"[\u3400-\u9fff]")

# ============================================================================================
# Shared word handling
# ============================================================================================

_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)*|[;:]|[\u4e00-\u9fff]")
# Stop words for comparing predicates: function words plus the modal/polarity vocabulary itself.
_STOP = FUNCTION_WORDS | frozenset(
    "agree agrees agreed required obligated obliged permitted allowed entitled right responsible recommended "
    "indicated approved contraindicated prohibited forbidden use used using patient patients".split()
)


_WORD_START_RE = re.compile(r"[A-Za-z][A-Za-z'’]*|[\u3400-\u9fff]")


@lru_cache(maxsize=4096)
def _word_positions(text: str) -> dict[str, tuple[int, ...]]:
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


def _matches_at_words(
    pattern: re.Pattern[str], text: str, first: frozenset[str], original: str | None = None
) -> list[re.Match[str]]:
    """Non-overlapping matches of `pattern` tried only where a word listed in `first` starts.

    `re` tries a long alternation at every position; finding the few candidate words through a set
    intersection is much cheaper. `original` is the unmasked text the offsets were indexed from.
    """
    index = _word_positions(original if original is not None else text)
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
# Entity lexicon (used by the entity check and to find the subject of a predicate)
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
_POP_FIRST = frozenset(
    "pediatric paediatric children child childhood adolescent adolescents infant infants neonate neonates "
    "newborn newborns juvenile juveniles adult adults elderly geriatric older pregnant pregnancy pregnancies "
    "lactating lactation breast breast-feeding breastfeeding nursing renal kidney hepatic liver".split()
) | frozenset("儿青婴小成老孕妊哺肾肝")
# One pass for all populations: group "p3" is _POPULATIONS[3].
_POP_RE = re.compile(
    "|".join(rf"(?<![A-Za-z])(?P<p{i}>{p})(?![A-Za-z])" for i, (_, _, p) in enumerate(_POPULATIONS)), _I
)
# Adults include the elderly; every other pair of one type excludes each other.
_COMPATIBLE = {("age_group", "adult", "elderly"), ("age_group", "elderly", "adult")}
# Distinctive contract roles match in any case; common words count only as capitalised defined terms.
_ROLES_ANY_CASE = (
    "licensor licensee sublicensee sublicensor franchisor franchisee distributor consultant contractor "
    "subcontractor landlord tenant lessor lessee borrower lender employer employee reseller guarantor "
    "assignor assignee indemnitor indemnitee mortgagor mortgagee grantor grantee"
).split()
_ROLES_CAPITALISED = (
    "Company Client Customer Provider Supplier Vendor Buyer Seller Purchaser Manufacturer Agent Recipient "
    "Owner Developer Publisher Sponsor Investigator Institution"
).split()
_ROLE_PHRASES = ["disclosing party", "receiving party", "service provider"]
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
_ROLE_WORDS = frozenset([*_ROLES_ANY_CASE, *(r.lower() for r in _ROLES_CAPITALISED), "party", "parties"])
_STORAGE_PHRASE = re.compile(r"out\s+of\s+(?:the\s+)?reach\s+of\s+children|儿童(?:不可|无法)?触及", _I)
_BRAND_RE = re.compile(r"\b[A-Z][A-Z0-9-]{3,}\b")
_LETTERS_RE = re.compile(r"[A-Za-z]{2,}")
# International nonproprietary name stems: "adalimumab", "lorbesartan", "atorvastatin".
_GENERIC_SUFFIXES = tuple(
    "mab nib cept pril sartan olol statin prazole floxacin cycline mycin cillin azole parin xaban gliptin "
    "glutide vir dronate lukast".split()
)
_LONG_WORD_RE = re.compile(r"\b[A-Za-z]{6,}\b")
_NOT_BRANDS = frozenset(
    "WARNING WARNINGS NOTE BOXED IMPORTANT INDICATIONS DOSAGE ADMINISTRATION CONTRAINDICATIONS ADVERSE "
    "REACTIONS PRECAUTIONS USAGE SECTION ARTICLE EXHIBIT SCHEDULE AGREEMENT LICENSE THIS THAT THE AND WITH "
    "SHALL WILL NOT FROM WITHOUT LIMITATION PARTY PARTIES ANY DMARD DMARDS NSAID NSAIDS HIPAA GDPR COVID "
    "USPI SERIOUS INFECTIONS MALIGNANCY ELISA TABLE FIGURE STORAGE HANDLING SUPPLIED CLINICAL STUDIES "
    "PHARMACOLOGY OVERDOSAGE DESCRIPTION INFORMATION PATIENT COUNSELING MEDICATION GUIDE RISK RISKS NONE "
    "UNITED STATES AMERICA INC LLC LTD CORP GMBH MASTER SERVICES TERM TERMINATION FEES PAYMENT LIABILITY "
    "CONFIDENTIALITY DATA SOFTWARE WHEREAS NOW THEREFORE WITNESSETH WITNESS RECITALS DEFINITIONS HEREBY "
    "SIGNATURE NAME TITLE DATE LICENSEOR LICENSOR LICENSEE SOURCE PURSUANT GRANT CONDITIONS TRADEMARK".split()
)


def _compatible(typ: str, a: str, b: str) -> bool:
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
def _mention_spans(text: str, known: tuple[str, ...] = ()) -> tuple[tuple[str, str, int, int], ...]:
    """(type, canonical, start, end) of populations, contract roles, drug names and known names."""
    out: list[tuple[str, str, int, int]] = []
    scrubbed = _STORAGE_PHRASE.sub(lambda m: " " * len(m.group(0)), text)
    for m in _matches_at_words(_POP_RE, scrubbed, _POP_FIRST, text):
        typ, canon, _ = _POPULATIONS[int((m.lastgroup or "p0")[1:])]
        out.append((typ, canon, m.start(), m.end()))
    for m in _matches_at_words(_ROLE_RE, text, _ROLE_FIRST):
        low = " ".join(m.group(0).lower().replace("’", "'").split()).removesuffix("'s")
        if low.endswith("s") and low[:-1] in _ROLE_WORDS:  # "Licensees" -> "licensee"
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


def _mentions(text: str, known: tuple[str, ...] = ()) -> dict[str, set[str]]:
    by_type: dict[str, set[str]] = {}
    for typ, canon, _, _ in _mention_spans(text, known):
        by_type.setdefault(typ, set()).add(canon)
    return by_type


def _entity_words(text: str, known: tuple[str, ...] = ()) -> set[str]:
    return {stem(w) for _, _, s, e in _mention_spans(text, known) for w in text[s:e].split()}


# ============================================================================================
# Quantities
# ============================================================================================


@dataclass(frozen=True)
class Quantity:
    """A number with its kind and normalised value, as found in a text."""

    kind: str  # mass volume percent money duration frequency date year concentration dose_per_weight
    # dose_per_area body_weight age temperature count
    value: float  # normalised: mg, mL, %, currency units, minutes/months/business days, interval hours, °C
    unit: str  # normalised unit or key: "mg", "USD", "min" | "month" | "bday", ISO date, counted noun
    text: str  # as written, e.g. "thirty (30) days"
    raw: float  # the number as written, before unit conversion
    start: int = -1
    end: int = -1
    bound: str = ""  # "max" for "up to 40 mg" / "within 30 days", "min" for "at least 2 weeks", "" otherwise
    limit: bool = (
        False  # the bound is a stated constraint ("maximum", "at least"), not a description ("over")
    )
    range_of: str = ""  # surface of the whole range ("30 minutes to 4 hours") for range endpoints

    @property
    def days(self) -> float | None:
        """Durations and frequency intervals in days (months as 30.4375 days); None for other kinds."""
        if self.kind == "duration":
            return {"min": self.value / 1440, "month": self.value * 30.4375, "bday": self.value}[self.unit]
        if self.kind == "frequency":
            return self.value / 24
        return None


_ONES = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_ZH_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}

_WORD_ALTS = "|".join(sorted([*_ONES, *_SCALES], key=len, reverse=True))
_DIG = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_WORDNUM = rf"(?:(?:{_WORD_ALTS})\b(?:[\s-]+(?:{_WORD_ALTS})\b)*)"
_ZHNUM = r"[零〇一二两三四五六七八九十百千万]+"
_NUM_START = r"(?<![A-Za-z0-9.,第])"


def _num(tag: str) -> str:
    """A number (digits, words or Chinese), optionally restated in brackets: 'thirty (30)'."""
    return (
        rf"{_NUM_START}(?P<{tag}>{_DIG}|{_WORDNUM}|{_ZHNUM})"
        rf"(?:\s*[(（]\s*(?P<{tag}p>{_DIG}|{_WORDNUM})\s*[)）])?"
    )


def _parse_words(s: str) -> float:
    total, cur = 0.0, 0.0
    for tok in re.split(r"[\s-]+", s.lower()):
        if tok in _ONES:
            cur += _ONES[tok]
        elif tok == "hundred":
            cur = max(cur, 1) * 100
        elif tok in _SCALES:
            total += max(cur, 1) * _SCALES[tok]
            cur = 0
    return total + cur


def _parse_zh(s: str) -> float:
    if len(s) > 1 and all(ch in _ZH_DIGITS for ch in s):  # "二〇二〇" is read digit by digit
        return float("".join(str(_ZH_DIGITS[ch]) for ch in s))
    total, cur = 0.0, 0.0
    for ch in s:
        if ch in _ZH_DIGITS:
            cur = _ZH_DIGITS[ch]
        elif ch == "万":
            total = (total + cur) * 10000
            cur = 0
        elif ch in _ZH_UNITS:
            total += (cur or 1) * _ZH_UNITS[ch]
            cur = 0
    return total + cur


def _parse_number(s: str | None) -> float | None:
    s = (s or "").strip()
    if not s:
        return None
    if s[0].isdigit() or s[0] == ".":
        return float(s.replace(",", ""))
    if s[0] in _ZH_DIGITS or s[0] in _ZH_UNITS:
        return _parse_zh(s)
    return _parse_words(s)


def _value(m: re.Match[str], tag: str) -> float | None:
    """The number captured under `tag`; a bracketed restatement ('thirty (30)') wins when present."""
    restated = m.groupdict().get(tag + "p")
    return _parse_number(restated) if restated else _parse_number(m.group(tag))


# Unit surface (lower-case) -> factor to the normalised unit.
_MASS = {
    "mcg": 0.001, "µg": 0.001, "μg": 0.001, "ug": 0.001, "microgram": 0.001, "micrograms": 0.001,
    "mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "g": 1000.0, "gm": 1000.0, "gram": 1000.0,
    "grams": 1000.0, "kg": 1e6, "kilogram": 1e6, "kilograms": 1e6,
    "毫克": 1.0, "微克": 0.001, "克": 1000.0, "千克": 1e6, "公斤": 1e6,
}  # fmt: skip
_VOLUME = {
    "ml": 1.0, "milliliter": 1.0, "milliliters": 1.0, "millilitre": 1.0, "millilitres": 1.0, "cc": 1.0,
    "l": 1000.0, "liter": 1000.0, "liters": 1000.0, "litre": 1000.0, "litres": 1000.0,
    "teaspoon": 5.0, "teaspoons": 5.0, "teaspoonful": 5.0, "teaspoonfuls": 5.0, "tsp": 5.0,
    "tablespoon": 15.0, "tablespoons": 15.0, "tablespoonful": 15.0, "tablespoonfuls": 15.0, "tbsp": 15.0,
    "毫升": 1.0, "升": 1000.0,
}  # fmt: skip
# Durations keep three incommensurable groups: clock time (minutes), calendar months, business days.
_DURATION = {
    "minute": ("min", 1), "minutes": ("min", 1), "min": ("min", 1), "mins": ("min", 1),
    "hour": ("min", 60), "hours": ("min", 60), "hr": ("min", 60), "hrs": ("min", 60), "h": ("min", 60),
    "day": ("min", 1440), "days": ("min", 1440), "calendar day": ("min", 1440),
    "calendar days": ("min", 1440), "week": ("min", 10080), "weeks": ("min", 10080),
    "wk": ("min", 10080), "wks": ("min", 10080), "month": ("month", 1), "months": ("month", 1),
    "year": ("month", 12), "years": ("month", 12), "yr": ("month", 12), "yrs": ("month", 12),
    "business day": ("bday", 1), "business days": ("bday", 1), "working day": ("bday", 1),
    "working days": ("bday", 1),
    "分钟": ("min", 1), "小时": ("min", 60), "天": ("min", 1440), "日": ("min", 1440), "周": ("min", 10080),
    "星期": ("min", 10080), "个月": ("month", 1), "年": ("month", 12), "工作日": ("bday", 1),
}  # fmt: skip

_MASS_RE = r"mcg|µg|μg|ug|micrograms?|milligrams?|mg|kilograms?|kg|grams?|gm|g|毫克|微克|千克|公斤|克"
_VOL_RE = (
    r"milli(?:liter|litre)s?|ml|cc|(?:liter|litre)s?|(?-i:L)|teaspoon(?:ful)?s?|tablespoon(?:ful)?s?|tsp|tbsp"
    r"|毫升|升"
)
_LENGTH = {
    "mm": 1.0,
    "millimeter": 1.0,
    "millimeters": 1.0,
    "cm": 10.0,
    "centimeter": 10.0,
    "centimeters": 10.0,
}
_LEN_RE = r"millimet(?:er|re)s?|mm|centimet(?:er|re)s?|cm"
_PCT_RE = r"%|％|percent|per\s?cent"
_DUR_RE = (
    r"(?:business|working)\s+days?|calendar\s+days?|minutes?|mins?|hours?|hrs?|h|days?|weeks?|wks?|months?"
    r"|years?|yrs?|工作日|分钟|小时|天|周|星期|个月|年|日"
)
_AFTER_UNIT = r"(?![A-Za-z])"
_RANGE_SEP = r"\s*(?:-|–|—|~|to|or|and|through|至|到)\s*"


def _unit_pattern(units: str, adjectives: str = "") -> re.Pattern[str]:
    adj = rf"(?:(?:{adjectives})\s+)?" if adjectives else ""
    return re.compile(
        rf"{_num('a')}(?:(?P<sep>{_RANGE_SEP}){_num('b')})?\s*-?\s*{adj}(?P<unit>{units}){_AFTER_UNIT}", _I
    )


_PCT_Q = _unit_pattern(_PCT_RE)
_MASS_Q = _unit_pattern(_MASS_RE)
_VOL_Q = _unit_pattern(_VOL_RE)
_LEN_Q = _unit_pattern(_LEN_RE)
# "5 times the upper limit of normal", "three times higher": a multiplier.
_TIMES_Q = re.compile(
    rf"{_num('a')}(?:{_RANGE_SEP}{_num('b')})?\s*(?:times|x|-fold|fold)\s+(?=the\b|that\b|higher|greater|more|as\b|lower|the\s+risk)",
    _I,
)
_DUR_Q = _unit_pattern(_DUR_RE, "additional|consecutive|further|more|full|straight|successive|separate")
_CONC_Q = re.compile(
    rf"{_num('a')}\s*(?P<mu>{_MASS_RE})\s*(?:/|per|in)\s*(?:{_num('v')}\s*)?(?P<vu>{_VOL_RE}){_AFTER_UNIT}",
    _I,
)
_PER_BODY_Q = re.compile(rf"{_num('a')}\s*(?P<mu>{_MASS_RE})\s*/\s*(?P<per>kg|m2|m²|m\^2)(?![A-Za-z0-9])", _I)
_AGE_NUM_Q = re.compile(
    rf"{_num('a')}(?:{_RANGE_SEP}{_num('b')})?\s*-?\s*(?:years?|yrs?)[\s-]*(?:of\s+age|old)\b"
    rf"|{_num('e')}\s*(?:years?|yrs?)\s+(?:and|or)\s+(?:older|over|above|younger|under)\b"
    rf"|{_num('g')}\s*岁",
    _I,
)
_AGE_WORD_Q = re.compile(
    rf"\bage[sd]?\s+{_num('c')}(?:{_RANGE_SEP}{_num('d')})?(?:\s*(?:years?|yrs?)\b)?"
    rf"|\b(?:children|adults|adolescents|patients|persons|people|infants|kids)\s+(?:(?:aged?|under|over|below|"
    rf"above|younger\s+than|older\s+than|at\s+least|less\s+than)\s+)+{_num('f')}\s*(?:years?|yrs?)\b",
    _I,
)
_TEMP_Q = re.compile(rf"{_num('a')}(?:{_RANGE_SEP}{_num('b')})?\s*°\s*(?P<unit>[CF])\b")
_BODY_WEIGHT_CONTEXT = re.compile(r"weigh|weight|体重", _I)

_CUR = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "美元": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "£": "GBP", "gbp": "GBP",
    "¥": "CNY", "cny": "CNY", "rmb": "CNY", "人民币": "CNY", "元": "CNY",
}  # fmt: skip
_MULT = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mm": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9}
_MONEY_POST = re.compile(
    rf"{_num('a')}(?:\s*(?P<mult>million|billion|thousand))?\s*"
    rf"(?P<cur>dollars?|usd|euros?|eur|gbp|rmb|cny|美元|人民币|元){_AFTER_UNIT}"
    rf"(?:\s*\(\s*(?:US)?\$?\s*(?P<dp>{_DIG})\s*\))?",
    _I,
)
_MONEY_PRE = re.compile(
    rf"(?P<cur>US\$|\$|USD|EUR|€|£|GBP|¥|CNY|RMB|人民币)\s?(?P<a>{_DIG}|{_WORDNUM})"
    r"(?:\s*(?P<mult>million|billion|thousand|bn|mm|mn|[mk])(?![A-Za-z]))?"
    rf"(?:\s*\(\s*(?:{_WORDNUM})(?:\s+(?:dollars?|euros?))?\s*\))?",
    _I,
)

# Frequencies are normalised to the interval between doses, in hours.
_PERIOD_H = {
    "hour": 1, "hr": 1, "hrs": 1, "h": 1, "day": 24, "daily": 24, "d": 24, "night": 24, "nightly": 24,
    "week": 168, "weekly": 168, "wk": 168, "wks": 168, "w": 168, "fortnight": 336, "fortnightly": 336,
    "month": 730.5, "monthly": 730.5, "mo": 730.5, "quarter": 2191.5, "quarterly": 2191.5,
    "year": 8766, "yearly": 8766, "annually": 8766, "annum": 8766, "semiannually": 4383,
    "semi-annually": 4383, "hourly": 1,
    "天": 24, "日": 24, "周": 168, "星期": 168, "个月": 730.5, "月": 730.5, "年": 8766, "小时": 1,
}  # fmt: skip
_TIMES = {"once": 1, "twice": 2, "thrice": 3}
_NUMW = rf"(?:{_DIG}|{_WORDNUM})"
_ZH_SMALL = r"[一二两三四五六七八九十]+|\d+"
_FREQ_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("times", re.compile(
        rf"\b(?P<t>once|twice|thrice|{_NUMW}\s*(?:times|x))\s*(?:a|an|per|each|every|/)?\s*"
        r"(?P<per>day|daily|week|weekly|month|monthly|year|yearly|annually|hour|night|nightly)\b", _I)),
    ("other", re.compile(r"\b(?:once\s+)?every\s+(?:other|second|alternate)\s+(?P<per>day|week|month|year)\b", _I)),
    ("every", re.compile(
        rf"\b(?:once\s+)?every\s+(?:(?P<n>{_NUMW})\s*[-\s]?\s*)?(?P<per>hours?|hrs?|days?|weeks?|months?|years?)\b",
        _I)),
    ("q", re.compile(r"\bq\.?\s?(?P<n>\d+)\s?(?P<per>h|hrs?|hours?|d|days?|w|wks?|weeks?|mo)\b", _I)),
    ("abbr", re.compile(r"\b(?:QD|QOD|BID|TID|QID|QW|QOW|qd|qod|tid|qid|qw|qow)\b|(?:[qbt]\.[iod]\.d\.|q\.d\.)")),
    ("adverb", re.compile(
        r"\b(?:once\s+)?(?P<per>daily|nightly|weekly|fortnightly|monthly|quarterly|annually|yearly|hourly|"
        r"semi-?annually)\b|\b(?:every|each)\s+(?P<per2>day|night|week|month|year)\b", _I)),
    ("per", re.compile(r"(?:\bper\s+|/\s*|\bin\s+any\s+(?:given\s+)?|\bin\s+a\s+(?=year|month))(?P<per>day|week|month|year|annum|hour|hr|d|wk)\b", _I)),
    ("zh_other", re.compile(rf"每隔(?P<n>{_ZH_SMALL})?(?P<per>天|日|周|星期|个月|月|年|小时)")),
    ("zh_every", re.compile(rf"每(?P<n>{_ZH_SMALL})?(?P<per>天|日|周|星期|个月|年|小时)(?:(?P<t>{_ZH_SMALL})次)?")),
    ("zh_times", re.compile(rf"一(?P<per>天|日|周|星期)(?P<t>{_ZH_SMALL})次")),
]  # fmt: skip
_TIMES_SUFFIX = re.compile(r"\s*(?:times|x)$", _I)
_DIGIT_X = re.compile(r"\dx")
_ABBR_H = {"qd": 24, "qod": 48, "bid": 12, "tid": 8, "qid": 6, "qw": 168, "qow": 336}

_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1, "feb": 2, "mar": 3, "apr": 4,
    "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
# "may" is also a modal verb, so that month is only recognised capitalised.
_MON = (
    r"(?P<mon>(?i:january|february|march|april|june|july|august|september|october|november|december|jan|feb|"
    r"mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)|May|MAY)"
)
_DATE_PATTERNS = [
    re.compile(rf"\b{_MON}\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})\b"),
    re.compile(rf"\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:(?i:day\s+of)\s+)?{_MON}\.?,?\s+(?P<y>\d{{4}})\b"),
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b"),
    re.compile(r"(?<![\d/])(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4}|\d{2})(?![\d/])"),
    re.compile(r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月(?:\s*(?P<d>\d{1,2})\s*日)?"),
    re.compile(rf"\b{_MON}\.?,?\s+(?P<y>\d{{4}})\b"),
    re.compile(r"(?<![\d/])(?P<m>\d{1,2})/(?P<y>\d{4})(?![\d/])"),
]
_YEAR = re.compile(
    r"(?<![\d.,$/-])(?P<y>19\d{2}|20\d{2})(?!\d|[.,]\d|%|\s*(?:patients|subjects|people|participants|units|cases)\b)"
)
_FRACTIONS = {"half": 0.5, "third": 1 / 3, "thirds": 1 / 3, "quarter": 0.25, "quarters": 0.25, "fourth": 0.25}
_FRACTION_Q = re.compile(
    r"\b(?P<n>one|a|two|three)[\s-](?P<f>half|thirds?|quarters?|fourths?)\b(?![\s-]+part(?:y|ies))"
    r"(?:\s*\(\s*\d+\s*/\s*\d+\s*\))?"
    r"|(?<![\d/])(?P<dn>\d)\s*/\s*(?P<dd>[2-9]|1[0-2])(?![\d/])",
    _I,
)
_COUNT_Q = re.compile(
    rf"{_num('a')}(?:\s*(?:-|–|to|or)\s*{_num('b')})?\s+(?P<noun>[A-Za-z][a-z]+)\b"
    rf"|{_NUM_START}(?P<zn>{_ZH_SMALL})(?P<znoun>次|支|片|粒|针|剂|名|位|项|条)"
)
_COUNT_STOP = frozenset(
    "of the a an and or to in on at for by with from is are was were be times time per percent x more less than "
    "other such additional further each most".split()
)
# A number right after these words is a reference ("Section 5", "Table 2"), not a quantity.
_REFERENCE_BEFORE = re.compile(
    r"(?:section|sections|sec|§|article|art|clause|schedule|exhibit|appendix|annex|table|figure|fig|page|pages|"
    r"p|pp|paragraph|para|item|no|number|part|chapter|step|day|week|cycle|visit|version|rule|title|phase|grade|"
    r"type|class|stage|level|category|tier|dose|year|month|list|line|row|column|form)\.?\s*$",
    _I,
)
# Words that turn a number into a limit. The last one before a quantity (in its clause) decides.
_BOUND_BEFORE = re.compile(
    r"(?P<max>up\s+to|maximum(?:\s+of)?|max\.?|at\s+most|no\s+more\s+than|not\s+more\s+than|not\s+to\s+exceed|"
    r"not\s+exceed(?:ing)?|no\s+greater\s+than|within|no\s+later\s+than|not\s+later\s+than|no\s+longer\s+than|"
    r"not\s+longer\s+than|limit(?:ed)?\s+(?:of|to)|cap(?:ped)?\s+(?:of|at)|≤|最多|不超过|最大|以内)"
    r"|(?P<wmax>less\s+than|fewer\s+than|shorter\s+than|younger\s+than|under|below|<)"
    r"|(?P<min>at\s+least|minimum(?:\s+of)?|no\s+less\s+than|not\s+less\s+than|no\s+earlier\s+than|≥|至少|不少于|以上)"
    r"|(?P<wmin>more\s+than|greater\s+than|longer\s+than|older\s+than|over|above|exceeding|>)",
    _I,
)
_BOUND_AFTER = re.compile(
    r"\s*(?:(?P<max>or\s+(?:less|fewer|under|below|younger)|and\s+(?:under|below|younger))|"
    r"(?P<min>or\s+(?:more|greater|over|above|longer|older)|and\s+(?:over|above|older)))\b",
    _I,
)
_BETWEEN_END = re.compile(r"between\s*$", _I)
_NUMBER_AND_END = re.compile(r"\d\s*(?:years?\s+)?(?:and|or)\s*$", _I)
_RANGE_GAP = re.compile(r"\s*(?:-|–|to|through)\s*", _I)
_NEGATOR = re.compile(r"\b(?:not|no|never)\b|n['’]t\b", _I)
_CLAUSE_BREAK = re.compile(r"[.;!?。；]\s|[\n:]")


def _stem_noun(w: str) -> str:
    w = w.lower()
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "sses")):
        return w[:-2]
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


_NUMBER_WORDS = frozenset([*_ONES, *_SCALES])
_NUM_TOKEN = re.compile(r"(?<!\d)\d|[零〇一二两三四五六七八九十百千万]+")
_WORD_RE = re.compile(r"[a-z]+")


class _Scanner:
    """Runs extraction passes over a text, blanking what each pass consumes so later passes skip it.

    Scanning every position with every pattern is slow in `re`, so patterns that begin with a number
    are only tried where a number starts, and the others only run when their keywords occur.
    """

    def __init__(self, text: str) -> None:
        self.orig = text
        self.work = text
        self.out: list[Quantity] = []
        self.lower = text.lower()
        self.words = frozenset(_WORD_RE.findall(self.lower))
        index = _word_positions(text)
        self.num_starts = sorted(
            [m.start() for m in _NUM_TOKEN.finditer(text)]
            + [p for w in _NUMBER_WORDS.intersection(index) for p in index[w]]
        )

    def has(self, *needles: str) -> bool:
        return any((n in self.words) if n.isalpha() and n.isascii() else (n in self.lower) for n in needles)

    def matches(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        return list(pattern.finditer(self.work))

    def at_numbers(self, pattern: re.Pattern[str]) -> list[re.Match[str]]:
        """Non-overlapping matches of a number-led pattern, tried only where numbers start."""
        out: list[re.Match[str]] = []
        last = -1
        for pos in self.num_starts:
            if pos < last:
                continue
            m = pattern.match(self.work, pos)
            if m:
                out.append(m)
                last = m.end()
        return out

    def consume(self, m: re.Match[str]) -> None:
        s, e = m.span()
        self.work = self.work[:s] + "\x00" * (e - s) + self.work[e:]

    def add(self, kind: str, value: float, unit: str, m: re.Match[str], raw: float, text: str = "") -> None:
        text = " ".join((text or self.orig[m.start() : m.end()]).split())
        self.out.append(Quantity(kind, value, unit, text, raw, m.start(), m.end()))


def _scan_dates(sc: _Scanner) -> None:
    has_month = bool(sc.words & _MONTHS.keys())
    for i, pat in enumerate(_DATE_PATTERNS):
        if i in (0, 1, 5) and not has_month:
            continue
        if i in (2, 3, 6) and not sc.has("/", "-"):
            continue
        if i == 4 and "年" not in sc.orig:
            continue
        for m in sc.matches(pat):
            g = m.groupdict()
            mon = _MONTHS.get((g.get("mon") or "").lower().rstrip(".")) or int(g.get("m") or 0)
            year = int(g["y"])
            if year < 100:
                year += 2000 if year < 70 else 1900
            day = int(g["d"]) if g.get("d") else 0
            if not 1 <= mon <= 12 or day > 31:
                continue
            iso = f"{year:04d}-{mon:02d}" + (f"-{day:02d}" if day else "")
            sc.add("date", 0.0, iso, m, float(year))
            sc.consume(m)


def _freq_interval(kind: str, m: re.Match[str]) -> float | None:
    g = m.groupdict()
    if kind == "abbr":
        return _ABBR_H.get(m.group(0).lower().replace(".", ""))
    per = g.get("per") or g.get("per2") or ""
    per = per if kind.startswith("zh") else per.lower()
    period = _PERIOD_H.get(per) or _PERIOD_H.get(per.rstrip("s"))
    if period is None:
        return None
    if kind == "times":
        t = g["t"].lower()
        times = _TIMES.get(t) or _parse_number(_TIMES_SUFFIX.sub("", t))
        return period / times if times else None
    if kind == "other":
        return 2 * period
    if kind in ("every", "q"):
        n = _parse_number(g.get("n")) or 1
        return n * period
    if kind == "zh_other":
        n = _parse_number(g.get("n")) or 1
        # "每隔一周" / "隔天" mean every other week/day; "每隔8小时" is commonly "every 8 hours".
        return (2 if n == 1 else n) * period
    if kind in ("zh_every", "zh_times"):
        n = _parse_number(g.get("n")) or 1
        t = _parse_number(g.get("t")) or 1
        return n * period / t
    return period


_FREQ_NEEDLES = {
    "times": ("once", "twice", "thrice", "times", "x"),
    "other": ("every",),
    "every": ("every",),
    "q": ("q",),
    "abbr": ("qd", "qod", "bid", "tid", "qid", "qw", "qow", "q.", "b.i", "t.i"),
    "adverb": ("daily", "nightly", "weekly", "fortnightly", "monthly", "quarterly", "annually", "yearly",
               "hourly", "semiannually", "semi", "every", "each"),
    "per": ("per", "/", "any", "a"),
    "zh_other": ("每",),
    "zh_every": ("每",),
    "zh_times": ("次",),
}  # fmt: skip


def _scan_frequencies(sc: _Scanner) -> None:
    for kind, pat in _FREQ_PATTERNS:
        if not sc.has(*_FREQ_NEEDLES[kind]) and not (kind == "times" and _DIGIT_X.search(sc.lower)):
            continue
        for m in sc.matches(pat):
            hours = _freq_interval(kind, m)
            if hours:
                sc.add("frequency", hours, "h", m, hours)
                sc.consume(m)


def _scan_money(sc: _Scanner) -> None:
    post = sc.has(
        "dollar", "dollars", "usd", "euro", "euros", "eur", "gbp", "rmb", "cny", "美元", "人民币", "元"
    )
    pre = sc.has("$", "€", "£", "¥", "usd", "eur", "gbp", "cny", "rmb", "人民币")
    for pat in ([_MONEY_POST] if post else []) + ([_MONEY_PRE] if pre else []):
        for m in sc.at_numbers(pat) if pat is _MONEY_POST else sc.matches(pat):
            g = m.groupdict()
            if g.get("dp"):  # "Five Thousand Dollars ($5,000)": the figures decide
                amount = _parse_number(g["dp"])
            else:
                amount = _value(m, "a")
                if amount is not None:
                    amount *= _MULT.get((g.get("mult") or "").lower(), 1.0)
            if amount is None:
                continue
            sc.add("money", amount, _CUR.get(g["cur"].lower(), g["cur"].upper()), m, amount)
            sc.consume(m)


def _scan_age_and_temperature(sc: _Scanner) -> None:
    found = sc.at_numbers(_AGE_NUM_Q) if sc.has("year", "years", "yr", "yrs", "岁") else []
    if sc.has("age", "aged", "ages", "children", "adults", "adolescents", "patients", "persons", "people"):
        found += sc.matches(_AGE_WORD_Q)
    for m in found:
        for tag in "abcdefg":
            if m.groupdict().get(tag):
                v = _value(m, tag)
                if v is not None:
                    sc.add("age", v, "years", m, v)
        sc.consume(m)
    for m in sc.at_numbers(_TEMP_Q) if "°" in sc.orig else []:
        for tag in "ab":
            v = _value(m, tag) if m.group(tag) else None
            if v is not None:
                c = v if m.group("unit") == "C" else (v - 32) * 5 / 9
                sc.add("temperature", round(c, 1), "C", m, v, f"{m.group(tag)}°{m.group('unit')}")
        sc.consume(m)


def _scan_ratios(sc: _Scanner) -> None:
    for m in sc.at_numbers(_PER_BODY_Q) if "/" in sc.orig else []:
        a = _value(m, "a")
        if a is None:
            continue
        per = "kg" if m.group("per").lower() == "kg" else "m2"
        kind = "dose_per_weight" if per == "kg" else "dose_per_area"
        sc.add(kind, a * _MASS[m.group("mu").lower()], f"mg/{per}", m, a)
        sc.consume(m)
    for m in sc.at_numbers(_CONC_Q):
        a = _value(m, "a")
        v = _value(m, "v") if m.group("v") else 1.0
        if a is None or not v:
            continue
        mg = a * _MASS[m.group("mu").lower()]
        ml = v * _VOLUME[m.group("vu").lower()]
        sc.add("concentration", mg / ml, "mg/mL", m, a)
        # The amount in the container is itself a checkable dose ("40 mg" in "40 mg/0.8 mL").
        sc.add("mass", mg, "mg", m, a, f"{m.group('a')} {m.group('mu')}")
        if m.group("v"):
            sc.add("volume", ml, "mL", m, v, f"{m.group('v')} {m.group('vu')}")
        sc.consume(m)


def _scan_units(sc: _Scanner) -> None:
    for m in sc.at_numbers(_TIMES_Q):
        for tag in ("a", "b") if m.group("b") else ("a",):
            v = _value(m, tag)
            if v is not None:
                sc.add("multiple", v, "x", m, v, "" if not m.group("b") else f"{m.group(tag)} times")
        sc.consume(m)
    passes = (
        ("percent", _PCT_Q),
        ("mass", _MASS_Q),
        ("volume", _VOL_Q),
        ("length", _LEN_Q),
        ("duration", _DUR_Q),
    )
    for kind, pat in passes:
        for m in sc.at_numbers(pat):
            unit_text = m.group("unit")
            unit = " ".join(unit_text.lower().split())
            tags = ["a", "b"] if m.group("b") else ["a"]
            before = sc.orig[max(0, m.start() - 25) : m.start()]
            # "Day 1 and 80 mg" is a day number and a dose, not a range; "and" only ranges after "between".
            if len(tags) == 2 and (
                _REFERENCE_BEFORE.search(before)
                or (m.group("sep").strip().lower() == "and" and not _BETWEEN_END.search(before))
            ):
                tags = ["b"]
            for tag in tags:
                v = _value(m, tag)
                if v is None:
                    continue
                text = "" if not m.group("b") else f"{m.group(tag)} {unit_text}"
                if kind == "percent":
                    sc.add("percent", v, "%", m, v, text)
                elif kind == "mass":
                    factor = _MASS.get(unit, 1.0)
                    before = sc.orig[max(0, m.start() - 30) : m.start()]
                    if factor >= 1e6 and _BODY_WEIGHT_CONTEXT.search(before):
                        sc.add("body_weight", v, "kg", m, v, text)  # "patients weighing 15 kg to < 30 kg"
                    else:
                        sc.add("mass", v * factor, "mg", m, v, text)
                elif kind == "length":
                    sc.add("length", v * _LENGTH.get(unit, 1.0), "mm", m, v, text)
                elif kind == "volume":
                    sc.add("volume", v * _VOLUME.get(unit, _VOLUME.get(unit_text, 1.0)), "mL", m, v, text)
                else:
                    group, factor = _DURATION.get(unit, _DURATION.get(unit_text, ("min", 1440)))
                    sc.add("duration", v * factor, group, m, v, text)
            sc.consume(m)


def _scan_fractions(sc: _Scanner) -> None:
    if not sc.has("/", "half", "third", "thirds", "quarter", "quarters", "fourth", "fourths"):
        return
    for m in sc.matches(_FRACTION_Q):
        if m.group("f"):
            n = {"one": 1, "a": 1, "two": 2, "three": 3}[m.group("n").lower()]
            v = n * _FRACTIONS.get(m.group("f").lower().rstrip("s"), _FRACTIONS.get(m.group("f").lower(), 0))
        else:
            v = int(m.group("dn")) / int(m.group("dd"))
        sc.add("percent", round(v * 100, 6), "%", m, v)
        sc.consume(m)


def _scan_years_and_counts(sc: _Scanner) -> None:
    for m in sc.at_numbers(_YEAR):
        y = float(m.group("y"))
        sc.add("year", y, m.group("y"), m, y)
        sc.consume(m)
    for m in sc.at_numbers(_COUNT_Q):
        if m.group("zn"):
            v = _parse_number(m.group("zn"))
            if v is not None:
                sc.add("count", v, m.group("znoun"), m, v)
            continue
        noun = m.group("noun")
        if "." in m.group("a") and noun[0].isupper():
            continue  # "2.2 Licensor may ...": a clause number
        if noun.lower() in _COUNT_STOP or _REFERENCE_BEFORE.search(
            sc.orig[max(0, m.start() - 25) : m.start()]
        ):
            continue
        for tag in ("a", "b") if m.group("b") else ("a",):
            v = _value(m, tag)
            if v is not None:
                text = "" if tag == "a" and not m.group("b") else f"{m.group(tag)} {noun}"
                sc.add("count", v, _stem_noun(noun), m, v, text)
        sc.consume(m)


def _with_bounds(text: str, qs: list[Quantity]) -> list[Quantity]:
    """Mark quantities stated as limits ("up to 80 mg", "within 30 days", "at least 2 weeks") and ranges."""
    out = []
    prev_end = 0
    ordered = sorted(qs, key=lambda q: (q.start, q.end))
    by_span: dict[tuple[int, int, str], list[Quantity]] = {}
    for q in ordered:
        by_span.setdefault((q.start, q.end, q.kind), []).append(q)
    for i, q in enumerate(ordered):
        bound, limit = "", False
        if q.kind not in ("date", "year"):
            lo = max(prev_end if prev_end <= q.start else 0, q.start - 60)
            before = text[lo : q.start]
            breaks = list(_CLAUSE_BREAK.finditer(before))
            if breaks:
                before = before[breaks[-1].end() :]
            # "12 and over can take 2 caplets": that "over" belongs to the 12, not to the caplets.
            hits = [
                h for h in _BOUND_BEFORE.finditer(before)
                if not _NUMBER_AND_END.search(before[: h.start()])
            ]  # fmt: skip
            if hits:
                last = hits[-1]
                bound = "max" if last.group("max") or last.group("wmax") else "min"
                limit = bool(last.group("max") or last.group("min"))
                # "Do not take more than 10 tablets": a negated lower bound is a firm upper bound.
                if bound == "min" and _NEGATOR.search(before[: last.start()]):
                    bound, limit = "max", True
            after = _BOUND_AFTER.match(text, q.end)
            if after:
                bound, limit = ("max" if after.group("max") else "min"), False
            if q.kind == "frequency" and bound:
                # "no more than once daily" caps how often, i.e. sets the shortest interval.
                bound = "min" if bound == "max" else "max"
        # Both ends of one range ("30 minutes to 4 hours", "10-20 mg") share a span.
        same_span = by_span[(q.start, q.end, q.kind)]
        range_of = ""
        if len(same_span) == 2 and q.kind not in ("concentration",):
            range_of = " ".join(text[q.start : q.end].split())
            if not bound:
                bound = "min" if same_span[0] is q else "max"
        elif not bound and i + 1 < len(ordered):
            nxt = ordered[i + 1]
            gap = text[q.end : nxt.start]
            if nxt.kind == q.kind and _RANGE_GAP.fullmatch(gap):
                range_of = " ".join(text[q.start : nxt.end].split())
                bound = "min"
        if not range_of and i > 0 and not bound:
            prv = ordered[i - 1]
            if prv.kind == q.kind and _RANGE_GAP.fullmatch(text[prv.end : q.start]):
                range_of = " ".join(text[prv.start : q.end].split())
                bound = "max"
        out.append(Quantity(q.kind, q.value, q.unit, q.text, q.raw, q.start, q.end, bound, limit, range_of))
        if q.end > prev_end and q.kind != "frequency":  # "maximum daily dose is 10": "daily" is an adjective
            prev_end = q.end
    return out


@lru_cache(maxsize=4096)
def _quantities(text: str) -> tuple[Quantity, ...]:
    sc = _Scanner(text)
    _scan_dates(sc)
    _scan_frequencies(sc)
    _scan_money(sc)
    _scan_age_and_temperature(sc)
    _scan_ratios(sc)
    _scan_units(sc)
    _scan_fractions(sc)
    _scan_years_and_counts(sc)
    return tuple(_with_bounds(text, sc.out))


def extract_quantities(text: str) -> list[Quantity]:
    """Numbers with units, frequencies, dates, money and counts found in `text`, normalised, in text order."""
    return list(_quantities(text))


def _close(a: float, b: float, rel: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def _comparable(c: Quantity, e: Quantity) -> bool:
    if c.kind == "year":
        return e.kind in ("year", "date")
    if c.kind == "count":
        return e.kind == "count" and e.unit == c.unit
    return c.kind == e.kind


def _magnitude(q: Quantity) -> float:
    return q.days if q.kind == "duration" and q.days is not None else q.value


def _equal(c: Quantity, e: Quantity) -> bool:
    if c.kind == "date":
        return e.unit.startswith(c.unit) or c.unit.startswith(e.unit)
    if c.kind == "year":
        return e.unit[:4] == c.unit
    if c.kind in ("money", "count") and c.unit != e.unit:
        return False
    if c.kind == "duration" and c.unit != e.unit:
        if "bday" in (c.unit, e.unit):
            return False
        # Days vs months: equal within the spread of month lengths ("30 days" ~ "1 month").
        return _close(_magnitude(c), _magnitude(e), rel=0.035)
    return _close(c.value, e.value)


def _violates(c: Quantity, limit: Quantity) -> bool:
    """Whether the plain value `c` lies outside the evidence limit."""
    if c.kind in ("money", "count") and c.unit != limit.unit:
        return False
    if c.kind == "duration" and "bday" in (c.unit, limit.unit) and c.unit != limit.unit:
        return False
    a, b = _magnitude(c), _magnitude(limit)
    return (limit.bound == "max" and a > b * 1.0001) or (limit.bound == "min" and a < b * 0.9999)


# Words that name the same slot in different ways ("take up to 80 mg" vs "the maximum dose is 40 mg").
_CONCEPTS = {
    "DOSE": "dose dosage dosing doses take taken taking took administer administered administration give given "
    "giving inject injected injection chew swallow receive received",
    "PAY": "pay pays paid payment payments payable fee fees price cost costs charge charges "
    "royalty royalties compensation",
    "NOTICE": "notice notify notified notification",
    "TERM": "term duration period renew renews renewal expire expires expiration",
    "END": "terminate terminates termination cancel cancellation",
    "RESPOND": "respond responds response",
    "START": "start starts starting started begin begins beginning initial initially",
    "APPROVE": "approve approved approval indicated indication indications licensed authorized authorised",
    "BUY": "buy buys bought purchase purchases purchased purchasing",
    "INCREASE": "increase increases increased increasing raise raises raised raising titrate titrated",
    "DECREASE": "decrease decreases decreased decreasing lower lowered lowering reduce reduced reducing",
    "COMBINE": "combine combined combining combination coadminister coadministered coadministration "
    "coadministering concomitant concomitantly",
}
_CONCEPT_OF = {w: c for c, ws in _CONCEPTS.items() for w in ws.split()}
# Words too general to show that two quantities describe the same thing.
_GATE_STOP = (
    FUNCTION_WORDS
    | frozenset(
        "agreement party parties patient patients product products service services drug section article day days week weeks month "
        "months year years hour hours minute minutes time times mg ml daily weekly monthly annually once twice "
        "every other per over above under below maximum minimum least most than later earlier longer shorter "
        "exceed exceeds exceeding while also up".split()
    )
    | frozenset(_ONES)
)


_TOPIC_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z'’-]+")


def _topic_words(text: str, exclude: set[str] | None = None) -> frozenset[str]:
    out = set()
    for w in _TOPIC_TOKEN_RE.findall(text):
        low = w.lower()
        if low in _GATE_STOP or low in _ROLE_WORDS:
            continue
        st = stem(w)
        if exclude and st in exclude:
            continue
        out.add(_CONCEPT_OF.get(low, st))
    return frozenset(out)


def _strip_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    for s, e in spans:
        text = text[:s] + " " * (e - s) + text[e:]
    return text


@dataclass(frozen=True)
class _Context:
    words: frozenset[str]  # topic words of the clause around a quantity (numbers left out)
    entities: tuple[tuple[str, str], ...]  # (type, canonical) of populations, parties, drugs in that clause
    extra: bool  # "an additional five years", "5 more days": an increment, not the total
    negated: bool  # "patients who do not need ventilation are treated for 5 days": the opposite case


def _window(text: str, start: int, end: int, width: int = 70) -> tuple[int, int]:
    """The clause around text[start:end], at most `width` characters either side, cut at whole words."""
    lo, hi = max(0, start - width), min(len(text), end + width)
    left = text[lo:start]
    breaks = list(_CLAUSE_BREAK.finditer(left))
    if breaks:
        lo += breaks[-1].end()
    elif lo > 0:
        sp = left.find(" ")
        lo += sp + 1 if sp >= 0 else len(left)
    nxt = _CLAUSE_BREAK.search(text, end, hi)
    if nxt:
        hi = nxt.start()
    elif hi < len(text):
        sp = text.rfind(" ", end, hi)
        hi = sp if sp > end else hi
    return lo, hi


@lru_cache(maxsize=4096)
def _stripped(text: str) -> str:
    return _strip_spans(text, [(x.start, x.end) for x in _quantities(text)])


@lru_cache(maxsize=16384)
def _context(text: str, i: int) -> _Context:
    """What the clause around the i-th quantity of `text` is about (computed only when a mismatch needs it)."""
    q = _quantities(text)[i]
    lo, hi = _window(text, q.start, q.end)
    ents = tuple(sorted({(t, c) for t, c, s, e in _mention_spans(text) if lo <= s and e <= hi}))
    extra = bool(_EXTRA.search(text[max(0, q.start - 16) : q.start]) or _EXTRA.search(q.text))
    # Only a negation leading up to an unbounded number ("who do not need ventilation are treated for
    # 5 days"); in "do not take more than 10" the "not" belongs to the limit.
    negated = not q.bound and bool(_NEGATOR.search(_NOT_NEGATION.sub(" ", text[lo : q.start])))
    return _Context(_topic_words(_stripped(text)[lo:hi]), ents, extra, negated)


_EXTRA = re.compile(r"\b(?:additional|extra|further|another)\b|\bmore\b(?!\s+than)", _I)


def _on_topic(claim: _Context, ev: _Context) -> bool:
    """The evidence clause is about the claim clause's topic ("take" ~ "dose": DOSE) and names no other
    population, party or drug of a type the claim names ("clarithromycin" vs "nelfinavir")."""
    if claim.extra != ev.extra or claim.negated != ev.negated:
        return False
    for typ in {t for t, _ in claim.entities} & {t for t, _ in ev.entities}:
        cs = [c for t, c in claim.entities if t == typ]
        es = [c for t, c in ev.entities if t == typ]
        if not any(_compatible(typ, x, y) for x in cs for y in es):
            return False
    if not claim.words:
        return True
    shared = len(claim.words & ev.words)
    return shared >= 3 or shared / len(claim.words) > 0.5


def _describe(e: Quantity) -> str:
    if e.range_of:
        return e.range_of
    if e.limit and e.bound:
        return f"{'at most' if e.bound == 'max' else 'at least'} {e.text}"
    return e.text


_MULTIPLIER_BEFORE = re.compile(rf"(?<![\w.])(?P<n>\d+|{_WORDNUM})\s*(?:x\s*)?$", _I)


def _derived_match(q: Quantity, cands: Sequence[Quantity], evidence: str) -> str | None:
    """Evidence amounts that add or multiply up to the claim's: "a total of $5,000" from $1,900 and $3,100,
    "160 mg" from "four 40 mg injections"."""
    if q.kind not in ("money", "mass", "volume", "count", "duration"):
        return None
    plain = [e for e in cands if not e.bound and e.unit == q.unit]
    for i, a in enumerate(plain):
        for b in plain[i + 1 :]:
            if _close(a.value + b.value, q.value):
                return f"{a.text} + {b.text}"
        m = _MULTIPLIER_BEFORE.search(evidence, max(0, a.start - 20), a.start)
        n = _parse_number(m.group("n")) if m else None
        if n and n > 1 and _close(n * a.value, q.value):
            return f"{m.group('n') if m else ''} x {a.text}"
    return None


def check_numbers(claim: str, evidence: str) -> list[SlotCheck]:
    """Compare each quantity of the claim with the evidence's quantities of the same kind.

    No check when the evidence states nothing of that kind; ok when an evidence quantity is equal after
    normalisation; otherwise a failure naming both values, counted only against evidence numbers whose
    clause is about the claim's topic. Limits are compared with limits ("up to 80 mg" vs "maximum 40 mg");
    a plain value fails against a stated limit only when it lies outside it.
    """
    ev, cq = _quantities(evidence), _quantities(claim)
    if not ev or not cq:
        return []
    cross_language = bool(_CJK_RE.search(claim)) != bool(_CJK_RE.search(evidence))
    out: list[SlotCheck] = []
    seen: set[tuple[str, str, float, str]] = set()
    for qi, q in enumerate(cq):
        key = (q.kind, q.unit, round(q.value, 6), q.bound)
        if key in seen:
            continue
        seen.add(key)
        comparable = [i for i, e in enumerate(ev) if _comparable(q, e)]
        match = next(
            (ev[i] for i in comparable if _equal(q, ev[i]) and (ev[i].bound == q.bound or not q.bound)), None
        )
        if match is not None:
            same_text = match.text.lower() == q.text.lower()
            out.append(
                SlotCheck("number", True, f"{q.text} matches" + ("" if same_text else f" {match.text}"))
            )
            continue
        # A mismatch counts only against evidence numbers about the same thing; a bare number in a table
        # cell or in a clause about another drug, party or topic proves nothing.
        cands = [
            ev[i]
            for i in comparable
            if cross_language or _on_topic(_context(claim, qi), _context(evidence, i))
        ]
        # "3 g" vs "3 mg" is a unit error even where the wording differs; small numbers ("one day" vs
        # "one week") coincide too often to count.
        if q.kind in ("mass", "volume", "duration") and q.raw >= 2 and not cross_language:
            cq_words = _context(claim, qi).words
            cands += [
                ev[i] for i in comparable
                if ev[i] not in cands and _close(ev[i].raw, q.raw) and cq_words & _context(evidence, i).words
            ]  # fmt: skip
        derived = _derived_match(q, [ev[i] for i in comparable], evidence)
        if derived:
            out.append(SlotCheck("number", True, f"{q.text} matches {derived}"))
            continue
        # A stated limit is only compared with a stated limit ("up to 12" vs "no more than 10"), not with
        # the end of a described range ("chew 2 to 4 tablets" vs "no more than 10 tablets a day").
        same_bound = [e for e in cands if e.bound == q.bound and e.limit == q.limit]
        if same_bound:
            shown = ", ".join(dict.fromkeys(_describe(e) for e in same_bound))
            msg = f"answer says {q.text}; evidence says {shown}"
            if any(_close(e.raw, q.raw) for e in same_bound if e.kind == q.kind):
                msg += " (same number, different unit)"
            out.append(SlotCheck("number", False, msg))
        elif not q.bound:
            broken = [e for e in cands if e.limit and _violates(q, e)]
            if broken:
                shown = ", ".join(dict.fromkeys(_describe(e) for e in broken))
                out.append(SlotCheck("number", False, f"answer says {q.text}; evidence says {shown}"))
                continue
            inside = _within_range(q, cands)
            if inside:
                out.append(SlotCheck("number", True, f"{q.text} is within {inside}"))
    return out


def _within_range(q: Quantity, cands: Sequence[Quantity]) -> str | None:
    """The evidence range ("30 minutes to 4 hours") that contains the claim's plain value, if any."""
    ranges: dict[str, list[Quantity]] = {}
    for e in cands:
        if e.range_of and not e.limit:
            ranges.setdefault(e.range_of, []).append(e)
    for text, ends in ranges.items():
        lo = next((e for e in ends if e.bound == "min"), None)
        hi = next((e for e in ends if e.bound == "max"), None)
        if lo and hi and not _violates(q, lo) and not _violates(q, hi):
            return text
    return None


# ============================================================================================
# Predicate frames: polarity and modality
# ============================================================================================

# Category -> polarity. NOOBL ("need not") only conflicts with an obligation.
_POLARITY = {
    "OBL": 1,
    "PERM": 1,
    "REC": 1,
    "SHOULD": 1,
    "POS": 1,
    "PROH": -1,
    "CONTRA": -1,
    "NEG": -1,
    "NOOBL": 0,
}
_DEONTIC = frozenset({"OBL", "PERM", "PROH", "NOOBL"})
_PERMISSIVE = frozenset({"PERM", "REC", "SHOULD", "POS"})
_TAKES_VERB = frozenset({"OBL", "PERM", "PROH", "NOOBL", "SHOULD"})
_MARKER_RE = re.compile(
    r"\b(?:"
    r"(?P<NOOBL>(?:(?:shall|will|would)\s+not\s+be|(?:is|are|am|be)\s+not)\s+(?:required|obligated|obliged)\s+to|"
    r"need\s+not|needn['’]t|(?:does|do|did)\s+not\s+(?:have|need)\s+to|(?:doesn['’]t|don['’]t)\s+(?:have|need)\s+to|"
    r"(?:has|have)\s+no\s+obligation\s+to|(?:is|are)\s+under\s+no\s+obligation\s+to)|"
    r"(?P<CONTRA>(?:is|are)\s+(?:absolutely\s+)?contraindicated|(?:is|are)\s+not\s+(?:recommended|indicated|"
    r"approved|advised)|(?:should|must)\s+not\s+be\s+(?:used|given|administered|started|initiated|taken|"
    r"prescribed|combined)|avoid(?:ed)?)|"
    r"(?P<PROH>(?:shall|must|may|will|should|can|could|would)\s+not|cannot|can['’]t|won['’]t|shan['’]t|"
    r"mustn['’]t|shouldn['’]t|(?:is|are)\s+(?:strictly\s+)?(?:prohibited|forbidden|barred)\s+from|"
    r"(?:is|are)\s+not\s+(?:permitted|allowed|authori[sz]ed|entitled)\s+to|(?:has|have)\s+no\s+right\s+to|"
    r"in\s+no\s+event\s+(?:shall|will|may)|(?:do|does|did)\s+not|don['’]t|doesn['’]t|never)|"
    r"(?P<REC>(?:is|are)\s+(?:also\s+|only\s+|currently\s+|generally\s+)?(?:recommended|indicated|approved|"
    r"advised)|should\s+be\s+(?:used|given|"
    r"administered|started|initiated|taken|prescribed))|"
    r"(?P<OBL>shall|must|will|(?:agrees?|agreed)\s+to|(?:is|are)\s+(?:required|obligated|obliged)\s+to|"
    r"(?:has|have)\s+to|needs?\s+to|(?:is|are)\s+responsible\s+for|undertakes?\s+to|covenants?\s+to)|"
    r"(?P<PERM>may|can|could|might|(?:is|are)\s+(?:permitted|allowed|authori[sz]ed|entitled|free)\s+to|"
    r"(?:has|have)\s+the\s+(?:right|option)\s+to)|"
    r"(?P<SHOULD>should)|"
    r"(?P<NEG>(?:is|are|was|were|has|have|had)\s+not|isn['’]t|aren['’]t|wasn['’]t|hasn['’]t|haven['’]t|no)"
    r")\b",
    _I,
)
_MARKER_FIRST = frozenset(
    "is are am be need needn't needn’t does do did doesn't doesn’t don't don’t has have shall will would must "
    "should may can could might cannot can't can’t won't won’t shan't shan’t mustn't mustn’t shouldn't "
    "shouldn’t in never avoid avoided agree agrees agreed needs undertake undertakes covenant covenants "
    "isn't isn’t aren't aren’t wasn't wasn’t hasn't hasn’t haven't haven’t was were had no".split()
)
# "not"/"no" phrases that bound a quantity or are idioms rather than negating the predicate.
_NOT_NEGATION = re.compile(
    r"\b(?:not|no)\s+(?:more|less|later|earlier|fewer|greater|sooner|longer|shorter)\s+than\b|\bnot\s+to\s+exceed\b|"
    r"\bnot\s+only\b|\bwhether\s+or\s+not\b|\bno\.|\bif\s+not\b|\bno\s+one\b|\bno\s+additional\s+(?:charge|cost)\b",
    _I,
)
# A predicate limited by a number ("may take up to 10", "do not take more than 10") is the number
# check's business: "may take up to 10" and "do not take more than 10" say the same thing.
_BOUNDED = re.compile(
    r"\b(?:up\s+to|more\s+than|less\s+than|fewer\s+than|greater\s+than|exceed\w*|maximum|minimum|at\s+(?:least|most))\b",
    _I,
)
_CONDITION = re.compile(
    r"\b(?:without|unless|except|other\s+than|absent|provided\s+that|subject\s+to|only\s+if|only\s+with|until|"
    r"prior\s+to|before|with\s+(?:[\w'’]+\s+){0,4}(?:consent|approval|permission|authori[sz]ation))\b",
    _I,
)
_BOUNDARY_WORDS = frozenset(
    {"but", "whereas", "however", "although", "though", "while", "which", "who", "whom"}
)
# "is contraindicated" / "is recommended" have no verb of their own; they only meet a modal predicate
# whose verb is about using the product ("do not start", "may be given").
_USE_VERBS = frozenset(
    stem(w)
    for w in "use used start started take taken give given administer administered initiate initiated begin "
    "continue continued prescribe prescribed combine combined coadminister coadministered receive "
    "received inject injected".split()
)
_SUBJECT_NEGATORS = frozenset({"no", "neither", "nor", "none", "nothing", "nobody"})
_FLIPPED = {"OBL": "PROH", "PERM": "PROH", "SHOULD": "PROH", "REC": "CONTRA", "PROH": "PERM", "CONTRA": "REC"}
_SKIP_BEFORE_VERB = frozenset(
    "also only not be been then at any time its sole discretion promptly immediately still always further "
    "thereafter thereby hereby first directly".split()
)
_COPULAS = frozenset("is are was were has have had".split())
_PLAIN_VERBS = frozenset(
    "is are was were has have had includes include contains contain causes cause reduces reduce requires "
    "require provides provide covers cover lasts expires renews terminates pays grants allows permits "
    "applies apply occurs occur receives bears owns retains licenses assigns sells purchases buys delivers "
    "supplies indemnifies warrants represents acknowledges reimburses invoices manufactures distributes".split()
)
# Contract adjectives whose negation is a prefix: "exclusive" vs "non-exclusive", "revocable" vs "irrevocable".
_PREFIXED_RE = re.compile(
    r"\b(?P<neg>non[-\s]*|ir|un)?(?P<w>exclusive|transferable|assignable|refundable|cancell?able|sublicensable|"
    r"renewable|revocable|binding|conditional)\b",
    _I,
)


_PREFIXED_STEMS = ("exclusive", "transferable", "assignable", "refundable", "cancel", "sublicensable", "renewable",
                   "revocable", "binding", "conditional")  # fmt: skip
_HEAD_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z-]*|[.;:]")
_PREFIX_SKIP = frozenset(
    "and or royalty-free fully-paid fully paid-up perpetual worldwide limited personal revocable irrevocable "
    "non-transferable nontransferable non-sublicensable nonsublicensable non-assignable nonassignable sole "
    "exclusive nonexclusive non-exclusive".split()
)


def _prefixed_terms(text: str) -> dict[tuple[str, bool], list[tuple[str, str | None, frozenset[str]]]]:
    """(adjective, negated) -> [(surface, head noun, topic words)]: ('exclusive', True) for 'non-exclusive'."""
    out: dict[tuple[str, bool], list[tuple[str, str | None, frozenset[str]]]] = {}
    low = text.lower()
    if not any(stem in low for stem in _PREFIXED_STEMS):
        return out
    for m in _PREFIXED_RE.finditer(text):
        neg = (m.group("neg") or "").lower()
        w = m.group("w").lower()
        if neg in ("ir", "un") and (w, neg) not in (("revocable", "ir"), ("conditional", "un")):
            continue
        # The noun the adjective modifies: "non-exclusive, worldwide license" -> "license".
        head = None
        for t in _HEAD_TOKEN_RE.findall(text, m.end(), m.end() + 120):
            if t in ".;:":
                break
            if t.lower() in _PREFIX_SKIP or _PREFIXED_RE.fullmatch(t):
                continue
            head = stem(t)
            break
        around = text[max(0, m.start() - 60) : m.start()] + " " + text[m.end() : m.end() + 60]
        out.setdefault((w, bool(neg)), []).append((m.group(0), head, _topic_words(around)))
    return out


def _check_prefixed(claim: str, evidence: str) -> list[SlotCheck]:
    """'exclusive rights' vs 'non-exclusive rights': the same noun with and without the negating prefix."""
    ev = _prefixed_terms(evidence)
    out = []
    for (w, neg), items in _prefixed_terms(claim).items():
        if (w, neg) in ev or (w, not neg) not in ev:
            continue
        for surface, head, topic in items:
            other = next(
                (o for o, h, t in ev[(w, not neg)] if (h == head if head and h else len(topic & t) >= 2)),
                None,
            )
            if other is not None:
                out.append(SlotCheck("negation", False, f"answer says '{surface}'; evidence says '{other}'"))
                break
    return out


def _content(words: Iterable[str]) -> frozenset[str]:
    return frozenset(
        _CONCEPT_OF.get(w.lower()) or stem(w)
        for w in words
        if w[0].isalpha() and len(w) > 1 and w.lower() not in _STOP and w.lower() not in _ONES
    )


@dataclass(frozen=True)
class _Frame:
    """One predicate of a sentence: its modal/polarity marker, governed verb and surrounding words."""

    cat: str
    surface: str  # e.g. "shall not assign", for messages
    verb: str | None  # stem of the governed verb ("assign" in "may assign")
    words: frozenset[str]  # content stems of the clause around the marker
    text: str  # the clause, for population guards
    conditional: bool  # "without consent", "unless ...": a qualified statement
    bounded: bool  # "up to 10", "more than 10": a limit, compared by the number check
    with_objs: frozenset[str]
    without_objs: frozenset[str]
    subject: tuple[str, str, str] | None  # (type, canonical, surface) of the entity right before the marker

    @property
    def plain(self) -> bool:
        return self.cat in ("POS", "NEG")

    @property
    def polarity(self) -> int:
        return _POLARITY[self.cat]


def _with_objects(tokens: list[str], word: str) -> frozenset[str]:
    objs: set[str] = set()
    for i, t in enumerate(tokens):
        if t.lower() == word:
            objs |= _content(tokens[i + 1 : i + 4])
    return frozenset(objs)


def _is_boundary(tok: str) -> bool:
    return tok in (";", ":") or tok.lower() in _BOUNDARY_WORDS


_NOT_SUBJECT_GAP = re.compile(r"[,;:]|\b(?:with|to|of|by|for|and|or|from|than|if|that|which|who)\b", _I)


def _subject_before(sentence: str, lo: int, hi: int, known: tuple[str, ...]) -> tuple[str, str, str] | None:
    """The entity mention that ends right before a predicate marker, e.g. 'Licensee' in 'Licensee may'."""
    cands = [sp for sp in _mention_spans(sentence, known) if lo <= sp[2] and sp[3] <= hi]
    if not cands:
        return None
    typ, canon, s, e = cands[-1]
    if typ not in ("party", "name", "brand", "generic"):
        return None
    between = sentence[e:hi]
    if _NOT_SUBJECT_GAP.search(between):
        return None  # the mention sits in a modifier ("consent of Licensor"), not in subject position
    return typ, canon, sentence[s:e]


@lru_cache(maxsize=4096)
def _frames(sentence: str, known: tuple[str, ...] = ()) -> tuple[_Frame, ...]:
    """Predicate frames (marker + governed verb + surrounding content words) of one sentence."""
    masked = _NOT_NEGATION.sub(lambda m: "_" * len(m.group(0)), sentence)
    toks = [(m.group(0), m.start(), m.end()) for m in _TOKEN_RE.finditer(masked)]
    tok_starts = [t[1] for t in toks]
    markers = [
        (m.lastgroup or "", m.start(), m.end())
        for m in _matches_at_words(_MARKER_RE, masked, _MARKER_FIRST, sentence)
    ]
    if not markers:
        # A plain statement: one positive frame if it has a verb (headings and fragments have none).
        words = [t for t, _, _ in toks]
        cw = _content(words)
        if not cw or not any(w.lower() in _PLAIN_VERBS for w in words):
            return ()
        vt = next(t for t in toks if t[0].lower() in _PLAIN_VERBS)
        # "EmployeeCo pays ...": a full verb (not a copula) can anchor the subject for the entity check.
        full = vt[0].lower() not in _COPULAS
        return (
            _Frame("POS", vt[0], stem(vt[0]) if full else None, cw, sentence, bool(_CONDITION.search(sentence)),
                   bool(_BOUNDED.search(sentence)), _with_objects(words, "with"), _with_objects(words, "without"),
                   _subject_before(sentence, 0, vt[1], known) if full else None),
        )  # fmt: skip
    frames: list[_Frame] = []
    skipped_no = -1
    for k, (cat, ms, me) in enumerate(markers):
        lo = (markers[k - 1][1] if skipped_no == k - 1 else markers[k - 1][2]) if k else 0
        hi = markers[k + 1][1] if k + 1 < len(markers) else len(sentence)
        i0, i1, i2 = bisect_left(tok_starts, lo), bisect_left(tok_starts, ms), bisect_left(tok_starts, me)
        before = [t for t in toks[i0:i1] if t[2] <= ms]
        after = [t for t in toks[i2 : bisect_left(tok_starts, hi)] if t[2] <= hi]
        for i in range(len(before) - 1, -1, -1):
            if _is_boundary(before[i][0]):
                before = before[i + 1 :]
                break
        before = before[-8:]
        for i, t in enumerate(after):
            if _is_boundary(t[0]):
                after = after[:i]
                break
        clause_end = after[-1][2] if after else me  # populations anywhere in the clause count
        after = after[:12]
        if cat == "NEG" and masked[ms:me].lower() == "no" and k + 1 < len(markers):
            if not any(_is_boundary(t[0]) for t in after if t[2] <= markers[k + 1][1]):
                skipped_no = k
                continue  # "No party shall ...": the "no" negates the modal that follows (flipped below)
        verb_tok = None
        if cat in _TAKES_VERB:
            for t in after:
                low = t[0].lower()
                if low in _SKIP_BEFORE_VERB or low.endswith("ly") or low == "to":
                    continue
                verb_tok = t
                break
        # "Neither party may ...", "No party shall ...": a negated subject negates the predicate.
        negator = next((t for t in before[-4:] if t[0].lower() in _SUBJECT_NEGATORS), None)
        if negator is not None:
            cat = _FLIPPED.get(cat, cat)
        surface = " ".join(sentence[negator[1] if negator else ms : verb_tok[2] if verb_tok else me].split())
        after_words = [t[0] for t in after]
        lo_txt = before[0][1] if before else ms
        hi_txt = after[-1][2] if after else me
        after_text = sentence[me:hi_txt]
        frames.append(
            _Frame(
                cat=cat,
                surface=surface,
                verb=stem(verb_tok[0]) if verb_tok else None,
                words=_content([t[0] for t in before] + after_words),
                text=sentence[lo_txt:clause_end],
                conditional=bool(_CONDITION.search(after_text)),
                bounded=bool(_BOUNDED.search(after_text)),
                with_objs=_with_objects(after_words, "with"),
                without_objs=_with_objects(after_words, "without"),
                subject=_subject_before(sentence, before[0][1] if before else ms, ms, known),
            )
        )
    return tuple(frames)


@lru_cache(maxsize=4096)
def _sentences(text: str) -> tuple[str, ...]:
    return tuple(text[s:e] for s, e in split_sentences(text)) or ((text,) if text.strip() else ())


def _same_action(c: _Frame, e: _Frame) -> bool:
    if not c.words:
        return False
    if c.verb and e.verb and c.verb != e.verb:
        return False
    if bool(c.verb) != bool(e.verb) and not c.plain and not e.plain and (c.verb or e.verb) not in _USE_VERBS:
        return False
    shared = c.words & e.words
    need = 0.8 if (c.plain or e.plain) else 0.5
    return len(shared) >= min(2, len(c.words)) and len(shared) / len(c.words) >= need


def _different_subjects(c: _Frame, e: _Frame) -> bool:
    if c.subject and e.subject and c.subject[0] == e.subject[0]:
        return not _compatible(c.subject[0], c.subject[1], e.subject[1])
    return False


def _population_clash(a: str, b: str) -> bool:
    """Whether two clauses name different populations (the entity check owns that difference)."""
    ma, mb = _mentions(a), _mentions(b)
    for typ in {"age_group", "pregnancy", "impairment"} & set(ma) & set(mb):
        if not any(_compatible(typ, x, y) for x in ma[typ] for y in mb[typ]):
            return True
    return False


_UNDECIDED = ("", "")
_NEGATIVE_WORDS = re.compile(
    r"\b(?:contraindications?|prohibit\w*|restrict\w*|forbid\w*|neither|none|nothing|nobody|cannot|unable|"
    r"lack\w*|absence|fail\w*|avoid\w*|limitation)\b",
    _I,
)


def _conflict(c: _Frame, e: _Frame) -> tuple[str, str] | None:
    """(kind, message) when the frames disagree, None when they agree, _UNDECIDED when it can't tell."""
    if c.bounded or e.bounded:
        return _UNDECIDED
    msg = f"answer says '{c.surface}'; evidence says '{e.surface}'"
    ww = bool((c.without_objs & e.with_objs) - e.without_objs) or bool(
        (c.with_objs & e.without_objs) - e.with_objs
    )
    if "NOOBL" in (c.cat, e.cat):
        return ("modality", msg) if {c.cat, e.cat} == {"NOOBL", "OBL"} else None
    if c.polarity != e.polarity:
        plain = c if c.plain else e if e.plain else None
        if plain is not None and _NEGATIVE_WORDS.search(plain.text):
            return _UNDECIDED  # "X and Y are contraindications": negative without a negation marker
        if ww:
            return None  # "recommended without X" vs "do not use with X": two flips agree
        permissive = c if c.polarity > 0 else e
        if c.conditional != e.conditional and permissive.cat in _PERMISSIVE:
            return _UNDECIDED  # "may assign" vs "shall not assign without consent": a condition, not a denial
        return ("modality" if c.cat in _DEONTIC and e.cat in _DEONTIC else "negation"), msg
    if c.cat == "OBL" and e.cat == "PERM":
        return "modality", msg
    if ww:
        w = sorted((c.without_objs & e.with_objs) or (c.with_objs & e.without_objs))[0]
        which = "without" if w in c.without_objs else "with"
        other = "with" if which == "without" else "without"
        return "negation", f"answer says '{which} {w}'; evidence says '{other} {w}'"
    return None


def check_negation(claim: str, evidence: str) -> list[SlotCheck]:
    """Compare polarity and modality of the predicates that claim and evidence share.

    Fails on opposite polarity ("is recommended" vs "do not start"), obligation vs prohibition, or an
    obligation where the evidence only permits; only when an evidence clause addresses the same action
    (same governed verb, most of the claim's content words) for the same party and population.
    """
    ev_frames = [f for s in _sentences(evidence) for f in _frames(s)]
    out: list[SlotCheck] = []
    if not ev_frames:
        return out
    for sent in _sentences(claim):
        for c in _frames(sent):
            agree: _Frame | None = None
            conflict: tuple[str, str] | None = None
            for e in ev_frames:
                if not _same_action(c, e) or _different_subjects(c, e) or _population_clash(c.text, e.text):
                    continue
                res = _conflict(c, e)
                if res is None:
                    agree = agree or e
                elif res is not _UNDECIDED:
                    conflict = conflict or res
            if agree is not None:
                if not (c.plain or agree.plain):
                    out.append(SlotCheck("modality", True, f"'{c.surface}' agrees with '{agree.surface}'"))
            elif conflict is not None:
                out.append(SlotCheck(conflict[0], False, conflict[1]))
    return out + _check_prefixed(claim, evidence)


# ============================================================================================
# Entities
# ============================================================================================


def _polarity_of(text: str) -> int:
    frames = [f for s in _sentences(text) for f in _frames(s)]
    return -1 if any(f.polarity < 0 for f in frames) else 1


def _display(text: str, known: tuple[str, ...], typ: str, canon: str) -> str:
    for t, c, s, e in _mention_spans(text, known):
        if t == typ and c == canon:
            return text[s:e]
    return canon


def _topic_overlap(claim: str, evidence: str, known: tuple[str, ...]) -> float:
    """Share of the claim's topic words (entities and numbers left out) that the evidence also uses."""
    cq, eq = _quantities(claim), _quantities(evidence)
    cw = _topic_words(_strip_spans(claim, [(q.start, q.end) for q in cq]), _entity_words(claim, known))
    if not cw:
        return 0.0
    ew = _topic_words(_strip_spans(evidence, [(q.start, q.end) for q in eq]), _entity_words(evidence, known))
    return len(cw & ew) / len(cw)


_SET_TYPES = ("age_group", "pregnancy", "impairment", "party", "name")
# Capitalised defined terms that name things, not parties: (the "Agreement"), (the "Effective Date").
_DEFINED_THING_WORDS = frozenset(
    "agreement contract effective date services service products product term territory confidential information "
    "software deliverables deliverable work schedule exhibit statement of fees fee licensed mark marks trademark "
    "trademarks intellectual property royalty royalties net sales materials documentation specifications program "
    "platform data affiliate affiliates commencement renewal initial order purchase plan budget brand content "
    "site website premises equipment goods units the a an and services period notice event change control "
    "field use technology patents patent rights license licence sow".split()
)


@lru_cache(maxsize=1024)
def _party_names(known: tuple[str, ...]) -> tuple[str, ...]:
    """Caller-supplied names worth comparing: not role words (the role lexicon covers those) and not
    defined terms for things, longest first so "Acme Corp" wins over "Acme"."""
    names = set()
    for k in known:
        k = " ".join((k or "").split())
        words = k.lower().split()
        if not k or k.lower() in _ROLE_WORDS or all(w in _DEFINED_THING_WORDS for w in words):
            continue
        names.add(k)
    return tuple(sorted(names, key=lambda n: (-len(n), n)))


def _predicates(text: str, known: tuple[str, ...]) -> set[str]:
    """Governed verbs of modal predicates plus plain finite verbs: what the text says is done."""
    out = {f.verb for s in _sentences(text) for f in _frames(s, known) if f.verb}
    out |= {
        stem(w) for w in _TOKEN_RE.findall(text) if w.lower() in _PLAIN_VERBS and w.lower() not in _COPULAS
    }
    return out


def check_entities(claim: str, evidence: str, known_entities: Sequence[str] = ()) -> list[SlotCheck]:
    """Fail when the claim attributes the fact to a different population, party or product than the evidence.

    Two rules, each within one entity type and only for evidence on the same topic with the same polarity:
    the claim's entities are all absent from evidence that names another one ("pediatric" vs "adult"), or
    the same predicate has a different subject ("Licensee may terminate" vs "Licensor may terminate").
    """
    known = _party_names(tuple(known_entities))
    out: list[SlotCheck] = []
    overlap = _topic_overlap(claim, evidence, known)
    # Same topic and polarity, or a different population/party proves nothing ("Licensee may not X" and
    # "Licensor may X" are compatible). The subject rule below also needs the same verb, so less overlap.
    if overlap < 0.3 or _polarity_of(claim) != _polarity_of(evidence):
        return out
    cm, em = _mentions(claim, known), _mentions(evidence, known)
    failed: set[str] = set()
    shared_predicate = bool(_predicates(claim, known) & _predicates(evidence, known))
    for typ in _SET_TYPES if overlap >= 0.5 else ():
        cset, eset = cm.get(typ), em.get(typ)
        if not cset or not eset or any(_compatible(typ, c, e) for c in cset for e in eset):
            continue
        if typ in ("party", "name") and not shared_predicate:
            continue  # "Licensee must pay" vs "Licensor may increase": different duties, not a swapped party
        c_txt = ", ".join(_display(claim, known, typ, c) for c in sorted(cset))
        e_txt = ", ".join(_display(evidence, known, typ, e) for e in sorted(eset))
        out.append(SlotCheck("entity", False, f"answer says {c_txt}; evidence says {e_txt}"))
        failed.add(typ)
    ev_frames = [f for s in _sentences(evidence) for f in _frames(s, known) if f.subject]
    done: set[tuple[str, str | None]] = set()
    for sent in _sentences(claim):
        for c in _frames(sent, known):
            if not c.subject or c.subject[0] in failed:
                continue
            typ = c.subject[0]
            same = [
                e for e in ev_frames
                if e.subject and e.subject[0] == typ and (e.verb or e.cat) == (c.verb or c.cat)
                and (e.polarity > 0) == (c.polarity > 0)
            ]  # fmt: skip
            if not same or (typ, c.verb or c.cat) in done:
                continue
            done.add((typ, c.verb or c.cat))
            if any(e.subject and _compatible(typ, e.subject[1], c.subject[1]) for e in same):
                out.append(SlotCheck("entity", True, f"{c.subject[2]} matches"))
            else:
                e = same[0]
                assert e.subject is not None
                out.append(
                    SlotCheck(
                        "entity", False,
                        f"answer says '{c.subject[2]} {c.surface}'; evidence says '{e.subject[2]} {e.surface}'",
                    )
                )  # fmt: skip
    return out


def run_checks(claim: str, evidence: str, known_entities: Sequence[str] = ()) -> list[SlotCheck]:
    """All slot checks for one claim/evidence pair; any ok=False is a contradiction signal."""
    return [
        *check_numbers(claim, evidence),
        *check_negation(claim, evidence),
        *check_entities(claim, evidence, known_entities),
    ]
