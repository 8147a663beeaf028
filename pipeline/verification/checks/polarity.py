"""Polarity and modality: the predicates of claim and evidence (marker, governed verb, subject, clause
words) and whether the claim negates or changes the modality of what the evidence says."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from pipeline.schema import CheckKind, SlotCheck
from pipeline.text import FUNCTION_WORDS, split_sentences, stem
from pipeline.verification.checks.lexicon import (
    CONCEPT_OF,
    NOT_NEGATION,
    ONES,
    POPULATION_TYPES,
    TOKEN_RE,
    compatible,
    matches_at_words,
    mention_spans,
    mentions,
    topic_words,
    word_list,
)

_I = re.IGNORECASE
# Stop words for comparing predicates: function words plus the modal/polarity vocabulary itself.
_STOP = FUNCTION_WORDS | frozenset(word_list("predicate_stop_words"))

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
_MARKER_FIRST = frozenset(word_list("marker_first_words"))
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
_BOUNDARY_WORDS = frozenset(word_list("boundary_words"))
# "is contraindicated" / "is recommended" have no verb of their own; they only meet a modal predicate
# whose verb is about using the product ("do not start", "may be given").
_USE_VERBS = frozenset(stem(w) for w in word_list("use_verbs"))
_SUBJECT_NEGATORS = frozenset(word_list("subject_negators"))
_FLIPPED = {"OBL": "PROH", "PERM": "PROH", "SHOULD": "PROH", "REC": "CONTRA", "PROH": "PERM", "CONTRA": "REC"}
_SKIP_BEFORE_VERB = frozenset(word_list("skip_before_verb"))
COPULAS = frozenset(word_list("copulas"))
PLAIN_VERBS = frozenset(word_list("plain_verbs"))
# Contract adjectives whose negation is a prefix: "exclusive" vs "non-exclusive", "revocable" vs "irrevocable".
_PREFIXED_RE = re.compile(
    r"\b(?P<neg>non[-\s]*|ir|un)?(?P<w>exclusive|transferable|assignable|refundable|cancell?able|sublicensable|"
    r"renewable|revocable|binding|conditional)\b",
    _I,
)


_PREFIXED_STEMS = word_list("prefixed_adjectives")
_HEAD_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z-]*|[.;:]")
_PREFIX_SKIP = frozenset(word_list("prefix_skip"))


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
        out.setdefault((w, bool(neg)), []).append((m.group(0), head, topic_words(around)))
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
                out.append(
                    SlotCheck(CheckKind.NEGATION, False, f"answer says '{surface}'; evidence says '{other}'")
                )
                break
    return out


def _content(words: Iterable[str]) -> frozenset[str]:
    return frozenset(
        CONCEPT_OF.get(w.lower()) or stem(w)
        for w in words
        if w[0].isalpha() and len(w) > 1 and w.lower() not in _STOP and w.lower() not in ONES
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
    cands = [sp for sp in mention_spans(sentence, known) if lo <= sp[2] and sp[3] <= hi]
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
def predicate_frames(sentence: str, known: tuple[str, ...] = ()) -> tuple[_Frame, ...]:
    """Predicate frames (marker + governed verb + surrounding content words) of one sentence."""
    masked = NOT_NEGATION.sub(lambda m: "_" * len(m.group(0)), sentence)
    toks = [(m.group(0), m.start(), m.end()) for m in TOKEN_RE.finditer(masked)]
    tok_starts = [t[1] for t in toks]
    markers = [
        (m.lastgroup or "", m.start(), m.end())
        for m in matches_at_words(_MARKER_RE, masked, _MARKER_FIRST, sentence)
    ]
    if not markers:
        # A plain statement: one positive frame if it has a verb (headings and fragments have none).
        words = [t for t, _, _ in toks]
        cw = _content(words)
        if not cw or not any(w.lower() in PLAIN_VERBS for w in words):
            return ()
        vt = next(t for t in toks if t[0].lower() in PLAIN_VERBS)
        # "EmployeeCo pays ...": a full verb (not a copula) can anchor the subject for the entity check.
        full = vt[0].lower() not in COPULAS
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
def sentences(text: str) -> tuple[str, ...]:
    """The sentences of `text` (the whole text when it has no sentence break)."""
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
        return not compatible(c.subject[0], c.subject[1], e.subject[1])
    return False


def _population_clash(a: str, b: str) -> bool:
    """Whether two clauses name different populations (the entity check owns that difference)."""
    ma, mb = mentions(a), mentions(b)
    for typ in POPULATION_TYPES & set(ma) & set(mb):
        if not any(compatible(typ, x, y) for x in ma[typ] for y in mb[typ]):
            return True
    return False


# What _conflict returns when it cannot tell; compared by identity, its contents are never read.
_UNDECIDED: tuple[CheckKind, str] = (CheckKind.NEGATION, "")
_NEGATIVE_WORDS = re.compile(
    r"\b(?:contraindications?|prohibit\w*|restrict\w*|forbid\w*|neither|none|nothing|nobody|cannot|unable|"
    r"lack\w*|absence|fail\w*|avoid\w*|limitation)\b",
    _I,
)


def _conflict(c: _Frame, e: _Frame) -> tuple[CheckKind, str] | None:
    """(kind, message) when the frames disagree, None when they agree, _UNDECIDED when it can't tell."""
    if c.bounded or e.bounded:
        return _UNDECIDED
    msg = f"answer says '{c.surface}'; evidence says '{e.surface}'"
    ww = bool((c.without_objs & e.with_objs) - e.without_objs) or bool(
        (c.with_objs & e.without_objs) - e.with_objs
    )
    if "NOOBL" in (c.cat, e.cat):
        return (CheckKind.MODALITY, msg) if {c.cat, e.cat} == {"NOOBL", "OBL"} else None
    if c.polarity != e.polarity:
        plain = c if c.plain else e if e.plain else None
        if plain is not None and _NEGATIVE_WORDS.search(plain.text):
            return _UNDECIDED  # "X and Y are contraindications": negative without a negation marker
        if ww:
            return None  # "recommended without X" vs "do not use with X": two flips agree
        permissive = c if c.polarity > 0 else e
        if c.conditional != e.conditional and permissive.cat in _PERMISSIVE:
            return _UNDECIDED  # "may assign" vs "shall not assign without consent": a condition, not a denial
        return (CheckKind.MODALITY if c.cat in _DEONTIC and e.cat in _DEONTIC else CheckKind.NEGATION), msg
    if c.cat == "OBL" and e.cat == "PERM":
        return CheckKind.MODALITY, msg
    if ww:
        w = sorted((c.without_objs & e.with_objs) or (c.with_objs & e.without_objs))[0]
        which = "without" if w in c.without_objs else "with"
        other = "with" if which == "without" else "without"
        return CheckKind.NEGATION, f"answer says '{which} {w}'; evidence says '{other} {w}'"
    return None


def check_negation(claim: str, evidence: str) -> list[SlotCheck]:
    """Compare polarity and modality of the predicates that claim and evidence share.

    Fails on opposite polarity ("is recommended" vs "do not start"), obligation vs prohibition, or an
    obligation where the evidence only permits; only when an evidence clause addresses the same action
    (same governed verb, most of the claim's content words) for the same party and population.
    """
    ev_frames = [f for s in sentences(evidence) for f in predicate_frames(s)]
    out: list[SlotCheck] = []
    if not ev_frames:
        return out
    for sent in sentences(claim):
        for c in predicate_frames(sent):
            agree: _Frame | None = None
            conflict: tuple[CheckKind, str] | None = None
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
                    out.append(
                        SlotCheck(CheckKind.MODALITY, True, f"'{c.surface}' agrees with '{agree.surface}'")
                    )
            elif conflict is not None:
                out.append(SlotCheck(conflict[0], False, conflict[1]))
    return out + _check_prefixed(claim, evidence)
