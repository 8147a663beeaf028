"""Quantities: numbers with their units, frequencies, dates, money, ranges and limits, extracted and
compared between a claim and an evidence window."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from pipeline.schema import CheckKind, SlotCheck
from pipeline.verification.checks.lexicon import (
    NOT_NEGATION,
    ONES,
    SCALES,
    compatible,
    mention_spans,
    strip_spans,
    topic_words,
    word_list,
    word_positions,
    word_table,
)

_I = re.IGNORECASE
_CJK_RE = re.compile(r"[\u3400-\u9fff]")


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


_ZH_DIGITS: dict[str, int] = word_table("numbers")["zh_digits"]
_ZH_UNITS: dict[str, int] = word_table("numbers")["zh_units"]

_WORD_ALTS = "|".join(sorted([*ONES, *SCALES], key=len, reverse=True))
_DIG = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_WORDNUM = rf"(?:(?:{_WORD_ALTS})\b(?:[\s-]+(?:{_WORD_ALTS})\b)*)"
_ZHNUM = r"[零〇一二两三四五六七八九十百千万]+"
_NUM_START = r"(?<![A-Za-z0-9.,第])"


def _num(tag: str) -> str:
    """A number (digits, words or Chinese), optionally restated in brackets: 'thirty (30)'; a number
    in brackets of its own, as in 'upon (30) days written notice', reads as that number."""
    return (
        rf"{_NUM_START}(?P<{tag}o>(?<=[(（]))?(?P<{tag}>{_DIG}|{_WORDNUM}|{_ZHNUM})"
        rf"(?P<{tag}h>[\s-]+and[\s-]+(?:a|one)[\s-]half\b)?"
        rf"(?({tag}o)(?:\s*[)）])?|(?:\s*[(（]\s*(?P<{tag}p>{_DIG}|{_WORDNUM})\s*[)）])?)"
    )


def _parse_words(s: str) -> float:
    total, cur = 0.0, 0.0
    for tok in re.split(r"[\s-]+", s.lower()):
        if tok in ONES:
            cur += ONES[tok]
        elif tok == "hundred":
            cur = max(cur, 1) * 100
        elif tok in SCALES:
            total += max(cur, 1) * SCALES[tok]
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
    """The number captured under `tag` ('two and a half' is 2.5); a bracketed restatement ('thirty
    (30)') wins when present."""
    groups = m.groupdict()
    if groups.get(tag + "p"):
        return _parse_number(groups[tag + "p"])
    v = _parse_number(m.group(tag))
    return v + 0.5 if v is not None and groups.get(tag + "h") else v


_UNITS = word_table("units")
_MASS: dict[str, float] = _UNITS["mass"]
_VOLUME: dict[str, float] = _UNITS["volume"]
_LENGTH: dict[str, float] = _UNITS["length"]
# Durations keep three incommensurable groups: clock time (minutes), calendar months, business days.
_DURATION: dict[str, tuple[str, int]] = {k: (g, f) for k, (g, f) in _UNITS["duration"].items()}

_MASS_RE = (
    r"mcg|µg|μg|ug|micrograms?|milligrams?|mg|kilograms?|kg|grams?|gm|g|pounds?|lbs?|ounces?|oz"
    r"|毫克|微克|千克|公斤|克"
)
_VOL_RE = (
    r"milli(?:liter|litre)s?|ml|cc|(?:liter|litre)s?|(?-i:L)|teaspoon(?:ful)?s?|tablespoon(?:ful)?s?|tsp|tbsp"
    r"|毫升|升"
)
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

_CUR: dict[str, str] = word_table("money")["currencies"]
_MULT: dict[str, float] = word_table("money")["multipliers"]
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
_PERIOD_H: dict[str, float] = word_table("frequency")["period_hours"]
_TIMES: dict[str, int] = word_table("frequency")["times"]
_NUMW = rf"(?:{_DIG}|{_WORDNUM})"
_ZH_SMALL = r"[一二两三四五六七八九十]+|\d+"
_FREQ_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("times", re.compile(
        rf"\b(?P<t>once|twice|thrice|{_NUMW}\s*(?:times?|x))\s*(?:a|an|per|each|every|/)?\s*"
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
_TIMES_SUFFIX = re.compile(r"\s*(?:times?|x)$", _I)
_DIGIT_X = re.compile(r"\dx")
_ABBR_H: dict[str, int] = word_table("frequency")["abbreviation_hours"]

_MONTHS: dict[str, int] = word_table("months")["months"]
# "may" is also a modal verb, so that month is only recognised capitalised.
_MON = (
    r"(?P<mon>(?i:january|february|march|april|june|july|august|september|october|november|december|jan|feb|"
    r"mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)|May|MAY)"
)
_DATE_PATTERNS = [
    # "March 18. 2021": a period for the comma, as scanned contracts print it
    re.compile(rf"\b{_MON}\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?[,.]?\s+(?P<y>\d{{4}})\b"),
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
_FRACTIONS: dict[str, float] = word_table("numbers")["fractions"]
_FRACTION_Q = re.compile(
    r"\b(?P<n>one|a|two|three)[\s-](?P<f>half|thirds?|quarters?|fourths?)\b(?![\s-]+part(?:y|ies))"
    r"(?:\s*\(\s*\d+\s*/\s*\d+\s*\))?"
    r"|(?<![\d/])(?P<dn>\d)\s*/\s*(?P<dd>[2-9]|1[0-2])(?![\d/])",
    _I,
)
# The number may be capitalised ("Thirty (30) music venues"); the noun keeps its case rule.
_COUNT_Q = re.compile(
    rf"(?i:{_num('a')}(?:\s*(?:-|–|to|or)\s*{_num('b')})?)\s+(?P<noun>[A-Za-z][a-z]+)\b"
    rf"|{_NUM_START}(?P<zn>{_ZH_SMALL})(?P<znoun>次|支|片|粒|针|剂|名|位|项|条)"
)
_COUNT_STOP = frozenset(word_list("count_stop_words"))
# A number right after these words is a reference ("Section 5", "Table 2"), not a quantity.
_REFERENCE_BEFORE = re.compile(
    r"(?:section|sections|sec|§|article|art|clause|schedule|exhibit|appendix|annex|table|figure|fig|page|pages|"
    r"p|pp|paragraph|para|item|no|number|part|chapter|step|day|week|cycle|visit|version|rule|title|phase|grade|"
    r"type|class|stage|level|category|tier|dose|year|month|list|line|row|column|form)\.?\s*$",
    _I,
)
# Words that turn a number into a limit. The last one before a quantity (in its clause) decides.
# A bound is whole words: "over" inside "Coverage" or "overall" is none. "shall not be less than" is
# as firm as "not less than".
_BOUND_BEFORE = re.compile(
    r"(?<![A-Za-z])(?:"
    r"(?P<max>up\s+to|maximum(?:\s+of)?|max\.?|at\s+most|not?\s+(?:be\s+)?(?:more|greater|higher)\s+than|"
    r"not\s+to\s+exceed|"
    r"not\s+exceed(?:ing)?|within|no\s+later\s+than|not\s+later\s+than|no\s+longer\s+than|"
    r"not\s+longer\s+than|limit(?:ed)?\s+(?:of|to)|cap(?:ped)?\s+(?:of|at)|≤|最多|不超过|最大|以内)"
    r"|(?P<wmax>less\s+than|fewer\s+than|shorter\s+than|younger\s+than|under|below|<)"
    r"|(?P<min>at\s+least|minimum(?:\s+of)?|not?\s+(?:be\s+)?(?:less|lower|fewer|smaller)\s+than|not\s+below|"
    r"no\s+earlier\s+than|≥|至少|不少于|以上)"
    r"|(?P<wmin>more\s+than|greater\s+than|longer\s+than|older\s+than|over|above|exceeding|>))(?![A-Za-z])",
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
# A clause, and the bound of its number, reach across a wrapped line ("decision to terminate within\n
# thirty (30) days", "shall not be lower than\nRMB1 million"), not across a blank line, a list item or
# a table cell that starts with its own number.
_CLAUSE_BREAK = re.compile(r"[.;!?。；]\s|:|\n(?=\s*(?:\n|\(?[A-Za-z0-9]{1,3}[.)]\s|[-•*▪]|\d))")


def _stem_noun(w: str) -> str:
    w = w.lower()
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("ches", "shes", "xes", "sses")):
        return w[:-2]
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


_NUMBER_WORDS = frozenset([*ONES, *SCALES])
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
        index = word_positions(text)
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
    "times": ("once", "twice", "thrice", "times", "time", "x"),
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


_MIXED_BEFORE = re.compile(rf"(?:\d|\b(?:{_WORD_ALTS}))[\s-]+and[\s-]+$", _I)


def _scan_fractions(sc: _Scanner) -> None:
    if not sc.has("/", "half", "third", "thirds", "quarter", "quarters", "fourth", "fourths"):
        return
    for m in sc.matches(_FRACTION_Q):
        if m.group("f") and _MIXED_BEFORE.search(sc.orig[max(0, m.start() - 30) : m.start()]):
            continue  # the half of "one and a half tablets": part of a number, not a share
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
def stripped_of_quantities(text: str) -> str:
    """`text` with its quantities blanked out (offsets kept)."""
    return strip_spans(text, [(x.start, x.end) for x in _quantities(text)])


@lru_cache(maxsize=16384)
def _context(text: str, i: int) -> _Context:
    """What the clause around the i-th quantity of `text` is about (computed only when a mismatch needs it)."""
    q = _quantities(text)[i]
    lo, hi = _window(text, q.start, q.end)
    ents = tuple(sorted({(t, c) for t, c, s, e in mention_spans(text) if lo <= s and e <= hi}))
    extra = bool(_EXTRA.search(text[max(0, q.start - 16) : q.start]) or _EXTRA.search(q.text))
    # Only a negation leading up to an unbounded number ("who do not need ventilation are treated for
    # 5 days"); in "do not take more than 10" the "not" belongs to the limit.
    negated = not q.bound and bool(_NEGATOR.search(NOT_NEGATION.sub(" ", text[lo : q.start])))
    return _Context(topic_words(stripped_of_quantities(text)[lo:hi]), ents, extra, negated)


_EXTRA = re.compile(r"\b(?:additional|extra|further|another)\b|\bmore\b(?!\s+than)", _I)


def _on_topic(claim: _Context, ev: _Context) -> bool:
    """The evidence clause is about the claim clause's topic ("take" ~ "dose": DOSE) and names no other
    population, party or drug of a type the claim names ("clarithromycin" vs "nelfinavir")."""
    if claim.extra != ev.extra or claim.negated != ev.negated:
        return False
    for typ in {t for t, _ in claim.entities} & {t for t, _ in ev.entities}:
        cs = [c for t, c in claim.entities if t == typ]
        es = [c for t, c in ev.entities if t == typ]
        if not any(compatible(typ, x, y) for x in cs for y in es):
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
                SlotCheck(
                    CheckKind.NUMBER, True, f"{q.text} matches" + ("" if same_text else f" {match.text}")
                )
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
            out.append(SlotCheck(CheckKind.NUMBER, True, f"{q.text} matches {derived}"))
            continue
        # A stated limit is only compared with a stated limit ("up to 12" vs "no more than 10"), not with
        # the end of a described range ("chew 2 to 4 tablets" vs "no more than 10 tablets a day").
        same_bound = [e for e in cands if e.bound == q.bound and e.limit == q.limit]
        if same_bound:
            shown = ", ".join(dict.fromkeys(_describe(e) for e in same_bound))
            msg = f"answer says {q.text}; evidence says {shown}"
            same_number = any(_close(e.raw, q.raw) for e in same_bound if e.kind == q.kind)
            if same_number:
                msg += " (same number, different unit)"
            out.append(SlotCheck(_mismatch_kind(q, same_number), False, msg))
        elif not q.bound:
            broken = [e for e in cands if e.limit and _violates(q, e)]
            if broken:
                shown = ", ".join(dict.fromkeys(_describe(e) for e in broken))
                out.append(
                    SlotCheck(_mismatch_kind(q, False), False, f"answer says {q.text}; evidence says {shown}")
                )
                continue
            inside = _within_range(q, cands)
            if inside:
                out.append(SlotCheck(CheckKind.NUMBER, True, f"{q.text} is within {inside}"))
    return out


def _mismatch_kind(q: Quantity, same_number: bool) -> CheckKind:
    """DATE for a wrong date or year, UNIT where the evidence has the same number in another unit,
    else NUMBER. A match is always NUMBER: the verdict rules count it as a confirmed number."""
    if q.kind in ("date", "year"):
        return CheckKind.DATE
    return CheckKind.UNIT if same_number else CheckKind.NUMBER


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
