"""The lexical judge: token overlap, the conservative fallback when no trained model ships.

It never claims contradiction and only reports entailment when almost every content word of the
claim is in the evidence."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline.verification.judges.base import JudgeScores

_WORD = re.compile(r"[A-Za-z]+|\d+(?:\.\d+)?|[\u4e00-\u9fff]")
_STOP = frozenset(
    "a an the of to in on at for by with and or is are was were be been it its this that these those "
    "as from into per may can will shall should must not no any all each such other than then".split()
)


def _content(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP}


class LexicalJudge:
    """Token-overlap stand-in for the trained model; conservative by design."""

    name = "lexical-overlap"

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[JudgeScores]:
        out = []
        for premise, hypothesis in pairs:
            hyp = _content(hypothesis)
            cover = len(hyp & _content(premise)) / len(hyp) if hyp else 0.0
            entail = max(0.0, (cover - 0.6) / 0.4) * 0.9
            out.append(JudgeScores(entail=entail, neutral=1.0 - entail, contradict=0.0))
        return out
