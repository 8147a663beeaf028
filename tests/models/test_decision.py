"""The learned second opinion's inputs: script detection, content words, the number gate."""

from __future__ import annotations

from pipeline.verification.decision import (
    FEATURES,
    content_stems,
    load_support_model,
    may_rescue,
    unreadable_share,
)


def test_unreadable_share_counts_scripts_the_judge_cannot_read():
    assert unreadable_share("Late payments bear interest at 1.5% per month.") == 0.0
    assert unreadable_share("逾期付款按每月1.5%计息。") == 1.0
    assert 0.2 < unreadable_share("HUMIRA 的推荐剂量 is 40 mg") < 0.6
    assert unreadable_share("40 mg, 2 × 3") == 0.0  # no letters at all


def test_content_stems_drop_function_words_and_keep_numbers():
    stems = content_stems("The Customer shall pay 1,500 dollars within thirty (30) days.")
    assert {"customer", "pay", "1500", "dollar", "30", "day"} <= stems
    assert not stems & {"the", "shall", "within"}
    assert content_stems("payments") == content_stems("payment")


def test_a_claim_with_numbers_is_rescued_only_when_every_number_matched():
    base = dict.fromkeys(FEATURES, 0.0) | {"numbers_covered": 1.0}
    assert may_rescue(base)  # no numbers: the learned decision may speak
    assert not may_rescue(base | {"numbers_covered": 0.5})  # a figure no check parsed, not in the evidence
    assert not may_rescue(base | {"has_quantity": 1.0, "number_matched": 1.0})
    assert may_rescue(base | {"has_quantity": 1.0, "number_matched": 1.0, "numbers_all_matched": 1.0})


def test_shipped_decision_model_loads():
    model = load_support_model()
    assert model is not None and 0.0 < model.threshold < 1.0 and model.version
    assert len(model.weights) == len(FEATURES) or model.trees
    assert all(max(t.feature) < len(FEATURES) for t in model.trees)
