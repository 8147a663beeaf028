"""Contract parties under their defined names (pipeline.verification.parties)."""

from __future__ import annotations

from pipeline.settings import PROJECT_ROOT
from pipeline.verification.parties import defined_parties, name_roles, party_names

HELIOS = (PROJECT_ROOT / "corpora/sample/contracts/helios-license.txt").read_text(encoding="utf-8")
MORGAN = (
    "MorganStanleyDirectLendingFund_20191119_10-12GA_EX-10.5_11898508_EX-10.5_Trademark License Agreement.txt"
)


def test_roles_read_from_the_opening():
    assert defined_parties(HELIOS) == {"Licensor": "Helios Software GmbH", "Licensee": "Marlow Logistics LLC"}


def test_a_real_cuad_preamble(shared):
    text = (shared / "contracts/cuad/full_contract_txt" / MORGAN).read_text(encoding="utf-8")
    parties = defined_parties(text)
    # descriptors (", a Delaware corporation") are not part of the name; defined things are no party
    assert parties == {
        "Licensor": "Morgan Stanley Investment Management Inc.",
        "Licensee": "Morgan Stanley Direct Lending Fund",
    }


def test_things_and_clashing_definitions_are_no_parties():
    text = (
        'This Agreement (the "Agreement") is made between Acme Corp. ("Supplier") and Beta LLC ("Buyer"). '
        'The products listed in Schedule A (the "Products"); and Gamma Inc. ("Supplier") joins later.'
    )
    assert defined_parties(text) == {"Buyer": "Beta LLC"}


def test_roles_named_as_the_claim_names_the_parties():
    parties = defined_parties(HELIOS)
    names = party_names("Marlow Logistics may not sublicense the software.", parties)
    # the party the claim names as it writes it; the other one in full, so a swap reads as a swap
    assert names == {"Licensor": "Helios Software", "Licensee": "Marlow Logistics"}
    assert (
        name_roles("Licensor grants Licensee a licence. Licensee may not sublicense it.", names)
        == "Helios Software grants Marlow Logistics a licence. Marlow Logistics may not sublicense it."
    )


def test_no_naming_when_the_claim_uses_the_roles_or_no_party():
    parties = defined_parties(HELIOS)
    assert party_names("Licensee may not sublicense Helios software.", parties) == {}
    assert party_names("The software may not be sublicensed.", parties) == {}


def test_a_name_inside_another_partys_name_names_that_party():
    parties = {
        "Licensor": "Morgan Stanley Investment Management Inc.",
        "Licensee": "Morgan Stanley Direct Lending Fund",
    }
    names = party_names("Morgan Stanley Direct Lending Fund may use the brand.", parties)
    assert names == {
        "Licensor": "Morgan Stanley Investment Management",
        "Licensee": "Morgan Stanley Direct Lending Fund",
    }


def test_odd_text_finds_no_party_and_does_not_fail():
    assert defined_parties('\ud800 ("Licensor") and \udfff') == {}
    assert defined_parties("A" * 10_000) == {}
    assert defined_parties("and " * 2_000 + '("Buyer")') == {}
    assert party_names("\ud800 Helios", defined_parties(HELIOS)) == {
        "Licensor": "Helios",
        "Licensee": "Marlow Logistics",
    }
