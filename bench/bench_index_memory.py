"""Where the indexer's memory goes once a corpus is embedded (issue 15: memory flat with corpus size).

Usage: .venv/bin/python bench/bench_index_memory.py --home HOME --corpus NAME

Loads the live version's documents, chunks and vectors, as the indexer holds them for a new version
until it is written, then writes them again as a new version into a temporary folder (SQLite rows,
vectors, FAISS, BM25), and prints RSS after each step and the peak: the part of the indexer's peak
that grows with the corpus, without re-embedding it.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.settings import Settings  # noqa: E402
from pipeline.store.index_files import corpus_dir, current_version, load_previous, write_version  # noqa: E402


def rss_mb() -> int:
    with open("/proc/self/status") as fh:
        return int(fh.read().split("VmRSS:")[1].split()[0]) // 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", required=True)
    ap.add_argument("--corpus", required=True)
    args = ap.parse_args(argv)
    settings = Settings(home=Path(args.home))
    vdir = current_version(corpus_dir(settings.indexes_dir, args.corpus))
    if vdir is None:
        raise SystemExit(f"no {args.corpus} index under {settings.indexes_dir}")
    start = rss_mb()
    manifest, docs, chunks, vectors = load_previous(vdir)
    vectors = vectors.copy()  # held in memory, as the indexer holds fresh vectors
    flat = [c for cs in chunks.values() for c in cs]
    held = rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        write_version(
            Path(tmp),
            manifest,
            list(docs.values()),
            flat,
            vectors,
            settings.approx_threshold,
            settings.hnsw_m,
            settings.hnsw_ef_construction,
            settings.hnsw_ef_search,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"{args.corpus}: {len(docs)} documents, {len(flat)} chunks")
    print(f"RSS at start {start} MB; the new version held (documents, chunks, vectors) +{held - start} MB")
    print(f"writing it (SQLite, vectors, FAISS, BM25): peak +{peak - held} MB over that; peak {peak} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
