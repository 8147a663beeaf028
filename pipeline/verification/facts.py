"""Records inside verification: a fact with its evidence, checks and scores; a fact's verdict; an
answer assessed but not yet decided."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.retrieval.windows import Window
from pipeline.schema import CheckKind, Citation, Claim, Label, SearchHit, SlotCheck
from pipeline.settings import Thresholds
from pipeline.verification.judges.base import JudgeScores


@dataclass
class FactResult:
    text: str
    verdict: Label
    confidence: float
    reason: str
    citations: list[Citation] = field(default_factory=list)
    failed_checks: list[CheckKind] = field(default_factory=list)
    needs_review: bool = False  # the learned decision found it close to stated but is not sure


@dataclass
class Fact:
    """One fact of a sentence with everything the verdict rules look at."""

    text: str
    hits: list[SearchHit] = field(default_factory=list)  # retrieved chunks the windows come from
    windows: list[Window] = field(default_factory=list)
    # what the judge reads per window: the quote with the contract's roles named as the claim names
    # the parties (pipeline/verification/parties.py)
    premises: list[str] = field(default_factory=list)
    party_names: list[str] = field(default_factory=list)  # the names written into the premises
    no_evidence: bool = False
    has_quantity: bool = False
    checks: list[list[SlotCheck]] = field(default_factory=list)  # per window
    scores: dict[int, JudgeScores] = field(default_factory=dict)  # per scored window
    error: str | None = None  # why it could not be checked

    def premise(self, wi: int) -> str:
        """The text the judge reads as window `wi`'s evidence."""
        return self.premises[wi] if wi < len(self.premises) else self.windows[wi].citation.quote


@dataclass
class Assessment:
    """An answer's claims and their facts, gathered and scored but not yet decided."""

    claims: list[Claim]
    facts: list[list[Fact]]  # per claim; empty for a claim that states no checkable fact
    thresholds: Thresholds
    versions: dict[str, str]
    timings_ms: dict[str, float]
