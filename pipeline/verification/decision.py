"""A learned second opinion on facts the entailment rule did not support.

The verifier model rejects many faithful paraphrases of the passage it was given ("Unpaid amounts
accrue interest of 1.5% a month" against "Late payments bear interest at 1.5% per month"). What a
paraphrase keeps, an invented detail does not: every content word, number and named term of the
claim is matched in the evidence. This module turns one fact's evidence into features (the model's
probabilities over its windows, how much of the claim the windows cover, retrieval similarity, slot
check outcomes) and a model trained by `scripts/train_decision.py` on labelled answer sentences (a
logistic regression, or a small gradient-boosted tree ensemble) turns them into p(supported). Plain
numpy and Python at run time: no scikit-learn on the query path.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.models import MODELS_DIR
from pipeline.schema import CheckKind
from pipeline.text import FUNCTION_WORDS, stem
from pipeline.verification.checks import extract_quantities

if TYPE_CHECKING:
    from pipeline.verification.facts import Fact

MODEL_PATH = MODELS_DIR / "decision" / "decision.json"
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)*")
_NUMBER = re.compile(r"\d")
# Scripts the verifier model (English MiniLM) cannot read.
_FOREIGN = re.compile(
    r"[\u0400-\u04ff\u0590-\u06ff\u0900-\u0dff\u0e00-\u0eff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]"
)
_LETTER = re.compile(r"[^\W\d_]")
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|neither|nor|without|cannot)\b|n['’]t\b|\bnon-?\w|-free\b", re.I
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][A-Za-z0-9&-]+")

FEATURES = (
    "entail_best",
    "contradict_best",
    "neutral_of_best",
    "entail_first",
    "contradict_first",
    "coverage_best",
    "coverage_union",
    "missing_union",
    "numbers_covered",
    "number_matched",
    "numbers_all_matched",
    "has_quantity",
    "negation_differs",
    "unmatched_names",
    "relevance_first",
    "dense_first",
    "n_windows",
    "claim_words_log",
)


@lru_cache(maxsize=16384)
def unreadable_share(text: str) -> float:
    """Share of the letters of `text` in scripts the English-only judge cannot read (CJK, Cyrillic...)."""
    letters = _LETTER.findall(text)
    if not letters:
        return 0.0
    return sum(1 for c in letters if _FOREIGN.match(c)) / len(letters)


@lru_cache(maxsize=16384)
def content_stems(text: str) -> frozenset[str]:
    """Stems of the words that carry content: no function words, numbers kept as written (no commas)."""
    out = set()
    for tok in _TOKEN.findall(text):
        low = tok.lower()
        if low in FUNCTION_WORDS:
            continue
        out.add(low.replace(",", "") if _NUMBER.match(low) else stem(low))
    return frozenset(out)


def _cover(claim: frozenset[str], window: frozenset[str]) -> float:
    return len(claim & window) / len(claim) if claim else 0.0


def may_rescue(features: dict[str, float]) -> bool:
    """A paraphrase keeps its numbers: a claim with quantities is rescued only from a window where a
    number check matched every one of them (most wrong numbers the slot checks leave silent sit in
    another clause of the evidence), and any other figure of the claim ("six [8] months", "the 30st
    day") must appear in the evidence as written."""
    if features["has_quantity"]:
        return bool(features["numbers_all_matched"])
    return features["numbers_covered"] == 1.0


def learned_p(fact: Fact, support: SupportModel) -> float:
    """The learned decision's p(supported) for a fact the rule did not support; 0 for a claim
    `may_rescue` rules out."""
    features = fact_features(fact)
    return support.p_supported(features) if may_rescue(features) else 0.0


def eligible_windows(fact: Fact) -> list[int]:
    """The scored windows of a fact that no slot check failed on."""
    return [wi for wi in fact.scores if all(c.ok for c in fact.checks[wi])]


def closest_window(fact: Fact) -> int:
    """The eligible window sharing most content words with the claim (the earlier one on a tie); the
    first window when none is eligible. What a rescued fact cites."""
    claim = content_stems(fact.text)
    return max(
        eligible_windows(fact),
        key=lambda wi: len(claim & content_stems(fact.premise(wi))),
        default=0,
    )


def fact_features(fact: Fact) -> dict[str, float]:
    """Features of one fact whose windows were all scored (none supported it under the rule)."""
    claim = content_stems(fact.text)
    numbers = {w for w in claim if _NUMBER.match(w)}
    eligible = eligible_windows(fact)
    window_words = {wi: content_stems(fact.premise(wi)) for wi in eligible}
    best = max(eligible, key=lambda wi: fact.scores[wi].entail, default=None)
    union = frozenset().union(*window_words.values())
    first = fact.scores.get(0)
    n_quantities = len({(q.kind, q.unit, round(q.value, 6), q.bound) for q in extract_quantities(fact.text)})
    closest = closest_window(fact)
    union_text = " ".join(fact.premise(wi).lower() for wi in eligible)
    names = {m.group(0).lower() for m in _NAME.finditer(fact.text)}
    return {
        "entail_best": fact.scores[best].entail if best is not None else 0.0,
        "contradict_best": max(
            (s.contradict for wi, s in fact.scores.items() if fact.windows[wi].relevance >= 0.35), default=0.0
        ),
        "neutral_of_best": fact.scores[best].neutral if best is not None else 1.0,
        "entail_first": first.entail if first else 0.0,
        "contradict_first": first.contradict if first else 0.0,
        "coverage_best": max((_cover(claim, window_words[wi]) for wi in eligible), default=0.0),
        "coverage_union": _cover(claim, union),
        "missing_union": float(len(claim - union)),
        "numbers_covered": len(numbers & union) / len(numbers) if numbers else 1.0,
        "number_matched": float(
            any(c.ok and c.kind == CheckKind.NUMBER for wi in eligible for c in fact.checks[wi])
        ),
        "numbers_all_matched": float(
            any(
                sum(c.ok and c.kind == CheckKind.NUMBER for c in fact.checks[wi]) >= n_quantities
                for wi in eligible
            )
        ),
        "has_quantity": float(fact.has_quantity),
        "negation_differs": float(
            bool(_NEGATION.search(fact.text)) != bool(_NEGATION.search(fact.premise(closest)))
        ),
        "unmatched_names": float(sum(1 for n in names if n not in union_text)),
        "relevance_first": fact.windows[0].relevance,
        "dense_first": fact.windows[0].retrieval,
        "n_windows": float(len(eligible)),
        "claim_words_log": math.log1p(len(claim)),
    }


@dataclass(frozen=True)
class Tree:
    """One regression tree in array form (scikit-learn's layout): node i splits on FEATURES[feature[i]]
    at threshold[i] (x <= threshold goes left); a node whose left child is -1 is a leaf with `value`."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def predict(self, x: np.ndarray) -> float:
        node = 0
        while self.left[node] != -1:
            # scikit-learn compares features as float32; so does this, to give the same leaf
            go_left = np.float32(x[self.feature[node]]) <= self.threshold[node]
            node = self.left[node] if go_left else self.right[node]
        return self.value[node]

    def to_json(self) -> dict:
        return {k: list(getattr(self, k)) for k in ("feature", "threshold", "left", "right", "value")}


@dataclass(frozen=True)
class SupportModel:
    """p(supported) over FEATURES; `threshold` is where 'supported' starts. With `trees`, a gradient-
    boosted ensemble on the raw features (log-odds `bias` + `learning_rate` x the trees' sum); without,
    a logistic regression over the features standardised by `mean` and `scale`."""

    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float
    version: str = ""
    trees: tuple[Tree, ...] = ()
    learning_rate: float = 0.0

    @property
    def kind(self) -> str:
        return "boosting" if self.trees else "logistic"

    def p_supported(self, features: dict[str, float]) -> float:
        x = np.array([features[k] for k in FEATURES], dtype=np.float64)
        if self.trees:
            z = self.bias + self.learning_rate * sum(t.predict(x) for t in self.trees)
        else:
            z = float(((x - np.array(self.mean)) / np.array(self.scale)) @ np.array(self.weights) + self.bias)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict:
        out = {"kind": self.kind, "features": list(FEATURES), "bias": self.bias}
        if self.trees:
            out |= {"learning_rate": self.learning_rate, "trees": [t.to_json() for t in self.trees]}
        else:
            out |= {"weights": list(self.weights), "mean": list(self.mean), "scale": list(self.scale)}
        return out | {"threshold": self.threshold, "version": self.version}


def load_support_model(path: Path = MODEL_PATH) -> SupportModel | None:
    """The shipped model, or None when there is none (the rule alone then decides)."""
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{path}: trained on other features than this code computes; retrain it")
    trees = tuple(
        Tree(
            tuple(t["feature"]), tuple(t["threshold"]), tuple(t["left"]), tuple(t["right"]), tuple(t["value"])
        )
        for t in data.get("trees", ())
    )
    return SupportModel(
        tuple(data.get("weights", ())),
        float(data["bias"]),
        tuple(data.get("mean", ())),
        tuple(data.get("scale", ())),
        float(data["threshold"]),
        str(data.get("version", "")),
        trees,
        float(data.get("learning_rate", 0.0)),
    )
