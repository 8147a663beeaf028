"""Words and sentences: the tokenizers, stop-word sets, stemmer and sentence splitter shared by
retrieval, the judges and the checks.

Pure functions over strings (stdlib `re` only). Each stop-word set serves one purpose and is tuned
for it, so sets that differ stay distinct; `bm25_tokens` feeds the BM25 indexes on disk and must not
change without rebuilding them.
"""

from __future__ import annotations

import re
from functools import lru_cache

# --------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------

# Letters, decimal numbers and single CJK characters: what word-overlap scores count.
WORD_RE = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?|[\u4e00-\u9fff]")
# Words too common to show that a claim's words are in a passage (the lexical judge).
OVERLAP_STOP_WORDS = frozenset(
    "a an the of to in on at for by with and or is are was were be been it its this that these those "
    "as from into per may can will shall should must not no any all each such other than then".split()
)
# Words too common to weigh in choosing evidence windows; unlike OVERLAP_STOP_WORDS it keeps
# "not"/"no", which the judge must read in the window.
WINDOW_STOP_WORDS = frozenset(
    "a an the of to in on at for by with and or is are was were be been it its this that these those as "
    "from into per than then there their they which who what when where how do does did has have had "
    "such can will shall may must should would could also any all each other".split()
)


def content_words(text: str, stop: frozenset[str] = WINDOW_STOP_WORDS) -> list[str]:
    """Lower-cased words of `text` (WORD_RE) that are not in `stop`, in text order."""
    return [w for w in WORD_RE.findall(text.lower()) if w not in stop]


# Words that carry no content of their own when comparing clauses (the checks, the learned decision).
FUNCTION_WORDS = frozenset(
    "a an the of to in on at for by with without and or is are was were be been being it its this that these "
    "those as from into per any all each such other than then there their they them his her he she we you "
    "your our us i me my also only upon during under within which who whom whose when where if so "
    "do does did has have had not no never shall must may might can could will would should cannot "
    "about after before both either neither nor more most less some same own up".split()
)


@lru_cache(maxsize=65536)
def stem(w: str) -> str:
    """Crude suffix stripping so 'infections'/'infection' and 'assigning'/'assign' compare equal."""
    w = w.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    w = w.strip("'-")
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "shes", "ches", "xes")):
        return w[:-2]
    if w.endswith("ing") and len(w) > 5:
        return w[:-3]
    if w.endswith("ed") and len(w) > 5:
        return w[:-2]
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


# --------------------------------------------------------------------------------------------
# BM25 terms
# --------------------------------------------------------------------------------------------

_BM25_TOKEN = re.compile(r"[\u4e00-\u9fff]|[a-z0-9]+(?:[.,/-][a-z0-9]+)*%?")
BM25_STOP_WORDS = frozenset(
    "a an the of to in on at for by with and or is are was were be been it its this that these those as "
    "from into per than then there their them they he she we you your our his her which who whom what "
    "when where how do does did has have had not no nor so such can will shall may must should would could".split()
)


def bm25_tokens(text: str) -> list[str]:
    """Lower-cased words and numbers kept whole ("12.5", "mg/ml", "1.5%"); CJK characters and
    their bigrams, since Chinese has no spaces."""
    out: list[str] = []
    prev = ""
    for tok in _BM25_TOKEN.findall(text.lower()):
        if "\u4e00" <= tok <= "\u9fff":
            out.append(tok)
            if prev:
                out.append(prev + tok)
            prev = tok
        else:
            prev = ""
            if tok not in BM25_STOP_WORDS:
                out.append(tok)
    return out


# --------------------------------------------------------------------------------------------
# Sentence splitting
# --------------------------------------------------------------------------------------------

CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
CJK_RE = re.compile(f"[{CJK_CHARS}]")
# Markup that opens a line but is not part of the sentence: bullets, "1." / "1)" / "(a)" numbering,
# markdown headings and quotes, Chinese "1、" / "一、" numbering.
_LINE_MARKER = re.compile(
    r"(?:[-*•+‣◦]\s+|\d{1,3}[.)](?=\s)\s*|\(\d{1,3}\)\s+|\(?[a-z]\)\s+|[a-z]\.(?=\s)\s*|#{1,6}\s+|>\s*"
    r"|\d{1,3}、|[一二三四五六七八九十]{1,3}、)"
)
_BULLET_START = re.compile(
    r"[-*•+‣◦]\s|\d{1,3}[.)]\s|\(\d{1,3}\)\s|\(?[a-z]\)\s|#|>|\d{1,3}、|[一二三四五六七八九十]{1,3}、"
)
# A period/!/? (or a run of them), then closing quotes/brackets that belong to the sentence.
_TERMINATOR = re.compile(r"(?:\.{3}|…|[.!?]+|[。！？；])[\"'”’)\]」』）】]*")
_CLOSERS = "\"'”’)]」』）】"

# Abbreviations that precede a name or example: never end a sentence.
_ALWAYS_ABBR = frozenset(
    "dr mr mrs ms prof messrs rev hon gen e.g i.e eg ie cf viz vs v approx ca incl esp resp fn "
    "wt ht tab tabs cap caps inj".split()
)
# Reference abbreviations: no split when a number or short label follows ("Sec. 2.1", "No. 5", "Ex. A").
_REF_ABBR = frozenset(
    "sec secs sect art arts no nos fig figs p pp para paras vol ch cl cls ex exh ref".split()
)
# Abbreviations that also end sentences ("... with Acme Inc. The term ..."): split only before a
# word that typically opens a sentence.
_WEAK_ABBR = frozenset("inc ltd co corp llc plc lp llp gmbh bros jr sr st etc al u.s u.k u.s.a e.u".split())
_SENTENCE_OPENERS = frozenset(
    "the this that these those it its they their there he she his her we our you your i a an in on at "
    "for if when where while under each either neither both all any no not however also please note "
    "such as after before unless upon during since although because then thus therefore moreover "
    "furthermore additionally finally overall see do does did is are was were be what which who how "
    "why let here".split()
)
_DOTTED_INITIALISM = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$")
_CAPITALISED = re.compile(r"[A-Z][a-z]")
_LOWER_WORD_END = re.compile(r"(?<![A-Za-z.])[a-z]{3,}$")
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def _line_spans(text: str) -> list[tuple[int, int]]:
    """Blocks of lines: a newline starts a new block unless the next line merely continues a wrapped one."""
    blocks: list[tuple[int, int]] = []
    start: int | None = None
    prev_end = 0
    prev_content = ""
    pos = 0
    while pos <= len(text):
        nl = text.find("\n", pos)
        le = len(text) if nl < 0 else nl
        stripped = text[pos:le].strip()
        if not stripped:
            if start is not None:
                blocks.append((start, prev_end))
                start = None
        else:
            continuation = (
                start is not None
                and not _BULLET_START.match(stripped)
                and (stripped[0].islower() or prev_content.endswith((",", "(", "-", "–", "/")))
            )
            if start is not None and not continuation:
                blocks.append((start, prev_end))
                start = None
            if start is None:
                start = pos
            prev_end = le
            prev_content = stripped
        if nl < 0:
            break
        pos = nl + 1
    if start is not None:
        blocks.append((start, prev_end))
    return blocks


def _strip_markers(text: str, start: int, end: int) -> int:
    """Advance `start` past leading whitespace and list/heading markers (possibly nested, e.g. "> - ")."""
    while True:
        while start < end and text[start].isspace():
            start += 1
        m = _LINE_MARKER.match(text, start, end)
        if not m or m.end() == start or m.end() >= end:
            return start
        start = m.end()


def _token_before(text: str, dot: int) -> str:
    """The token before the period at text[dot], without opening brackets/quotes."""
    k = dot
    while k > 0 and not text[k - 1].isspace():
        k -= 1
    return text[k:dot].lstrip("(\"'“‘[")


def _weak_abbreviation(prev: str) -> bool:
    """A token that ends a sentence only when a sentence opener follows ("Inc.", "U.S.", "J.")."""
    return (
        prev.lower() in _WEAK_ABBR
        or bool(_DOTTED_INITIALISM.match(prev))
        or (len(prev) == 1 and prev.isupper())
    )


def _is_boundary_after_period(text: str, dot: int, after: int, end: int) -> bool:
    """Decide whether the period at text[dot] (closers run to `after`) ends a sentence."""
    if after >= end:
        return True
    nxt = text[after]
    if CJK_RE.match(nxt):
        return True
    if not nxt.isspace():
        # "1.5", "U.S.A", "e.g.,", "example.com" are not boundaries; "weekly.The" (a missing space) is.
        return bool(_CAPITALISED.match(text, after)) and bool(
            _LOWER_WORD_END.search(text[max(0, dot - 30) : dot])
        )
    j = after
    while j < end and text[j].isspace():
        j += 1
    if j >= end:
        return True
    first = text[j]
    if first.islower():
        return False  # "mg. daily", "e.g. the", "approx. five"
    word_m = _LATIN_WORD.match(text, j, end)
    next_word = word_m.group(0) if word_m else ""
    prev = _token_before(text, dot)
    low = prev.lower()
    if low in _ALWAYS_ABBR:
        return False
    if low in _REF_ABBR:
        if first.isdigit() or first == "(" or (next_word and len(next_word) <= 3 and next_word.isupper()):
            return False
        return next_word.lower() in _SENTENCE_OPENERS
    if _weak_abbreviation(prev):
        return next_word.lower() in _SENTENCE_OPENERS
    return first.isupper() or first.isdigit() or first in "\"'“‘([*-•" or bool(CJK_RE.match(first))


def _split_block(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cur = start
    for m in _TERMINATOR.finditer(text, start, end):
        punct = m.group(0).rstrip(_CLOSERS)
        after = m.end()
        if punct[-1] in "。！？；":
            split = True
        elif punct[-1] in "!?":
            split = after >= end or text[after].isspace() or bool(CJK_RE.match(text[after]))
        else:  # "." or "..." or "…"
            split = _is_boundary_after_period(text, m.start() + len(punct) - 1, after, end)
        if split:
            spans.append((cur, after))
            cur = after
    if cur < end:
        spans.append((cur, end))
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence (start, end) offsets into `text`, whitespace-trimmed.

    Every non-blank stretch belongs to exactly one sentence except leading list/heading markers
    ("- ", "1. ", "## "), which are markup rather than content and would otherwise read as numbers.
    """
    out: list[tuple[int, int]] = []
    for bstart, bend in _line_spans(text):
        bstart = _strip_markers(text, bstart, bend)
        for s, e in _split_block(text, bstart, bend):
            s, e = _trim(text, s, e)
            if e > s:
                out.append((s, e))
    return out


# --------------------------------------------------------------------------------------------
# Sentences of a text that is still growing (a streamed answer)
# --------------------------------------------------------------------------------------------

_TERMINATOR_CHARS = ".!?…。！？；"
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")


def sentence_end_final(text: str, end: int) -> bool:
    """Whether a sentence of `split_sentences(text)` that ends at `end` still ends there, however
    `text` goes on (given that the sentences before it are final): what follows `end` already decides
    every rule the splitter applies there.

    Decided at once: "!" / "?" + a space, a CJK stop, a paragraph break, a line that starts a new
    block, a period before a capital / digit / quote when the token before it is no abbreviation or
    initial. Held: while the closing run may go on ("." -> "..", '."'), before the first character
    after the space, and after a known abbreviation or initial until the next word is whole ("Inc.
    The" vs "Inc. Thermo").
    The sentence's inner decisions read only text before `end`, so they are final once it is.
    """
    n = len(text)
    if end >= n or text[end] in _CLOSERS or text[end] in _TERMINATOR_CHARS:
        return False
    p = end
    while p > 0 and text[p - 1] in _CLOSERS:
        p -= 1
    stop = text[p - 1] if p else " "  # the last stop before the closers, if there is one
    if stop in "。！？；":
        return True
    if stop in "!?" and (text[end].isspace() or CJK_RE.match(text[end])):
        return True
    j = end
    while j < n and text[j].isspace():
        j += 1
    gap = text[end:j]
    if _BLANK_LINE.search(gap):
        return True  # a paragraph ends the block
    if "\n" in gap:
        # _line_spans: the next line starts a new block unless it continues a wrapped line; a list
        # marker seen now stays one. A line that continues now may yet become a list item, which ends
        # the block here: a boundary either way, so the rules within the block decide.
        line_end = text.find("\n", j)
        line = text[j : n if line_end < 0 else line_end].strip()
        if j < n and (not line[0].islower() and text[end - 1] not in ",(-–/" or _BULLET_START.match(line)):
            return True
    # within a block: the period rules of _is_boundary_after_period
    if stop not in ".…" or j >= n:
        return False
    if not gap:  # "weekly.The": a capital then a lower-case letter
        return bool(CJK_RE.match(text[end])) or end + 2 <= n
    prev = _token_before(text, p - 1)
    if prev.lower() in _REF_ABBR or _weak_abbreviation(prev):
        word = _LATIN_WORD.match(text, j)
        return word is None or word.end() < n  # decided by the whole next word
    return True
