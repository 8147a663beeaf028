"""The CheckKind each slot check emits, and the error kind a contradicted verdict is counted under
in audits and reviews."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipeline.schema import CheckKind, Label, SlotCheck, Verdict
from pipeline.verification.checks import check_entities, check_negation, check_numbers, run_checks

# The error kind (audit, report, review UI) of each CheckKind.
AUDIT_KIND = {
    CheckKind.NUMBER: "number",
    CheckKind.UNIT: "number",
    CheckKind.DATE: "number",
    CheckKind.NEGATION: "negation",
    CheckKind.MODALITY: "negation",
    CheckKind.PARTY: "entity",
    CheckKind.POPULATION: "entity",
    CheckKind.PRODUCT: "entity",
    CheckKind.ENTITY: "entity",
}

Check = Callable[[str, str], list[SlotCheck]]

# (check, claim, evidence, kind of its one failure); mostly the cases of test_checks.py.
FAILING: list[tuple[Check, str, str, CheckKind]] = [
    (check_numbers, "The dose is 20 mg.", "The dose is 10 mg.", CheckKind.NUMBER),
    (
        check_numbers,
        "Patients may take up to 80 mg daily.",
        "The maximum dose is 40 mg daily.",
        CheckKind.NUMBER,
    ),
    (check_numbers, "The dose is 80 mg daily.", "The maximum dose is 40 mg daily.", CheckKind.NUMBER),
    (check_numbers, "Take 40 mg twice daily.", "Take 40 mg once daily.", CheckKind.NUMBER),
    (check_numbers, "The fee is $500.", "The fee is USD 600.", CheckKind.NUMBER),
    (
        check_numbers,
        "Invoices are payable within 10 days.",
        "Invoices are payable within ten (10) business days.",
        CheckKind.UNIT,
    ),
    (check_numbers, "The dose is 40 g.", "The dose is 40 mg.", CheckKind.UNIT),
    (check_numbers, "The fee is due on January 1, 2021.", "The fee is due on 2020-01-01.", CheckKind.DATE),
    (check_numbers, "The term began in 2019.", "The term began in 2021.", CheckKind.DATE),
    (
        check_negation,
        "HUMIRA is recommended in patients with active infections",
        "Do not start HUMIRA during an active infection",
        CheckKind.NEGATION,
    ),
    (
        check_negation,
        "HUMIRA is approved for children.",
        "HUMIRA is not approved for children.",
        CheckKind.NEGATION,
    ),
    (
        check_negation,
        "Licensee may sublicense with consent.",
        "Licensee may sublicense without consent.",
        CheckKind.NEGATION,
    ),
    (
        check_negation,
        "The Licensee may assign this Agreement.",
        "The Licensee shall not assign this Agreement.",
        CheckKind.MODALITY,
    ),
    (
        check_negation,
        "The Licensee must notify Licensor of any breach.",
        "The Licensee may notify Licensor of any breach.",
        CheckKind.MODALITY,
    ),
    (
        check_negation,
        "Either party may terminate for convenience.",
        "Neither party may terminate for convenience.",
        CheckKind.MODALITY,
    ),
    (
        check_entities,
        "The Licensee may terminate this Agreement upon 30 days notice.",
        "Licensor may terminate this Agreement upon thirty (30) days' written notice.",
        CheckKind.PARTY,
    ),
    (
        check_entities,
        "Licensee may terminate this Agreement immediately if Licensor fails to pay.",
        "Licensor may terminate this Agreement immediately if Licensee fails to pay any fee.",
        CheckKind.PARTY,
    ),
    (
        check_entities,
        "HUMIRA is approved for pediatric patients with Crohn's disease.",
        "HUMIRA is indicated for reducing signs and symptoms of Crohn's disease in adult patients.",
        CheckKind.POPULATION,
    ),
    (
        check_entities,
        "LIPITOR is contraindicated in active liver disease.",
        "VIAGRA is contraindicated in active liver disease.",
        CheckKind.PRODUCT,
    ),
    (
        check_entities,
        "Adalimumab is contraindicated in active liver disease.",
        "Etanercept is contraindicated in active liver disease.",
        CheckKind.PRODUCT,
    ),
]

# Failures the audit once grouped wrongly by parsing their messages (a prefix negation as an entity,
# a frequency without a number word as an entity, a subject clash whose modal verbs also differ as a
# negation); read from the CheckKind they land in the right group.
DISAGREEING: list[tuple[Check, str, str, CheckKind]] = [
    (
        check_negation,
        "The Distributor receives exclusive rights to sell the products.",
        "The Principal grants Distributor non-exclusive rights to sell these products in Romania.",
        CheckKind.NEGATION,
    ),
    (check_numbers, "Take 40 mg once daily.", "Take 40 mg every other week.", CheckKind.NUMBER),
    (
        check_entities,
        "HUMIRA can be taken with food.",
        "VIAGRA may be taken with food.",
        CheckKind.PRODUCT,
    ),
]


def _failure(check: Check, claim: str, evidence: str) -> SlotCheck:
    (c,) = [c for c in check(claim, evidence) if not c.ok]
    return c


@pytest.mark.parametrize(("check", "claim", "evidence", "kind"), FAILING + DISAGREEING)
def test_failure_kind(check: Check, claim: str, evidence: str, kind: CheckKind) -> None:
    assert _failure(check, claim, evidence).kind is kind


@pytest.mark.parametrize(("check", "claim", "evidence", "kind"), FAILING + DISAGREEING)
def test_contradiction_is_counted_under_its_check_kind(
    check: Check, claim: str, evidence: str, kind: CheckKind
) -> None:
    failed = [c.kind for c in check(claim, evidence) if not c.ok]
    verdict = Verdict(claim, 0, len(claim), Label.CONTRADICTED, 0.9, "", [], failed)
    assert verdict.error_kind == AUDIT_KIND[kind]


def test_every_check_kind_is_a_check_kind_member() -> None:
    checks = run_checks(
        "Licensee may terminate this Agreement on January 1, 2021 upon 30 days notice.",
        "Licensor may terminate this Agreement on 2020-01-01 upon thirty (30) days' written notice.",
    )
    assert checks and all(isinstance(c.kind, CheckKind) for c in checks)


def test_passing_checks_carry_a_kind() -> None:
    # A positively matched quantity, date included, is a NUMBER: the verdict rules count it as confirmed.
    (c,) = check_numbers("It was signed on 1/1/2020.", "It was signed on January 1, 2020.")
    assert c.ok and c.kind is CheckKind.NUMBER
    (c,) = check_numbers("The recommended dose is 40 mg.", "The recommended dose is 40 mg.")
    assert c.ok and c.kind is CheckKind.NUMBER
    (c,) = check_negation(
        "HUMIRA should not be used in patients with active infections.",
        "Do not start HUMIRA during an active infection.",
    )
    assert c.ok and c.kind is CheckKind.MODALITY
    checks = check_entities(
        "The Licensee must notify Licensor of any breach.", "The Licensee may notify Licensor of any breach."
    )
    assert [(c.ok, c.kind) for c in checks] == [(True, CheckKind.PARTY)]
