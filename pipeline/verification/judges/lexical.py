"""The lexical judge: token overlap, the conservative fallback when no trained model ships.

It never claims contradiction and only reports entailment when almost every content word of the
claim is in the evidence."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.text import OVERLAP_STOP_WORDS, WORD_RE
from pipeline.verification.judges.base import JudgeScores


def _content(text: str) -> set[str]:
    return {w.lower() for w in WORD_RE.findall(text) if w.lower() not in OVERLAP_STOP_WORDS}


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
