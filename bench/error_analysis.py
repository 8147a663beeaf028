"""Why each wrong verdict is wrong: one cause per wrong sentence, counted per corpus.

Usage:
  nice .venv/bin/python bench/error_analysis.py [--sets dev,dev2,contractnli,expertqa] [--decision default|none]
      [--limit N] [--json PATH]

A sentence is wrong when its verdict differs from the gold label in the way a user sees it (supported
vs flagged, or contradicted vs not). Causes, tried in this order:
  claim split wrongly   the sentence became several facts and the failing one is a fragment (< 4
                        content words) where the gold says supported
  not retrieved         the gold evidence is in none of the retrieved chunks
  cut by the window     it is in a retrieved chunk but in none of the evidence windows
  needs two passages    it is spread over two windows and none holds most of it
  slot-check false alarm  a slot check failed on the gold window of a supported sentence
  slot-check miss       the gold error is a slot kind (number, unit, negation, modality, party,
                        population) and no check fired on the gold window
  threshold             the judge's score on the gold window is within 0.15 of the threshold that
                        would have made it right
  model wrong           the right evidence was in a window and the judge still got it wrong
  no gold evidence      gold unsupported (nothing to find) yet called supported/contradicted: the
                        judge or the learned decision accepted a passage that does not state it
Gold evidence: dev quotes (token overlap >= 0.6), ContractNLI span offsets; ExpertQA gives the whole
context, so its sentences can only be split, slot, threshold or model causes.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_accuracy import CNLI_PATH, DEV_PATH, build_contractnli, dev_settings, gold_offsets  # noqa: E402
from common import OUT, ROOT, expertqa_claims, log, save_json, stamp, table  # noqa: E402

from pipeline.verification.decision import load_support_model  # noqa: E402
from pipeline.verification.engine import Engine  # noqa: E402
from pipeline.verification.rules import decide  # noqa: E402

CAUSES = (
    "claim split wrongly",
    "not retrieved",
    "cut by the window",
    "needs two passages",
    "slot-check false alarm",
    "slot-check miss",
    "threshold",
    "model wrong",
    "no gold evidence",
)
SLOT_ERRORS = {
    "wrong_number",
    "wrong_unit",
    "negation_flip",
    "modality_flip",
    "swapped_party",
    "wrong_population",
}
_TOK = re.compile(r"[a-z0-9]+")


def _share(evidence: str, text: str) -> float:
    ev = set(_TOK.findall(evidence.lower()))
    return len(ev & set(_TOK.findall(text.lower()))) / len(ev) if ev else 0.0


def seen_as(label: str) -> str:
    """What a user acts on: supported, contradicted, or flagged for anything else."""
    return label if label in ("supported", "contradicted") else "flagged"


def cause_of(gold: str, error: str, facts, results, th, locate) -> str:
    """One cause for a wrong sentence. `locate(text_or_citation)` -> share of the gold evidence held."""
    failing = [
        (f, r) for f, r in zip(facts, results, strict=True) if seen_as(str(r.verdict)) != seen_as(gold)
    ]
    fact, _ = max(failing or list(zip(facts, results, strict=True)), key=lambda fr: fr[1].verdict.severity)
    if gold == "supported" and len(facts) > 1 and len(_TOK.findall(fact.text.lower())) < 4:
        return "claim split wrongly"
    if gold == "unsupported":
        return "no gold evidence"
    if locate is not None:
        if not any(locate(h.chunk) >= 0.6 for h in fact.hits):
            return "not retrieved"
        held = [locate(w.citation) for w in fact.windows]
        if not held or max(held) < 0.6:
            return "needs two passages" if sum(h >= 0.3 for h in held) >= 2 else "cut by the window"
        wi = max(range(len(held)), key=held.__getitem__)
    else:
        wi = max(fact.scores, key=lambda i: fact.scores[i].entail, default=0)
    checks = fact.checks[wi] if wi < len(fact.checks) else []
    if gold == "supported" and any(not c.ok for c in checks):
        return "slot-check false alarm"
    if gold == "contradicted" and error in SLOT_ERRORS and all(c.ok for c in checks):
        return "slot-check miss"
    s = fact.scores.get(wi)
    if s is not None:
        if gold == "supported" and th.entail - 0.15 <= s.entail < th.entail:
            return "threshold"
        if gold == "contradicted" and th.contradict - 0.15 <= s.contradict < th.contradict:
            return "threshold"
    return "model wrong"


def analyse(engine: Engine, answer: str, gold_units, locate_for, **kw) -> list[dict]:
    """gold_units: [(start, end, gold, error, evidence)] in the answer; one row per wrong unit."""
    a = engine.assess(answer, **kw)
    rows = []
    for s, e, gold, error, evidence in gold_units:
        over = [(c, f) for c, f in zip(a.claims, a.facts, strict=True) if c.start < e and s < c.end and f]
        facts = [f for _, fs in over for f in fs]
        if not facts:
            continue
        results = [decide(f, a.thresholds, engine.support) for f in facts]
        pred = max(results, key=lambda r: r.verdict.severity).verdict
        if seen_as(str(pred)) == seen_as(gold) or gold == "not_a_claim":
            continue
        cause = cause_of(gold, error, facts, results, a.thresholds, locate_for(evidence))
        rows.append({"gold": gold, "pred": str(pred), "error": error, "cause": cause, "text": answer[s:e]})
    return rows


def dev_rows(path: Path, home: Path, support) -> list[dict]:
    answers = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    need: dict[str, set[str]] = defaultdict(set)
    for r in answers:
        need[r["corpus"]].update(r["doc_ids"])
    engines = {c: Engine(dev_settings(c, ids, home)[0], support=support) for c, ids in sorted(need.items())}
    out = []
    for r in answers:
        units = [
            (s, e, g["label"], g.get("error", ""), g.get("evidence", ""))
            for (s, e), g in zip(gold_offsets(r), r["sentences"], strict=True)
        ]

        def locate_for(evidence: str):
            if not evidence:
                return None
            return lambda c: _share(evidence, c.text if hasattr(c, "text") else c.quote)

        for row in analyse(
            engines[r["corpus"]], r["answer"], units, locate_for, corpus=r["corpus"], doc_ids=r["doc_ids"],
            question=r["question"],
        ):  # fmt: skip
            out.append(row | {"corpus": r["corpus"]})
    return out


def contractnli_rows(home: Path, support, limit: int, seed: int) -> list[dict]:
    data = json.loads(CNLI_PATH.read_text(encoding="utf-8"))
    from pipeline.models.embedders import get_embedder

    settings, name = build_contractnli(home, data, get_embedder())
    engine = Engine(settings, support=support)
    hyps = {k: v["hypothesis"] for k, v in data["labels"].items()}
    docs = data["documents"]
    if limit:
        docs = random.Random(seed).sample(docs, max(1, limit // len(hyps)))
    gold_map = {"Entailment": "supported", "Contradiction": "contradicted", "NotMentioned": "unsupported"}
    out = []
    for doc in docs:
        anns = doc["annotation_sets"][0]["annotations"]
        doc_id = f"{doc['id']}.txt"
        for k, hyp in hyps.items():
            spans = [doc["spans"][i] for i in anns[k]["spans"]]

            def locate_for(_evidence: str, spans=spans):
                if not spans:
                    return None
                total = sum(e - s for s, e in spans)
                return lambda c: sum(max(0, min(e, c.end) - max(s, c.start)) for s, e in spans) / total

            gold = gold_map[anns[k]["choice"]]
            for row in analyse(
                engine, hyp, [(0, len(hyp), gold, "", "")], locate_for, corpus=name, doc_ids=[doc_id]
            ):
                out.append(row | {"corpus": "contractnli"})
    return out


def expertqa_rows(home: Path, support, limit: int, seed: int) -> list[dict]:
    from pipeline.settings import Settings

    engine = Engine(Settings(home=home), support=support)
    claims = expertqa_claims("heldout")
    if limit and limit < len(claims):
        claims = random.Random(seed).sample(claims, limit)
    out = []
    for c in claims:
        units = [(0, len(c["claim"]), c["label"], "", "")]
        for row in analyse(engine, c["claim"], units, lambda _e: None, contexts=c["evidence"]):
            out.append(row | {"corpus": "expertqa"})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="dev,dev2,contractnli,expertqa")
    ap.add_argument("--decision", default="default", help="default, none or a decision.json")
    ap.add_argument("--limit", type=int, default=0, help="ContractNLI pairs / ExpertQA claims (0 = all)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--home", default=str(OUT / "home"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    support = {"default": "default", "none": None}.get(args.decision) or load_support_model(
        Path(args.decision)
    )
    home = Path(args.home)
    home.mkdir(parents=True, exist_ok=True)
    runners = {
        "dev": lambda: dev_rows(DEV_PATH, home, support),
        "dev2": lambda: dev_rows(ROOT / "bench/data/dev_answers_2.jsonl", home, support),
        "contractnli": lambda: contractnli_rows(home, support, args.limit, args.seed),
        "expertqa": lambda: expertqa_rows(home, support, args.limit, args.seed),
    }
    rows: list[dict] = []
    t0 = time.perf_counter()
    for name in [s.strip() for s in args.sets.split(",") if s.strip()]:
        got = runners[name]()
        for r in got:
            r["set"] = name
        rows += got
        log(f"{name}: {len(got)} wrong sentences ({time.perf_counter() - t0:.0f}s)")
    sets = list(dict.fromkeys(r["set"] for r in rows))
    counts = Counter((r["set"], r["cause"]) for r in rows)
    print(table([[c] + [counts[(s, c)] for s in sets] for c in CAUSES], ["cause", *sets]))
    by_kind = Counter((r["set"], f"{r['gold']}->{seen_as(r['pred'])}") for r in rows)
    print(
        "\nwrong sentences by gold -> seen as: "
        + "; ".join(f"{s} {k}: {n}" for (s, k), n in sorted(by_kind.items()))
    )
    path = Path(args.json) if args.json else OUT / f"errors-{stamp()}.json"
    save_json("errors", {"argv": sys.argv, "decision": args.decision, "rows": rows}, str(path))
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
