"""The verifier's training objective and the two-way sources it learns from (scripts/)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import train_verifier
import verifier_data


def test_three_way_labels_use_plain_cross_entropy():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 0.0, 3.0]])
    labels = torch.tensor([0, 1, 2])
    expected = torch.nn.functional.cross_entropy(logits, labels)
    assert torch.allclose(train_verifier.nli_loss(logits, labels), expected)


def test_not_entailed_label_scores_neutral_plus_contradiction():
    logits = torch.tensor([[1.0, 0.0, 2.0]], requires_grad=True)
    loss = train_verifier.nli_loss(logits, torch.tensor([verifier_data.NOT_E]))
    p = torch.softmax(logits.detach(), -1)[0]
    assert loss.item() == pytest.approx(-math.log(p[1] + p[2]))
    loss.backward()
    # the gradient lowers entailment and leaves neutral vs contradiction to the model: both rise
    # in proportion to their current probability, so their ratio does not move
    g = logits.grad[0]
    assert g[0] > 0 and g[1] < 0 and g[2] < 0
    assert (g[2] / g[1]).item() == pytest.approx((p[2] / p[1]).item())


def test_not_entailed_counts_as_right_unless_entailment_predicted():
    assert train_verifier.correct([1, 2, 0, 0], [3, 3, 3, 0]) == 3


def test_two_way_sources_keep_their_labels_and_hold_out_claims(shared: Path):
    fever_train, fever_held = verifier_data.load_fever_2way(shared)
    assert {r["label"] for r in fever_train} == {verifier_data.E, verifier_data.NOT_E}
    assert 0.07 < len(fever_held) / (len(fever_train) + len(fever_held)) < 0.13
    assert not {r["hypothesis"] for r in fever_held} & {r["hypothesis"] for r in fever_train}
    rte = verifier_data.load_rte(shared, "dev")
    assert len(rte) == 277 and {r["label"] for r in rte} == {verifier_data.E, verifier_data.NOT_E}
    snli_train, snli_held = verifier_data.load_snli_test(shared)
    assert len(snli_train) + len(snli_held) > 9000
    assert not {r["premise"] for r in snli_held} & {r["premise"] for r in snli_train}


def test_answer_sentences_become_judge_pairs_against_their_evidence(tmp_path: Path):
    import json

    import judge_mix

    answer = {
        "sentences": [
            {"text": "Here is a summary.", "label": "not_a_claim", "evidence": ""},
            {
                "text": "Late fees are 1.5% a month.",
                "label": "supported",
                "evidence": "Interest: 1.5% per month.",
            },
            {
                "text": "Notice is 30 days.",
                "label": "contradicted",
                "evidence": "upon sixty (60) days notice",
            },
            {"text": "The licence is worldwide.", "label": "unsupported", "evidence": ""},
        ]
    }
    path = tmp_path / "train_answers_x.jsonl"
    path.write_text(json.dumps(answer) + "\n", encoding="utf-8")
    pairs = judge_mix.answer_pairs([path])
    assert [(p["hypothesis"], p["label"]) for p in pairs] == [
        ("Late fees are 1.5% a month.", 0),
        ("Notice is 30 days.", 2),
        ("The licence is worldwide.", 1),
    ]
    assert pairs[0]["premise"] == "Interest: 1.5% per month."
    # an unsupported sentence is read against a passage of the same document that does not state it
    assert pairs[2]["premise"] in {"Interest: 1.5% per month.", "upon sixty (60) days notice"}
