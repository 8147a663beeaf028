"""scripts/train_decision.py: the trade-off it prints and the threshold it picks from it."""

from __future__ import annotations

import json

import numpy as np
from train_decision import choose_threshold, tradeoff


def test_threshold_is_the_lowest_that_reaches_the_target_precision():
    # ten true paraphrases score high, four errors score in the middle
    p = np.array([0.95, 0.92, 0.9, 0.88, 0.85, 0.82, 0.8, 0.78, 0.76, 0.74, 0.6, 0.55, 0.52, 0.5])
    y = np.array([1] * 10 + [0] * 4)
    gold = ["supported"] * 10 + ["contradicted", "unsupported", "contradicted", "unsupported"]
    table = tradeoff(p, y, gold)
    at = {t["threshold"]: t for t in table}
    assert (
        at[0.5]["rescued"] == 14 and at[0.5]["errors_rescued"] == 4 and at[0.5]["contradicted_rescued"] == 2
    )
    assert at[0.7]["precision"] == 1.0 and at[0.7]["recall_of_true"] == 1.0
    assert choose_threshold(table, 0.85) == 0.6  # 10 of 11 rescued; at 0.55 10 of 12 (0.83)
    assert choose_threshold(table, 0.8) == 0.55  # at 0.5 all 14 are rescued: 10 of 14 (0.71)


def test_no_threshold_reaching_the_target_means_the_strictest():
    p = np.linspace(0.3, 0.95, 20)
    y = np.array([0, 1] * 10)  # no better than chance
    table = tradeoff(p, y, ["supported" if v else "unsupported" for v in y])
    assert choose_threshold(table, 0.95) == max(t["threshold"] for t in table)


def test_boosted_model_in_json_gives_sklearns_probabilities(tmp_path):
    from sklearn.ensemble import GradientBoostingClassifier
    from train_decision import boosted_model

    from pipeline.verification.decision import FEATURES, load_support_model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, len(FEATURES)))
    x[:, 9] = rng.integers(0, 2, size=300)  # a 0/1 feature, split at 0.5 like the number checks
    y = ((x[:, 0] + 0.5 * x[:, 9] - x[:, 5] + rng.normal(scale=0.5, size=300)) > 0).astype(int)
    gb = GradientBoostingClassifier(n_estimators=30, max_depth=2, random_state=0).fit(x, y)
    path = tmp_path / "decision.json"
    path.write_text(json.dumps(boosted_model(gb, 0.7).to_json() | {"version": "t"}), encoding="utf-8")
    model = load_support_model(path)  # what the engine reads: numpy only
    assert model.kind == "boosting" and model.threshold == 0.7 and len(model.trees) == 30
    ours = np.array([model.p_supported(dict(zip(FEATURES, row, strict=True))) for row in x])
    assert np.abs(ours - gb.predict_proba(x)[:, 1]).max() < 1e-4  # leaf values kept to six decimals
