"""The stores on PostgreSQL against SQLite, in one run: /v1/verify latency on the sample corpus, the
audit store's write rate (turns/s through record_verification, 4 sentences and 2 citations each) and
the review queue's first page, each back-end measured in alternating rounds (median of the rounds).

    .venv/bin/python bench/bench_store.py                       # a throwaway PostgreSQL (Debian's)
    .venv/bin/python bench/bench_store.py --database-url postgresql://user@host/db --rounds 5

Without --database-url it starts its own cluster as the tests do (tests/pg_support.py), so the
figures are for a server on the same machine (loopback, fsync off); a networked PostgreSQL adds a
round trip per statement.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, save_json  # noqa: E402

sys.path.insert(0, str(ROOT / "tests"))

ANSWER = (
    "Customer may terminate for convenience with sixty (60) days' notice. "
    "Customer shall pay each undisputed invoice within thirty (30) days of receipt."
)


def synthetic_result(i: int):
    from pipeline.schema import Citation, Label, Verdict, VerificationResult

    labels = [Label.SUPPORTED, Label.CONTRADICTED, Label.UNSUPPORTED, Label.NOT_A_CLAIM]
    sentences, answer, pos = [], "", 0
    for k, label in enumerate(labels):
        text = f"Sentence {k} of turn {i} states a fact about clause {k + 1}."
        cites = [
            Citation(f"doc-{k}.md", "MSA", None, f"ARTICLE {k}", 100 * k, 100 * k + 80, "quote " * 10)
            for _ in range(2 if label != Label.NOT_A_CLAIM else 0)
        ]
        sentences.append(Verdict(text, pos, pos + len(text), label, 0.9, "reason", cites))
        answer += text + " "
        pos += len(text) + 1
    return answer, VerificationResult(
        answer, sentences, answer, "annotate", {"total": 10.0}, {"verifier": "b"}
    )


def write_rate(location, n: int, round_no: int) -> float:
    from pipeline.audit.store import AuditStore

    with AuditStore(location) as store:
        items = [synthetic_result(i) for i in range(n)]
        t0 = time.perf_counter()
        for i, (answer, result) in enumerate(items):
            store.record_verification(
                f"bench{round_no}", "b.jsonl", f"c{i}", 0, "q?", answer, "sample", result
            )
        return n / (time.perf_counter() - t0)


def queue_ms(location, reps: int = 20) -> float:
    from pipeline.review.trail import QueueFilter, ReviewStore

    with ReviewStore(location) as rs:
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            rs.queue(QueueFilter(status="open"), limit=50)
            rs.counts(QueueFilter())
            times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)


def verify_ms(client, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.post("/v1/verify", json={"answer": ANSWER, "corpus": "sample"})
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", help="an existing PostgreSQL database (default: a throwaway server)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--turns", type=int, default=300, help="turns written per round and back-end")
    ap.add_argument("--verifies", type=int, default=20, help="verify calls per round and back-end")
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.config import ApiSettings
    from pipeline.store.builder import index_corpus
    from pipeline.store.corpora import corpus_config
    from pipeline.verification.engine import Engine

    server = None
    url = args.database_url
    if url is None:
        from pg_support import PostgresServer

        server = PostgresServer().start()
        url = server.create_database()
    home = Path(tempfile.mkdtemp(prefix="veracity-bench-store-"))
    try:
        base = dict(home=home, corpora_dir=ROOT / "corpora", auth_disabled=True, serve_corpora=["sample"])
        sqlite_settings = ApiSettings(**base)
        pg_settings = ApiSettings(**base, database_url=url)
        index_corpus(corpus_config("sample", sqlite_settings), sqlite_settings)
        engine = Engine(sqlite_settings)  # one engine for both apps: only the stores differ
        backends = {"sqlite": (sqlite_settings, home / "audit.sqlite"), "postgresql": (pg_settings, url)}
        figures: dict[str, dict[str, list[float]]] = {
            b: {"verify_ms": [], "turns_per_s": [], "queue_ms": []} for b in backends
        }
        clients = {}
        for b, (settings, _) in backends.items():
            clients[b] = TestClient(
                create_app(settings, engine=engine), base_url="http://127.0.0.1"
            ).__enter__()
            verify_ms(clients[b], 3)  # warm-up
        for r in range(args.rounds):
            for b, (_settings, location) in backends.items():
                figures[b]["verify_ms"].append(verify_ms(clients[b], args.verifies))
                figures[b]["turns_per_s"].append(write_rate(location, args.turns, r))
                figures[b]["queue_ms"].append(queue_ms(location))
        for c in clients.values():
            c.__exit__(None, None, None)
        out = {b: {k: statistics.median(v) for k, v in f.items()} | {"rounds": f} for b, f in figures.items()}
        print(f"{'back-end':<12}{'verify p50 ms':>15}{'audit writes turns/s':>22}{'queue page ms':>15}")
        for b, f in out.items():
            print(f"{b:<12}{f['verify_ms']:>15.1f}{f['turns_per_s']:>22.0f}{f['queue_ms']:>15.2f}")
        sq, pg = out["sqlite"], out["postgresql"]
        print(
            f"PostgreSQL / SQLite: verify {pg['verify_ms'] / sq['verify_ms']:.2f}x, writes "
            f"{pg['turns_per_s'] / sq['turns_per_s']:.2f}x, queue page {pg['queue_ms'] / sq['queue_ms']:.2f}x "
            f"(median of {args.rounds} alternating rounds)"
        )
        save_json("bench_store", out)
    finally:
        if server is not None:
            server.stop()
        import shutil

        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
