"""Start-up from the shell and raw embedding speed, ONNX (the default `minilm`) against torch
(`minilm-torch`, i.e. sentence-transformers), measured in the same run (issue 15).

1. Wall time of `veracity search sample "..."`, `veracity verify sample --answer "..."` and
   `veracity serve` until /readyz answers 200 (uvicorn listens only once the models and the sample
   index are loaded, so /healthz answers at the same moment), each a fresh process from the shell;
   the backends alternate, median of --rounds (>= 3). The sample corpus is indexed once into a
   temporary home; the torch runs read the same index through a copy of corpora/ whose sample.toml
   says `embedder = "minilm-torch"` (same model id). --baseline DIR adds a third column: the same
   commands with PYTHONPATH=DIR (e.g. a checkout of main: today's code). Beside each wall time, the
   CPU seconds the process used (user + system): on a busy shared machine the wall time stretches
   with the load, the CPU time much less; on an idle one start-up's wall time is close to it.
2. Raw `encode` chunks/s of the two backends on the same chunks of CUAD contracts
   (full_contract_txt, the project's 900/120 chunking), batches of Settings.embed_batch_size,
   alternating, median of --rounds.

    nice .venv/bin/python bench/bench_startup.py [--rounds 3] [--chunks 256] [--baseline /work/main]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SHARED, log, machine, save_json, stamp, table  # noqa: E402

QUERY = "termination for convenience notice period"
ANSWER = (
    "Either party may terminate the agreement for convenience with thirty days notice. "
    "The maximum daily dose of Zentravil is 40 mg."
)
CUAD_TXT = SHARED / "contracts" / "cuad" / "full_contract_txt"


def veracity(pythonpath: Path) -> tuple[list[str], dict[str, str]]:
    """The `veracity` command as a user runs it, importing the package from `pythonpath`."""
    script = Path(sys.executable).parent / "veracity"
    head = [str(script)] if script.exists() else [sys.executable, "-m", "pipeline.cli"]
    env = dict(os.environ, PYTHONPATH=str(pythonpath), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("VERACITY_HOME", None)
    return head, env


def corpora_for(embedder: str, into: Path) -> Path:
    """A copy of corpora/ (sample only) whose sample.toml names `embedder`."""
    src = ROOT / "corpora"
    shutil.copytree(src / "sample", into / "sample")
    (into / "sample.toml").write_text(
        f'embedder = "{embedder}"\n' + (src / "sample.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return into


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of `cmd`."""
    cpu, t = children_cpu(), time.perf_counter()
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{run.stderr[-2000:]}")
    return wall, children_cpu() - cpu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_ready(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds from starting `veracity serve` to /readyz answering 200, CPU seconds of the
    server, stopped right after)."""
    port = free_port()
    cpu, t = children_cpu(), time.perf_counter()
    ready = None
    proc = subprocess.Popen(
        [*cmd, "--port", str(port), "--no-auth"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        while time.perf_counter() - t < 300:
            if proc.poll() is not None:
                raise SystemExit(f"serve exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                    if r.status == 200:
                        ready = time.perf_counter() - t
                        break
            except OSError:
                time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    if ready is None:
        raise SystemExit("serve not ready within 300 s")
    return ready, children_cpu() - cpu


def startup(args, home: Path, variants: dict[str, tuple[Path, Path]]) -> dict:
    """variants: name -> (PYTHONPATH, corpora dir). Returns {command: {variant: [(wall, cpu)...]}}."""
    times: dict[str, dict[str, list[tuple[float, float]]]] = {"search": {}, "verify": {}, "serve": {}}
    for r in range(args.rounds):
        for name, (pythonpath, corpora) in variants.items():
            head, env = veracity(pythonpath)
            env["VERACITY_CORPORA_DIR"] = str(corpora)
            base = [*head, "--home", str(home)]
            runs = {
                "search": lambda b=base, e=env: timed([*b, "search", "sample", QUERY], e),
                "verify": lambda b=base, e=env: timed([*b, "verify", "sample", "--answer", ANSWER], e),
                "serve": lambda b=base, e=env: serve_ready([*b, "serve", "--corpus", "sample"], e),
            }
            for command, run in runs.items():
                times[command].setdefault(name, []).append(run())
            log(
                f"round {r + 1}: {name}: "
                + ", ".join(
                    f"{c} {times[c][name][-1][0]:.2f}s (cpu {times[c][name][-1][1]:.2f}s)" for c in times
                )
            )
    return times


def cuad_chunks(n: int) -> list[str]:
    from pipeline.ingest import SourceFile, load_file
    from pipeline.ingest.chunk import ChunkSettings, chunk_document

    chunks: list[str] = []
    for path in sorted(CUAD_TXT.glob("*.txt")):
        for doc in load_file(SourceFile(path, path.name), "contracts"):
            chunks += [c.text for c in chunk_document(doc, ChunkSettings())]
        if len(chunks) >= n:
            return chunks[:n]
    return chunks


def encode_speed(args) -> dict:
    from pipeline.models.embedders import get_embedder
    from pipeline.settings import Settings

    chunks = cuad_chunks(args.chunks)
    batch = Settings().embed_batch_size
    embedders = {name: get_embedder(name) for name in ("minilm", "minilm-torch")}
    for e in embedders.values():
        e.encode(chunks[:batch], batch_size=batch)  # warm-up
    rates: dict[str, list[float]] = {name: [] for name in embedders}
    for r in range(args.rounds):
        for name, e in embedders.items():
            t = time.perf_counter()
            e.encode(chunks, batch_size=batch)
            rates[name].append(len(chunks) / (time.perf_counter() - t))
        log(f"encode round {r + 1}: " + ", ".join(f"{n} {v[-1]:.1f}/s" for n, v in rates.items()))
    return {
        "chunks": len(chunks),
        "mean_chars": statistics.mean(len(c) for c in chunks),
        "batch_size": batch,
        "chunks_per_s": rates,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunks", type=int, default=256)
    ap.add_argument("--baseline", type=Path, help="also run the commands with PYTHONPATH=this checkout")
    ap.add_argument("--skip-encode", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.rounds < 3:
        raise SystemExit("--rounds must be at least 3 (medians)")
    results: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        home = tmp / "home"
        head, env = veracity(ROOT)
        timed([*head, "--home", str(home), "index", "sample"], env)  # with the default embedder
        variants = {
            "onnx (minilm)": (ROOT, ROOT / "corpora"),
            "torch (minilm-torch)": (ROOT, corpora_for("minilm-torch", tmp / "corpora_torch")),
        }
        if args.baseline:
            variants[f"baseline {args.baseline}"] = (
                args.baseline.resolve(),
                args.baseline.resolve() / "corpora",
            )
        times = startup(args, home, variants)
    results["startup_s"] = times
    names = list(variants)
    rows = []
    for command, by in times.items():
        wall = {n: statistics.median(w for w, _ in by[n]) for n in names}
        cpu = {n: statistics.median(c for _, c in by[n]) for n in names}
        rows.append(
            [
                command,
                *(f"{wall[n]:.2f} ({cpu[n]:.2f})" for n in names),
                *(f"{wall[n] / wall[names[0]]:.1f}x" for n in names[1:]),
            ]
        )
    print(
        f"start-up from the shell: wall seconds (CPU seconds), median of {args.rounds}, alternating; "
        f"load average {results['machine'].get('loadavg_1m')} at start"
    )
    print(table(rows, ["command", *names, *(f"{n} / onnx (wall)" for n in names[1:])]))
    if not args.skip_encode:
        enc = encode_speed(args)
        results["encode"] = enc
        med = {n: statistics.median(v) for n, v in enc["chunks_per_s"].items()}
        print(
            f"\nraw encode, {enc['chunks']} CUAD chunks (mean {enc['mean_chars']:.0f} chars), batches of "
            f"{enc['batch_size']}, median of {args.rounds}: "
            + ", ".join(f"{n} {v:.1f} chunks/s" for n, v in med.items())
            + f"; onnx / torch {med['minilm'] / med['minilm-torch']:.2f}x"
        )
    results["machine_end"] = machine()
    path = save_json(
        "startup", results, args.json or str(Path(__file__).parent / "out" / f"startup-{stamp()}.json")
    )
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
