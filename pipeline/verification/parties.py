"""Contract parties under their defined names.

A contract names its parties once ("Sun Seven Stars Media Group Limited ("Licensor")") and then
writes only the role ("Licensor hereby grants to Licensee ..."). An answer says "Sun Seven Stars
licenses its titles to YOU On Demand". The judge never sees the preamble, so it cannot tell that
the two sentences are about the same parties and reads a faithful summary as "not stated" (or
misses a swapped party). `defined_parties` reads the role -> name map from a document's opening;
when a claim names a party, `party_names` and `name_roles` write the names into the premise that the
judge and the slot checks read, in place of the roles. The citation keeps the document's own words.
"""

from __future__ import annotations

import re
from functools import lru_cache

PREAMBLE_CHARS = 6000
# A defined term in parentheses: ("Licensor"), (the "Company"), (hereinafter referred to as "JHU").
_DEFINITION = re.compile(
    r"\(\s*(?:[^()“”\"]{0,60}?\s)?[“\"]([A-Z][A-Za-z0-9&.\- ]{1,40}?)[”\"]\s*(?:or\s+[^()]{0,40})?\)"
)
# Where a party's name starts: after these words or marks (a party list, "by and between").
_LEAD = re.compile(
    r"(?:\bbetween\b|\bamong\b|\band\b|\bby\b|\bwith\b|\bto\b|[;:]|\n\s*\n|[”\"]\s*\)|^)\s*[,]?\s*", re.I
)
_NAME = re.compile(
    r"(?:[Tt]he\s+)?((?:[A-Z0-9][\w.&'’\-]*)(?:(?:\s+|,\s*)(?:[A-Z0-9][\w.&'’\-]*|of|and|&|de|du|la|for))*)"
)
_SUFFIX = frozenset(
    "inc inc. corp corp. corporation llc l.l.c. ltd ltd. limited co co. company holdings group plc lp "
    "l.p. n.a. n. a s.a. sa ag gmbh b.v. bv s.r.l. srl s.p.a. spa pte pty the".split()
)
# A name is a party's when it ends like an organisation's, or when its defined term is a role.
_ORGANISATION = re.compile(
    r"\b(?:inc|corp|corporation|llc|l\.l\.c|ltd|limited|company|co|plc|gmbh|s\.a|n\.\s?a|l\.p|lp|ag|b\.v"
    r"|university|holdings|partners|bank|trust|fund|foundation|association)\b\.?,?$",
    re.I,
)
_ROLES = frozenset(
    "licensor licensee company distributor supplier customer reseller sub-reseller principal investor "
    "consultant manufacturer franchisee franchisor member contractor subcontractor client vendor purchaser "
    "buyer seller provider recipient agent owner adviser advisor lessor lessee sponsor partner carrier "
    "shipper developer publisher employer employee executive producer marketer promoter operator "
    "contributor borrower lender guarantor landlord tenant affiliate representative".split()
)


def defined_parties(text: str) -> dict[str, str]:
    """Role -> party name for the parties a document defines in its opening ("Cardlytics, Inc.
    ("Supplier")" gives {"Supplier": "Cardlytics, Inc."}); a role defined twice is dropped."""
    head = text[:PREAMBLE_CHARS]
    found: dict[str, str] = {}
    clash: set[str] = set()
    for m in _DEFINITION.finditer(head):
        role = m.group(1).strip()
        name = _name_before(head[max(0, m.start() - 300) : m.start()])
        if not name or name.lower() == role.lower() or not _core(name):
            continue
        if not (_ORGANISATION.search(name) or role.lower() in _ROLES):
            continue
        if role in found and found[role] != name:
            clash.add(role)
        found.setdefault(role, name)
    return {r: n for r, n in found.items() if r not in clash}


def _name_before(pre: str) -> str | None:
    """The party name that a definition's parenthesis follows: the last clause of `pre`, cut at the
    word that introduces a party, without its descriptors (", a Delaware corporation")."""
    starts = [m.end() for m in _LEAD.finditer(pre)]
    rest = pre[starts[-1] :] if starts else pre
    rest = re.split(r",?\s+(?:a|an)\s+[a-z]", rest)[0]
    rest = re.split(r",?\s+(?:having|with|whose|located|organi[sz]ed|incorporated|existing)\b", rest)[0]
    rest = re.sub(r"^(?:WHEREAS,?|[A-Z0-9]{1,2}[.)])\s*", "", rest.strip())
    m = _NAME.match(rest)
    if not m:
        return None
    name = m.group(1).strip(" ,")
    return name if len(name) >= 2 and len(name) <= 80 else None


def _core(name: str) -> list[str]:
    """The words that identify a party: its name without corporate suffixes."""
    words = [w.strip(",") for w in name.split()]
    return [w for w in words if w and w.lower() not in _SUFFIX]


def _mention(name: str, claim: str) -> re.Match | None:
    """Where `claim` writes the party `name`: the longest run of the name's first identifying words
    found in it ("YOU On Demand" for "YOU On Demand Holdings, Inc."), None when it does not name it."""
    for pattern in _name_patterns(name):
        m = pattern.search(claim)
        if m:
            return m
    return None


@lru_cache(maxsize=4096)
def _name_patterns(name: str) -> tuple[re.Pattern, ...]:
    """Patterns for the runs of a name's first identifying words, longest first (one word: 3+ letters)."""
    core = _core(name)
    runs = [" ".join(core[:n]) for n in range(len(core), 0, -1)]
    return tuple(_word(r, re.I) for r in runs if len(r) >= 3 or " " in r)


@lru_cache(maxsize=4096)
def _word(text: str, flags: int = 0) -> re.Pattern:
    return re.compile(rf"(?<![\w-]){re.escape(text)}(?![\w-])", flags)


def party_names(claim: str, parties: dict[str, str]) -> dict[str, str]:
    """Role -> the name to write for it when `claim` names a party and uses none of the roles: the
    name as the claim writes it for the parties it names, the full name for the others (so that a
    claim that swaps the parties reads as a swap); empty otherwise. A name the claim writes only as
    part of another party's longer name ("Morgan Stanley" in "Morgan Stanley Direct Lending Fund")
    names that other party."""
    said: dict[str, re.Match] = {}
    for role, name in parties.items():
        if _has(claim, role):
            return {}  # the claim speaks in the contract's own terms
        m = _mention(name, claim)
        if m:
            said[role] = m
    said = {
        role: m
        for role, m in said.items()
        if not any(o.start() <= m.start() and m.end() <= o.end() and o.end() - o.start() > m.end() - m.start()
                   for o in said.values())
    }  # fmt: skip
    if not said:
        return {}
    return {
        role: said[role].group(0) if role in said else " ".join(_core(name)) for role, name in parties.items()
    }


def name_roles(premise: str, names: dict[str, str]) -> str:
    """`premise` with each role written as its party's name ("Licensor hereby grants to Licensee" ->
    "Sun Seven Stars hereby grants to YOU On Demand")."""
    for role, name in names.items():
        premise = _word(role).sub(lambda _, name=name: name, premise)
    return premise


def _has(text: str, word: str) -> bool:
    return _word(word).search(text) is not None
