"""Indexing and search benchmark (issue 2).

1. CUAD: index the 510 CUAD contract PDFs (corpora/cuad.toml) into a home directory: documents/s,
   chunks/s, peak RSS; then, on the same chunks, raw `model.encode` throughput and the ratio
   end-to-end / raw (goal >= 0.9); then search latency over 1,000 queries made from CUAD clause texts
   (master_clauses.csv), query embedding included (goal p50 <= 20 ms), with hit@5 of the contract the
   clause came from; then HNSW vs exact recall on the real CUAD vectors.
2. Synthetic: 1M clustered, normalised 384-d vectors; HNSW with the build_faiss settings (M=32,
   efConstruction=80) searched one query at a time at several efSearch values: p50/p95 latency
   (goal p50 <= 10 ms) and recall@10 vs exact search (goal >= 0.95) over >= 200 queries.

The machine's CPU is shared: run it in the background, e.g.
    nohup .venv/bin/python bench/bench_index.py --home /work/main > bench/out/bench_index.log 2>&1 &
With --home /work/main the index it builds is the project's `cuad` index (indexes/ is git-ignored);
the default home is bench/out/home. --limit N indexes only N contracts (corpus `cuad-limitN`).

--sizes 20,100 instead indexes each of those numbers of contracts in a fresh process (so each peak
RSS is its own) and prints, per size, end-to-end chunks/s beside raw encode of the same chunks in
that process (goal ratio >= 0.95), wall time and peak RSS (memory should stay flat with corpus size);
no search or HNSW part.
"""

from __future__ import annotations

import argparse
import ast
import csv
import os
import random
import re
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # busy-waiting OpenMP threads hurt on a shared CPU

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from common import OUT, SHARED, log, machine, percentile, save_json, stamp  # noqa: E402

CUAD_DIR = SHARED / "contracts" / "cuad" / "full_contract_pdf"
MASTER = SHARED / "contracts" / "cuad" / "master_clauses.csv"
SKIP_CATEGORIES = {"Document Name", "Parties", "Agreement Date", "Effective Date", "Expiration Date"}


def rss_mb() -> dict[str, float]:
    """Peak resident set size so far of this process and of its waited-for children (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"self_peak_mb": round(own, 1), "children_peak_mb": round(kids, 1)}


def cpu_seconds() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def latency_summary(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(float(np.mean(ms)), 3),
    }


def recall_at(found: np.ndarray, truth: np.ndarray, k: int = 10) -> float:
    return float(np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)]))


# --- CUAD ----------------------------------------------------------------------------------------


def cuad_config(settings, limit: int | None):
    from pipeline.store.corpora import CorpusConfig, Source, corpus_config

    config = corpus_config("cuad", settings)  # corpora/cuad.toml, as `veracity index cuad` reads it
    if not limit:
        return config
    files = sorted(p for p in CUAD_DIR.rglob("*") if p.is_file())
    picked = random.Random(0).sample(files, min(limit, len(files)))
    return CorpusConfig(
        name=f"cuad-limit{limit}",
        domain=config.domain,
        description=f"{limit} CUAD contracts",
        sources=[Source(str(p), config.domain) for p in sorted(picked)],
        chunking=config.chunking,
        thresholds=config.thresholds,
        base_dir=Path("/"),
    )


def make_queries(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """(query, source contract stem) pairs: 6-16 word windows of the clauses CUAD's annotators marked."""
    rng = random.Random(seed)
    pool: list[tuple[str, str]] = []
    with open(MASTER, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            for col, cell in row.items():
                if col == "Filename" or col.endswith("Answer") or col in SKIP_CATEGORIES or not cell:
                    continue
                try:
                    clauses = ast.literal_eval(cell)
                except (ValueError, SyntaxError):
                    continue
                for clause in clauses if isinstance(clauses, list) else []:
                    words = str(clause).split()
                    if len(words) >= 8:
                        pool.append((" ".join(words), row["Filename"]))
    rng.shuffle(pool)
    out = []
    for clause, fname in pool[:n]:
        words = clause.split()
        size = rng.randint(6, 16)
        start = rng.randint(0, max(0, len(words) - size))
        out.append((" ".join(words[start : start + size]), fname))
    return out


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", Path(name).stem.lower())


def bench_cuad(args) -> dict:
    from pipeline.models.embedders import get_embedder
    from pipeline.retrieval.hybrid import Retriever
    from pipeline.settings import Settings
    from pipeline.store.builder import index_corpus
    from pipeline.store.index_files import CorpusIndex, build_faiss

    settings = Settings(home=Path(args.home))
    config = cuad_config(settings, args.limit)
    result: dict = {
        "corpus": config.name,
        "home": str(settings.home),
        "index_dir": str(settings.indexes_dir / config.name),
    }

    t = time.perf_counter()
    embedder = get_embedder()
    result["model_load_s"] = round(time.perf_counter() - t, 2)
    log(f"model loaded in {result['model_load_s']} s; indexing {config.name} into {settings.home}")

    # 1. end to end: parse, chunk, embed, write (a full rebuild, so every file is processed)
    cpu0, load0 = cpu_seconds(), os.getloadavg()[0]
    t = time.perf_counter()
    report = index_corpus(config, settings, rebuild=not args.no_rebuild, embedder=embedder, progress=True)
    wall = time.perf_counter() - t
    e2e = {
        "documents": report.documents,
        "chunks": report.chunks,
        "embedded_chunks": report.embedded_chunks,
        "failures": report.failures,
        "index_type": report.index_type,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu_seconds() - cpu0, 1),
        "loadavg_start": round(load0, 2),
        "loadavg_end": round(os.getloadavg()[0], 2),
        "documents_per_s": round(report.documents / wall, 3),
        "chunks_per_s": round(report.embedded_chunks / wall, 2),
    } | rss_mb()
    result["index"] = e2e
    log(f"indexed: {e2e}")

    index = CorpusIndex.load(settings.indexes_dir, config.name, expect_model=embedder.id)
    texts = index.all_chunk_texts()

    # 2. raw model.encode on the same chunks
    sample = (
        texts
        if not args.raw_sample or args.raw_sample >= len(texts)
        else random.Random(1).sample(texts, args.raw_sample)
    )
    raw = {"chunks": len(sample)}
    cpu0, load0 = cpu_seconds(), os.getloadavg()[0]
    t = time.perf_counter()
    for i in range(0, len(sample), args.raw_group):  # the indexer's own grouping (EMBED_FLUSH)
        embedder.encode(sample[i : i + args.raw_group], batch_size=settings.embed_batch_size)
    wall = time.perf_counter() - t
    raw |= {
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu_seconds() - cpu0, 1),
        "group": args.raw_group,
        "loadavg_start": round(load0, 2),
        "loadavg_end": round(os.getloadavg()[0], 2),
        "chunks_per_s": round(len(sample) / wall, 2),
    }
    raw["ratio_end_to_end_over_raw"] = round(e2e["chunks_per_s"] / raw["chunks_per_s"], 3)
    raw["ratio_cpu"] = round(
        (raw["cpu_s"] / len(sample)) / (e2e["cpu_s"] / max(1, report.embedded_chunks)), 3
    )
    result["raw_encode"] = raw
    log(f"raw encode: {raw}")
    if args.index_only:
        return result

    # 3. search latency, query embedding included, one query at a time
    retriever = Retriever(index, embedder)
    queries = make_queries(args.queries)
    stems = {_key(d): d for d in index.manifest.documents}
    for q, _ in queries[:20]:  # warm-up: BM25 load, sqlite pages, torch kernels
        retriever.search(q, k=5)
    total, embed_ms, rest_ms, hits5, known = [], [], [], 0, 0
    qvecs = []
    for q, fname in queries:
        t0 = time.perf_counter()
        vec = embedder.encode([q])[0]
        t1 = time.perf_counter()
        hits = retriever.search(q, k=5, query_vec=vec)
        t2 = time.perf_counter()
        total.append((t2 - t0) * 1000)
        embed_ms.append((t1 - t0) * 1000)
        rest_ms.append((t2 - t1) * 1000)
        qvecs.append(vec)
        doc = stems.get(_key(fname))
        if doc is not None:
            known += 1
            hits5 += any(h.chunk.doc_id == doc for h in hits)
    result["search"] = {
        "queries": len(queries),
        "k": 5,
        "index_type": index.manifest.index_type,
        "total": latency_summary(total),
        "embedding": latency_summary(embed_ms),
        "retrieval": latency_summary(rest_ms),
        "source_contract_hit_at_5": round(hits5 / known, 4) if known else None,
        "queries_with_known_contract": known,
        "loadavg": round(os.getloadavg()[0], 2),
    }
    log(f"search: {result['search']}")

    # 4. HNSW on the real CUAD vectors: recall@10 vs the exact flat index
    import faiss

    vecs = np.ascontiguousarray(index.vectors, dtype=np.float32)
    xq = np.stack(qvecs).astype(np.float32)
    t = time.perf_counter()
    hnsw, kind = build_faiss(vecs, 0, settings.hnsw_m, settings.hnsw_ef_construction)
    build_s = time.perf_counter() - t
    _, truth = faiss.knn(xq, vecs, 10, metric=faiss.METRIC_INNER_PRODUCT)
    real = {"vectors": len(vecs), "queries": len(xq), "build_s": round(build_s, 1), "by_ef_search": {}}
    for ef in args.ef_search:
        hnsw.hnsw.efSearch = ef
        found, ms = search_one_by_one(hnsw, xq, 10)
        real["by_ef_search"][ef] = {"recall_at_10": round(recall_at(found, truth), 4)} | latency_summary(ms)
    result["hnsw_on_cuad_vectors"] = real
    log(f"HNSW on CUAD vectors: {real}")
    return result


def search_one_by_one(index, xq: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    found, ms = np.zeros((len(xq), k), dtype=np.int64), []
    for i in range(len(xq)):
        t = time.perf_counter()
        _, ids = index.search(xq[i : i + 1], k)
        ms.append((time.perf_counter() - t) * 1000)
        found[i] = ids[0]
    return found, ms


# --- synthetic 1M --------------------------------------------------------------------------------


def clustered(
    n: int, centres: np.ndarray, bases: np.ndarray, rng: np.random.Generator, spread: float, noise: float
) -> np.ndarray:
    """Points near gaussian centres, varying mostly along each cluster's own low-dimensional
    subspace (like topics in embedding space), plus a little isotropic noise; normalised."""
    dim, sub = centres.shape[1], bases.shape[1]
    out = np.empty((n, dim), dtype=np.float32)
    label = rng.integers(0, len(centres), n)
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(len(centres) + 1))
    for c in range(len(centres)):
        idx = order[bounds[c] : bounds[c + 1]]
        if not len(idx):
            continue
        z = rng.standard_normal((len(idx), sub), dtype=np.float32)
        x = (
            centres[c]
            + spread * (z @ bases[c])
            + noise * rng.standard_normal((len(idx), dim), dtype=np.float32)
        )
        out[idx] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def bench_synthetic(args) -> dict:
    import faiss

    from pipeline.settings import Settings
    from pipeline.store.index_files import build_faiss

    settings = Settings()
    n, dim, nq = args.synthetic_n, 384, args.synthetic_queries
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.centres, dim), dtype=np.float32) / np.sqrt(dim)
    bases = rng.standard_normal((args.centres, args.subspace, dim), dtype=np.float32) / np.sqrt(dim)
    t = time.perf_counter()
    xb = clustered(n, centres, bases, rng, args.spread, args.noise)
    xq = clustered(nq, centres, bases, rng, args.spread, args.noise)
    gen_s = time.perf_counter() - t
    log(f"generated {n} x {dim} in {gen_s:.0f} s; ground truth ...")
    t = time.perf_counter()
    sims, truth = faiss.knn(xq, xb, 10, metric=faiss.METRIC_INNER_PRODUCT)
    truth_s = time.perf_counter() - t
    pairs = rng.integers(0, n, (2000, 2))
    data = {
        "vectors": n,
        "dim": dim,
        "centres": args.centres,
        "subspace": args.subspace,
        "spread": args.spread,
        "noise": args.noise,
        "queries": nq,
        "generate_s": round(gen_s, 1),
        "exact_knn_s": round(truth_s, 1),
        "cos_top1_mean": round(float(sims[:, 0].mean()), 3),
        "cos_top10_mean": round(float(sims[:, 9].mean()), 3),
        "cos_random_pair_mean": round(
            float(np.einsum("ij,ij->i", xb[pairs[:, 0]], xb[pairs[:, 1]]).mean()), 3
        ),
    }
    log(f"data: {data}")

    flat = faiss.IndexFlatIP(dim)  # exact search latency for reference (a sample of queries)
    flat.add(xb)
    _, flat_ms = search_one_by_one(flat, xq[: min(50, nq)], 10)
    data["flat_search"] = latency_summary(flat_ms)
    del flat
    log(f"flat: {data['flat_search']}")

    cpu0 = cpu_seconds()
    t = time.perf_counter()
    index, kind = build_faiss(xb, n - 1, settings.hnsw_m, settings.hnsw_ef_construction)
    data["hnsw_build"] = {
        "kind": kind,
        "M": settings.hnsw_m,
        "efConstruction": settings.hnsw_ef_construction,
        "wall_s": round(time.perf_counter() - t, 1),
        "cpu_s": round(cpu_seconds() - cpu0, 1),
        "omp_threads": faiss.omp_get_max_threads(),
    } | rss_mb()
    log(f"HNSW built: {data['hnsw_build']}")
    data["by_ef_search"] = {}
    for ef in args.ef_search:
        index.hnsw.efSearch = ef
        search_one_by_one(index, xq[:20], 10)  # warm-up
        found, ms = search_one_by_one(index, xq, 10)
        data["by_ef_search"][ef] = {"recall_at_10": round(recall_at(found, truth), 4)} | latency_summary(ms)
        log(f"efSearch {ef}: {data['by_ef_search'][ef]}")
    data["loadavg_end"] = round(os.getloadavg()[0], 2)
    return data


# --- report --------------------------------------------------------------------------------------


def bench_sizes(args) -> dict:
    """Index + raw encode at each of args.sizes contracts, each in a fresh process."""
    import json
    import subprocess
    import tempfile

    out = {}
    for n in args.sizes:
        with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
            cmd = [sys.executable, __file__, "--home", args.home, "--limit", str(n), "--index-only"]
            cmd += ["--skip-synthetic", "--raw-group", str(args.raw_group), "--json", tmp.name]
            log(f"size {n}: {' '.join(cmd)}")
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            out[n] = json.loads(Path(tmp.name).read_text())["cuad"]
    return out


def print_sizes(sizes: dict) -> None:
    print(
        "contracts  chunks  wall s  e2e chunks/s  raw chunks/s  e2e/raw (goal >= 0.95)  peak RSS MB (+ parser)"
    )
    for n, c in sizes.items():
        i, r = c["index"], c["raw_encode"]
        print(
            f"{n:>9}  {i['chunks']:>6}  {i['wall_s']:>6}  {i['chunks_per_s']:>12}  {r['chunks_per_s']:>12}  "
            f"{r['ratio_end_to_end_over_raw']:>22}  {i['self_peak_mb']} (+ {i['children_peak_mb']}); "
            f"load {i['loadavg_start']} -> {r['loadavg_end']}"
        )


def print_summary(res: dict) -> None:
    print("\n=== bench_index", res["started"], "===")
    print("machine:", res["machine"])
    c = res.get("cuad")
    if c:
        i, r, s = c["index"], c["raw_encode"], c.get("search")
        print(
            f"CUAD ({c['corpus']}): {i['documents']} documents, {i['chunks']} chunks, {len(i['failures'])} failures, "
            f"{i['wall_s']} s wall, {i['cpu_s']} s CPU (load {i['loadavg_start']} -> {i['loadavg_end']})"
        )
        print(
            f"  end to end: {i['documents_per_s']} documents/s, {i['chunks_per_s']} chunks/s; "
            f"peak RSS {i['self_peak_mb']} MB (+ parser child {i['children_peak_mb']} MB)"
        )
        print(
            f"  raw encode: {r['chunks_per_s']} chunks/s over {r['chunks']} chunks; "
            f"ratio end-to-end/raw {r['ratio_end_to_end_over_raw']} (goal >= 0.9); CPU-time ratio {r['ratio_cpu']}"
        )
        if s is None:  # --index-only
            return
        print(
            f"  search ({s['queries']} queries, {s['index_type']}): p50 {s['total']['p50_ms']} ms, "
            f"p95 {s['total']['p95_ms']} ms (goal p50 <= 20); embedding p50 {s['embedding']['p50_ms']} ms, "
            f"retrieval p50 {s['retrieval']['p50_ms']} ms; source contract in top 5: {s['source_contract_hit_at_5']}"
        )
        h = c["hnsw_on_cuad_vectors"]
        for ef, v in h["by_ef_search"].items():
            print(
                f"  HNSW on the {h['vectors']} CUAD vectors, efSearch {ef}: recall@10 {v['recall_at_10']}, "
                f"p50 {v['p50_ms']} ms"
            )
        print(f"  index kept at: {c['index_dir']}  (home {c['home']}, corpus {c['corpus']})")
    s = res.get("synthetic")
    if s:
        b = s["hnsw_build"]
        print(
            f"synthetic: {s['vectors']} x {s['dim']}, {s['centres']} centres; HNSW M={b['M']} "
            f"efConstruction={b['efConstruction']} built in {b['wall_s']} s (peak RSS {b['self_peak_mb']} MB); "
            f"flat p50 {s['flat_search']['p50_ms']} ms"
        )
        for ef, v in s["by_ef_search"].items():
            print(
                f"  efSearch {ef}: recall@10 {v['recall_at_10']} (goal >= 0.95), p50 {v['p50_ms']} ms, "
                f"p95 {v['p95_ms']} ms (goal p50 <= 10)"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--home", default=str(OUT / "home"), help="VERACITY home for the CUAD index (default bench/out/home)"
    )
    p.add_argument("--limit", type=int, help="index only N contracts (corpus cuad-limitN)")
    p.add_argument(
        "--no-rebuild", action="store_true", help="update incrementally instead of re-embedding all"
    )
    p.add_argument(
        "--sizes",
        type=lambda v: [int(x) for x in v.split(",")],
        help="e.g. 20,100: index + raw encode at each size in a fresh process (replaces the CUAD part)",
    )
    p.add_argument("--index-only", action="store_true", help="CUAD part: index and raw encode only")
    p.add_argument("--skip-cuad", action="store_true")
    p.add_argument("--skip-synthetic", action="store_true")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--raw-sample", type=int, default=0, help="chunks for the raw encode run (0 = all)")
    p.add_argument(
        "--raw-group", type=int, default=512, help="texts per encode call (the indexer's EMBED_FLUSH)"
    )
    p.add_argument("--synthetic-n", type=int, default=1_000_000)
    p.add_argument("--synthetic-queries", type=int, default=500)
    p.add_argument("--centres", type=int, default=2000)
    p.add_argument("--subspace", type=int, default=24, help="dimensions each cluster varies along")
    p.add_argument("--spread", type=float, default=0.35)
    p.add_argument("--noise", type=float, default=0.02, help="isotropic noise per coordinate")
    p.add_argument("--ef-search", type=lambda s: [int(x) for x in s.split(",")], default=[64, 96, 128, 256])
    p.add_argument("--json", help="output file (default bench/out/bench_index-STAMP.json)")
    args = p.parse_args(argv)

    res: dict = {"started": stamp(), "args": vars(args), "machine": machine()}
    path = args.json or str(OUT / f"bench_index-{res['started']}.json")
    if args.sizes:
        res["sizes"] = bench_sizes(args)
        save_json("bench_index", res, path)
        print_sizes(res["sizes"])
        print(f"\nresults: {path}")
        return 0
    if not args.skip_cuad:
        res["cuad"] = bench_cuad(args)
        save_json("bench_index", res, path)  # kept even if the synthetic part fails
    if not args.skip_synthetic:
        res["synthetic"] = bench_synthetic(args)
    res["machine_end"] = machine()
    out = save_json("bench_index", res, path)
    print_summary(res)
    print(f"\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
