"""Batch audit throughput (turns/min with 1 and 2 workers) and peak memory at 1k and 10k conversations.

Usage:
  nice .venv/bin/python bench/bench_audit.py [--corpus cuad|sample] [--home DIR] [--conversations 1000]
      [--workers 1,2] [--rss-sizes 1000,10000] [--rss-real] [--wait MINUTES] [--seed 7] [--json PATH]

Transcripts: JSONL conversations in the OpenAI chat format, 1-2 assistant turns each. A question names
one document of the corpus ("What does <title> say about ...?"); the answer is 2-4 consecutive real
sentences of that document, taken from the index's own chunks, one of them perturbed in about a third
of the turns (a number changed, a negation added, or a sentence of another document), and sometimes a
not_a_claim opener.

Throughput: the real `veracity audit` command (a subprocess, its own store) over --conversations
conversations, once per worker count. Reported: turns/min from the first to the last stored turn
(steady state) and over the whole wall time (model loading and the report included), and the peak
RSS of the process tree (parent + workers, sampled from /proc every 0.2 s). Goal: >= 600 turns/min.

Memory: peak RSS of an audit over --rss-sizes conversations. By default the engine is replaced by a
stub that splits sentences and returns verdicts with citations at once, so the 10k run takes minutes
and measures exactly what could grow with the input: reading, the work queue, the store, the report.
--rss-real runs the real command instead (the 10k run then takes as long as verifying 15k turns).
Flat = the 10k peak within 10% of the 1k peak.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, save_json  # noqa: E402

GOAL_TURNS_PER_MIN = 600
OPENERS = [
    "Here is what the agreement says.",
    "Sure, I can help with that.",
    "Good question.",
    "Based on the contract, here is a summary.",
]
_NUM = re.compile(r"\b\d{1,6}(?:,\d{3})*(?:\.\d+)?\b")
_MODAL = re.compile(r"\b(shall|may|will|must|is|are)\b(?! not)")


# --- transcripts ---------------------------------------------------------------------------------


def load_sentences(home: Path, corpus: str, max_docs: int = 600) -> list[tuple[str, str, list[str]]]:
    """(doc_id, title, checkable sentences) per document, read from the live index's chunks."""
    from pipeline.store.index_files import corpus_dir, current_version
    from pipeline.verification.claims import extract_claims

    vdir = current_version(corpus_dir(home / "indexes", corpus))
    if vdir is None:
        raise SystemExit(f"corpus {corpus!r} has no index under {home / 'indexes'}")
    conn = sqlite3.connect(f"file:{vdir / 'meta.sqlite'}?mode=ro", uri=True)
    titles = dict(conn.execute("SELECT doc_id, title FROM documents"))
    docs: dict[str, list[str]] = {}
    for doc_id, text in conn.execute("SELECT doc_id, text FROM chunks ORDER BY id"):
        if doc_id not in docs and len(docs) >= max_docs:
            continue
        sents = docs.setdefault(doc_id, [])
        for c in extract_claims(text):
            s = " ".join(c.text.split())
            if c.checkable and 40 <= len(s) <= 300 and s not in sents and sum(ch.isalpha() for ch in s) > 30:
                sents.append(s)
    conn.close()
    return [(d, titles.get(d) or d, s) for d, s in docs.items() if len(s) >= 4]


def perturb(sentence: str, other: str, rng: random.Random) -> str:
    """A wrong version of a sentence: another number, a negation, or another document's sentence."""
    kinds = (
        ["number"] * bool(_NUM.search(sentence)) + ["negation"] * bool(_MODAL.search(sentence)) + ["other"]
    )
    kind = rng.choice(kinds)
    if kind == "number":
        m = rng.choice(list(_NUM.finditer(sentence)))
        value = float(m.group().replace(",", ""))
        new = int(value * rng.choice([2, 3]) + rng.randint(1, 9)) if value < 1e6 else int(value / 2)
        return sentence[: m.start()] + str(new) + sentence[m.end() :]
    if kind == "negation":
        m = _MODAL.search(sentence)
        return sentence[: m.end()] + " not" + sentence[m.end() :]
    return other


def conversations(docs, n: int, corpus: str, seed: int):
    rng = random.Random(seed)
    for i in range(n):
        doc_id, title, sents = rng.choice(docs)
        messages = [{"role": "system", "content": "You answer questions about our contracts."}]
        for _ in range(rng.choice([1, 2])):
            k = rng.randint(2, min(4, len(sents)))
            start = rng.randint(0, len(sents) - k)
            picked = list(sents[start : start + k])
            if rng.random() < 0.35:
                j = rng.randrange(k)
                picked[j] = perturb(picked[j], rng.choice(rng.choice(docs)[2]), rng)
            if rng.random() < 0.3:
                picked.insert(0, rng.choice(OPENERS))
            topic = " ".join(w for w in re.findall(r"[A-Za-z]{5,}", picked[-1])[:3]).lower() or "this"
            messages.append({"role": "user", "content": f"What does the {title.title()} say about {topic}?"})
            messages.append({"role": "assistant", "content": " ".join(picked)})
        yield {
            "id": f"bench-{i:06d}",
            "messages": messages,
            "metadata": {"corpus": corpus, "source_doc": doc_id},
        }


def write_jsonl(path: Path, docs, n: int, corpus: str, seed: int) -> int:
    turns = 0
    with open(path, "w", encoding="utf-8") as fh:
        for conv in conversations(docs, n, corpus, seed):
            turns += sum(m["role"] == "assistant" for m in conv["messages"])
            fh.write(json.dumps(conv) + "\n")
    return turns


# --- measuring -----------------------------------------------------------------------------------


def _tree(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += [c for c, pp in parents.items() if pp == p]
    return out


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssSampler(threading.Thread):
    """Peak RSS of a process (and of its whole tree) until stopped."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_parent = self.peak_tree = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            tree = _tree(self.pid)
            self.peak_parent = max(self.peak_parent, _rss_mb(self.pid))
            self.peak_tree = max(self.peak_tree, sum(_rss_mb(p) for p in tree))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def stored_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def store_rates(db: Path, run_id: str) -> dict:
    conn = sqlite3.connect(db)
    n, errors, first, last = conn.execute(
        "SELECT SUM(status = 'done'), SUM(status = 'error'), MIN(verified_at), MAX(verified_at) FROM turns "
        "WHERE run_id = ?",
        (run_id,),
    ).fetchone()
    flagged = conn.execute(
        "SELECT COUNT(*) FROM turns WHERE run_id = ? AND n_flagged > 0", (run_id,)
    ).fetchone()[0]
    conn.close()
    span = stored_time(last) - stored_time(first) if n and n > 1 else 0.0
    return {
        "turns": n or 0,
        "errors": errors or 0,
        "flagged_turns": flagged,
        "steady_turns_per_min": round(60 * (n - 1) / span, 1) if span > 0 else None,
        "first_stored": first,
    }


def run_cli(
    home: Path,
    corpus: str,
    transcript: Path,
    workers: int,
    work: Path,
    run_id: str,
    extra: Sequence[str] = (),
) -> dict:
    """The real `veracity audit` (its own store in `work`), with `extra` options such as ("--ray",)."""
    db = work / f"{run_id}.sqlite"
    env = dict(os.environ, VERACITY_AUDIT_DB=str(db))
    cmd = [
        sys.executable,
        "-m",
        "pipeline.cli",
        "--home",
        str(home),
        "audit",
        corpus,
        str(transcript),
        "--workers",
        str(workers),
        "--run-id",
        run_id,
        "--no-progress",
        "--out",
        str(work / run_id),
        *extra,
    ]
    t0 = time.time()
    log = open(work / f"{run_id}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    sampler = RssSampler(proc.pid)
    sampler.start()
    rc = proc.wait()
    wall = time.time() - t0
    sampler.stop()
    log.close()
    if rc != 0:
        raise SystemExit(f"audit failed ({rc}): {(work / f'{run_id}.log').read_text()[-2000:]}")
    rates = store_rates(db, run_id)
    startup = stored_time(rates["first_stored"]) - t0 if rates["first_stored"] else None
    return {
        "workers": workers,
        "wall_s": round(wall, 1),
        "startup_s": round(startup, 1) if startup else None,
        "wall_turns_per_min": round(60 * rates["turns"] / wall, 1),
        **rates,
        "peak_rss_parent_mb": round(sampler.peak_parent),
        "peak_rss_tree_mb": round(sampler.peak_tree),
    }


# --- stub engine (memory runs) -------------------------------------------------------------------


class StubEngine:
    """Splits the answer like the engine and labels sentences at once, with a citation each."""

    def verify(self, answer, *, corpus=None, question=None, doc_ids=None, mode="annotate", **_):
        from pipeline.schema import Citation, Label, Verdict, VerificationResult
        from pipeline.verification.claims import extract_claims
        from pipeline.verification.render import render

        verdicts = []
        for i, c in enumerate(extract_claims(answer)):
            label = [Label.SUPPORTED, Label.SUPPORTED, Label.CONTRADICTED, Label.UNSUPPORTED][
                (len(c.text) + i) % 4
            ]
            if not c.checkable:
                label = Label.NOT_A_CLAIM
            cite = Citation("doc.pdf", "A CONTRACT", 3, "Section 2", 100, 200, c.text[:150])
            verdicts.append(
                Verdict(
                    c.text,
                    c.start,
                    c.end,
                    label,
                    0.9,
                    f"stub reason for {label}",
                    [] if label == Label.NOT_A_CLAIM else [cite],
                )
            )
        return VerificationResult(
            answer, verdicts, render(answer, verdicts, mode), mode, {"total": 1.0}, {"verifier": "stub"}
        )


def _stub_audit(db: str, transcript: str, corpus: str, out: str, run_id: str) -> None:
    from pipeline.audit.report import write_report
    from pipeline.audit.runner import AuditRunner
    from pipeline.audit.store import AuditStore
    from pipeline.settings import Settings

    store = AuditStore(db)
    AuditRunner(store, Settings(), run_id=run_id, corpus=corpus, engine=StubEngine()).run([transcript])
    write_report(store, run_id, out)
    store.close()


def run_stub(transcript: Path, corpus: str, work: Path, run_id: str) -> dict:
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import bench_audit as b; "
        f"b._stub_audit({str(work / (run_id + '.sqlite'))!r}, {str(transcript)!r}, {corpus!r}, "
        f"{str(work / run_id)!r}, {run_id!r})"
    )
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    sampler = RssSampler(proc.pid)
    sampler.start()
    rc = proc.wait()
    sampler.stop()
    if rc != 0:
        raise SystemExit(f"stub audit failed ({rc})")
    rates = store_rates(work / f"{run_id}.sqlite", run_id)
    return {
        "wall_s": round(time.time() - t0, 1),
        "turns": rates["turns"],
        "peak_rss_parent_mb": round(sampler.peak_parent),
        "peak_rss_tree_mb": round(sampler.peak_tree),
    }


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default="cuad")
    ap.add_argument("--home", default=str(ROOT), help="directory holding indexes/ (default: the project)")
    ap.add_argument("--conversations", type=int, default=1000, help="conversations of the throughput runs")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--rss-sizes", default="1000,10000")
    ap.add_argument("--rss-real", action="store_true", help="memory runs with the real engine (slow)")
    ap.add_argument("--wait", type=float, default=0, help="minutes to wait for the corpus index")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", help="write the results here (default: bench/out/audit-STAMP.json)")
    args = ap.parse_args()
    home = Path(args.home)
    from pipeline.store.index_files import corpus_dir, current_version

    deadline = time.time() + 60 * args.wait
    while current_version(corpus_dir(home / "indexes", args.corpus)) is None and time.time() < deadline:
        time.sleep(20)
    docs = load_sentences(home, args.corpus)
    print(f"corpus {args.corpus}: {len(docs)} documents with >= 4 sentences", flush=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    results: dict = {
        "corpus": args.corpus,
        "stamp": stamp,
        "cpus": os.cpu_count(),
        "load_avg_start": os.getloadavg(),
        "throughput": [],
        "memory": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench_audit_") as tmp:
        work = Path(tmp)
        sizes = sorted({args.conversations, *(int(x) for x in args.rss_sizes.split(",") if x)})
        files = {}
        for n in sizes:
            files[n] = work / f"conversations-{n}.jsonl"
            turns = write_jsonl(files[n], docs, n, args.corpus, args.seed)
            print(
                f"  {n} conversations, {turns} assistant turns, {files[n].stat().st_size / 1e6:.1f} MB",
                flush=True,
            )
        for w in (int(x) for x in args.workers.split(",") if x):
            r = run_cli(home, args.corpus, files[args.conversations], w, work, f"bench-w{w}")
            results["throughput"].append(r)
            print(
                f"workers {w}: {r['turns']} turns, steady {r['steady_turns_per_min']} turns/min, "
                f"overall {r['wall_turns_per_min']} turns/min (wall {r['wall_s']} s, startup {r['startup_s']} s), "
                f"{r['flagged_turns']} flagged turns, {r['errors']} errors, peak RSS parent "
                f"{r['peak_rss_parent_mb']} MB / tree {r['peak_rss_tree_mb']} MB",
                flush=True,
            )
        for n in (int(x) for x in args.rss_sizes.split(",") if x):
            r = (
                run_cli(home, args.corpus, files[n], 1, work, f"rss-{n}")
                if args.rss_real
                else run_stub(files[n], args.corpus, work, f"rss-{n}")
            )
            r |= {"conversations": n, "engine": "real" if args.rss_real else "stub"}
            results["memory"].append(r)
            print(
                f"memory {n} conversations ({r['engine']} engine): {r['turns']} turns in {r['wall_s']} s, peak RSS "
                f"parent {r['peak_rss_parent_mb']} MB / tree {r['peak_rss_tree_mb']} MB",
                flush=True,
            )
    mem = results["memory"]
    if len(mem) >= 2:
        growth = mem[-1]["peak_rss_tree_mb"] / max(1, mem[0]["peak_rss_tree_mb"]) - 1
        results["memory_growth"] = round(growth, 3)
        print(
            f"memory growth {mem[0]['conversations']} -> {mem[-1]['conversations']} conversations: "
            f"{100 * growth:+.1f}% ({'flat' if abs(growth) <= 0.10 else 'NOT flat'})"
        )
    best = max((r["steady_turns_per_min"] or 0 for r in results["throughput"]), default=0)
    results["goal_turns_per_min"] = GOAL_TURNS_PER_MIN
    results["load_avg_end"] = os.getloadavg()
    print(
        f"best steady throughput {best} turns/min (goal {GOAL_TURNS_PER_MIN}); load average "
        f"{results['load_avg_start'][0]:.1f} -> {results['load_avg_end'][0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"results: {save_json('audit', results, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
