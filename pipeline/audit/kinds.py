"""The kind of error a flagged sentence shows, derived from its verdict and reason.

Kinds (code -> label): number (number/unit mismatch), negation (negation/modality), entity (wrong
party, population or name), model (the verifier model judges a contradiction), not_in_documents
(unsupported: the documents do not state it), unchecked (could not be checked), other (a
contradiction none of the above explains). Non-flagged sentences have no kind (None).
"""

from __future__ import annotations

import re

KIND_LABELS: dict[str, str] = {
    "number": "number/unit mismatch",
    "negation": "negation/modality",
    "entity": "entity",
    "model": "model contradiction",
    "not_in_documents": "not in documents",
    "unchecked": "unchecked",
    "other": "other contradiction",
}

_PART_PREFIX = re.compile(r"^part “.*?”:\s*", re.S)
_TRAILING_PLACE = re.compile(r"\s*\([^()]*\)\s*$")
_MODEL = re.compile(r"verifier model|\bmodel judges\b|\(p=\d", re.I)
_NEGATION = re.compile(r"negat|modal|\bnot\b|\bnever\b|\bno longer\b|\bmay\b|\bmust\b|\bshall\b|"
                       r"\bprohibit|\bpermit|\brequire|\boptional|\bmandatory", re.I)
_ENTITY = re.compile(r"entit|part(?:y|ies)\b|population|\bname[sd]?\b|\bperson\b|organi[sz]ation|"
                     r"licensor|licensee|provider|customer|patients?\b|adults?\b|children|pediatric", re.I)
_NUMBER = re.compile(r"number|numeric|unit|amount|\bdigit|percent|%|\d", re.I)


def _core(reason: str) -> str:
    """The reason without the "part “…”:" prefix and the trailing "(title, section)" location, so
    words in the quoted claim or a section title do not decide the kind."""
    text = _PART_PREFIX.sub("", reason or "", count=1)
    return _TRAILING_PLACE.sub("", text)


def error_kind(verdict: str, reason: str) -> str | None:
    """Kind code of a flagged sentence (see module doc); None for supported / not_a_claim."""
    verdict = str(verdict)
    if verdict == "unchecked":
        return "unchecked"
    if verdict == "unsupported":
        return "not_in_documents"
    if verdict != "contradicted":
        return None
    core = _core(reason)
    if _MODEL.search(core):
        return "model"
    lowered = core.lower()
    # slot-check messages name their kind; the first one named decides
    firsts = {k: lowered.find(k) for k in ("number", "unit", "negat", "modal", "entit", "part", "population")}
    named = sorted((pos, k) for k, pos in firsts.items() if pos >= 0)
    if named:
        first = named[0][1]
        if first in ("number", "unit"):
            return "number"
        if first in ("negat", "modal"):
            return "negation"
        return "entity"
    if _NUMBER.search(core):
        return "number"
    if _NEGATION.search(core):
        return "negation"
    if _ENTITY.search(core):
        return "entity"
    return "other"


def kind_label(kind: str | None) -> str:
    return KIND_LABELS.get(kind or "", kind or "")
