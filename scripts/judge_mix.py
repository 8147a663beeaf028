"""Data for a judge round from the shipped one: real answer sentences and the team's hand-written domain
pairs, among replay of the round-3 mix.

  * --answers: labelled answers (bench/data/train_answers*.jsonl; never the dev answers): each supported
    or contradicted sentence against the evidence its label quotes, each unsupported one against the
    evidence of another sentence of the same answer. This is the wording LLM answers use, which the
    judge must accept when it is faithful.
  * scripts/data/judge_pairs_*.jsonl: one premise quoted from a drug label (TAC 2017 ADR sections) or a
    CUAD Part_I contract that no dev, dev2 or train answer uses, with faithful paraphrases
    (entailment), one-slot contradictions and an unstated detail (neutral). Premises are split 85/15
    by hash into train and held-out (eval_judge.jsonl).
The training pairs are repeated --repeat times among --replay pairs drawn from the round-3 mix
(scripts/verifier_data.py --mix round3) so the model keeps what it knew.

Round 8 (shipped; the verifier's MODEL_CARD.md gives its figures):
  .venv/bin/python scripts/verifier_data.py --mix round3 --seed 20 --split-seed 13 --out runs/verifier7/data
  .venv/bin/python scripts/judge_mix.py --replay-from runs/verifier7/data/train.jsonl --out runs/verifier8 \
      --answers bench/data/train_answers.jsonl bench/data/train_answers_2.jsonl --seed 22
  git worktree add /tmp/round5 ec0fb0f   # the last commit that ships round 5
  .venv/bin/python scripts/train_verifier.py unpack --src /tmp/round5/pipeline/models/verifier --dest runs/round5-dequant
  .venv/bin/python scripts/train_verifier.py --data runs/verifier8/mix.jsonl --out runs/verifier8 \
      --init-from runs/round5-dequant --freeze-word-embeddings --seed 22 --lr 3e-5 --warmup 0.05 \
      --time-budget-min 30 --fresh
  .venv/bin/python scripts/train_verifier.py export --src runs/verifier8/final --work runs/verifier8/export
Round 7 (not shipped) was the same without --answers (seed 21, 22-minute budget).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAIRS = sorted((ROOT / "scripts/data").glob("judge_pairs_*.jsonl"))


def heldout(premise: str) -> bool:
    return int(hashlib.sha1(premise.encode("utf-8")).hexdigest(), 16) % 100 < 15


LABEL = {"supported": 0, "unsupported": 1, "contradicted": 2}


def answer_pairs(paths: list[Path]) -> list[dict]:
    """(evidence, sentence) pairs from labelled answers (bench/data format): a supported or
    contradicted sentence against the evidence its label quotes; an unsupported one against the
    evidence of another sentence of the same answer (a passage of the same document that, by its
    label, does not state it). Real answer wording: the paraphrases the judge must accept."""
    out = []
    for path in paths:
        for line in open(path, encoding="utf-8"):
            if not line.strip():
                continue
            r = json.loads(line)
            quotes = [s["evidence"] for s in r["sentences"] if s["evidence"]]
            for i, s in enumerate(r["sentences"]):
                if s["label"] not in LABEL:
                    continue
                premise = s["evidence"]
                if s["label"] == "unsupported":
                    if not quotes:
                        continue
                    premise = quotes[i % len(quotes)]
                out.append(
                    {
                        "premise": premise,
                        "hypothesis": s["text"],
                        "label": LABEL[s["label"]],
                        "source": path.stem,
                    }
                )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=Path, nargs="*", default=PAIRS)
    ap.add_argument("--replay-from", type=Path, required=True)
    ap.add_argument("--replay", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--answers",
        type=Path,
        nargs="*",
        default=[],
        help="labelled answers (bench/data/train_answers*.jsonl) whose sentences join the training pairs",
    )
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--out", type=Path, default=ROOT / "runs/verifier7")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    train, held = [], []
    for path in args.pairs:
        for line in open(path, encoding="utf-8"):
            if not line.strip():
                continue
            r = json.loads(line)
            pair = {"premise": r["premise"], "hypothesis": r["hypothesis"], "label": int(r["label"]),
                    "source": r.get("source", path.stem)}  # fmt: skip
            (held if heldout(r["premise"]) else train).append(pair)
    train += answer_pairs(args.answers)
    replay = [json.loads(line) for line in open(args.replay_from, encoding="utf-8") if line.strip()]
    mix = rng.sample(replay, min(args.replay, len(replay))) + train * args.repeat
    rng.shuffle(mix)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("mix.jsonl", mix), ("eval_judge.jsonl", held)):
        with open(args.out / name, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(
        f"train pairs {len(train)} x{args.repeat}, replay {min(args.replay, len(replay))}, held-out {len(held)}"
    )
    print("held-out labels:", dict(Counter(r["label"] for r in held)))


if __name__ == "__main__":
    main()
