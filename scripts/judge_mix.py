"""Round-7 data for the verifier: the team's hand-written domain pairs plus replay of the round-3 mix.

The hand-written pairs (scripts/data/judge_pairs_*.jsonl) take one premise quoted from a drug label
(TAC 2017 ADR sections) or a CUAD Part_I contract that no dev, dev2 or train answer uses, and write
for it faithful paraphrases (entailment), one-slot contradictions and an unstated detail (neutral):
the model learns that different wording alone is not a contradiction. Premises are split 85/15 by
hash into train and held-out; the train part is repeated --repeat times among --replay pairs drawn
from the round-3 mix (scripts/verifier_data.py --mix round3) so the model keeps what it knew.

Round 7 (trained, not shipped: MODEL_CARD.md of the verifier says why):
  .venv/bin/python scripts/verifier_data.py --mix round3 --seed 20 --split-seed 13 --out runs/verifier7/data
  .venv/bin/python scripts/judge_mix.py --replay-from runs/verifier7/data/train.jsonl --out runs/verifier7
  .venv/bin/python scripts/train_verifier.py unpack --dest runs/round5
  .venv/bin/python scripts/train_verifier.py --data runs/verifier7/mix.jsonl --out runs/verifier7 \
      --init-from runs/round5 --freeze-word-embeddings --seed 21 --lr 3e-5 --warmup 0.05 --time-budget-min 22
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=Path, nargs="*", default=PAIRS)
    ap.add_argument("--replay-from", type=Path, required=True)
    ap.add_argument("--replay", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
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
