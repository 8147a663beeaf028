"""The kind of error a flagged sentence shows, derived from its verdict and reason.

Kinds (code -> label): number (number/unit mismatch), negation (negation/modality), entity (another
party, population or product), model (the verifier model judges a contradiction), not_in_documents
(unsupported: the documents do not state it), unchecked (could not be checked), other (a
contradiction none of these explains). Supported and not_a_claim sentences have no kind (None).

The slot checks (pipeline.verification.checks) word their failures "answer says X; evidence says Y": numbers
unquoted with their units, negation/modality and subject clashes as quoted phrases, populations
and parties unquoted. The first such pair in the reason decides the kind.
"""

from __future__ import annotations

import re

KIND_LABELS: dict[str, str] = {
    "number": "number/unit mismatch",
    "negation": "negation/modality",
    "entity": "entity (party, population, product)",
    "model": "model contradiction",
    "not_in_documents": "not in documents",
    "unchecked": "unchecked",
    "other": "other contradiction",
}

_PART_PREFIX = re.compile(r"^part “.*?”:\s*", re.S)
_PAIR = re.compile(r"answer says (?P<a>.+?); evidence says (?P<b>.+?)(?=; answer says |\s+\(|$)", re.S)
_MODEL = re.compile(r"verifier model|\bmodel judges\b", re.I)
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)*|%", re.I)
_NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million "
    "billion half twice once daily weekly monthly annually percent".split()
)
_POLARITY_WORDS = frozenset(
    "not no never cannot can't don't doesn't won't shan't mustn't shouldn't isn't aren't may might must shall should "
    "can could will would required require requires prohibited permitted allowed recommended contraindicated "
    "without with neither nor none optional mandatory only need needs".split()
)


def _pair(reason: str) -> tuple[str, str] | None:
    m = _PAIR.search(_PART_PREFIX.sub("", reason or "", count=1))
    return (m.group("a").strip(), m.group("b").strip()) if m else None


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def _numeric(words: set[str]) -> bool:
    return any(w[0].isdigit() or w == "%" or w in _NUMBER_WORDS for w in words)


def error_kind(verdict: str, reason: str) -> str | None:
    """Kind code of a flagged sentence (see the module doc); None for supported / not_a_claim."""
    verdict = str(verdict)
    if verdict == "unchecked":
        return "unchecked"
    if verdict == "unsupported":
        return "not_in_documents"
    if verdict != "contradicted":
        return None
    reason = reason or ""
    if "(same number, different unit)" in reason:
        return "number"
    pair = _pair(reason)
    if pair is None:
        return "model" if _MODEL.search(reason) else "other"
    a, b = pair
    wa, wb = _words(a), _words(b)
    diff = wa ^ wb
    if a.startswith("'") or b.startswith("'"):  # a predicate phrase: polarity/modality or its subject
        return "negation" if diff & _POLARITY_WORDS or not diff else "entity"
    if _numeric(wa) and _numeric(wb):
        return "number"
    if diff & _POLARITY_WORDS:
        return "negation"
    return "entity"


def kind_label(kind: str | None) -> str:
    return KIND_LABELS.get(kind or "", kind or "")
