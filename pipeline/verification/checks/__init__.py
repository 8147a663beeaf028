"""Deterministic slot checks between one claim and one evidence window: quantities, polarity, entities."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.schema import SlotCheck
from pipeline.verification.checks.entities import check_entities
from pipeline.verification.checks.polarity import check_negation
from pipeline.verification.checks.quantities import check_numbers, extract_quantities

__all__ = [
    "Quantity",
    "check_entities",
    "check_negation",
    "check_numbers",
    "extract_quantities",
    "run_checks",
]


def run_checks(claim: str, evidence: str, known_entities: Sequence[str] = ()) -> list[SlotCheck]:
    """All slot checks for one claim/evidence pair; any ok=False is a contradiction signal.

    A model can read "40 mg" and "40 g", or "may assign" and "shall not assign", as near-paraphrases;
    these checks cannot. The engine lets a failed check outweigh model entailment, so every rule fires
    only when claim and evidence clearly address the same slot, and stays silent otherwise.
    """
    return [
        *check_numbers(claim, evidence),
        *check_negation(claim, evidence),
        *check_entities(claim, evidence, known_entities),
    ]
