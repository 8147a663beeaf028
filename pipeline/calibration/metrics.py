"""Flag metrics shared by calibration and the accuracy benchmarks, and Wilson intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence


def prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    """Precision, recall and F1 from counts (0 where undefined), with the counts."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": p, "r": r, "f1": f, "tp": tp, "fp": fp, "fn": fn}


def flag_metrics(gold_flag: Sequence[bool], pred_flag: Sequence[bool]) -> dict[str, float]:
    """prf of flags: positive = a real error (gold) / a flag (predicted)."""
    tp = sum(1 for g, p in zip(gold_flag, pred_flag, strict=True) if g and p)
    fp = sum(1 for g, p in zip(gold_flag, pred_flag, strict=True) if not g and p)
    fn = sum(1 for g, p in zip(gold_flag, pred_flag, strict=True) if g and not p)
    return prf(tp, fp, fn) | {"n": len(gold_flag)}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
