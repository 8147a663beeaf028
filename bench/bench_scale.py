"""Past one machine (issue 19): the audit on Ray beside the local --workers path, and what Ray adds per turn.

Usage:
  nice .venv/bin/python bench/bench_scale.py [--part ray|pg] [--corpus sample] [--home DIR]
      [--conversations 60] [--workers 1,2] [--repeats 3] [--seed 7] [--json PATH]

--part ray: the real `veracity audit` command (a subprocess with its own store; bench_audit.run_cli)
over the same transcripts (bench_audit's generator: real sentences of the corpus, a third of the
turns perturbed), locally with --workers N and with `--ray --workers N` (the command starts a local
Ray: no dashboard, one CPU per worker), for each N of --workers. One round runs every configuration
once, the local and Ray runs of each N back to back; --repeats rounds; figures are medians over the
rounds. Per configuration:
  steady turns/min   turns stored after the first batch / time from the first batch to the last
                     (a batch = turns stored within 20 ms: a Ray shard arrives as one)
  wall turns/min     turns / process wall time (Ray start, engine loading and the report included)
  start-up s         process start to the first stored turn
  verify ms          mean time inside the engine per turn (Engine.verify, wherever it runs)
  outside ms         per worker, the wall time per turn not spent in the engine: workers * 60000 /
                     steady rate - verify ms (reading, dispatch, transfer, the store)
Ray's per-turn overhead at N workers, within each round (the Ray and local runs back to back), median
over the rounds: wall = N * (60000 / Ray's steady rate - 60000 / the local steady rate), the extra
milliseconds a worker spends per turn; outside = Ray's outside ms - the local outside ms, the same
with the engine's own time taken out (the engine may run at another speed in a Ray worker process).
With one worker the local path verifies in the command's own process; with more it uses a pool of
processes, so at N >= 2 both sides pay for moving turns between processes.

--part pg: bench_store.py (its own docstring says how) in a subprocess with --rounds REPEATS: /v1/verify
latency, audit-store writes and the review queue on a throwaway PostgreSQL against SQLite, one run.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_audit import load_sentences, run_cli, stored_time, write_jsonl  # noqa: E402
from common import ROOT, machine, save_json, table  # noqa: E402

BATCH_GAP_S = 0.02  # turns stored closer than this arrived together


def stored_figures(db: Path, run_id: str) -> dict:
    """Steady turns/min over batches after the first, and the mean engine time per turn."""
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT verified_at, verify_ms FROM turns WHERE run_id = ? AND status = 'done' ORDER BY verified_at",
        (run_id,),
    ).fetchall()
    conn.close()
    times = [stored_time(r[0]) for r in rows]
    first_batch = next((i for i in range(1, len(times)) if times[i] - times[i - 1] > BATCH_GAP_S), len(times))
    span = times[-1] - times[first_batch - 1] if times else 0.0
    return {
        "steady_turns_per_min": round(60 * (len(times) - first_batch) / span, 1) if span > 0 else None,
        "verify_ms": round(statistics.fmean(r[1] for r in rows), 1) if rows else None,
    }


def part_ray(args: argparse.Namespace, transcript: Path, work: Path) -> dict:
    home = Path(args.home)
    workers = [int(x) for x in args.workers.split(",") if x]
    runs: dict[str, list[dict]] = {}
    overhead: dict[int, dict[str, list[float]]] = {w: {"wall": [], "outside": []} for w in workers}
    for rnd in range(args.repeats):
        for w in workers:
            pair = {}
            for path, extra in (("local", ()), ("ray", ("--ray",))):
                name = f"{path}-w{w}"
                run_id = f"{name}-r{rnd}"
                r = run_cli(home, args.corpus, transcript, w, work, run_id, extra)
                r |= stored_figures(work / f"{run_id}.sqlite", run_id)
                r["ms_per_turn_per_worker"] = round(w * 60000 / r["steady_turns_per_min"], 1)
                r["outside_ms"] = round(r["ms_per_turn_per_worker"] - r["verify_ms"], 1)
                runs.setdefault(name, []).append(r)
                pair[path] = r
                print(
                    f"round {rnd + 1} {name}: {r['turns']} turns, steady {r['steady_turns_per_min']} turns/min, "
                    f"wall {r['wall_turns_per_min']} turns/min, start-up {r['startup_s']} s, verify "
                    f"{r['verify_ms']} ms, outside {r['outside_ms']} ms, peak RSS {r['peak_rss_tree_mb']} MB",
                    flush=True,
                )
            for kind, key in (("wall", "ms_per_turn_per_worker"), ("outside", "outside_ms")):
                overhead[w][kind].append(pair["ray"][key] - pair["local"][key])

    def med(name: str, key: str) -> float | None:
        xs = [r[key] for r in runs[name] if r[key] is not None]
        return round(statistics.median(xs), 1) if xs else None

    keys = (
        "steady_turns_per_min",
        "wall_turns_per_min",
        "startup_s",
        "verify_ms",
        "outside_ms",
        "peak_rss_tree_mb",
    )
    summary = {name: {k: med(name, k) for k in keys} for name in runs}
    ray_overhead = {
        w: {k: round(statistics.median(xs), 1) for k, xs in o.items()} for w, o in overhead.items()
    }
    rows = [[name, *summary[name].values()] for name in runs]
    print(
        "\nmedians over "
        f"{args.repeats} rounds:\n"
        + table(
            rows,
            ["configuration", "steady/min", "wall/min", "start-up s", "verify ms", "outside ms", "RSS MB"],
        )
    )
    for w, o in ray_overhead.items():
        print(
            f"Ray overhead at {w} worker(s), ms per turn per worker (median of {args.repeats} rounds): "
            f"wall {o['wall']:+.1f}, outside the engine {o['outside']:+.1f}"
        )
    return {"runs": runs, "summary": summary, "ray_overhead_ms_per_turn": ray_overhead}


# Each part measures one side of issue 19; the PostgreSQL helper adds "pg" here.
def part_pg(args: argparse.Namespace, _transcript: Path, _work: Path) -> dict:
    """The stores on PostgreSQL against SQLite: bench_store.py's figures, as it prints them."""
    import subprocess

    cmd = [sys.executable, str(ROOT / "bench" / "bench_store.py"), "--rounds", str(args.repeats)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    print(done.stdout, end="", flush=True)
    return {"pg": done.stdout}


PARTS: dict[str, Callable[[argparse.Namespace, Path, Path], dict]] = {"ray": part_ray, "pg": part_pg}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=sorted(PARTS), default="ray")
    ap.add_argument("--corpus", default="sample")
    ap.add_argument("--home", default=str(ROOT), help="directory holding indexes/ (default: the project)")
    ap.add_argument("--conversations", type=int, default=60)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", help="write the results here (default: bench/out/scale-STAMP.json)")
    args = ap.parse_args()
    docs = load_sentences(Path(args.home), args.corpus)
    results: dict = {"part": args.part, "corpus": args.corpus, "machine": machine(), "args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        work = Path(tmp)
        transcript = work / "conversations.jsonl"
        turns = write_jsonl(transcript, docs, args.conversations, args.corpus, args.seed)
        print(
            f"corpus {args.corpus}: {args.conversations} conversations, {turns} assistant turns", flush=True
        )
        results["turns"] = turns
        results |= PARTS[args.part](args, transcript, work)
    results["load_avg_end"] = os.getloadavg()
    print(f"results: {save_json('scale', results, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
