"""Shared helpers of the benchmarks: metrics, scorers, percentiles, machine state, output files."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from pipeline.calibration.metrics import flag_metrics, prf  # noqa: E402, F401 - used by the benchmarks
from pipeline.models.offline import stay_offline  # noqa: E402

stay_offline()

OUT = ROOT / "bench" / "out"
SHARED = Path(os.environ.get("VERACITY_DATA_ROOT", ROOT.parent / "shared" / "data"))


# --- scorers -------------------------------------------------------------------------------------


def make_scorer(kind: str):
    """'lexical' = the engine before the trained model; 'default' = make_judge() (which
    itself falls back to the lexical scorer when the model files are missing: check `.name`)."""
    if kind == "lexical":
        from pipeline.verification.judges.lexical import LexicalJudge

        return LexicalJudge()
    if kind == "default":
        from pipeline.verification.judges import make_judge

        return make_judge()
    raise SystemExit(f"unknown scorer {kind!r}: use default or lexical")


def system_name(kind: str, scorer) -> str:
    if kind == "lexical":
        return "veracity-lexical"
    return "veracity-model" if "lexical" not in scorer.name else "veracity-model(FALLBACK=lexical)"


# --- metrics -------------------------------------------------------------------------------------


def confusion(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, dict[str, int]]:
    """confusion[gold][pred]; predictions outside `labels` get their own column."""
    cols = list(labels) + sorted({p for p in pred if p not in labels})
    m = {g: dict.fromkeys(cols, 0) for g in labels}
    for g, p in zip(gold, pred, strict=True):
        if g in m:
            m[g][p] = m[g].get(p, 0) + 1
    return m


def classification(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict:
    """Accuracy, per-class P/R/F1 and macro-F1 over `labels` (gold outside labels must be filtered)."""
    n = len(gold)
    per = {}
    for lab in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == lab and p == lab)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != lab and p == lab)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == lab and p != lab)
        per[lab] = prf(tp, fp, fn) | {"support": sum(1 for g in gold if g == lab)}
    acc = sum(1 for g, p in zip(gold, pred, strict=True) if g == p) / n if n else 0.0
    return {
        "n": n,
        "accuracy": acc,
        "macro_f1": sum(v["f1"] for v in per.values()) / len(labels),
        "per_class": per,
        "confusion": confusion(gold, pred, labels),
    }


def best_threshold(
    sims: Sequence[float], gold_flag: Sequence[bool], grid: Iterable[float] | None = None
) -> tuple[float, dict]:
    """Embedding baseline: flag when similarity < t; t chosen on the same data for the best flag-F1
    (an optimistic, in-sample choice, which favours the baseline)."""
    grid = list(grid) if grid is not None else [round(0.05 + 0.01 * i, 2) for i in range(91)]
    best_t, best = grid[0], None
    for t in grid:
        m = flag_metrics(gold_flag, [s < t for s in sims])
        if best is None or m["f1"] > best["f1"] + 1e-12:
            best_t, best = t, m
    return best_t, best


def percentile(xs: Sequence[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# --- machine state and output ----------------------------------------------------------------


def machine() -> dict:
    info = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    try:
        info["loadavg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return info


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def save_json(prefix: str, payload: dict, path: str | None = None) -> Path:
    out = Path(path) if path else OUT / f"{prefix}-{stamp()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1, default=str))
    return out


def fmt(x, digits: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def table(rows: list[list], header: list[str]) -> str:
    cells = [[fmt(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def log(*args) -> None:
    print(datetime.now(UTC).strftime("%H:%M:%S"), *args, file=sys.stderr, flush=True)


# --- ExpertQA (real GPT-4 answer claims with the evidence their annotators judged) ---------------

EXPERTQA_DIR = SHARED / "eval/expertqa"
EXPERTQA_SUPPORT = {"Complete": "supported", "Partial": "unsupported", "Incomplete": "unsupported"}
_CITE_MARK = re.compile(r"\s*\[\d+\](?:\[\d+\])*")
_SOURCE_LINE = re.compile(r"^\[\d+\]\s*\S*\s*\n+")


def expertqa_claims(part: str) -> list[dict]:
    """ExpertQA claims with evidence and a support label, deduplicated over its two validation files.

    part: "heldout" (questions whose SHA-1 is 0 mod 3, about a third; never trained on), "train" (the
    rest) or "all". Claim text loses its citation markers ("[3]"); evidence loses its "[n] url" line.
    Complete -> supported; Partial / Incomplete -> unsupported; Missing and N/A (no evidence) are left out.
    """
    seen: set[tuple[str, str]] = set()
    out = []
    for name in ("rand_val.jsonl", "domain_val.jsonl"):
        with open(EXPERTQA_DIR / name, encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                q = row["question"]
                heldout = int(hashlib.sha1(q.encode("utf-8")).hexdigest(), 16) % 3 == 0
                if part != "all" and heldout != (part == "heldout"):
                    continue
                for system, ans in sorted(row["answers"].items()):
                    for cl in ans.get("claims") or []:
                        label = EXPERTQA_SUPPORT.get(cl.get("support") or "")
                        evidence = [_SOURCE_LINE.sub("", e).strip() for e in cl.get("evidence") or []]
                        evidence = [e for e in evidence if len(e) > 40]
                        claim = _CITE_MARK.sub("", cl["claim_string"]).replace("**", "").strip()
                        if not label or not evidence or not claim or (q, claim) in seen:
                            continue
                        seen.add((q, claim))
                        out.append(
                            {
                                "question": q,
                                "system": system,
                                "claim": claim,
                                "evidence": evidence,
                                "label": label,
                            }
                        )
    return out
