"""Accuracy of the verification engine end to end (split -> retrieve -> check -> score -> verdict).

Usage:
  nice .venv/bin/python bench/bench_accuracy.py [--sets contractnli,healthver,dev,expertqa] [--limit N]
      [--scorer default,lexical] [--home DIR] [--seed 13] [--no-baseline] [--no-ablation] [--json PATH]
      [--dev-file bench/data/dev_answers_2.jsonl] [--decision default|none|PATH]

Sets (systems: veracity-lexical = LexicalJudge, veracity-model = make_judge(),
embedding-baseline = Guardrails provenance-style "flag when the best cosine to any chunk in
scope is below t", t chosen on the same data for the best flag-F1, i.e. optimistic for it):

  contractnli  ContractNLI dev (61 NDAs x 17 hypotheses = 1,037 pairs). All NDAs in ONE corpus
               (built under --home); each hypothesis verified as the answer scoped to its NDA.
               supported -> Entailment, contradicted -> Contradiction, anything else -> NotMentioned.
               Accuracy, per-class P/R/F1, macro-F1, evidence recall (gold evidence spans of
               Entailment/Contradiction pairs overlapped by a citation of the verdict).
  healthver    HealthVer dev (1,917 claims): claim against its evidence via contexts=[evidence].
               supported -> Supports, contradicted -> Refutes, else Neutral. --limit N takes a
               seeded random sample.
  expertqa     ExpertQA's held-out third (questions whose SHA-1 is 0 mod 3; never trained on): real
               GPT-4 answer claims against the evidence their annotators judged, contexts mode.
               Complete -> supported; Partial / Incomplete -> not (bench/common.py expertqa_claims).
  dev          bench/data/dev_answers.jsonl, or --dev-file (e.g. the held-out dev_answers_2.jsonl)
               (hand-labelled answers over drug_labels and cuad):
               sentence alignment by character offsets; flag P/R/F1, 3-way macro-F1 (gold
               not_a_claim excluded; predicted not_a_claim/unchecked -> unsupported), not_a_claim
               accuracy, confusion, per-error-type detection; ablation: scoped (doc_ids) vs.
               unscoped (question only: the engine may still scope by a document the question
               names) vs. unscoped without the question.
               Indexes: the project's default home if it already holds them (with every cited
               document), else built under --home (for cuad: only the cited contracts, same doc_ids).

Flag metrics everywhere: positive = "not supported" (ContractNLI: gold != Entailment; HealthVer:
gold != Supports; dev: gold contradicted/unsupported); predicted flagged = verdict
contradicted/unsupported/unchecked (ContractNLI/HealthVer: mapped label != Entailment/Supports).
Prints compact tables; writes bench/out/accuracy-<timestamp>.json with every per-item prediction.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import (  # noqa: E402
    OUT,
    ROOT,
    SHARED,
    best_threshold,
    classification,
    expertqa_claims,
    flag_metrics,
    log,
    machine,
    make_scorer,
    percentile,
    save_json,
    stamp,
    system_name,
    table,
)

from pipeline.calibration.labels import gold_offsets  # noqa: E402 - also imported from here by scripts
from pipeline.settings import Settings  # noqa: E402
from pipeline.verification.decision import load_support_model  # noqa: E402
from pipeline.verification.engine import Engine  # noqa: E402

CNLI_LABELS = ["Entailment", "Contradiction", "NotMentioned"]
HV_LABELS = ["Supports", "Refutes", "Neutral"]
DEV_LABELS = ["supported", "contradicted", "unsupported"]
DEV_ALL = ["supported", "contradicted", "unsupported", "not_a_claim"]
CNLI_PATH = SHARED / "contracts/contractnli/dev.json"
HV_PATH = SHARED / "eval/healthver/healthver_dev.csv"
DEV_PATH = ROOT / "bench/data/dev_answers.jsonl"
CUAD_PDF = SHARED / "contracts/cuad/full_contract_pdf"


# --- helpers -----------------------------------------------------------------------------------


def worst(verdicts):
    """The sentence-level verdict when the engine split one gold unit into several sentences."""
    if not verdicts:
        return None
    return max(verdicts, key=lambda v: v.verdict.severity)


def run_verify(engine: Engine, answer: str, **kw):
    t = time.perf_counter()
    try:
        r = engine.verify(answer, **kw)
        return r, (time.perf_counter() - t) * 1000, None
    except Exception as exc:  # noqa: BLE001 - an engine crash is counted, not fatal to the benchmark
        return None, (time.perf_counter() - t) * 1000, f"{type(exc).__name__}: {exc}"


def latency(ms: list[float]) -> dict:
    return {
        "mean_ms": float(np.mean(ms)) if ms else None,
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
    }


def run_summary(raw: Counter, errors: int, ms: list[float], scorer, items: list[dict]) -> dict:
    """What every set records per system beside its metrics."""
    return {
        "raw_verdicts": dict(raw),
        "not_a_claim": raw.get("not_a_claim", 0),
        "errors": errors,
        "latency": latency(ms),
        "scorer": scorer.name,
        "items": items,
    }


def short(text: str, n: int = 160) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    return text if len(text) <= n else text[: n - 1] + "…"


def has_index(settings: Settings, corpus: str, doc_ids: set[str] | None = None) -> bool:
    from pipeline.store.index_files import corpus_dir, current_version, read_manifest

    vdir = current_version(corpus_dir(settings.indexes_dir, corpus))
    if vdir is None:
        return False
    if doc_ids:
        return doc_ids <= set(read_manifest(vdir).documents)
    return True


def max_cos(index, vecs: np.ndarray, doc_ids: list[str] | None) -> np.ndarray:
    """Best cosine of each query vector to any chunk in scope (dense only; flat exact product)."""
    ids = index.chunk_ids_for(doc_ids) if doc_ids else np.arange(index.faiss.ntotal)
    if not len(ids):
        return np.zeros(len(vecs), dtype=np.float32)
    mat = np.asarray(index.vectors[ids], dtype=np.float32)
    best = np.full(len(vecs), -1.0, dtype=np.float32)
    for i in range(0, len(mat), 20000):
        best = np.maximum(best, (mat[i : i + 20000] @ vecs.T).max(axis=0))
    return best


def sampled(rows: list, args) -> tuple[list, dict]:
    """A seeded --limit sample of a contexts set (in file order) and the set's header."""
    total = len(rows)
    if args.limit and args.limit < total:
        keep = set(random.Random(args.seed).sample(range(total), args.limit))
        rows = [r for i, r in enumerate(rows) if i in keep]
    return rows, {"n_scored": len(rows), "n_total": total, "sampled": len(rows) < total, "seed": args.seed,
                  "systems": {}}  # fmt: skip


def contexts_engine(args, scorer, embedder) -> Engine:
    """An engine for sets verified against given passages (no corpus index needed)."""
    return Engine(Settings(home=Path(args.home)), scorer=scorer, embedder=embedder, support=args.support)


# --- ContractNLI ---------------------------------------------------------------------------------


def build_contractnli(home: Path, data: dict, embedder) -> tuple[Settings, str]:
    from pipeline.store.builder import index_corpus
    from pipeline.store.corpora import CorpusConfig, Source

    name = "bench_contractnli_dev"
    src = home / "contractnli_dev_txt"
    src.mkdir(parents=True, exist_ok=True)
    for doc in data["documents"]:
        path = src / f"{doc['id']}.txt"
        if not path.exists() or path.read_text(encoding="utf-8") != doc["text"]:
            path.write_text(doc["text"], encoding="utf-8")
    settings = Settings(home=home)
    config = CorpusConfig(
        name=name, domain="contracts", sources=[Source(str(src), "contracts")], base_dir=home
    )
    t = time.perf_counter()
    rep = index_corpus(config, settings, embedder=embedder)
    log(
        f"contractnli index: {rep.documents} docs, {rep.chunks} chunks, {rep.embedded_chunks} embedded, "
        f"{time.perf_counter() - t:.1f}s, failures={rep.failures}"
    )
    return settings, name


def bench_contractnli(args, scorers, embedder) -> dict:
    from pipeline.store.index_files import CorpusIndex

    data = json.loads(CNLI_PATH.read_text(encoding="utf-8"))
    settings, name = build_contractnli(Path(args.home), data, embedder)
    hyps = {k: v["hypothesis"] for k, v in data["labels"].items()}
    keys = sorted(hyps, key=lambda k: int(k.split("-")[1]))
    docs = data["documents"]
    if args.limit and args.limit < len(docs) * len(keys):
        n_docs = max(1, args.limit // len(keys))
        docs = random.Random(args.seed).sample(docs, n_docs)
    items = []
    for doc in docs:
        anns = doc["annotation_sets"][0]["annotations"]
        for k in keys:
            a = anns[k]
            items.append(
                {
                    "doc": doc,
                    "key": k,
                    "doc_id": f"{doc['id']}.txt",
                    "gold": a["choice"],
                    "gold_spans": [doc["spans"][i] for i in a["spans"]],
                }
            )
    out = {"n_pairs": len(items), "n_documents": len(docs), "systems": {}}
    log(f"contractnli: {len(items)} pairs over {len(docs)} NDAs")

    for kind, scorer in scorers:
        engine = Engine(settings, scorer=scorer, embedder=embedder, support=args.support)
        sysname = system_name(kind, scorer)
        preds, raw, ms, errors, rows = [], Counter(), [], 0, []
        span_total = span_hit = pair_total = pair_hit = 0
        t0 = time.perf_counter()
        for i, it in enumerate(items):
            r, dt, err = run_verify(engine, hyps[it["key"]], corpus=name, doc_ids=[it["doc_id"]])
            ms.append(dt)
            if err:
                errors += 1
                v, cites, verdict, reason = None, [], "error", err
            else:
                v = worst(r.sentences)
                verdict = str(v.verdict) if v else "no_sentence"
                reason = v.reason if v else ""
                cites = [c for s in r.sentences for c in s.citations]
            raw[verdict] += 1
            pred = {"supported": "Entailment", "contradicted": "Contradiction"}.get(verdict, "NotMentioned")
            preds.append(pred)
            hit_spans = 0
            if it["gold"] != "NotMentioned":
                pair_total += 1
                for s, e in it["gold_spans"]:
                    span_total += 1
                    if any(c.doc_id == it["doc_id"] and c.start < e and s < c.end for c in cites):
                        span_hit += 1
                        hit_spans += 1
                pair_hit += hit_spans > 0
            rows.append(
                {
                    "doc": it["doc"]["id"],
                    "hyp": it["key"],
                    "gold": it["gold"],
                    "pred": pred,
                    "verdict": verdict,
                    "reason": short(reason, 300),
                    "quote": short(cites[0].quote, 300) if cites else "",
                    "gold_evidence": short(
                        " | ".join(it["doc"]["text"][s:e] for s, e in it["gold_spans"]), 300
                    ),
                    "evidence_hit": hit_spans > 0 if it["gold"] != "NotMentioned" else None,
                }
            )
            if (i + 1) % 100 == 0:
                log(f"contractnli {sysname}: {i + 1}/{len(items)} ({time.perf_counter() - t0:.0f}s)")
        gold = [it["gold"] for it in items]
        res = classification(gold, preds, CNLI_LABELS)
        res["flag"] = flag_metrics([g != "Entailment" for g in gold], [p != "Entailment" for p in preds])
        res["evidence_recall_spans"] = span_hit / span_total if span_total else None
        res["evidence_recall_pairs"] = pair_hit / pair_total if pair_total else None
        out["systems"][sysname] = res | run_summary(raw, errors, ms, scorer, rows)
        log(
            f"contractnli {sysname}: acc={res['accuracy']:.3f} macroF1={res['macro_f1']:.3f} "
            f"({time.perf_counter() - t0:.0f}s)"
        )

    if not args.no_baseline:
        index = CorpusIndex.load(settings.indexes_dir, name)
        hvecs = embedder.encode([hyps[k] for k in keys])
        kpos = {k: i for i, k in enumerate(keys)}
        sims = []
        by_doc: dict[str, np.ndarray] = {}
        for it in items:
            if it["doc_id"] not in by_doc:
                by_doc[it["doc_id"]] = max_cos(index, hvecs, [it["doc_id"]])
            sims.append(float(by_doc[it["doc_id"]][kpos[it["key"]]]))
        gold = [it["gold"] for it in items]
        out["systems"]["embedding-baseline"] = threshold_baseline(
            sims, gold, "Entailment", "NotMentioned", CNLI_LABELS
        )
    return out


def threshold_baseline(sims, gold, positive: str, negative: str, labels) -> dict:
    """The embedding baseline: `positive` where the cosine reaches the threshold that best separates
    the gold flags, else `negative`."""
    t, _ = best_threshold(sims, [g != positive for g in gold])
    preds = [negative if s < t else positive for s in sims]
    res = classification(gold, preds, labels)
    res["flag"] = flag_metrics([g != positive for g in gold], [p != positive for p in preds])
    res["threshold"] = t
    return res


# --- HealthVer -----------------------------------------------------------------------------------


def bench_healthver(args, scorers, embedder) -> dict:
    from pipeline.ingest.chunk import ChunkSettings, chunk_document
    from pipeline.schema import Document

    with open(HV_PATH, encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] in HV_LABELS]
    rows, out = sampled(rows, args)
    log(f"healthver: scoring {out['n_scored']} of {out['n_total']} claims")
    gold = [r["label"] for r in rows]
    for kind, scorer in scorers:
        engine = contexts_engine(args, scorer, embedder)
        sysname = system_name(kind, scorer)
        preds, raw, ms, errors, items = [], Counter(), [], 0, []
        t0 = time.perf_counter()
        for i, r in enumerate(rows):
            res_, dt, err = run_verify(engine, r["claim"], contexts=[r["evidence"]])
            ms.append(dt)
            if err:
                errors += 1
                verdict, reason, quote = "error", err, ""
            else:
                v = worst(res_.sentences)
                verdict = str(v.verdict) if v else "no_sentence"
                reason = v.reason if v else ""
                quote = v.citations[0].quote if v and v.citations else ""
            raw[verdict] += 1
            pred = {"supported": "Supports", "contradicted": "Refutes"}.get(verdict, "Neutral")
            preds.append(pred)
            items.append(
                {
                    "id": r["id"],
                    "gold": r["label"],
                    "pred": pred,
                    "verdict": verdict,
                    "claim": r["claim"],
                    "reason": short(reason, 300),
                    "quote": short(quote, 300),
                }
            )
            if (i + 1) % 200 == 0:
                log(f"healthver {sysname}: {i + 1}/{len(rows)} ({time.perf_counter() - t0:.0f}s)")
        res = classification(gold, preds, HV_LABELS)
        res["flag"] = flag_metrics([g != "Supports" for g in gold], [p != "Supports" for p in preds])
        out["systems"][sysname] = res | run_summary(raw, errors, ms, scorer, items)
        log(
            f"healthver {sysname}: acc={res['accuracy']:.3f} macroF1={res['macro_f1']:.3f} "
            f"({time.perf_counter() - t0:.0f}s)"
        )

    if not args.no_baseline:
        chunking = ChunkSettings()  # what ContextIndex uses for contexts=[...]
        owners, texts = [], []
        for i, r in enumerate(rows):
            doc = Document(
                doc_id="context-1", title="", domain="context", source="", sha256="", text=r["evidence"]
            )
            for c in chunk_document(doc, chunking):
                owners.append(i)
                texts.append(c.text)
        cvecs = embedder.encode(texts)
        qvecs = embedder.encode([r["claim"] for r in rows])
        best = np.full(len(rows), -1.0)
        for j, i in enumerate(owners):
            best[i] = max(best[i], float(cvecs[j] @ qvecs[i]))
        sims = best.tolist()
        out["systems"]["embedding-baseline"] = threshold_baseline(sims, gold, "Supports", "Neutral", HV_LABELS)
    return out


# --- ExpertQA ------------------------------------------------------------------------------------


def bench_expertqa(args, scorers, embedder) -> dict:
    """ExpertQA held-out claims (never trained on) against the evidence their annotators judged."""
    rows, out = sampled(expertqa_claims("heldout"), args)
    log(f"expertqa: scoring {out['n_scored']} of {out['n_total']} held-out claims")
    gold = [r["label"] for r in rows]
    for kind, scorer in scorers:
        engine = contexts_engine(args, scorer, embedder)
        sysname = system_name(kind, scorer)
        preds, raw, ms, errors, items = [], Counter(), [], 0, []
        t0 = time.perf_counter()
        for r in rows:
            res_, dt, err = run_verify(engine, r["claim"], contexts=r["evidence"])
            ms.append(dt)
            verdicts = [] if err else [v for v in res_.sentences if v.verdict != "not_a_claim"]
            v = worst(verdicts)
            verdict = "error" if err else (str(v.verdict) if v else "not_a_claim")
            errors += err is not None
            raw[verdict] += 1
            preds.append("supported" if verdict in ("supported", "not_a_claim") else "unsupported")
            items.append(
                {"gold": r["label"], "pred": preds[-1], "verdict": verdict, "claim": r["claim"],
                 "reason": short(v.reason if v else (err or ""), 300)}
            )  # fmt: skip
        res = classification(gold, preds, ["supported", "unsupported"])
        res["flag"] = flag_metrics([g != "supported" for g in gold], [p != "supported" for p in preds])
        res["hard_flag"] = flag_metrics(
            [g != "supported" for g in gold],
            [it["verdict"] in ("contradicted", "unsupported") for it in items],
        )
        out["systems"][sysname] = res | run_summary(raw, errors, ms, scorer, items)
        log(
            f"expertqa {sysname}: flag P={res['flag']['p']:.3f} R={res['flag']['r']:.3f} "
            f"F1={res['flag']['f1']:.3f} ({time.perf_counter() - t0:.0f}s)"
        )
    return out


# --- team dev set --------------------------------------------------------------------------------


def dev_settings(corpus: str, doc_ids: set[str], home: Path) -> tuple[Settings, str]:
    """The default home when it holds the corpus with every cited document, else an index under --home."""
    from pipeline.store.builder import index_corpus
    from pipeline.store.corpora import Source, corpus_config

    default = Settings()
    if has_index(default, corpus, doc_ids):
        return default, f"default home ({default.indexes_dir})"
    settings = Settings(home=home)
    config = corpus_config(corpus, settings)
    how = "full definition"
    if corpus == "cuad":
        mirror = home / "cuad_dev_subset"
        for d in doc_ids:
            link = mirror / d
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(CUAD_PDF / d)
        config.sources = [Source(str(mirror), config.domain)]
        config.base_dir = home
        how = f"subset of {len(doc_ids)} cited contracts"
    # incremental: unchanged files are neither parsed nor embedded again
    t = time.perf_counter()
    rep = index_corpus(config, settings)
    log(
        f"dev: index {corpus} under {home}: {rep.documents} docs, {rep.chunks} chunks, "
        f"{time.perf_counter() - t:.1f}s, failures={len(rep.failures)}"
    )
    return settings, f"{how} under {home} (default home had no complete index)"


_TOK = re.compile(r"[a-z0-9]+")


def evidence_hit(evidence: str, citations) -> bool:
    """Approximate: some citation holds >= 60% of the gold quote's word tokens (the gold quotes come
    from another text extraction of the same document, so offsets are not comparable)."""
    ev = set(_TOK.findall(evidence.lower()))
    if not ev:
        return False
    return any(len(ev & set(_TOK.findall(c.quote.lower()))) / len(ev) >= 0.6 for c in citations)


def dev_metrics(golds: list[dict], preds: list[str]) -> dict:
    g_lab = [g["label"] for g in golds]
    res = {"n_sentences": len(golds)}
    res["flag"] = flag_metrics(
        [g in ("contradicted", "unsupported") for g in g_lab],
        [p in ("contradicted", "unsupported", "unchecked") for p in preds],
    )
    res["hard_flag"] = flag_metrics(
        [g in ("contradicted", "unsupported") for g in g_lab],
        [p in ("contradicted", "unsupported") for p in preds],
    )
    res["review_share"] = sum(p == "unchecked" for p in preds) / len(preds) if preds else 0.0
    idx = [i for i, g in enumerate(g_lab) if g != "not_a_claim"]
    p3 = [preds[i] if preds[i] in ("supported", "contradicted") else "unsupported" for i in idx]
    three = classification([g_lab[i] for i in idx], p3, DEV_LABELS)
    res["accuracy_3way"] = three["accuracy"]
    res["macro_f1"] = three["macro_f1"]
    res["per_class"] = three["per_class"]
    nac_gold = [i for i, g in enumerate(g_lab) if g == "not_a_claim"]
    nac_pred = [i for i, p in enumerate(preds) if p == "not_a_claim"]
    res["not_a_claim_acc"] = (
        sum(preds[i] == "not_a_claim" for i in nac_gold) / len(nac_gold) if nac_gold else None
    )
    res["not_a_claim_precision"] = (
        sum(g_lab[i] == "not_a_claim" for i in nac_pred) / len(nac_pred) if nac_pred else None
    )
    res["confusion"] = {
        g: dict(Counter(p for gg, p in zip(g_lab, preds, strict=True) if gg == g)) for g in DEV_ALL
    }
    by_err: dict[str, Counter] = defaultdict(Counter)
    for g, p in zip(golds, preds, strict=True):
        if g["label"] in ("contradicted", "unsupported"):
            e = g.get("error") or "?"
            by_err[e]["n"] += 1
            by_err[e]["flagged"] += p in ("contradicted", "unsupported", "unchecked")
            by_err[e]["exact"] += p == g["label"]
    res["by_error"] = {k: dict(v) for k, v in sorted(by_err.items())}
    for corpus in ("drug_labels", "cuad"):
        sel = [i for i, g in enumerate(golds) if g["corpus"] == corpus]
        if sel:
            res[f"flag_{corpus}"] = flag_metrics(
                [g_lab[i] in ("contradicted", "unsupported") for i in sel],
                [preds[i] in ("contradicted", "unsupported", "unchecked") for i in sel],
            )
    return res


def bench_dev(args, scorers, embedder) -> dict:
    from pipeline.store.index_files import CorpusIndex

    rows = [json.loads(line) for line in open(args.dev_file, encoding="utf-8") if line.strip()]
    if args.limit and args.limit < len(rows):
        rows = random.Random(args.seed).sample(rows, args.limit)
    need: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        need[r["corpus"]].update(r["doc_ids"])
    homes = {c: dev_settings(c, ids, Path(args.home)) for c, ids in sorted(need.items())}
    golds = []
    for r in rows:
        for (s, e), sent in zip(gold_offsets(r), r["sentences"], strict=True):
            golds.append(sent | {"answer_id": r["id"], "corpus": r["corpus"], "start": s, "end": e})
    out = {
        "n_answers": len(rows),
        "n_sentences": len(golds),
        "indexes": {c: h[1] for c, h in homes.items()},
        "gold_counts": dict(Counter(g["label"] for g in golds)),
        "systems": {},
        "ablation": {},
    }
    log(f"dev: {len(rows)} answers, {len(golds)} sentences; indexes {out['indexes']}")

    configs = [("scoped", True, True)]
    if not args.no_ablation:
        configs += [("unscoped+question", False, True), ("unscoped", False, False)]
    for kind, scorer in scorers:
        engines = {
            c: Engine(
                homes[c][0],
                scorer=scorer,
                embedder=embedder,
                support=args.support,
            )
            for c in homes
        }
        sysname = system_name(kind, scorer)
        for cname, scoped, with_q in configs:
            preds, items, ms, errors, unaligned, ev_tot, ev_hit = [], [], [], 0, 0, 0, 0
            gi = 0
            for r in rows:
                kw = {
                    "corpus": r["corpus"],
                    "question": r["question"] if with_q else None,
                    "doc_ids": r["doc_ids"] if scoped else None,
                }
                res_, dt, err = run_verify(engines[r["corpus"]], r["answer"], **kw)
                ms.append(dt)
                errors += err is not None
                for (s, e), _sent in zip(gold_offsets(r), r["sentences"], strict=True):
                    g = golds[gi]
                    gi += 1
                    over = [v for v in (res_.sentences if res_ else []) if v.start < e and s < v.end]
                    v = worst(over)
                    if err:
                        p = "unchecked"
                    elif v is None:
                        p = "not_a_claim"
                        unaligned += 1
                    else:
                        p = str(v.verdict)
                    preds.append(p)
                    cites = [c for o in over for c in o.citations]
                    hit = None
                    if g["label"] in ("supported", "contradicted") and g.get("evidence"):
                        ev_tot += 1
                        hit = evidence_hit(g["evidence"], cites)
                        ev_hit += hit
                    wrong_doc = sorted({c.doc_id for c in cites} - set(r["doc_ids"]))
                    items.append(
                        {
                            "answer": r["id"],
                            "text": g["text"],
                            "gold": g["label"],
                            "pred": p,
                            "error": g.get("error", ""),
                            "note": g.get("note", ""),
                            "n_engine_sentences": len(over),
                            "reason": short(v.reason if v else (err or ""), 300),
                            "quote": short(cites[0].quote, 240) if cites else "",
                            "cited_docs_outside_gold": wrong_doc,
                            "evidence_hit": hit,
                        }
                    )
            m = dev_metrics(golds, preds)
            m["evidence_hit_approx"] = ev_hit / ev_tot if ev_tot else None
            m["cited_outside_gold_doc"] = sum(1 for it in items if it["cited_docs_outside_gold"])
            m["unaligned"] = unaligned
            m["errors"] = errors
            m["latency_per_answer"] = latency(ms)
            m["scorer"] = scorer.name
            m["items"] = items
            if cname == "scoped":
                out["systems"][sysname] = m
            out["ablation"][f"{sysname} [{cname}]"] = m
            log(f"dev {sysname} [{cname}]: flagF1={m['flag']['f1']:.3f} macroF1={m['macro_f1']:.3f}")

    if not args.no_baseline:
        sims = [0.0] * len(golds)
        for corpus, (settings, _) in homes.items():
            index = CorpusIndex.load(settings.indexes_dir, corpus)
            gi = 0
            for r in rows:
                n = len(r["sentences"])
                if r["corpus"] == corpus:
                    vecs = embedder.encode([s["text"] for s in r["sentences"]])
                    for j, s in enumerate(max_cos(index, vecs, r["doc_ids"])):
                        sims[gi + j] = float(s)
                gi += n
        t, _ = best_threshold(sims, [g["label"] in ("contradicted", "unsupported") for g in golds])
        preds = ["unsupported" if s < t else "supported" for s in sims]
        m = dev_metrics(golds, preds)
        m["threshold"] = t
        out["systems"]["embedding-baseline"] = m
    return out


# --- report --------------------------------------------------------------------------------------


def report(results: dict) -> str:
    lines = []
    rows = []
    for set_name, res in results["sets"].items():
        for sysname, m in res["systems"].items():
            if set_name == "dev":
                acc, mf1 = m["accuracy_3way"], m["macro_f1"]
                extra = f"NaC-acc={m['not_a_claim_acc']:.2f}" if m.get("not_a_claim_acc") is not None else ""
                if m.get("evidence_hit_approx") is not None:
                    extra += f" evid~{m['evidence_hit_approx']:.2f}"
                n = m["n_sentences"]
            else:
                acc, mf1, n = m["accuracy"], m["macro_f1"], m["n"]
                pc = m["per_class"]
                extra = " ".join(f"{k[:4]}F1={v['f1']:.2f}" for k, v in pc.items())
                if m.get("evidence_recall_spans") is not None:
                    extra += f" evidR={m['evidence_recall_spans']:.2f}"
            if "threshold" in m:
                extra += f" t={m['threshold']:.2f}"
            lat = m.get("latency") or m.get("latency_per_answer")
            rows.append(
                [
                    set_name,
                    sysname,
                    n,
                    acc,
                    mf1,
                    m["flag"]["p"],
                    m["flag"]["r"],
                    m["flag"]["f1"],
                    f"{lat['mean_ms']:.0f}" if lat and lat.get("mean_ms") is not None else "-",
                    extra,
                ]
            )
    lines.append(
        table(rows, ["set", "system", "n", "acc", "macroF1", "flagP", "flagR", "flagF1", "ms/call", "notes"])
    )
    for set_name, res in results["sets"].items():
        lines.append("")
        ref = next(iter(res["systems"].values()), None)
        if ref:
            fl = ref["flag"]
            share = (fl["tp"] + fl["fn"]) / fl["n"] if fl["n"] else 0.0
            lines.append(
                f"[{set_name}] share of gold 'flag' items {share:.3f}; a flag-everything system "
                f"would get flag F1 {2 * share / (1 + share):.3f}"
            )
        if set_name == "dev":
            lines.append(
                f"== dev: {res['n_answers']} answers, {res['n_sentences']} sentences, gold "
                f"{res['gold_counts']}; indexes: {res['indexes']}"
            )
            arows = [
                [
                    k,
                    m["flag"]["p"],
                    m["flag"]["r"],
                    m["flag"]["f1"],
                    m["macro_f1"],
                    m.get("not_a_claim_acc"),
                    m.get("cited_outside_gold_doc"),
                ]
                for k, m in res["ablation"].items()
            ]
            if arows:
                lines.append(
                    table(
                        arows,
                        ["ablation", "flagP", "flagR", "flagF1", "macroF1", "NaC-acc", "cites-other-doc"],
                    )
                )
            for sysname, m in res["systems"].items():
                lines.append(
                    f"-- {sysname}: confusion gold -> pred: "
                    + "; ".join(f"{g}: {dict(sorted(c.items()))}" for g, c in m["confusion"].items())
                )
                lines.append(
                    "   per class: "
                    + ", ".join(
                        f"{k} P={v['p']:.2f} R={v['r']:.2f} F1={v['f1']:.2f}"
                        for k, v in m["per_class"].items()
                    )
                )
                lines.append(
                    "   flagged by error type (flagged/exact/n): "
                    + ", ".join(
                        f"{k} {v.get('flagged', 0)}/{v.get('exact', 0)}/{v['n']}"
                        for k, v in m["by_error"].items()
                    )
                )
                if "hard_flag" in m:
                    hf = m["hard_flag"]
                    lines.append(
                        f"   unchecked (needs review or could not check): {m['review_share']:.1%} of sentences; "
                        f"hard flags (contradicted/unsupported) P={hf['p']:.3f} R={hf['r']:.3f} F1={hf['f1']:.3f}; "
                        f"contradicted let through as supported: "
                        f"{m['confusion'].get('contradicted', {}).get('supported', 0)}"
                    )
                if "flag_cuad" in m:
                    lines.append(
                        f"   flag F1 drug_labels={m['flag_drug_labels']['f1']:.3f} "
                        f"cuad={m['flag_cuad']['f1']:.3f}"
                    )
        else:
            extra = ""
            if set_name in ("healthver", "expertqa"):
                extra = f" (scored {res['n_scored']} of {res['n_total']}" + (
                    f", seeded sample seed={res['seed']})" if res["sampled"] else ")"
                )
            else:
                extra = f" ({res['n_pairs']} pairs, {res['n_documents']} NDAs)"
            lines.append(f"== {set_name}{extra}")
            for sysname, m in res["systems"].items():
                lines.append(
                    f"-- {sysname}: "
                    + ", ".join(
                        f"{k} P={v['p']:.2f} R={v['r']:.2f} F1={v['f1']:.2f} (n={v['support']})"
                        for k, v in m["per_class"].items()
                    )
                )
                lines.append(
                    "   confusion gold -> pred: "
                    + "; ".join(f"{g}: {dict(c)}" for g, c in m["confusion"].items())
                )
                if "raw_verdicts" in m:
                    lines.append(
                        f"   raw verdicts: {m['raw_verdicts']}  errors={m['errors']}  "
                        f"latency p50={m['latency']['p50_ms']:.0f}ms p95={m['latency']['p95_ms']:.0f}ms"
                    )
                if m.get("evidence_recall_spans") is not None:
                    lines.append(
                        f"   evidence recall: spans {m['evidence_recall_spans']:.3f}, "
                        f"pairs with >=1 span hit {m['evidence_recall_pairs']:.3f}"
                    )
    return "\n".join(lines)


def merge(runs: list[dict]) -> dict:
    """Several runs' results in one: later runs add systems (or replace the same system) per set."""
    out: dict = {"sets": {}}
    for run in runs:
        for set_name, res in run["sets"].items():
            cur = out["sets"].setdefault(
                set_name,
                {k: v for k, v in res.items() if k not in ("systems", "ablation")}
                | {"systems": {}, "ablation": {}},
            )
            cur["systems"].update(res.get("systems", {}))
            cur["ablation"].update(res.get("ablation", {}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="contractnli,healthver,dev")
    ap.add_argument(
        "--limit",
        type=int,
        default=0,
        help="per set: pairs (ContractNLI: whole NDAs), claims, or answers; 0 = all",
    )
    ap.add_argument("--scorer", default="default,lexical", help="default, lexical or both (comma-separated)")
    ap.add_argument("--home", default=str(OUT / "home"), help="where to build the benchmark's own indexes")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument(
        "--embedder",
        default="minilm",
        help="embedder for queries and the ContractNLI index (minilm-torch: sentence-transformers)",
    )
    ap.add_argument("--dev-file", default=str(DEV_PATH), help="dev: labelled answers (JSONL, dev format)")
    ap.add_argument(
        "--decision", default="default",
        help="the learned second opinion on facts the rule does not support: default (shipped), none "
        "(the rule alone) or a decision.json",
    )  # fmt: skip
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-ablation", action="store_true", help="dev: scoped run only")
    ap.add_argument("--json", default=None, help="output path (default bench/out/accuracy-<timestamp>.json)")
    ap.add_argument(
        "--report",
        nargs="+",
        metavar="JSON",
        help="print the tables of earlier runs' JSON files (merged by set and system) and exit",
    )
    args = ap.parse_args()
    if args.report:
        print(report(merge([json.loads(Path(p).read_text()) for p in args.report])))
        return
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    args.support = {"default": "default", "none": None}.get(args.decision) or load_support_model(
        Path(args.decision)
    )
    bad = set(sets) - {"contractnli", "healthver", "dev", "expertqa"}
    if bad:
        raise SystemExit(f"unknown set(s) {sorted(bad)}")
    Path(args.home).mkdir(parents=True, exist_ok=True)

    from pipeline.models.embedders import get_embedder

    embedder = get_embedder(args.embedder)
    scorers = [(k.strip(), make_scorer(k.strip())) for k in args.scorer.split(",") if k.strip()]
    results = {
        "argv": sys.argv,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "scorers": {k: s.name for k, s in scorers},
        "sets": {},
    }
    t0 = time.perf_counter()
    path = Path(args.json) if args.json else OUT / f"accuracy-{stamp()}.json"
    runners = {
        "contractnli": bench_contractnli,
        "healthver": bench_healthver,
        "dev": bench_dev,
        "expertqa": bench_expertqa,
    }
    for s in sets:
        t = time.perf_counter()
        results["sets"][s] = runners[s](args, scorers, embedder)
        results["sets"][s]["seconds"] = time.perf_counter() - t
        save_json("accuracy", results, str(path))  # partial results survive a later crash
    results["seconds"] = time.perf_counter() - t0
    results["machine_end"] = machine()
    save_json("accuracy", results, str(path))
    print(report(results))
    print(f"\nscorers: {results['scorers']}; {results['seconds']:.0f}s; JSON: {path}")


if __name__ == "__main__":
    main()
