"""Retrieval quality of the embedder backends on ACORD (issue 15), side by side in one run.

ACORD (../shared/data/contracts/acord, BEIR format): 3,931 contract clauses, attorney-written
queries, graded qrels 0-4 (1-5 stars; every judged pair explicit). For each backend the clauses and
the TEST queries (the query ids of qrels/test.tsv) are embedded, each query's 10 nearest clauses by
cosine over the whole corpus are taken (dense retrieval alone: the embedder is what differs), and

- nDCG@10: graded gains (gain = grade 0-4, log2 discount, ideal = the query's judged grades sorted);
- recall@10: the share of a query's clauses with grade >= 2 (3 stars or more: "partially relevant"
  and up) that are in its top 10, averaged over the queries that have such clauses.

Backends: `minilm-torch` (sentence-transformers, the reference), `minilm` (fp32 ONNX graph, the
default) and, with --int8, the same graph dynamically quantised to int8 by ONNX Runtime, run one text
per call (dynamic quantisation scales activations per batch, so a batch would make a vector depend on
its neighbours). It also reports the largest difference between each backend's vectors and torch's.

    nice .venv/bin/python bench/bench_retrieval.py [--int8] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from common import SHARED, log, machine, save_json, stamp, table  # noqa: E402

ACORD = SHARED / "contracts" / "acord"
RELEVANT_GRADE = 2  # recall@10 counts clauses graded 2+ (3+ stars)
K = 10


def read_acord(split: str) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """(clauses by id, the split's queries by id, qrels[query][clause] = grade)."""
    corpus = {}
    with open(ACORD / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            corpus[row["_id"]] = row["text"]
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with open(ACORD / "qrels" / f"{split}.tsv", encoding="utf-8") as fh:
        next(fh)
        for line in fh:
            qid, cid, grade = line.rstrip("\n").split("\t")
            qrels[qid][cid] = int(grade)
    queries = {}
    with open(ACORD / "queries.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["_id"] in qrels:
                queries[row["_id"]] = row["text"]
    return corpus, queries, dict(qrels)


def ndcg_at_k(ranked: list[str], grades: dict[str, int], k: int = K) -> float:
    dcg = sum(grades.get(c, 0) / math.log2(i + 2) for i, c in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked: list[str], grades: dict[str, int], k: int = K) -> float | None:
    relevant = {c for c, g in grades.items() if g >= RELEVANT_GRADE}
    if not relevant:
        return None
    return len(relevant & set(ranked[:k])) / len(relevant)


def evaluate(cvecs: np.ndarray, cids: list[str], qvecs: np.ndarray, qids: list[str], qrels) -> dict:
    sims = qvecs @ cvecs.T
    ndcg, recall = [], []
    for row, qid in zip(sims, qids, strict=True):
        top = [cids[i] for i in np.argsort(-row, kind="stable")[:K]]
        ndcg.append(ndcg_at_k(top, qrels[qid]))
        r = recall_at_k(top, qrels[qid])
        if r is not None:
            recall.append(r)
    return {
        "ndcg@10": float(np.mean(ndcg)),
        "recall@10": float(np.mean(recall)),
        "recall_queries": len(recall),
    }


class Int8Embedder:
    """The `minilm` graph quantised with onnxruntime.quantization.quantize_dynamic (int8 weights,
    per-batch activation scales), one text per call."""

    def __init__(self, workdir: Path) -> None:
        from onnx import numpy_helper
        from onnxruntime.quantization import QuantType, quantize_dynamic

        from pipeline.models.embedders import minilm
        from pipeline.models.embedders.bert_onnx import build_graph

        model, weights = build_graph(minilm.model_dir())
        for i, t in enumerate(model.graph.initializer):  # the quantiser needs the weights in the graph
            if t.name in weights:
                model.graph.initializer[i].CopyFrom(numpy_helper.from_array(weights[t.name], t.name))
        path = workdir / "minilm.int8.onnx"
        quantize_dynamic(model, path, weight_type=QuantType.QInt8, per_channel=True)
        self.size_mb = path.stat().st_size / 1e6
        import onnx

        self._session = minilm.onnx_session(onnx.load(str(path)), {})
        self._tok = minilm.load_tokenizer()
        self.dim = int(weights["word_emb"].shape[1])

    def encode(self, texts, batch_size: int = 1, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, enc in enumerate(self._tok.encode_batch(list(texts))):
            ids = np.asarray([enc.ids], dtype=np.int64)
            out[i] = self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--int8", action="store_true", help="also the dynamically quantised int8 graph")
    ap.add_argument("--split", default="test", choices=["train", "valid", "test"])
    ap.add_argument("--limit", type=int, default=0, help="embed only the first N clauses (smoke runs)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from pipeline.models.embedders import get_embedder

    corpus, queries, qrels = read_acord(args.split)
    cids = list(corpus)[: args.limit or None]
    qids = sorted(queries)
    texts = [corpus[c] for c in cids]
    log(f"ACORD {args.split}: {len(qids)} queries, {len(cids)} clauses")
    backends = {
        "minilm-torch": lambda: get_embedder("minilm-torch"),
        "minilm": lambda: get_embedder("minilm"),
    }
    tmp = tempfile.TemporaryDirectory()
    if args.int8:
        backends["minilm-int8 (one text per call)"] = lambda: Int8Embedder(Path(tmp.name))
    results: dict = {"machine": machine(), "split": args.split, "clauses": len(cids), "backends": {}}
    ref = None
    for name, load in backends.items():
        t = time.perf_counter()
        emb = load()
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        cvecs = emb.encode(texts, batch_size=args.batch_size)
        enc_s = time.perf_counter() - t
        qvecs = emb.encode([queries[q] for q in qids], batch_size=args.batch_size)
        res = evaluate(cvecs, cids, qvecs, qids, qrels) | {
            "load_s": load_s,
            "clauses_per_s": len(texts) / enc_s,
        }
        if ref is None:
            ref = (cvecs, qvecs)
        else:
            res["max_abs_diff_vs_torch"] = float(
                max(np.abs(cvecs - ref[0]).max(), np.abs(qvecs - ref[1]).max())
            )
        results["backends"][name] = res
        log(f"{name}: {res}")
    tmp.cleanup()
    rows = [
        [
            name,
            f"{100 * r['ndcg@10']:.2f}",
            f"{100 * r['recall@10']:.2f}",
            f"{r['max_abs_diff_vs_torch']:.1e}" if "max_abs_diff_vs_torch" in r else "-",
            f"{r['clauses_per_s']:.1f}",
        ]
        for name, r in results["backends"].items()
    ]
    print(
        f"ACORD {args.split}: {len(qids)} queries over {len(cids)} clauses; recall@10 over grade >= "
        f"{RELEVANT_GRADE} ({next(iter(results['backends'].values()))['recall_queries']} queries); "
        f"load average {results['machine'].get('loadavg_1m')}"
    )
    print(table(rows, ["backend", "nDCG@10", "recall@10", "max |v - torch|", "clauses/s"]))
    path = save_json(
        "retrieval", results, args.json or str(Path(__file__).parent / "out" / f"retrieval-{stamp()}.json")
    )
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
