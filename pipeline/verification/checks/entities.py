"""Entities: whether the claim attributes a fact to another population, party or product than the
evidence does, by the entities both mention or by the subject of the same predicate."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from pipeline.schema import CheckKind, SlotCheck
from pipeline.text import stem
from pipeline.verification.checks.lexicon import (
    POPULATION_TYPES,
    ROLE_WORDS,
    TOKEN_RE,
    compatible,
    entity_words,
    mention_spans,
    mentions,
    topic_words,
    word_list,
)
from pipeline.verification.checks.polarity import COPULAS, PLAIN_VERBS, predicate_frames, sentences
from pipeline.verification.checks.quantities import stripped_of_quantities


def _polarity_of(text: str) -> int:
    frames = [f for s in sentences(text) for f in predicate_frames(s)]
    return -1 if any(f.polarity < 0 for f in frames) else 1


def _display(text: str, known: tuple[str, ...], typ: str, canon: str) -> str:
    for t, c, s, e in mention_spans(text, known):
        if t == typ and c == canon:
            return text[s:e]
    return canon


def _topic_overlap(claim: str, evidence: str, known: tuple[str, ...]) -> float:
    """Share of the claim's topic words (entities and numbers left out) that the evidence also uses."""
    cw = topic_words(stripped_of_quantities(claim), entity_words(claim, known))
    if not cw:
        return 0.0
    ew = topic_words(stripped_of_quantities(evidence), entity_words(evidence, known))
    return len(cw & ew) / len(cw)


_SET_TYPES = ("age_group", "pregnancy", "impairment", "party", "name")
# Capitalised defined terms that name things, not parties: (the "Agreement"), (the "Effective Date").
_DEFINED_THING_WORDS = frozenset(word_list("defined_thing_words"))


@lru_cache(maxsize=1024)
def _party_names(known: tuple[str, ...]) -> tuple[str, ...]:
    """Caller-supplied names worth comparing: not role words (the role lexicon covers those) and not
    defined terms for things, longest first so "Acme Corp" wins over "Acme"."""
    names = set()
    for k in known:
        k = " ".join((k or "").split())
        words = k.lower().split()
        if not k or k.lower() in ROLE_WORDS or all(w in _DEFINED_THING_WORDS for w in words):
            continue
        names.add(k)
    return tuple(sorted(names, key=lambda n: (-len(n), n)))


def _predicates(text: str, known: tuple[str, ...]) -> set[str]:
    """Governed verbs of modal predicates plus plain finite verbs: what the text says is done."""
    out = {f.verb for s in sentences(text) for f in predicate_frames(s, known) if f.verb}
    out |= {stem(w) for w in TOKEN_RE.findall(text) if w.lower() in PLAIN_VERBS and w.lower() not in COPULAS}
    return out


# The slot a mention type names; caller-supplied names are the parties' own names.
_KINDS = {
    **dict.fromkeys(POPULATION_TYPES, CheckKind.POPULATION),
    "party": CheckKind.PARTY,
    "name": CheckKind.PARTY,
    "brand": CheckKind.PRODUCT,
    "generic": CheckKind.PRODUCT,
}


def _kind(typ: str) -> CheckKind:
    return _KINDS.get(typ, CheckKind.ENTITY)


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
    cm, em = mentions(claim, known), mentions(evidence, known)
    failed: set[str] = set()
    shared_predicate = bool(_predicates(claim, known) & _predicates(evidence, known))
    for typ in _SET_TYPES if overlap >= 0.5 else ():
        cset, eset = cm.get(typ), em.get(typ)
        if not cset or not eset or any(compatible(typ, c, e) for c in cset for e in eset):
            continue
        if typ in ("party", "name") and not shared_predicate:
            continue  # "Licensee must pay" vs "Licensor may increase": different duties, not a swapped party
        c_txt = ", ".join(_display(claim, known, typ, c) for c in sorted(cset))
        e_txt = ", ".join(_display(evidence, known, typ, e) for e in sorted(eset))
        out.append(SlotCheck(_kind(typ), False, f"answer says {c_txt}; evidence says {e_txt}"))
        failed.add(typ)
    ev_frames = [f for s in sentences(evidence) for f in predicate_frames(s, known) if f.subject]
    done: set[tuple[str, str | None]] = set()
    for sent in sentences(claim):
        for c in predicate_frames(sent, known):
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
            if any(e.subject and compatible(typ, e.subject[1], c.subject[1]) for e in same):
                out.append(SlotCheck(_kind(typ), True, f"{c.subject[2]} matches"))
            else:
                e = same[0]
                assert e.subject is not None
                out.append(
                    SlotCheck(
                        _kind(typ), False,
                        f"answer says '{c.subject[2]} {c.surface}'; evidence says '{e.subject[2]} {e.surface}'",
                    )
                )  # fmt: skip
    return out
