"""Held-out quality and speed of the shipped entailment verifier (pipeline/models/verifier).

Usage: .venv/bin/python bench/bench_verifier.py [--backends onnx,torch,onnx-fp32] [--limit N]
       [--speed-runs 5] [--no-quality] [--no-speed] [--json bench/out/verifier.json]
       [--model-dir DIR (a candidate; default the shipped model)] [--fp32 FILE.onnx]
       [--extra-domain FILE (another round's held-out eval_domain.jsonl)]

Quality (goals in brackets), on data never trained on (built by scripts/verifier_data.py into
runs/verifier/data/; rebuilt if missing):
  - MNLI-style 3-way accuracy: held-out MNLI dev premises, LingNLI val               [>= 0.75]
  - Breaking NLI held-out number (cardinals) / antonym swaps: contradiction recall   [>= 0.90]
  - generated contract / drug-label pairs from held-out documents: accuracy          [>= 0.90]
  - HealthVer dev, zero-shot, macro-F1 (Supports/Neutral/Refutes)                    [>= 0.60]
    and AUC of p(entailment) for Supports and of p(contradiction) for Refutes (0.5 = chance)
  - extra: SNLI-CAD dev, ConjNLI dev accuracy (LingNLI and SNLI-CAD also on the pairs whose
    premise no training source contains: LingNLI reuses MNLI premises, SNLI-CAD dev keeps
    original SNLI dev pairs); SNLI test held-out premises (3-way), RTE dev and
    held-out FEVER-NLI claims (two-way: entailment vs. anything else). These three are read from
    ../shared directly; SNLI test and RTE were never trained on, while rounds 1-2 drew 3,000
    FEVER-NLI pairs from all claims, so the FEVER figure is only clean from round 3 on.
Speed: pairs/s on pairs of ~128 tokens (and ~32: short_*), median of --speed-runs, with the
scorer's batching (ONNX one pair per call, side by side on single-threaded sessions; torch batches
of 32) and ONNX also in batches of 32 and one pair per call in turn on one session (*_one_session);
batch_vs_alone_*: how much a pair's p(entailment) moves between those two; model load time
(fresh process, import + load) median of 3. "onnx-fp32" needs runs/verifier/export/model.fp32.onnx
(made by `scripts/train_verifier.py export`; too big to ship). With the onnx backend it also
prints linear_only_{int8,fp32}_pairs_per_s: the same rate for the model's weight matmuls alone,
an upper bound for any model of this shape on this CPU.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pipeline.models.offline import stay_offline  # noqa: E402

stay_offline()

DATA = ROOT / "runs/verifier/data"
SHARED = ROOT.parent / "shared" / "data"
FP32 = ROOT / "runs/verifier/export/model.fp32.onnx"
HEALTHVER = {"Supports": 0, "Neutral": 1, "Refutes": 2}
GOALS = {
    "mnli_acc": 0.75,
    "lingnli_acc": 0.75,
    "breaking_number_c_recall": 0.90,
    "breaking_antonym_c_recall": 0.90,
    "domain_acc": 0.90,
    "healthver_macro_f1": 0.60,
    "pairs_per_s": 150,
}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def ensure_data() -> None:
    if not (DATA / "eval_domain.jsonl").exists():
        sys.path.insert(0, str(ROOT / "scripts"))
        import verifier_data

        verifier_data.build(SHARED, DATA, 13)


def load_healthver() -> list[dict]:
    path = SHARED / "eval/healthver/healthver_dev.csv"
    rows = []
    with open(path, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["label"] in HEALTHVER:
                rows.append(
                    {
                        "premise": r["evidence"],
                        "hypothesis": r["claim"],
                        "label": HEALTHVER[r["label"]],
                        "source": "healthver",
                    }
                )
    return rows


def macro_f1(gold: list[int], pred: list[int]) -> float:
    f1s = []
    for c in (0, 1, 2):
        tp = sum(g == c and p == c for g, p in zip(gold, pred, strict=True))
        fp = sum(g != c and p == c for g, p in zip(gold, pred, strict=True))
        fn = sum(g == c and p != c for g, p in zip(gold, pred, strict=True))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return sum(f1s) / 3


def label_of(s) -> int:
    """The 3-way label (0 entailment, 1 neutral, 2 contradiction) with the highest probability."""
    return max(range(3), key=lambda k: (s.entail, s.neutral, s.contradict)[k])


def predict(scorer, rows: list[dict]) -> list[int]:
    return [label_of(s) for s in scorer.score([(r["premise"], r["hypothesis"]) for r in rows])]


@contextmanager
def batch_size(scorer, size: int):
    """Run the scorer with another batch size for the duration of the block."""
    own = scorer.batch_size
    scorer.batch_size = size
    try:
        yield
    finally:
        scorer.batch_size = own


@contextmanager
def one_session(scorer):
    """Run the ONNX scorer as it ran before its lanes: one pair per call, in turn, on one session
    with all the model's threads (the same-run baseline of pairs_per_s)."""
    from pipeline.models.cross_encoder import ONNX_FILE, onnx_session
    from pipeline.models.lanes import Lanes

    own = scorer._model, scorer._lanes
    scorer._model = onnx_session(scorer.onnx_path or scorer.model_dir / ONNX_FILE)
    scorer._lanes = Lanes(1, "one-session")
    try:
        yield
    finally:
        scorer._model, scorer._lanes = own


def make_scorer(backend: str, model_dir: Path | None = None, fp32: Path = FP32):
    from pipeline.verification.judges.trained import TrainedJudge

    if backend == "onnx-fp32":
        return TrainedJudge(backend="onnx", model_dir=model_dir, onnx_path=fp32)
    return TrainedJudge(backend=backend, model_dir=model_dir)


def auc(pos: list[float], neg: list[float]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    import numpy as np

    if not pos or not neg:
        return float("nan")
    neg_sorted = np.sort(np.asarray(neg))
    p = np.asarray(pos)
    below = np.searchsorted(neg_sorted, p, side="left")
    ties = np.searchsorted(neg_sorted, p, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(pos) * len(neg)))


def accuracy(pred: list[int], rows: list[dict]) -> float:
    return sum(p == r["label"] for p, r in zip(pred, rows, strict=True)) / max(1, len(rows))


def domain_quality(scorer, rows: list[dict], key: str) -> dict:
    """Accuracy on domain pairs, overall, per kind (the source's part after "contract:" or "drug:"; the
    whole source for hand-written pairs) and as a confusion count."""
    pred = predict(scorer, rows)
    per_kind: dict[str, list[int]] = defaultdict(list)
    for p, r in zip(pred, rows, strict=True):
        per_kind[r["source"].split(":", 1)[-1]].append(int(p == r["label"]))
    return {
        f"{key}_acc": accuracy(pred, rows),
        f"{key}_n": len(rows),
        f"{key}_acc_by_kind": {k: round(sum(v) / len(v), 3) for k, v in sorted(per_kind.items())},
        f"{key}_confusion": {
            f"{g}->{p}": n
            for (g, p), n in sorted(Counter((r["label"], p) for p, r in zip(pred, rows, strict=True)).items())
        },
    }


def quality(scorer, limit: int, extra_domain: Path | None = None) -> dict:
    def take(rows):
        return rows[:limit] if limit else rows

    sys.path.insert(0, str(ROOT / "scripts"))
    import verifier_data

    # LingNLI reuses MNLI premises and SNLI-CAD dev keeps original SNLI dev pairs, both of which
    # are trained on: these two sets are also scored on the pairs whose premise no training
    # source contains
    snli_test_train, snli_test_held = verifier_data.load_snli_test(SHARED)
    trained_premises = {
        r["premise"]
        for rows in (
            verifier_data.load_mnli(SHARED)[0],
            verifier_data.load_snli(SHARED),
            snli_test_train,
            snli_test_held,
            verifier_data.load_cad_train(SHARED),
        )
        for r in rows
    }
    res: dict = {}
    for name in ("mnli", "lingnli", "cad", "conjnli"):
        rows = take(read_jsonl(DATA / f"eval_{name}.jsonl"))
        pred = predict(scorer, rows)
        res[f"{name}_acc"] = accuracy(pred, rows)
        res[f"{name}_n"] = len(rows)
        if name in ("lingnli", "cad"):
            fresh = [(p, r) for p, r in zip(pred, rows, strict=True) if r["premise"] not in trained_premises]
            res[f"{name}_unseen_premise_acc"] = accuracy([p for p, _ in fresh], [r for _, r in fresh])
            res[f"{name}_unseen_premise_n"] = len(fresh)
    brk = read_jsonl(DATA / "eval_breaking.jsonl")
    for cat, key in (("cardinals", "number"), ("antonyms", "antonym")):
        rows = take([r for r in brk if r["source"] == f"breaking:{cat}" and r["label"] == 2])
        pred = predict(scorer, rows)
        res[f"breaking_{key}_c_recall"] = sum(p == 2 for p in pred) / len(rows)
        res[f"breaking_{key}_n"] = len(rows)
    rows = take(brk)
    pred = predict(scorer, rows)
    res["breaking_all_acc"] = accuracy(pred, rows)
    res.update(domain_quality(scorer, take(read_jsonl(DATA / "eval_domain.jsonl")), "domain"))
    if extra_domain:
        res.update(domain_quality(scorer, take(read_jsonl(extra_domain)), "extra_domain"))
    rows = take(snli_test_held)
    pred = predict(scorer, rows)
    res["snli_test_acc"] = accuracy(pred, rows)
    res["snli_test_n"] = len(rows)
    for key, rows in (
        ("rte_dev", verifier_data.load_rte(SHARED, "dev")),
        ("fever", verifier_data.load_fever_2way(SHARED)[1]),
    ):
        rows = take(rows)
        pred = predict(scorer, rows)
        res[f"{key}_2way_acc"] = sum(
            (p == 0) == (r["label"] == 0) for p, r in zip(pred, rows, strict=True)
        ) / len(rows)
        res[f"{key}_n"] = len(rows)
    hv = take(load_healthver())
    scores = scorer.score([(r["premise"], r["hypothesis"]) for r in hv])
    pred = [label_of(s) for s in scores]
    # ranking quality, independent of any threshold or bias: 0.5 is chance
    res["healthver_auc_supports"] = auc(
        [s.entail for s, r in zip(scores, hv, strict=True) if r["label"] == 0],
        [s.entail for s, r in zip(scores, hv, strict=True) if r["label"] != 0],
    )
    res["healthver_auc_refutes"] = auc(
        [s.contradict for s, r in zip(scores, hv, strict=True) if r["label"] == 2],
        [s.contradict for s, r in zip(scores, hv, strict=True) if r["label"] != 2],
    )
    res["healthver_macro_f1"] = macro_f1([r["label"] for r in hv], pred)
    res["healthver_acc"] = accuracy(pred, hv)
    res["healthver_n"] = len(hv)
    return res


def speed_pairs(scorer, lo: int = 120, hi: int = 136, n: int = 256) -> list[tuple[str, str]]:
    """Real pairs whose encoding is lo-hi tokens (default ~128)."""
    from pipeline.models.cross_encoder import encode

    pool = read_jsonl(DATA / "eval_domain.jsonl") + read_jsonl(DATA / "eval_mnli.jsonl")
    pairs = [(r["premise"], r["hypothesis"]) for r in pool]
    enc = encode(scorer._tok, pairs)
    chosen = [p for p, (ids, _) in zip(pairs, enc, strict=True) if lo <= len(ids) <= hi]
    while len(chosen) < n:  # pad short ones by joining premises
        chosen += chosen or pairs
    return chosen[:n]


def _rate(scorer, pairs: list[tuple[str, str]], runs: int) -> list[float]:
    scorer.score(pairs[:32])  # warm-up
    rates = []
    for _ in range(runs):
        t = time.perf_counter()
        scorer.score(pairs)
        rates.append(len(pairs) / (time.perf_counter() - t))
    return rates


def speed(scorer, runs: int) -> dict:
    """pairs/s at ~128 and ~32 tokens, with the scorer's own batching (ONNX: one pair per call,
    side by side on single-threaded sessions) and, for comparison, in length-bucketed batches of 32
    and (ONNX) one pair per call in turn on one session with all threads."""
    from pipeline.models.cross_encoder import BATCH, encode

    out: dict = {}
    for tag, (lo, hi) in (("", (120, 136)), ("short_", (24, 40))):
        pairs = speed_pairs(scorer, lo, hi)
        rates = _rate(scorer, pairs, runs)
        out[f"{tag}pairs_per_s"] = statistics.median(rates)
        out[f"{tag}pairs_per_s_runs"] = [round(r, 1) for r in rates]
        out[f"{tag}mean_tokens"] = statistics.mean(len(ids) for ids, _ in encode(scorer._tok, pairs))
        if scorer.batch_size != BATCH:
            with batch_size(scorer, BATCH):
                out[f"{tag}pairs_per_s_batch{BATCH}"] = statistics.median(_rate(scorer, pairs, runs))
        if scorer.backend == "onnx":
            with one_session(scorer):
                out[f"{tag}pairs_per_s_one_session"] = statistics.median(_rate(scorer, pairs, runs))
    return out


def batch_dependence(scorer, n: int = 512) -> dict:
    """How far a pair's p(entailment) moves when it is scored in a batch of 32 with other pairs
    instead of alone (dynamic int8 quantisation shares one activation scale per batch)."""
    from pipeline.models.cross_encoder import BATCH

    rows = read_jsonl(DATA / "eval_domain.jsonl")[:n]
    pairs = [(r["premise"], r["hypothesis"]) for r in rows]
    with batch_size(scorer, 1):
        alone = scorer.score(pairs)
    with batch_size(scorer, BATCH):
        batched = scorer.score(pairs)
    diff = [abs(a.entail - b.entail) for a, b in zip(alone, batched, strict=True)]
    return {
        "batch_vs_alone_max_dp_entail": max(diff),
        "batch_vs_alone_mean_dp_entail": statistics.mean(diff),
        "batch_vs_alone_label_changes": sum(
            label_of(a) != label_of(b) for a, b in zip(alone, batched, strict=True)
        ),
        "batch_vs_alone_n": len(pairs),
    }


def linear_ceiling(tokens: int = 128, batch: int = 32, runs: int = 5) -> dict:
    """Pairs/s if the model did nothing but its linear layers: the 36 weight matmuls of
    MiniLM-L6 (per layer Q, K, V, output 384x384, FFN 384x1536 and 1536x384), quantized the way
    the shipped model is (dynamic int8, per channel) and in fp32, on batch x tokens rows. No
    attention, softmax, layer norm or GELU, so no real model of this shape can score faster."""
    import tempfile

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from pipeline.models.cross_encoder import onnx_session

    rng = np.random.default_rng(0)
    nodes, inits, prev = [], [], "x"
    shapes = [(384, 384)] * 4 + [(384, 1536), (1536, 384)]
    for i, (n_in, n_out) in enumerate(shapes * 6):
        w = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"y{i}"]))
        prev = f"y{i}"
    graph = helper.make_graph(
        nodes,
        "linear_ceiling",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", 384])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, ["rows", 384])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = rng.standard_normal((batch * tokens, 384)).astype(np.float32)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp, "fp32.onnx"), Path(tmp, "int8.onnx")
        onnx.save(model, fp32)
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
        for name, path in (("int8", int8), ("fp32", fp32)):
            sess = onnx_session(path)
            sess.run(None, {"x": x})
            times = []
            for _ in range(runs):
                t = time.perf_counter()
                sess.run(None, {"x": x})
                times.append(time.perf_counter() - t)
            out[f"linear_only_{name}_pairs_per_s"] = batch / statistics.median(times)
    return out


def load_time(backend: str, model_dir: Path | None = None, fp32: Path = FP32, runs: int = 3) -> float:
    """Median seconds for a fresh process to import and load the same model make_scorer loads."""
    code = (
        "import time,sys; t=time.perf_counter(); sys.path.insert(0, {!r}); "
        "from pipeline.verification.judges.trained import TrainedJudge; "
        "TrainedJudge(backend={!r}, model_dir={!r}{}); print(time.perf_counter()-t)"
    ).format(
        str(ROOT),
        "onnx" if backend == "onnx-fp32" else backend,
        str(model_dir) if model_dir else None,
        f", onnx_path={str(fp32)!r}" if backend == "onnx-fp32" else "",
    )
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        )
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Benchmark the shipped entailment verifier.")
    ap.add_argument("--backends", default="onnx,torch,onnx-fp32")
    ap.add_argument("--limit", type=int, default=0, help="at most N pairs per eval set (0 = all)")
    ap.add_argument("--speed-runs", type=int, default=5)
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--json", type=Path, default=ROOT / "bench/out/verifier.json")
    ap.add_argument(
        "--model-dir",
        type=Path,
        default=None,
        help="a candidate exported by `train_verifier.py export --dest`",
    )
    ap.add_argument("--fp32", type=Path, default=FP32, help="fp32 ONNX file for the onnx-fp32 backend")
    ap.add_argument(
        "--extra-domain",
        type=Path,
        default=None,
        help="another held-out file of domain pairs (a later round's eval_domain.jsonl, or judge_mix.py's "
        "eval_judge.jsonl), scored as extra_domain_*",
    )
    args = ap.parse_args(argv)

    ensure_data()
    from pipeline.models.cross_encoder import model_version

    report: dict = {"model_version": model_version(args.model_dir), "backends": {}}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "onnx-fp32" and not args.fp32.exists():
            print(f"skip {backend}: {args.fp32} missing (run scripts/train_verifier.py export)")
            continue
        scorer = make_scorer(backend, args.model_dir, args.fp32)
        res: dict = {}
        if not args.no_speed:
            res["load_s"] = load_time(backend, args.model_dir, args.fp32)
            res.update(speed(scorer, args.speed_runs))
            res.update(batch_dependence(scorer))
            if backend == "onnx":
                res.update(linear_ceiling(runs=args.speed_runs))
        if not args.no_quality:
            t = time.perf_counter()
            res.update(quality(scorer, args.limit, args.extra_domain))
            res["quality_wall_s"] = time.perf_counter() - t
        report["backends"][backend] = res
        print(f"\n== {backend} ({scorer.name})")
        for k, v in res.items():
            goal = GOALS.get(k)
            mark = (
                ""
                if goal is None or not isinstance(v, float)
                else ("  ok" if v >= goal else f"  BELOW GOAL {goal}")
            )
            print(f"  {k:28s} {round(v, 4) if isinstance(v, float) else v}{mark}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
