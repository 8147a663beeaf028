"""The judge interface: premise (evidence) + hypothesis (claim) -> entail / neutral / contradict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class JudgeScores:
    entail: float
    neutral: float
    contradict: float


class Judge(Protocol):
    """Anything with a `name` (recorded in every result's versions) and a batch `score`."""

    name: str

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[JudgeScores]:
        """Score (premise, hypothesis) pairs in one batch."""
        ...
