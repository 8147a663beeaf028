"""Load test of the REST API: a real `veracity serve` on loopback, N concurrent clients posting
8-sentence answers to /v1/verify for a fixed time; requests/s, latency percentiles, errors and the
server's memory.

    .venv/bin/python bench/bench_load.py                      # cuad, 1/4/16 clients, 30 s each
    .venv/bin/python bench/bench_load.py --corpus sample --duration 10 --clients 1,4

Answers are built from the corpus's own index: sentences taken from its chunks (which the documents
support), the same with a number changed (contradicted) and a few generic statements, 8 per answer.
Goals: 0 errors, p95 <= 1 s at 4 clients, server RSS <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, save_json  # noqa: E402

GENERIC = [
    "Either party may assign this Agreement without the consent of the other party.",
    "The agreement is governed by the laws of the State of Delaware.",
    "Payment is due within forty-five (45) days of the invoice date.",
    "The term of the agreement is five (5) years.",
    "Neither party shall be liable for indirect or consequential damages.",
    "I hope this summary helps.",
]
_SENT = re.compile(r"(?<=[.;])\s+(?=[A-Z(])")
_NUM = re.compile(r"\b\d{1,3}\b")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def corpus_sentences(home: Path, corpus: str, limit: int = 3000, seed: int = 7) -> list[str]:
    """Clean sentences from the live index's chunks (read-only SQLite; no models loaded here)."""
    cdir = home / "indexes" / corpus
    try:
        version = (cdir / "CURRENT").read_text().strip()
    except FileNotFoundError:
        sys.exit(
            f"no index for corpus {corpus!r} under {home / 'indexes'}; build it with "
            f"`veracity index {corpus}` or use --corpus sample"
        )
    conn = sqlite3.connect(f"file:{cdir / version / 'meta.sqlite'}?mode=ro", uri=True)
    rows = [r[0] for r in conn.execute("SELECT text FROM chunks")]
    conn.close()
    rng = random.Random(seed)
    rng.shuffle(rows)
    out: list[str] = []
    for text in rows:
        for s in _SENT.split(" ".join(text.split())):
            words = s.split()
            if 8 <= len(words) <= 40 and s[-1] in ".;" and sum(c.isalpha() for c in s) > 0.7 * len(s):
                out.append(s.rstrip(";") + ("" if s.endswith(".") else "."))
        if len(out) >= limit:
            break
    if len(out) < 8:
        sys.exit(f"corpus {corpus!r} has too little text to build answers")
    return out


def build_answers(sentences: list[str], n: int, per_answer: int = 8, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    answers = []
    for _ in range(n):
        parts = []
        for _ in range(per_answer):
            roll = rng.random()
            if roll < 0.15:
                parts.append(rng.choice(GENERIC))
                continue
            s = rng.choice(sentences)
            if roll < 0.4 and _NUM.search(s):
                s = _NUM.sub(lambda m: str(int(m.group()) + rng.randint(1, 9)), s, count=1)
            parts.append(s)
        answers.append(" ".join(parts))
    return answers


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB, from /proc."""
    cur = peak = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return cur, peak


def start_server(args, port: int) -> subprocess.Popen:
    env = os.environ.copy()
    env.setdefault("VERACITY_REQUEST_TIMEOUT_S", str(args.request_timeout))
    if args.verify_concurrency:
        env["VERACITY_VERIFY_CONCURRENCY"] = str(args.verify_concurrency)
    cmd = [sys.executable, "-m", "pipeline.cli"]
    if args.home:
        cmd += ["--home", args.home]
    cmd += ["serve", "--host", "127.0.0.1", "--port", str(port), "--corpus", args.corpus, "--no-auth"]
    log = open(args.server_log, "w") if args.server_log else subprocess.DEVNULL
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=log)


def wait_ready(url: str, proc: subprocess.Popen | None, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            sys.exit(f"the server exited with status {proc.returncode} (see --server-log)")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    sys.exit(f"the server was not ready after {timeout:g} s")


def run_level(
    url: str,
    corpus: str,
    answers: list[str],
    clients: int,
    duration: float,
    pid: int | None,
    api_key: str | None,
) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    sentences = unchecked = 0
    lock = threading.Lock()
    stop = time.monotonic() + duration
    peak_rss = [0.0]

    def worker(i: int) -> None:
        nonlocal sentences, unchecked
        headers = {"X-API-Key": api_key} if api_key else {}
        with httpx.Client(base_url=url, timeout=120, headers=headers) as http:
            k = i
            while time.monotonic() < stop:
                body = {"answer": answers[k % len(answers)], "corpus": corpus}
                k += clients
                t0 = time.perf_counter()
                try:
                    r = http.post("/v1/verify", json=body)
                    dt = time.perf_counter() - t0
                    if r.status_code == 200:
                        res = r.json()
                        with lock:
                            latencies.append(dt)
                            sentences += res["summary"]["n_sentences"]
                            unchecked += res["summary"]["counts"]["unchecked"]
                    else:
                        with lock:
                            errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
                except httpx.HTTPError as exc:
                    with lock:
                        errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    def sample_rss() -> None:
        while time.monotonic() < stop:
            if pid:
                peak_rss[0] = max(peak_rss[0], rss_mb(pid)[0])
            time.sleep(0.5)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    sampler = threading.Thread(target=sample_rss, daemon=True)
    t0 = time.monotonic()
    for t in threads:
        t.start()
    sampler.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000, 1) if lat else float("nan")

    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(lat),
        "rps": round(len(lat) / elapsed, 2),
        "sentences_per_s": round(sentences / elapsed, 1),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else float("nan"),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "unchecked_share": round(unchecked / sentences, 4) if sentences else 0.0,
        "rss_mb": round(peak_rss[0], 1),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default="cuad")
    p.add_argument("--clients", default="1,4,16", help="comma-separated concurrency levels")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per level")
    p.add_argument("--warmup", type=float, default=5.0, help="seconds of unmeasured load first")
    p.add_argument("--answers", type=int, default=64, help="distinct answers (8 sentences each)")
    p.add_argument("--home", help="VERACITY home holding indexes/ (default: the project)")
    p.add_argument("--url", help="use this running server instead of spawning one (RSS then unknown)")
    p.add_argument("--api-key", help="X-API-Key for --url")
    p.add_argument(
        "--request-timeout", type=float, default=20.0, help="VERACITY_REQUEST_TIMEOUT_S of the server"
    )
    p.add_argument("--verify-concurrency", type=int, help="VERACITY_VERIFY_CONCURRENCY of the server")
    p.add_argument("--ready-timeout", type=float, default=600.0)
    p.add_argument("--server-log", help="write the server's JSON log here")
    p.add_argument("--json", help="write the results here (default bench/out/load-CORPUS.json)")
    args = p.parse_args()

    home = Path(args.home) if args.home else ROOT
    answers = build_answers(corpus_sentences(home, args.corpus), args.answers)
    proc = None
    if args.url:
        url = args.url.rstrip("/")
    else:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(args, port)
    try:
        startup = wait_ready(url, proc, args.ready_timeout)
        pid = proc.pid if proc else None
        print(
            f"server {url} ready in {startup:.1f} s; corpus {args.corpus}; RSS {rss_mb(pid)[0] if pid else 0:.0f} MB",
            flush=True,
        )
        if args.warmup > 0:
            run_level(url, args.corpus, answers, 2, args.warmup, pid, args.api_key)
        levels = []
        print(
            f"{'clients':>7} {'req':>6} {'req/s':>7} {'sent/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
            f"{'errors':>6} {'unchecked':>9} {'RSS MB':>7}",
            flush=True,
        )
        for c in [int(x) for x in args.clients.split(",") if x.strip()]:
            r = run_level(url, args.corpus, answers, c, args.duration, pid, args.api_key)
            levels.append(r)
            print(
                f"{r['clients']:>7} {r['requests']:>6} {r['rps']:>7} {r['sentences_per_s']:>7} {r['p50_ms']:>8} "
                f"{r['p95_ms']:>8} {r['p99_ms']:>8} {r['errors']:>6} {r['unchecked_share']:>9.1%} "
                f"{r['rss_mb']:>7}",
                flush=True,
            )
        peak = rss_mb(pid)[1] if pid else None
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    at4 = next((r for r in levels if r["clients"] == 4), None)
    goals = {
        "no_errors": all(r["errors"] == 0 for r in levels),
        "p95_at_4_clients_le_1s": (at4["p95_ms"] <= 1000) if at4 else None,
        "rss_le_1_5_gb": (peak <= 1536) if peak else None,
    }
    out = {
        "corpus": args.corpus,
        "duration_s": args.duration,
        "answers": len(answers),
        "sentences_per_answer": 8,
        "startup_s": round(startup, 1),
        "peak_rss_mb": round(peak, 1) if peak else None,
        "cpus": os.cpu_count(),
        "load_avg_at_end": os.getloadavg(),
        "levels": levels,
        "goals": goals,
    }
    print(f"peak server RSS: {peak:.0f} MB" if peak else "peak server RSS: unknown (--url)")
    print(
        "goals: "
        + ", ".join(f"{k} {'PASS' if v else ('n/a' if v is None else 'FAIL')}" for k, v in goals.items())
    )
    print(f"wrote {save_json(f'load-{args.corpus}', out, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
