"""Deterministic slot checks between one claim and one evidence window: numbers, polarity/modality, entities.

A model can read "40 mg" and "40 g", or "may assign" and "shall not assign", as near-paraphrases; these
checks cannot. Each check returns SlotChecks; ok=False is a contradiction signal that the engine lets
outweigh model entailment, so every rule only fires when claim and evidence clearly talk about the same
slot, and stays silent otherwise. Pure functions over strings (stdlib `re` only).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pipeline.claims import split_sentences
from pipeline.schema import SlotCheck

_I = re.IGNORECASE

# ============================================================================================
# Quantities
# ============================================================================================


@dataclass(frozen=True)
class Quantity:
    """A number with its kind and normalised value, as found in a text."""

    kind: str  # mass, volume, percent, money, duration, frequency, date, year, concentration,
    # dose_per_weight, dose_per_area, body_weight, age, count
    value: float  # normalised: mg, mL, %, currency units, minutes/months/business days, interval hours
    unit: str  # normalised unit or key: "mg", "USD", "min" | "month" | "bday", ISO date, counted noun
    text: str  # as written, e.g. "thirty (30) days"
    raw: float  # the number as written, before unit conversion

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
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}

_WORD_ALTS = "|".join(sorted([*_ONES, *_SCALES], key=len, reverse=True))
_DIG = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_WORDNUM = rf"(?:(?:{_WORD_ALTS})\b(?:[\s-]+(?:{_WORD_ALTS})\b)*)"
_ZHNUM = r"[零〇一二两三四五六七八九十百千万]+"
_NUM_START = r"(?<![A-Za-z0-9.,第])"


def _num(tag: str, zh: bool = True) -> str:
    """A number (digits, words or Chinese), optionally restated in brackets: 'thirty (30)'."""
    alts = f"{_DIG}|{_WORDNUM}" + (f"|{_ZHNUM}" if zh else "")
    return rf"{_NUM_START}(?P<{tag}>{alts})(?:\s*[(（]\s*(?P<{tag}p>{_DIG}|{_WORDNUM})\s*[)）])?"


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
    total, cur = 0.0, 0.0
    if all(ch in _ZH_DIGITS for ch in s) and len(s) > 1:  # "二〇二〇" read digit by digit
        return float("".join(str(_ZH_DIGITS[ch]) for ch in s))
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


def _parse_number(s: str) -> float | None:
    s = s.strip()
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
    return _parse_number(restated) if restated else _parse_number(m.group(tag) or "")


# unit surface (lower-case) -> (kind, normalised unit, factor)
_MASS = {
    "mcg": 0.001, "µg": 0.001, "μg": 0.001, "ug": 0.001, "microgram": 0.001, "micrograms": 0.001,
    "mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "g": 1000.0, "gm": 1000.0, "gram": 1000.0,
    "grams": 1000.0, "kg": 1e6, "kilogram": 1e6, "kilograms": 1e6,
    "毫克": 1.0, "微克": 0.001, "克": 1000.0, "千克": 1e6, "公斤": 1e6,
}  # fmt: skip
_VOLUME = {
    "ml": 1.0, "milliliter": 1.0, "milliliters": 1.0, "millilitre": 1.0, "millilitres": 1.0, "cc": 1.0,
    "l": 1000.0, "liter": 1000.0, "liters": 1000.0, "litre": 1000.0, "litres": 1000.0,
    "毫升": 1.0, "升": 1000.0,
}  # fmt: skip
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
_UNIT_NAMES = {"min": "minutes", "month": "months", "bday": "business days"}

_MASS_RE = (
    r"mcg|µg|μg|ug|micrograms?|milligrams?|mg|kilograms?|kg|grams?|gm|g|毫克|微克|千克|公斤|克"
)
_VOL_RE = r"milli(?:liter|litre)s?|ml|cc|(?:liter|litre)s?|(?-i:L)|毫升|升"
_PCT_RE = r"%|％|percent|per\s?cent"
_DUR_RE = (
    r"(?:business|working)\s+days?|calendar\s+days?|minutes?|mins?|hours?|hrs?|h|days?|weeks?|wks?|months?"
    r"|years?|yrs?|工作日|分钟|小时|天|周|星期|个月|年|日"
)
_AFTER_UNIT = r"(?![A-Za-z])"

_RANGE_SEP = r"\s*(?:-|–|—|~|to|or|and|through|至|到)\s*"


def _unit_pattern(units: str) -> re.Pattern[str]:
    return re.compile(
        rf"{_num('a')}(?:{_RANGE_SEP}{_num('b')})?\s*-?\s*(?P<unit>{units}){_AFTER_UNIT}", _I
    )


_MASS_Q = _unit_pattern(_MASS_RE)
_VOL_Q = _unit_pattern(_VOL_RE)
_PCT_Q = _unit_pattern(_PCT_RE)
_DUR_Q = _unit_pattern(_DUR_RE)
_CONC_Q = re.compile(
    rf"{_num('a')}\s*(?P<mu>{_MASS_RE})\s*(?:/|per|in)\s*(?:{_num('v')}\s*)?(?P<vu>{_VOL_RE}){_AFTER_UNIT}", _I
)
_PER_BODY_Q = re.compile(
    rf"{_num('a')}\s*(?P<mu>{_MASS_RE})\s*/\s*(?P<per>kg|m2|m²|m\^2)(?![A-Za-z0-9])", _I
)
_AGE_Q = re.compile(
    rf"{_num('a')}(?:{_RANGE_SEP}{_num('b')})?\s*-?\s*(?:years?|yrs?)[\s-]*(?:of\s+age|old)\b"
    rf"|\bage[sd]?\s+{_num('c')}(?:{_RANGE_SEP}{_num('d')})?(?:\s*(?:years?|yrs?)\b)?"
    rf"|{_num('e')}\s*(?:years?|yrs?)\s+and\s+(?:older|over|above)\b"
    rf"|{_num('f')}\s*岁",
    _I,
)
_BODY_WEIGHT_CONTEXT = re.compile(r"weigh|weight|[<>≥≤]|at least\s*$|less than\s*$|more than\s*$|体重", _I)

# ---- money ----
_CUR = {
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD", "美元": "USD",
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR", "£": "GBP", "gbp": "GBP",
    "¥": "CNY", "cny": "CNY", "rmb": "CNY", "人民币": "CNY", "元": "CNY",
}  # fmt: skip
_MULT = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mm": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9, "b": 1e9}
_MONEY_PRE = re.compile(
    rf"(?P<cur>US\$|\$|USD|EUR|€|£|GBP|¥|CNY|RMB|人民币)\s?(?P<a>{_DIG}|{_WORDNUM})"
    r"(?:\s*(?P<mult>million|billion|thousand|bn|mm|mn|[mkb])(?![A-Za-z]))?"
    rf"(?:\s*\(\s*(?:{_WORDNUM})(?:\s+(?:dollars?|euros?))?\s*\))?",
    _I,
)
_MONEY_POST = re.compile(
    rf"{_num('a')}(?:\s*(?P<mult>million|billion|thousand))?\s*(?P<cur>dollars?|usd|euros?|eur|gbp|rmb|cny|美元|人民币|元)"
    rf"{_AFTER_UNIT}(?:\s*\(\s*(?:US)?\$?\s*(?P<dp>{_DIG})\s*\))?",
    _I,
)

# ---- frequencies (interval in hours) ----
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
_FREQ_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "times",
        re.compile(
            rf"\b(?P<t>once|twice|thrice|{_NUMW}\s*(?:times|x))\s*(?:a|an|per|each|every|/)?\s*"
            r"(?P<per>day|daily|week|weekly|month|monthly|year|yearly|annually|hour|night|nightly)\b",
            _I,
        ),
    ),
    ("other", re.compile(r"\b(?:once\s+)?every\s+(?:other|second|alternate)\s+(?P<per>day|week|month|year)\b", _I)),
    (
        "every",
        re.compile(
            rf"\b(?:once\s+)?every\s+(?:(?P<n>{_NUMW})\s*[-\s]?\s*)?(?P<per>hours?|hrs?|days?|weeks?|months?|years?)\b",
            _I,
        ),
    ),
    ("q", re.compile(r"\bq\.?\s?(?P<n>\d+)\s?(?P<per>h|hrs?|hours?|d|days?|w|wks?|weeks?|mo)\b", _I)),
    ("abbr", re.compile(r"\b(?:QD|QOD|BID|TID|QID|QW|QOW|qd|qod|tid|qid|qw|qow)\b|(?:[qbt]\.[iod]\.d\.|q\.d\.)")),
    (
        "adverb",
        re.compile(
            r"\b(?:once\s+)?(?P<per>daily|nightly|weekly|fortnightly|monthly|quarterly|annually|yearly|hourly|"
            r"semi-?annually)\b|\b(?:every|each)\s+(?P<per2>day|night|week|month|year)\b",
            _I,
        ),
    ),
    ("per", re.compile(r"(?:\bper\s+|/\s*)(?P<per>day|week|month|year|annum|hour|hr|d|wk)\b", _I)),
    ("zh_other", re.compile(r"每隔(?P<n>[一二两三四五六七八九十]+|\d+)?(?P<per>天|日|周|星期|个月|月|年|小时)")),
    ("zh_every", re.compile(r"每(?P<n>[一二两三四五六七八九十]+|\d+)?(?P<per>天|日|周|星期|个月|年|小时)(?:(?P<t>[一二两三四五六七八九十]+|\d+)次)?")),
    ("zh_times", re.compile(r"一(?P<per>天|日|周|星期)(?P<t>[一二两三四五六七八九十]+|\d+)次")),
]  # fmt: skip
_ABBR_H = {"qd": 24, "qod": 48, "bid": 12, "tid": 8, "qid": 6, "qw": 168, "qow": 336}

# ---- dates ----
_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1, "feb": 2, "mar": 3, "apr": 4,
    "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
# "May" is also a modal verb, so the month is only recognised capitalised.
_MON = r"(?P<mon>(?i:january|february|march|april|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)|May|MAY)"
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

# ---- fractions and counts ----
_FRACTIONS = {"half": 0.5, "third": 1 / 3, "thirds": 1 / 3, "quarter": 0.25, "quarters": 0.25, "fourth": 0.25, "fourths": 0.25}
_FRACTION_Q = re.compile(
    r"\b(?P<n>one|a|two|three)[\s-](?P<f>half|thirds?|quarters?|fourths?)\b(?:\s*\(\s*\d+\s*/\s*\d+\s*\))?"
    r"|(?<![\d/])(?P<dn>\d)\s*/\s*(?P<dd>[2-9]|1[0-2])(?![\d/])",
    _I,
)
_COUNT_Q = re.compile(
    rf"{_num('a')}\s+(?P<noun>[A-Za-z][a-z]+)\b|{_NUM_START}(?P<zn>\d+|[一二两三四五六七八九十]+)(?P<znoun>次|支|片|粒|针|剂|名|位|项|条|个)"
)
_COUNT_STOP = frozenset(
    "of the a an and or to in on at for by with from is are was were be times time per percent x more less than "
    "other such additional further each more most".split()
)
_REFERENCE_BEFORE = re.compile(
    r"(?:section|sections|sec|§|article|art|clause|schedule|exhibit|appendix|annex|table|figure|fig|page|pages|"
    r"p|pp|paragraph|para|item|no|number|part|chapter|step|day|week|cycle|visit|version|rule|title|phase|grade|"
    r"type|class|stage|level|category|tier|dose|year|month|list|line|row|column|level|form)\.?\s*$",
    _I,
)


def _stem_noun(w: str) -> str:
    w = w.lower()
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "sses")):
        return w[:-2]
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


def _fmt(x: float) -> str:
    return f"{x:g}"


class _Scanner:
    """Runs extraction passes over a text, blanking what each pass consumes so later passes skip it."""

    def __init__(self, text: str) -> None:
        self.orig = text
        self.work = text
        self.out: list[Quantity] = []

    def matches(self, pattern: re.Pattern[str]) -> Iterable[re.Match[str]]:
        return list(pattern.finditer(self.work))

    def consume(self, m: re.Match[str]) -> None:
        s, e = m.span()
        self.work = self.work[:s] + "\x00" * (e - s) + self.work[e:]

    def add(self, kind: str, value: float, unit: str, text: str, raw: float) -> None:
        self.out.append(Quantity(kind, value, unit, " ".join(text.split()), raw))


def _scan_dates(sc: _Scanner) -> None:
    for pat in _DATE_PATTERNS:
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
            sc.add("date", 0.0, iso, sc.orig[m.start() : m.end()], float(year))
            sc.consume(m)


def _freq_interval(kind: str, m: re.Match[str]) -> float | None:
    g = m.groupdict()
    per = (g.get("per") or g.get("per2") or "").lower().rstrip("s") if kind not in ("abbr",) else ""
    if kind == "abbr":
        return _ABBR_H.get(m.group(0).lower().replace(".", ""))
    if kind.startswith("zh"):
        per = g["per"]
    period = _PERIOD_H.get(per) or _PERIOD_H.get(per + "s")
    if period is None:
        return None
    if kind == "times":
        t = g["t"].lower()
        times = _TIMES.get(t) or _parse_number(re.sub(r"\s*(?:times|x)$", "", t, flags=_I))
        return period / times if times else None
    if kind == "other":
        return 2 * period
    if kind in ("every", "q"):
        n = _parse_number(g["n"]) if g.get("n") else 1
        return n * period if n else None
    if kind == "zh_other":
        n = _parse_number(g["n"]) if g.get("n") else 1
        # "每隔一周" / "隔天" mean every other week/day; "每隔8小时" is commonly "every 8 hours".
        return (2 if n in (None, 1) else n) * period
    if kind in ("zh_every", "zh_times"):
        n = _parse_number(g["n"]) if g.get("n") else 1
        t = _parse_number(g["t"]) if g.get("t") else 1
        return (n or 1) * period / (t or 1)
    return period


def _scan_frequencies(sc: _Scanner) -> None:
    for kind, pat in _FREQ_PATTERNS:
        for m in sc.matches(pat):
            hours = _freq_interval(kind, m)
            if hours:
                sc.add("frequency", hours, "h", sc.orig[m.start() : m.end()], hours)
                sc.consume(m)


def _scan_money(sc: _Scanner) -> None:
    for pat in (_MONEY_POST, _MONEY_PRE):
        for m in sc.matches(pat):
            g = m.groupdict()
            amount = _parse_number(g["dp"]) if g.get("dp") else _value(m, "a")
            if amount is None:
                continue
            mult = _MULT.get((g.get("mult") or "").lower(), 1.0)
            if not g.get("dp"):
                amount *= mult
            cur = _CUR.get(g["cur"].lower(), g["cur"].upper())
            sc.add("money", amount, cur, sc.orig[m.start() : m.end()], amount)
            sc.consume(m)


def _scan_age(sc: _Scanner) -> None:
    for m in sc.matches(_AGE_Q):
        for tag in "abcdef":
            if m.groupdict().get(tag):
                v = _value(m, tag)
                if v is not None:
                    sc.add("age", v, "years", sc.orig[m.start() : m.end()], v)
        sc.consume(m)


def _scan_ratios(sc: _Scanner) -> None:
    for m in sc.matches(_PER_BODY_Q):
        a = _value(m, "a")
        if a is None:
            continue
        mg = a * _MASS[m.group("mu").lower()]
        per = "kg" if m.group("per").lower() == "kg" else "m2"
        kind = "dose_per_weight" if per == "kg" else "dose_per_area"
        sc.add(kind, mg, f"mg/{per}", sc.orig[m.start() : m.end()], a)
        sc.consume(m)
    for m in sc.matches(_CONC_Q):
        a = _value(m, "a")
        v = _value(m, "v") if m.group("v") else 1.0
        if a is None or not v:
            continue
        mass_unit, vol_unit = m.group("mu").lower(), m.group("vu").lower()
        mg = a * _MASS[mass_unit]
        ml = v * _VOLUME[vol_unit]
        text = sc.orig[m.start() : m.end()]
        sc.add("concentration", mg / ml, "mg/mL", text, a)
        # The amount in the container is itself a checkable dose ("40 mg" in "40 mg/0.8 mL").
        sc.add("mass", mg, "mg", f"{m.group('a')} {m.group('mu')}", a)
        if m.group("v"):
            sc.add("volume", ml, "mL", f"{m.group('v')} {m.group('vu')}", v)
        sc.consume(m)


def _add_unit_quantity(sc: _Scanner, m: re.Match[str], kind: str) -> None:
    unit_text = m.group("unit")
    unit = " ".join(unit_text.lower().split())
    tags = ["a"] + (["b"] if m.group("b") else [])
    for tag in tags:
        v = _value(m, tag)
        if v is None:
            continue
        text = sc.orig[m.start() : m.end()] if len(tags) == 1 else f"{m.group(tag)} {unit_text}"
        if kind == "mass":
            factor = _MASS.get(unit, 1.0)
            before = sc.orig[max(0, m.start() - 30) : m.start()]
            weight = factor >= 1e6 and (_BODY_WEIGHT_CONTEXT.search(before) or tag == "b")
            if weight:
                sc.add("body_weight", v, "kg", text, v)
            else:
                sc.add("mass", v * factor, "mg", text, v)
        elif kind == "volume":
            sc.add("volume", v * _VOLUME.get(unit, _VOLUME.get(unit_text, 1.0)), "mL", text, v)
        elif kind == "percent":
            sc.add("percent", v, "%", text, v)
        else:
            key = re.sub(r"\s+", " ", unit)
            group, factor = _DURATION.get(key, _DURATION.get(unit_text, ("min", 1440)))
            sc.add("duration", v * factor, group, text, v)
    sc.consume(m)


def _scan_units(sc: _Scanner) -> None:
    for kind, pat in (("percent", _PCT_Q), ("mass", _MASS_Q), ("volume", _VOL_Q), ("duration", _DUR_Q)):
        for m in sc.matches(pat):
            _add_unit_quantity(sc, m, kind)


def _scan_fractions(sc: _Scanner) -> None:
    for m in sc.matches(_FRACTION_Q):
        if m.group("f"):
            n = {"one": 1, "a": 1, "two": 2, "three": 3}[m.group("n").lower()]
            v = n * _FRACTIONS[m.group("f").lower()]
        else:
            v = int(m.group("dn")) / int(m.group("dd"))
        sc.add("percent", round(v * 100, 6), "%", sc.orig[m.start() : m.end()], v)
        sc.consume(m)


def _scan_years_and_counts(sc: _Scanner) -> None:
    for m in sc.matches(_YEAR):
        y = float(m.group("y"))
        sc.add("year", y, m.group("y"), m.group("y"), y)
        sc.consume(m)
    for m in sc.matches(_COUNT_Q):
        if m.group("zn"):
            v = _parse_number(m.group("zn"))
            noun = m.group("znoun")
        else:
            noun = m.group("noun")
            if noun.lower() in _COUNT_STOP or _REFERENCE_BEFORE.search(sc.orig[max(0, m.start() - 25) : m.start()]):
                continue
            v = _value(m, "a")
        if v is None:
            continue
        sc.add("count", v, _stem_noun(noun), sc.orig[m.start() : m.end()], v)
        sc.consume(m)


@lru_cache(maxsize=4096)
def _quantities(text: str) -> tuple[Quantity, ...]:
    sc = _Scanner(text)
    _scan_dates(sc)
    _scan_frequencies(sc)
    _scan_money(sc)
    _scan_age(sc)
    _scan_ratios(sc)
    _scan_units(sc)
    _scan_fractions(sc)
    _scan_years_and_counts(sc)
    return tuple(sc.out)


def extract_quantities(text: str) -> list[Quantity]:
    """Numbers with units, frequencies, dates, money and counts found in `text`, normalised."""
    return list(_quantities(text))


def _close(a: float, b: float, rel: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)


def _comparable(c: Quantity, e: Quantity) -> bool:
    if c.kind == "year":
        return e.kind in ("year", "date")
    if c.kind == "count":
        return e.kind == "count" and e.unit == c.unit
    return c.kind == e.kind


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
        a, b = c.days, e.days
        return a is not None and b is not None and _close(a, b, rel=0.035)
    return _close(c.value, e.value)


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for it in items:
        seen.setdefault(it, None)
    return list(seen)


def check_numbers(claim: str, evidence: str) -> list[SlotCheck]:
    """Compare each quantity of the claim with the evidence's quantities of the same kind.

    No check when the evidence states nothing of that kind; ok when any evidence quantity is equal after
    normalisation; a failure naming both values otherwise.
    """
    ev = _quantities(evidence)
    out: list[SlotCheck] = []
    seen: set[tuple[str, str, float]] = set()
    for q in _quantities(claim):
        key = (q.kind, q.unit, round(q.value, 6))
        if key in seen:
            continue
        seen.add(key)
        cands = [e for e in ev if _comparable(q, e)]
        if not cands:
            continue
        match = next((e for e in cands if _equal(q, e)), None)
        if match is not None:
            same_text = match.text.lower() == q.text.lower()
            out.append(SlotCheck("number", True, f"{q.text} matches" + ("" if same_text else f" {match.text}")))
            continue
        msg = f"answer says {q.text}; evidence says {', '.join(_unique(e.text for e in cands))}"
        if any(_close(e.raw, q.raw) for e in cands if e.kind == q.kind):
            msg += " (same number, different unit)"
        out.append(SlotCheck("number", False, msg))
    return out


# ============================================================================================
# Polarity and modality
# ============================================================================================

# Category -> polarity. NOOBL ("need not") only conflicts with an obligation.
_POLARITY = {"OBL": 1, "PERM": 1, "REC": 1, "POS": 1, "PROH": -1, "CONTRA": -1, "NEG": -1, "NOOBL": 0}
_DEONTIC = frozenset({"OBL", "PERM", "PROH", "NOOBL"})
_TAKES_VERB = frozenset({"OBL", "PERM", "PROH", "NOOBL", "SHOULD"})
_MARKER_RE = re.compile(
    r"\b(?:"
    r"(?P<NOOBL>(?:(?:shall|will|would)\s+not\s+be|(?:is|are|am|be)\s+not)\s+(?:required|obligated|obliged)\s+to|need\s+not|needn['’]t|"
    r"(?:does|do|did)\s+not\s+(?:have|need)\s+to|(?:doesn['’]t|don['’]t)\s+(?:have|need)\s+to|"
    r"(?:has|have)\s+no\s+obligation\s+to|(?:is|are)\s+under\s+no\s+obligation\s+to)|"
    r"(?P<CONTRA>(?:is|are)\s+(?:absolutely\s+)?contraindicated|(?:is|are)\s+not\s+(?:recommended|indicated|"
    r"approved|advised)|(?:should|must)\s+not\s+be\s+(?:used|given|administered|started|initiated|taken|"
    r"prescribed|combined)|avoid(?:ed)?)|"
    r"(?P<PROH>(?:shall|must|may|will|should|can|could|would)\s+not|cannot|can['’]t|won['’]t|shan['’]t|"
    r"mustn['’]t|shouldn['’]t|(?:is|are)\s+(?:strictly\s+)?(?:prohibited|forbidden|barred)\s+from|"
    r"(?:is|are)\s+not\s+(?:permitted|allowed|authori[sz]ed|entitled)\s+to|(?:has|have)\s+no\s+right\s+to|"
    r"in\s+no\s+event\s+(?:shall|will|may)|(?:do|does|did)\s+not|don['’]t|doesn['’]t|never)|"
    r"(?P<REC>(?:is|are)\s+(?:recommended|indicated|approved|advised)|should\s+be\s+(?:used|given|"
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
# Phrases with "not"/"no" that bound a quantity or are idioms rather than negating the predicate.
_NOT_NEGATION = re.compile(
    r"\b(?:not|no)\s+(?:more|less|later|earlier|fewer|greater|sooner|longer|shorter)\s+than\b|\bnot\s+to\s+exceed\b|"
    r"\bnot\s+only\b|\bwhether\s+or\s+not\b|\bno\.|\bif\s+not\b|\bno\s+one\b",
    _I,
)
_CONDITION = re.compile(
    r"\b(?:without|unless|except|other\s+than|absent|provided\s+that|subject\s+to|only\s+if|only\s+with|until|"
    r"prior\s+to|before|with\s+(?:[\w'’]+\s+){0,4}(?:consent|approval|permission|authori[sz]ation))\b",
    _I,
)
_FRAME_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)*|[;:]|[\u4e00-\u9fff]")
_BOUNDARY_WORDS = frozenset({"but", "whereas", "however", "although", "though", "while"})
_STOP = frozenset(
    "a an the of to in on at for by with without and or is are was were be been being it its this that these "
    "those as from into per any all each such other than then there their they them his her he she we you "
    "your our us i me my also only upon during under within which who whom whose when where if so such "
    "do does did has have had not no never shall must may might can could will would should cannot "
    "agree agrees agreed required obligated obliged permitted allowed entitled right responsible "
    "recommended indicated approved contraindicated prohibited forbidden use used using patient patients "
    "about after before both either neither nor one two three more most less some same own".split()
)
_SUBJECT_NEGATORS = frozenset({"no", "neither", "nor", "none", "nothing", "nobody"})
_FLIPPED = {"OBL": "PROH", "PERM": "PROH", "SHOULD": "PROH", "REC": "CONTRA", "PROH": "PERM", "CONTRA": "REC"}
_PERMISSIVE = frozenset({"PERM", "REC", "SHOULD", "POS"})
_SKIP_BEFORE_VERB = frozenset(
    "also only not be been then at any time its sole discretion promptly immediately still always further "
    "thereafter thereby hereby first directly".split()
)


def _stem(w: str) -> str:
    w = w.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    w = w.strip("'-")
    for suf, keep in (("ies", 4), ("ing", 5), ("ed", 5), ("es", 5), ("s", 4)):
        if w.endswith(suf) and len(w) >= keep + len(suf) - 1:
            if suf == "ies":
                return w[:-3] + "y"
            if suf == "s" and w.endswith("ss"):
                return w
            if suf == "es" and not w.endswith(("sses", "shes", "ches", "xes")):
                continue
            return w[: -len(suf)]
    return w


def _content(words: Iterable[str]) -> frozenset[str]:
    return frozenset(
        _stem(w) for w in words if w[0].isalpha() and w.lower() not in _STOP and w.lower() not in _ONES and len(w) > 1
    )


@dataclass(frozen=True)
class _Frame:
    cat: str
    surface: str
    verb: str | None  # stem of the governed verb ("assign" in "may assign")
    words: frozenset[str]  # content stems of the clause around the marker
    text: str  # the clause text, for entity guards
    conditional: bool
    with_objs: frozenset[str]
    without_objs: frozenset[str]
    start: int  # marker offset in the sentence

    @property
    def plain(self) -> bool:
        return self.cat in ("POS", "NEG")

    @property
    def polarity(self) -> int:
        return _POLARITY["REC" if self.cat == "SHOULD" else self.cat]


def _with_objects(tokens: list[str], word: str) -> frozenset[str]:
    objs: set[str] = set()
    for i, t in enumerate(tokens):
        if t.lower() == word:
            objs |= _content(tokens[i + 1 : i + 4])
    return frozenset(objs)


def _is_boundary(tok: str) -> bool:
    return tok in (";", ":") or tok.lower() in _BOUNDARY_WORDS


@lru_cache(maxsize=4096)
def _frames(sentence: str) -> tuple[_Frame, ...]:
    """Predicate frames (marker + governed verb + surrounding content words) of one sentence."""
    masked = _NOT_NEGATION.sub(lambda m: "_" * len(m.group(0)), sentence)
    toks = [(m.group(0), m.start(), m.end()) for m in _FRAME_TOKEN.finditer(masked)]
    markers = []
    for m in _MARKER_RE.finditer(masked):
        cat = m.lastgroup or ""
        markers.append((cat, m.start(), m.end()))
    frames: list[_Frame] = []
    if not markers:
        # A plain statement: one positive frame if it has a verb (headings and fragments have none).
        words = [t for t, _, _ in toks]
        if not any(w.lower() in _PLAIN_VERBS for w in words):
            return ()
        cw = _content(words)
        if not cw:
            return ()
        frames.append(
            _Frame("POS", _first_verb_surface(words), None, cw, sentence, bool(_CONDITION.search(sentence)),
                   _with_objects(words, "with"), _with_objects(words, "without"), 0)
        )  # fmt: skip
        return tuple(frames)
    skipped_no = -1
    for k, (cat, ms, me) in enumerate(markers):
        lo = (markers[k - 1][1] if skipped_no == k - 1 else markers[k - 1][2]) if k else 0
        hi = markers[k + 1][1] if k + 1 < len(markers) else len(sentence)
        before = [t for t in toks if lo <= t[1] and t[2] <= ms]
        after = [t for t in toks if t[1] >= me and t[2] <= hi]
        # Trim the windows at clause boundaries.
        for i in range(len(before) - 1, -1, -1):
            if _is_boundary(before[i][0]):
                before = before[i + 1 :]
                break
        before = before[-8:]
        for i, t in enumerate(after):
            if _is_boundary(t[0]):
                after = after[:i]
                break
        after = after[:12]
        if cat == "NEG" and masked[ms:me].lower() == "no" and k + 1 < len(markers) and not any(
            _is_boundary(t[0]) for t in after if t[2] <= markers[k + 1][1]
        ):
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
        words = _content([t[0] for t in before] + after_words)
        lo_txt = before[0][1] if before else ms
        hi_txt = after[-1][2] if after else me
        frames.append(
            _Frame(
                cat=cat,
                surface=surface,
                verb=_stem(verb_tok[0]) if verb_tok else None,
                words=words,
                text=sentence[lo_txt:hi_txt],
                conditional=bool(_CONDITION.search(" ".join(after_words))),
                with_objs=_with_objects(after_words, "with"),
                without_objs=_with_objects(after_words, "without"),
                start=ms,
            )
        )
    return tuple(frames)


_PLAIN_VERBS = frozenset(
    "is are was were has have had includes include contains contain causes cause reduces reduce requires "
    "require provides provide covers cover lasts expires renews terminates pays grants allows permits "
    "applies apply occurs occur".split()
)


def _first_verb_surface(words: list[str]) -> str:
    for w in words:
        if w.lower() in _PLAIN_VERBS:
            return w
    return words[0] if words else ""


def _sentences(text: str) -> list[str]:
    spans = split_sentences(text)
    return [text[s:e] for s, e in spans] or ([text] if text.strip() else [])


def _same_action(c: _Frame, e: _Frame) -> bool:
    if not c.words:
        return False
    if c.verb and e.verb and c.verb != e.verb:
        return False
    shared = c.words & e.words
    need = 0.8 if (c.plain or e.plain) else 0.5
    return len(shared) >= min(2, len(c.words)) and len(shared) / len(c.words) >= need


def _entity_clash(a: str, b: str) -> bool:
    """Whether two clauses name different populations/parties (the entity check owns that difference)."""
    ma, mb = _mentions(a), _mentions(b)
    for typ in set(ma) & set(mb):
        if not any(_compatible(typ, x, y) for x in ma[typ] for y in mb[typ]):
            return True
    return False


_UNDECIDED = ("", "")


def _conflict(c: _Frame, e: _Frame) -> tuple[str, str] | None:
    """(kind, message) when the frames disagree, None when they agree, _UNDECIDED when it can't tell."""
    msg = f"answer says '{c.surface}'; evidence says '{e.surface}'"
    ww = bool((c.without_objs & e.with_objs) - e.without_objs) or bool((c.with_objs & e.without_objs) - e.with_objs)
    if "NOOBL" in (c.cat, e.cat):
        if {c.cat, e.cat} == {"NOOBL", "OBL"}:
            return "modality", msg
        return None
    pol_flip = c.polarity != e.polarity
    if pol_flip and ww:
        return None  # "recommended without X" vs "do not use with X": two flips agree
    if pol_flip:
        permissive = c if c.polarity > 0 else e
        if c.conditional != e.conditional and permissive.cat in _PERMISSIVE:
            return _UNDECIDED  # "may assign" vs "shall not assign without consent": a condition, not a denial
        kind = "modality" if c.cat in _DEONTIC and e.cat in _DEONTIC else "negation"
        return kind, msg
    if c.cat == "OBL" and e.cat == "PERM":
        return "modality", msg
    if ww:
        w = sorted((c.without_objs & e.with_objs) or (c.with_objs & e.without_objs))[0]
        which = "without" if w in c.without_objs else "with"
        other = "with" if which == "without" else "without"
        return "negation", f"answer says '{which} {w}'; evidence says '{other} {w}'"
    return None


def check_negation(claim: str, evidence: str) -> list[SlotCheck]:
    """Compare polarity and modality of predicates that claim and evidence share.

    Fails on opposite polarity ("is recommended" vs "do not start"), obligation vs prohibition, or an
    obligation where the evidence only permits; only when the evidence clause addresses the same action.
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
                if not _same_action(c, e) or _entity_clash(c.text, e.text):
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
    return out


# ============================================================================================
# Entities
# ============================================================================================

# (type, canonical, pattern). Types are compared only with themselves.
_ENTITY_LEXICON: list[tuple[str, str, str]] = [
    ("age_group", "pediatric", r"p(?:a)?ediatric|children|child(?!-?bearing)|childhood|adolescents?|infants?|"
     r"neonates?|newborns?|juveniles?|儿童|青少年|婴儿|小儿"),
    ("age_group", "adult", r"adults?|成人|成年人?"),
    ("age_group", "elderly", r"elderly|geriatric|older\s+(?:adults|patients|people)|老年人?"),
    ("pregnancy", "pregnant", r"pregnant|pregnancy|pregnancies|孕妇|妊娠"),
    ("pregnancy", "lactating", r"lactating|lactation|breast-?feeding|nursing\s+mothers|哺乳期?"),
    ("impairment", "renal", r"(?:renal|kidney)\s+(?:impairment|insufficiency|failure|disease|dysfunction)|肾功能(?:不全|损害)"),
    ("impairment", "hepatic", r"(?:hepatic|liver)\s+(?:impairment|insufficiency|failure|disease|dysfunction)|肝功能(?:不全|损害)"),
]  # fmt: skip
# Distinctive contract roles match in any case; common words only as capitalised defined terms.
_ROLES_ANY_CASE = (
    "licensor licensee sublicensee sublicensor franchisor franchisee distributor consultant contractor "
    "subcontractor landlord tenant lessor lessee borrower lender employer employee reseller licensor "
    "guarantor assignor assignee indemnitor indemnitee mortgagor mortgagee grantor grantee"
).split()
_ROLES_CAPITALISED = "Company Client Customer Provider Supplier Vendor Buyer Seller Purchaser Manufacturer Agent Recipient Owner Developer Publisher Sponsor Investigator Institution".split()
_ROLE_PHRASES = ["disclosing party", "receiving party", "service provider"]
_ROLE_RE = re.compile(
    r"\b(?:(?i:" + "|".join(_ROLE_PHRASES) + r")|(?i:" + "|".join(_ROLES_ANY_CASE) + r")|"
    + "|".join(_ROLES_CAPITALISED) + r")(?:s|['’]s)?\b"
)
_POP_RE = [(t, c, re.compile(rf"(?<![A-Za-z]){p}(?![A-Za-z])", _I)) for t, c, p in _ENTITY_LEXICON]
_STORAGE_PHRASE = re.compile(r"(?:out\s+of\s+(?:the\s+)?reach\s+of\s+children|儿童(?:不可|无法)?触及)", _I)
_BRAND_RE = re.compile(r"\b[A-Z][A-Z0-9-]{3,}\b")
_GENERIC_RE = re.compile(
    r"\b[a-z]{3,}(?:mab|nib|cept|pril|sartan|olol|statin|prazole|floxacin|cycline|mycin|cillin|azole|parin|"
    r"xaban|gliptin|glutide|tide|vir|dronate|lukast|tinib|zumab|ximab|umab)\b",
    _I,
)
_NOT_BRANDS = frozenset(
    "WARNING WARNINGS NOTE BOXED IMPORTANT INDICATIONS DOSAGE ADMINISTRATION CONTRAINDICATIONS ADVERSE "
    "REACTIONS PRECAUTIONS USAGE SECTION ARTICLE EXHIBIT SCHEDULE AGREEMENT LICENSE THIS THAT THE AND WITH "
    "SHALL WILL NOT FROM WITHOUT LIMITATION PARTY PARTIES ANY DMARD DMARDS NSAID NSAIDS HIPAA GDPR COVID "
    "USPI SERIOUS INFECTIONS MALIGNANCY ELISA TABLE FIGURE STORAGE HANDLING HOW SUPPLIED CLINICAL STUDIES "
    "PHARMACOLOGY OVERDOSAGE DESCRIPTION INFORMATION PATIENT COUNSELING MEDICATION GUIDE RISK RISKS NONE "
    "UNITED STATES AMERICA INC LLC LTD CORP".split()
)
_COMPATIBLE = {("age_group", "adult", "elderly"), ("age_group", "elderly", "adult")}


def _compatible(typ: str, a: str, b: str) -> bool:
    return a == b or (typ, a, b) in _COMPATIBLE


def _brand_tokens(text: str) -> list[re.Match[str]]:
    toks = _BRAND_RE.findall(text)
    words = re.findall(r"[A-Za-z]{2,}", text)
    # Shouted legal boilerplate ("IN NO EVENT SHALL ...") is not a list of product names.
    if words and sum(w.isupper() for w in words) > max(3, 0.3 * len(words)):
        return []
    return [m for m in _BRAND_RE.finditer(text) if m.group(0) not in _NOT_BRANDS and not m.group(0).isdigit()] if toks else []


@lru_cache(maxsize=4096)
def _mention_spans(text: str, known: tuple[str, ...] = ()) -> tuple[tuple[str, str, int, int], ...]:
    """(type, canonical, start, end) of populations, party roles, drug names and known names in `text`."""
    out: list[tuple[str, str, int, int]] = []
    scrubbed = _STORAGE_PHRASE.sub(lambda m: " " * len(m.group(0)), text)
    for typ, canon, pat in _POP_RE:
        out.extend((typ, canon, m.start(), m.end()) for m in pat.finditer(scrubbed))
    for m in _ROLE_RE.finditer(text):
        canon = re.sub(r"(?:['’]s|s)$", "", m.group(0).lower()) if m.group(0).lower() not in _ROLE_PHRASES else m.group(0).lower()
        canon = " ".join(canon.split())
        out.append(("party", canon, m.start(), m.end()))
    for m in _brand_tokens(text):
        out.append(("brand", m.group(0).lower(), m.start(), m.end()))
    for m in _GENERIC_RE.finditer(text):
        out.append(("generic", m.group(0).lower(), m.start(), m.end()))
    for name in known:
        for m in re.finditer(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text, _I):
            out.append(("name", name.lower(), m.start(), m.end()))
    return tuple(sorted(out, key=lambda x: x[2]))


def _mentions(text: str, known: tuple[str, ...] = ()) -> dict[str, set[str]]:
    by_type: dict[str, set[str]] = {}
    for typ, canon, _, _ in _mention_spans(text, known):
        by_type.setdefault(typ, set()).add(canon)
    return by_type


def _display(text: str, known: tuple[str, ...], typ: str, canon: str) -> str:
    for t, c, s, e in _mention_spans(text, known):
        if t == typ and c == canon:
            return text[s:e]
    return canon


def _topic_overlap(claim: str, evidence: str, strip: Iterable[str]) -> float:
    stripped = {_stem(w) for s in strip for w in s.split()}
    cw = _content(_FRAME_TOKEN.findall(claim)) - stripped
    if not cw:
        return 0.0
    ew = _content(_FRAME_TOKEN.findall(evidence))
    return len(cw & ew) / len(cw)


def _subjects(sentence: str, known: tuple[str, ...]) -> list[tuple[str | None, str, str, str, str]]:
    """(verb stem or marker category, entity type, entity, entity surface, predicate surface) per frame."""
    spans = _mention_spans(sentence, known)
    res = []
    prev_end = 0
    for f in _frames(sentence):
        if f.plain:
            continue
        # The subject is the last entity mention between the previous frame and this marker.
        cands = [sp for sp in spans if prev_end <= sp[2] and sp[3] <= f.start and sp[0] in _SUBJECT_TYPES]
        prev_end = f.start
        if not cands:
            continue
        typ, canon, s, e = cands[-1]
        if re.search(r"[,;:]|\bwith\b|\bto\b|\bof\b|\bby\b", sentence[e : f.start]):
            continue  # the mention sits in a modifier, not right before the predicate
        res.append((f.verb or f.cat, typ, canon, sentence[s:e], f.surface))
    return res


_SUBJECT_TYPES = frozenset({"party", "name", "brand", "generic"})
_SET_TYPES = frozenset({"age_group", "pregnancy", "impairment", "party", "name"})


def check_entities(claim: str, evidence: str, known_entities: Sequence[str] = ()) -> list[SlotCheck]:
    """Fail when the claim attributes the fact to a different population, party or product than the evidence.

    Two rules, both limited to entities of one type: the claim's entities are all absent from evidence that
    names another of that type (and otherwise addresses the same topic); or the same predicate ("may
    terminate") has a different subject in claim and evidence.
    """
    known = tuple(sorted({k.strip() for k in known_entities if k and k.strip()}, key=len, reverse=True))
    cm, em = _mentions(claim, known), _mentions(evidence, known)
    out: list[SlotCheck] = []
    failed_types: set[str] = set()
    for typ in sorted(_SET_TYPES & set(cm) & set(em)):
        cset, eset = cm[typ], em[typ]
        if any(_compatible(typ, c, e) for c in cset for e in eset):
            continue
        entity_words = [*cset, *eset, *(x for t in cm.values() for x in t), *(x for t in em.values() for x in t)]
        if _topic_overlap(claim, evidence, entity_words) < 0.5:
            continue
        c_txt = ", ".join(_display(claim, known, typ, c) for c in sorted(cset))
        e_txt = ", ".join(_display(evidence, known, typ, e) for e in sorted(eset))
        out.append(SlotCheck("entity", False, f"answer says {c_txt}; evidence says {e_txt}"))
        failed_types.add(typ)
    ev_subjects = [s for sent in _sentences(evidence) for s in _subjects(sent, known)]
    done: set[tuple[str, str]] = set()
    for sent in _sentences(claim):
        for verb, typ, canon, surf, pred in _subjects(sent, known):
            if typ in failed_types or (typ, verb or "") in done:
                continue
            same = [s for s in ev_subjects if s[0] == verb and s[1] == typ]
            if not same:
                continue
            done.add((typ, verb or ""))
            match = next((s for s in same if _compatible(typ, s[2], canon)), None)
            if match is not None:
                out.append(SlotCheck("entity", True, f"{surf} matches"))
            else:
                other = same[0]
                out.append(SlotCheck("entity", False, f"answer says '{surf} {pred}'; evidence says '{other[3]} {other[4]}'"))
    return out


def run_checks(claim: str, evidence: str, known_entities: Sequence[str] = ()) -> list[SlotCheck]:
    """All slot checks for one claim/evidence pair; any ok=False is a contradiction signal."""
    return [*check_numbers(claim, evidence), *check_negation(claim, evidence), *check_entities(claim, evidence, known_entities)]
