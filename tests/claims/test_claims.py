"""Sentence splitting, checkability and fact splitting of LLM answers (pipeline.verification.claims)."""

from __future__ import annotations

import pytest

from pipeline.text import split_sentences
from pipeline.verification.claims import extract_claims, is_checkable, split_facts


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


# ------------------------------------------------------------------------------------ split_sentences


def test_plain_sentences_split_and_trim() -> None:
    text = "  The term is 5 years.  Either party may terminate!   Is that right?  "
    assert sentences(text) == ["The term is 5 years.", "Either party may terminate!", "Is that right?"]


@pytest.mark.parametrize(
    "text",
    [
        "Each tablet contains 1.5% of the active ingredient and weighs 12.3 g.",
        "It is approved in the U.S. and the EU.",
        "It was approved by the U.S. Food and Drug Administration in 2002.",
        "See Sec. 2.1 for the payment terms.",
        "Use a sharps container, e.g. a thick plastic bottle.",
        "Take it with food, i.e. with a meal.",
        "The agreement is between Acme Inc. and Beta Ltd. for five years.",
        "Acme Co. Ltd. shall deliver the goods.",
        "Refer to No. 5 of the schedule.",
        "Dr. Smith signed the agreement.",
        "The syringe holds approx. 0.8 mL of solution.",
        "Smith vs. Jones decided the point.",
        "Section 5.2(a) governs termination.",
        "J. Smith is the Licensee's agent.",
        "The dose is 40 mg. daily in divided doses.",
    ],
)
def test_abbreviations_and_numbers_do_not_split(text: str) -> None:
    assert sentences(text) == [text]


def test_weak_abbreviation_ends_sentence_before_a_sentence_opener() -> None:
    text = "The agreement was signed with Acme Inc. The term is 5 years."
    assert sentences(text) == ["The agreement was signed with Acme Inc.", "The term is 5 years."]


def test_unit_abbreviation_at_end_of_sentence_splits() -> None:
    assert sentences("The dose is 40 mg. Take it with food.") == ["The dose is 40 mg.", "Take it with food."]


def test_bullets_and_numbered_lists_start_new_sentences_without_their_markers() -> None:
    text = "Here is a summary:\n- The term is 5 years.\n* Fees are $500 per month\n1. Licensee pays.\n2) Licensor delivers"
    assert sentences(text) == [
        "Here is a summary:",
        "The term is 5 years.",
        "Fees are $500 per month",
        "Licensee pays.",
        "Licensor delivers",
    ]


def test_soft_wrapped_line_continues_the_sentence() -> None:
    text = "The recommended dose is 40 mg\nevery other week.\n\n## Storage\nStore in a refrigerator."
    assert sentences(text) == [
        "The recommended dose is 40 mg\nevery other week.",
        "Storage",
        "Store in a refrigerator.",
    ]


def test_closing_quotes_and_brackets_stay_with_the_sentence() -> None:
    text = 'The label says "do not freeze." (See section 16.) Store it cold.'
    assert sentences(text) == ['The label says "do not freeze."', "(See section 16.)", "Store it cold."]


def test_chinese_answer_splits_on_full_width_punctuation() -> None:
    text = "阿达木单抗的推荐剂量为每隔一周40毫克。如有其他问题请告诉我！"
    assert sentences(text) == ["阿达木单抗的推荐剂量为每隔一周40毫克。", "如有其他问题请告诉我！"]
    assert sentences("第一句；第二句？第三句！") == ["第一句；", "第二句？", "第三句！"]


def test_mixed_chinese_and_english() -> None:
    text = "HUMIRA 的剂量是 40 mg。It is given every other week. 请咨询医生。"
    assert sentences(text) == ["HUMIRA 的剂量是 40 mg。", "It is given every other week.", "请咨询医生。"]


def test_offsets_round_trip_and_cover_all_content() -> None:
    text = "Sure!\n\n- The term is 5 years (Sec. 2.1).\n- Fees: $1,500.50 per month.\n\n阿达木单抗每隔一周40毫克。Done."
    spans = split_sentences(text)
    assert spans == sorted(spans)
    for s, e in spans:
        assert text[s:e] == text[s:e].strip() and text[s:e]
    covered = set()
    for s, e in spans:
        covered.update(range(s, e))
    uncovered = "".join(ch for i, ch in enumerate(text) if i not in covered and not ch.isspace())
    assert uncovered == "--"  # only the bullet markers are left out


def test_empty_and_blank_text() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\t ") == []


# ------------------------------------------------------------------------------------ is_checkable


@pytest.mark.parametrize(
    "sentence",
    [
        "Hello!",
        "Sure, here's what I found.",
        "Great question!",
        "Let me know if you have other questions.",
        "I hope this helps.",
        "What is the recommended dose?",
        "Here is a summary of the agreement:",
        "Based on the label:",
        "Please consult your doctor.",
        "This is not medical advice.",
        "Thanks for asking about the agreement.",
        "I would recommend discussing alternatives with your care team.",
        "Dosage and Administration",
        "您好！",
        "希望这对您有帮助。",
        "以下是摘要：",
        "如有其他问题请告诉我！",
    ],
)
def test_not_checkable(sentence: str) -> None:
    assert not is_checkable(sentence)


@pytest.mark.parametrize(
    "sentence",
    [
        "The term is 5 years.",
        "HUMIRA is given subcutaneously.",
        "Sure, the dose is 40 mg.",
        "Based on the label, the dose is 40 mg every other week.",
        "Here is what the label says: the dose is 40 mg every other week.",
        "No, HUMIRA is not approved for children.",
        "Either party may terminate.",
        "I'm not a lawyer, but the notice period is 30 days.",
        "Ask a doctor before use if you are taking a blood thinner.",
        "阿达木单抗的推荐剂量为每隔一周40毫克。",
    ],
)
def test_checkable(sentence: str) -> None:
    assert is_checkable(sentence)


# ------------------------------------------------------------------------------------ split_facts


def test_split_on_comma_and_with_new_subject() -> None:
    s = (
        "The recommended dose is 40 mg every other week, and it is contraindicated in patients with "
        "active infections."
    )
    assert split_facts(s) == [
        "The recommended dose is 40 mg every other week.",
        "it is contraindicated in patients with active infections.",
    ]


def test_shared_subject_is_repeated() -> None:
    assert split_facts("HUMIRA is given subcutaneously and is stored in a refrigerator.") == [
        "HUMIRA is given subcutaneously.",
        "HUMIRA is stored in a refrigerator.",
    ]
    assert split_facts("The Licensee shall pay royalties and shall deliver quarterly reports.") == [
        "The Licensee shall pay royalties.",
        "The Licensee shall deliver quarterly reports.",
    ]


@pytest.mark.parametrize(
    ("sentence", "parts"),
    [
        ("The term is 5 years; renewal is automatic.", ["The term is 5 years.", "renewal is automatic."]),
        (
            "HUMIRA is approved for adults, but it is not approved for children.",
            ["HUMIRA is approved for adults.", "it is not approved for children."],
        ),
        (
            "Licensee may assign this Agreement, whereas Licensor may not.",
            ["Licensee may assign this Agreement.", "Licensor may not."],
        ),
    ],
)
def test_split_on_semicolon_but_whereas(sentence: str, parts: list[str]) -> None:
    assert split_facts(sentence) == parts


@pytest.mark.parametrize(
    "sentence",
    [
        "Common side effects include fever, cough and fatigue.",
        "Fever, cough, and fatigue are common.",
        "The dose is between 10 and 20 mg.",
        "You must accept the terms and conditions.",
        "Party A and Party B shall share the costs.",
        "Licensee shall manufacture and sell the Product.",
        "Patients who are over 65 and are taking methotrexate should be monitored.",
        "If the patient has an infection, HUMIRA should be stopped, and the doctor should be notified.",
        "The dose is 20 mg for patients weighing 15 kg to 30 kg, and 40 mg for patients over 30 kg.",
        "The term is 5 years.",
        "阿达木单抗的推荐剂量为每隔一周40毫克。",
    ],
)
def test_no_split_when_unsure(sentence: str) -> None:
    assert split_facts(sentence) == [sentence]


# ------------------------------------------------------------------------------------ extract_claims


def test_extract_claims_offsets_flags_and_parts() -> None:
    answer = (
        "Sure, here's what I found.\n\n"
        "- The term is 5 years.\n"
        "- The Licensee may terminate this Agreement upon 30 days notice, and it must pay all fees.\n\n"
        "Let me know if you have other questions."
    )
    claims = extract_claims(answer)
    assert [c.text for c in claims] == [
        "Sure, here's what I found.",
        "The term is 5 years.",
        "The Licensee may terminate this Agreement upon 30 days notice, and it must pay all fees.",
        "Let me know if you have other questions.",
    ]
    for c in claims:
        assert answer[c.start : c.end] == c.text
    assert [c.checkable for c in claims] == [False, True, True, False]
    assert claims[0].parts == [] and claims[3].parts == []
    assert claims[1].parts == ["The term is 5 years."]
    assert claims[2].parts == [
        "The Licensee may terminate this Agreement upon 30 days notice.",
        "it must pay all fees.",
    ]


def test_extract_claims_chinese() -> None:
    answer = "阿达木单抗的推荐剂量为每隔一周40毫克。如有其他问题请告诉我！"
    claims = extract_claims(answer)
    assert [(c.text, c.checkable) for c in claims] == [
        ("阿达木单抗的推荐剂量为每隔一周40毫克。", True),
        ("如有其他问题请告诉我！", False),
    ]
    assert all(answer[c.start : c.end] == c.text for c in claims)
