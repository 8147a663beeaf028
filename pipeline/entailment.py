"""Entailment scorers: premise (evidence) + hypothesis (claim) -> entail / neutral / contradict.

The trained verifier (pipeline.verifier_model) is the default; the lexical scorer is the
conservative fallback used when no trained model ships: it never claims contradiction and
only reports entailment when almost every content word of the claim is in the evidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class EntailmentScores:
    entail: float
    neutral: float
    contradict: float


class EntailmentScorer(Protocol):
    name: str

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[EntailmentScores]:
        """Score (premise, hypothesis) pairs in one batch."""
        ...


_WORD = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?|[\u4e00-\u9fff]")
_STOP = frozenset(
    "a an the of to in on at for by with and or is are was were be been it its this that these those "
    "as from into per may can will shall should must not no any all each such other than then".split()
)


def _content(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP}


class LexicalScorer:
    """Token-overlap stand-in for the trained model; conservative by design."""

    name = "lexical-overlap"

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[EntailmentScores]:
        out = []
        for premise, hypothesis in pairs:
            hyp = _content(hypothesis)
            cover = len(hyp & _content(premise)) / len(hyp) if hyp else 0.0
            entail = max(0.0, (cover - 0.6) / 0.4) * 0.9
            out.append(EntailmentScores(entail=entail, neutral=1.0 - entail, contradict=0.0))
        return out
