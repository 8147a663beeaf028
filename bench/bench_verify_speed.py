"""Latency of `Engine.verify` on 8-sentence answers against the full CUAD corpus.

Usage:
  nice .venv/bin/python bench/bench_verify_speed.py [--scorer default,lexical] [--answers 60]
      [--warmup 5] [--corpus cuad] [--home DIR] [--scoped] [--wait MINUTES] [--seed 7]
      [--decision default|none|none,default] [--json PATH]

Each answer: 7 real sentences of one CUAD contract, taken from the index's own chunks (about a third
of those with a number get the number perturbed), plus one not_a_claim sentence at a random position.
Verified unscoped against the whole corpus (the hard case: retrieval over every contract), or with
--scoped against the source contract only. Per scorer: --warmup answers first (not measured), then
--answers measured ones; p50/p95/mean of timings_ms total and of each stage (split, retrieve, check,
score) plus wall time. Goal: p50 <= 150 ms, p95 <= 300 ms (with the trained verifier).
--wait N polls up to N minutes for the corpus index to appear (another process may be building it).
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import log, machine, make_scorer, percentile, save_json, system_name, table  # noqa: E402

from pipeline.settings import Settings  # noqa: E402
from pipeline.verification.engine import Engine  # noqa: E402

STAGES = ["split", "retrieve", "check", "score", "total"]
GOAL_P50, GOAL_P95 = 150.0, 300.0  # issue 15
NOT_A_CLAIM = [
    "Here is a summary of the relevant terms of the agreement.",
    "Let me know if you would like more detail on any of these points.",
    "I hope this helps!",
    "Please consult your legal counsel before relying on this summary.",
    "Would you like me to look at the termination provisions as well?",
]
_SENT = re.compile(r"(?<=[.;])\s+(?=[A-Z(])")
_NUM = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])")
_WORDS = {
    "thirty": "sixty",
    "sixty": "ninety",
    "ninety": "thirty",
    "ten": "fifteen",
    "five": "seven",
    "two": "three",
    "three": "four",
    "twelve": "eighteen",
}


def candidate_sentences(text: str) -> list[str]:
    out = []
    for s in _SENT.split(re.sub(r"\s+", " ", text)):
        s = s.strip()
        letters = sum(ch.isalpha() for ch in s)
        if 60 <= len(s) <= 260 and letters >= 0.7 * len(s) and s[0].isupper() and s.endswith((".", ";")):
            out.append(s[:-1] + "." if s.endswith(";") else s)
    return out


def perturb(sentence: str, rng: random.Random) -> str | None:
    nums = list(_NUM.finditer(sentence))
    if nums:
        m = rng.choice(nums)
        raw = m.group(1).replace(",", "")
        n = int(raw)
        new = n * 2 if n < 1900 or n > 2100 else n + 1  # years move by one, other numbers double
        new_txt = f"{new:,}" if "," in m.group(1) else str(new)
        return sentence[: m.start(1)] + new_txt + sentence[m.end(1) :]
    for w, r in _WORDS.items():
        if re.search(rf"\b{w}\b", sentence, re.I):
            return re.sub(rf"\b{w}\b", r, sentence, count=1, flags=re.I)
    return None


def build_answers(index, n: int, seed: int) -> list[dict]:
    """n answers of 7 contract sentences + 1 not_a_claim sentence, from documents with enough text."""
    rng = random.Random(seed)
    doc_ids = sorted(index.manifest.documents)
    rng.shuffle(doc_ids)
    answers = []
    conn = index._conn()
    for doc_id in doc_ids:
        if len(answers) >= n:
            break
        texts = [
            r[0] for r in conn.execute("SELECT text FROM chunks WHERE doc_id = ? ORDER BY id", (doc_id,))
        ]
        cands = list(dict.fromkeys(s for t in texts for s in candidate_sentences(t)))
        if len(cands) < 7:
            continue
        picked = rng.sample(cands, 7)
        sents, perturbed = [], 0
        for s in picked:
            if perturbed < 3 and rng.random() < 0.35:
                p = perturb(s, rng)
                if p and p != s:
                    s, perturbed = p, perturbed + 1
            sents.append(s)
        sents.insert(rng.randrange(len(sents) + 1), rng.choice(NOT_A_CLAIM))
        answers.append({"doc_id": doc_id, "answer": " ".join(sents), "perturbed": perturbed})
    return answers


def wait_for_index(settings: Settings, corpus: str, minutes: float) -> None:
    from pipeline.store.index_files import corpus_dir, current_version

    deadline = time.time() + minutes * 60
    while current_version(corpus_dir(settings.indexes_dir, corpus)) is None:
        if time.time() > deadline:
            raise SystemExit(
                f"no {corpus} index under {settings.indexes_dir} after {minutes} min; "
                f"build it with `veracity index {corpus}`"
            )
        log(f"waiting for the {corpus} index under {settings.indexes_dir} ...")
        time.sleep(30)


def stats(values: list[float]) -> dict:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "mean": sum(values) / len(values) if values else float("nan"),
        "max": max(values, default=float("nan")),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scorer", default="default,lexical", help="default, lexical or both (comma-separated)")
    ap.add_argument("--answers", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--corpus", default="cuad")
    ap.add_argument("--home", default=None, help="VERACITY home holding indexes/ (default: the project's)")
    ap.add_argument("--scoped", action="store_true", help="scope each answer to its source contract")
    ap.add_argument("--wait", type=float, default=0, help="minutes to wait for the index to appear")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--decision",
        default="default",
        help="learned second opinion: default, none, or both as none,default (measured in the same run)",
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.answers < 1:
        raise SystemExit("--answers must be >= 1")

    from pipeline.models.embedders import get_embedder
    from pipeline.store.corpora import open_index

    settings = Settings(home=Path(args.home)) if args.home else Settings()
    if args.wait:
        wait_for_index(settings, args.corpus, args.wait)
    index = open_index(args.corpus, settings)
    m = index.manifest
    log(f"{args.corpus}: {m.n_documents} documents, {m.n_chunks} chunks, {m.index_type}, version {m.version}")
    answers = build_answers(index, args.warmup + args.answers, args.seed)
    if len(answers) < args.warmup + args.answers:
        log(f"only {len(answers)} answers could be built")
    embedder = get_embedder()
    result = {
        "argv": sys.argv,
        "machine_start": machine(),
        "corpus": {
            "name": args.corpus,
            "documents": m.n_documents,
            "chunks": m.n_chunks,
            "index_type": m.index_type,
            "version": m.version,
        },
        "scoped": args.scoped,
        "n_answers": len(answers) - args.warmup,
        "warmup": args.warmup,
        "sentences_per_answer": 8,
        "goal_ms": {"p50": GOAL_P50, "p95": GOAL_P95},
        "systems": {},
    }
    decisions = [d.strip() for d in args.decision.split(",") if d.strip()]
    runs = [(k.strip(), d) for k in args.scorer.split(",") if k.strip() for d in decisions]
    for kind, decision in runs:
        t = time.perf_counter()
        scorer = make_scorer(kind)
        load_s = time.perf_counter() - t
        engine = Engine(
            settings, scorer=scorer, embedder=embedder, support=None if decision == "none" else "default"
        )
        sysname = system_name(kind, scorer) + ("+rule-only" if decision == "none" else "")
        per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
        wall, verdicts, n_sent, errors = [], Counter(), [], 0
        for i, a in enumerate(answers):
            kw = {"corpus": args.corpus, "doc_ids": [a["doc_id"]] if args.scoped else None}
            t = time.perf_counter()
            try:
                r = engine.verify(a["answer"], **kw)
            except Exception as exc:  # noqa: BLE001 - counted
                errors += 1
                log(f"error on answer {i}: {type(exc).__name__}: {exc}")
                continue
            dt = (time.perf_counter() - t) * 1000
            if i < args.warmup:
                continue
            wall.append(dt)
            for s in STAGES:
                per_stage[s].append(float(r.timings_ms.get(s, 0.0)))
            n_sent.append(len(r.sentences))
            verdicts.update(str(v.verdict) for v in r.sentences)
        res = {
            "scorer": scorer.name,
            "scorer_load_s": load_s,
            "n": len(wall),
            "errors": errors,
            "stages_ms": {s: stats(v) for s, v in per_stage.items()},
            "wall_ms": stats(wall),
            "verdicts": dict(verdicts),
            "sentences_mean": sum(n_sent) / len(n_sent) if n_sent else 0,
        }
        tot = res["stages_ms"]["total"]
        res["meets_goal"] = tot["p50"] <= GOAL_P50 and tot["p95"] <= GOAL_P95
        mean_total = tot["mean"] or 1.0
        res["share_of_total_mean"] = {s: res["stages_ms"][s]["mean"] / mean_total for s in STAGES[:-1]}
        result["systems"][sysname] = res
        log(f"{sysname}: p50={tot['p50']:.0f}ms p95={tot['p95']:.0f}ms")
    result["machine_end"] = machine()
    path = save_json("verify-speed", result, args.json)

    rows = []
    for sysname, res in result["systems"].items():
        for s in STAGES:
            st = res["stages_ms"][s]
            share = res["share_of_total_mean"].get(s)
            rows.append(
                [
                    sysname,
                    s,
                    f"{st['p50']:.1f}",
                    f"{st['p95']:.1f}",
                    f"{st['mean']:.1f}",
                    f"{100 * share:.0f}%" if share is not None else "100%",
                ]
            )
        w = res["wall_ms"]
        rows.append([sysname, "wall", f"{w['p50']:.1f}", f"{w['p95']:.1f}", f"{w['mean']:.1f}", ""])
    c = result["corpus"]
    print(
        f"verify latency, {result['n_answers']} answers x 8 sentences (after {args.warmup} warm-up), "
        f"{'scoped to the source contract' if args.scoped else 'unscoped'}, corpus {c['name']} "
        f"({c['documents']} docs, {c['chunks']} chunks, {c['index_type']}); "
        f"load avg {result['machine_start'].get('loadavg_1m')} -> {result['machine_end'].get('loadavg_1m')} "
        f"on {result['machine_start']['cpus']} CPUs"
    )
    print(table(rows, ["system", "stage", "p50 ms", "p95 ms", "mean ms", "share"]))
    for sysname, res in result["systems"].items():
        tot = res["stages_ms"]["total"]
        top = max(res["share_of_total_mean"], key=res["share_of_total_mean"].get)
        print(
            f"{sysname} ({res['scorer']}): goal p50<={GOAL_P50:.0f} p95<={GOAL_P95:.0f} -> "
            f"{'MET' if res['meets_goal'] else 'NOT MET'} (p50 {tot['p50']:.0f}, p95 {tot['p95']:.0f}); "
            f"most time in '{top}' ({100 * res['share_of_total_mean'][top]:.0f}% of mean); "
            f"verdicts {res['verdicts']}; errors {res['errors']}; scorer load {res['scorer_load_s']:.1f}s"
        )
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
