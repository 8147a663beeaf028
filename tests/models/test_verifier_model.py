"""Real (fast) checks of the shipped entailment verifier in pipeline/models/verifier."""

from __future__ import annotations

import math
import os

import pytest

from pipeline.models.cross_encoder import MODEL_DIR, encode, model_files_present, model_version
from pipeline.verification.judges import make_judge
from pipeline.verification.judges.base import JudgeScores
from pipeline.verification.judges.lexical import LexicalJudge
from pipeline.verification.judges.trained import TrainedJudge

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def verifier() -> TrainedJudge:
    return TrainedJudge()


def test_shipped_files_and_size():
    assert model_files_present(), f"no shipped model in {MODEL_DIR}"
    total = sum(p.stat().st_size for p in MODEL_DIR.iterdir() if p.is_file())
    assert total <= 50 * 1024 * 1024
    assert len(model_version()) == 12


def test_default_scorer_is_trained(verifier):
    scorer = make_judge()
    assert not isinstance(scorer, LexicalJudge)
    assert scorer.name == verifier.name


def test_empty_batch(verifier):
    assert verifier.score([]) == []


def test_scores_do_not_depend_on_the_other_pairs(verifier):
    pair = ("Either party may terminate this Agreement upon thirty (30) days notice.", "Notice is 30 days.")
    others = [
        (
            "The Supplier shall deliver the Products within 14 days of each purchase order. " * 4,
            "Delivery is fast.",
        ),
        ("Take 40 mg twice daily.", "Take 40 mg once daily."),
    ]
    (alone,) = verifier.score([pair])
    batched = verifier.score([others[0], pair, others[1]])[1]
    assert math.isclose(alone.entail, batched.entail, abs_tol=1e-6)
    assert math.isclose(alone.contradict, batched.contradict, abs_tol=1e-6)


def test_number_change_is_contradiction(verifier):
    (s,) = verifier.score([("The dose is 10 mg daily.", "The dose is 20 mg daily.")])
    assert isinstance(s, JudgeScores)
    assert s.contradict > s.entail


def test_faithful_paraphrase_is_entailment(verifier):
    premise = (
        "Either party may terminate this Agreement upon thirty (30) days prior written notice to the other party. "
        "Notices shall be sent by certified mail."
    )
    (s,) = verifier.score(
        [(premise, "Either party may terminate the Agreement with 30 days written notice.")]
    )
    assert s.entail > max(s.neutral, s.contradict)


def test_probabilities_sum_to_one_in_batch(verifier):
    pairs = [
        ("Take one tablet twice daily with food.", "Take one tablet two times a day with food."),
        ("Take one tablet twice daily with food.", "The tablets are blue."),
        ("Licensee shall pay royalties quarterly.", "Licensee shall not pay royalties."),
    ] * 3
    scores = verifier.score(pairs)
    assert len(scores) == len(pairs)
    for s in scores:
        assert all(0.0 <= v <= 1.0 for v in (s.entail, s.neutral, s.contradict))
        assert math.isclose(s.entail + s.neutral + s.contradict, 1.0, abs_tol=1e-5)
    # batching and order do not change a pair's scores
    assert scores[0] == scores[3] == scores[6]


def test_long_premise_truncated_first(verifier):
    premise = "The supplier shall deliver the goods within ten days. " * 80
    hypothesis = "The supplier shall deliver the goods within ten days."
    ((ids, types),) = encode(verifier._tok, [(premise, hypothesis)])
    assert len(ids) == 256
    hyp_len = sum(types)
    assert hyp_len >= 10  # the whole hypothesis (+ [SEP]) survives
    (s,) = verifier.score([(premise, hypothesis)])
    assert math.isclose(s.entail + s.neutral + s.contradict, 1.0, abs_tol=1e-5)
