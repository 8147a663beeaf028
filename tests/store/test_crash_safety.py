"""Crash safety of the index store: a killed or failing writer leaves the previous index version
in use, its lock free, and the next run finishes the job."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import faiss
import pytest
from helpers import DELTA

from pipeline.ingest.chunk import ChunkSettings
from pipeline.retrieval.hybrid import Retriever
from pipeline.settings import Settings
from pipeline.store.builder import index_corpus
from pipeline.store.index_files import CURRENT, CorpusIndex


def tmp_dirs(settings: Settings, name: str) -> list[Path]:
    return sorted((settings.indexes_dir / name).glob(".tmp-v-*"))


def version_dirs(settings: Settings, name: str) -> list[str]:
    return sorted(p.name for p in (settings.indexes_dir / name).glob("v-*"))


def _assert_old_index_intact(settings: Settings, name: str, old: CorpusIndex, embedder) -> None:
    idx = CorpusIndex.load(
        settings.indexes_dir, name, expect_model=embedder.id, expect_chunking=ChunkSettings().to_dict()
    )
    assert idx.manifest.version == old.manifest.version
    assert idx.manifest.documents == old.manifest.documents
    assert idx.manifest.n_chunks == old.manifest.n_chunks == idx.faiss.ntotal
    assert version_dirs(settings, name) == [old.manifest.version]
    hits = Retriever(idx, embedder).search("monthly rent for the third floor of 12 Harbour Street", k=2)
    assert hits[0].chunk.doc_id == "gamma.md"
    # the dead writer's lock is gone: another writer can take it at once
    with open(settings.indexes_dir / name / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fh, fcntl.LOCK_UN)


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its parsing worker, like `kill -9`
    proc.wait(timeout=60)


@pytest.mark.timeout(600)
def test_kill_9_while_indexing_keeps_previous_index(tmp_path, shared, embedder, cli, indexed_texts):
    src, settings, _config, _ = indexed_texts()
    old = CorpusIndex.load(settings.indexes_dir, "crash")
    pdfs = sorted(p for p in (shared / "contracts/cuad/full_contract_pdf").rglob("*") if p.is_file())[::12][
        :40
    ]
    (src / "cuad").mkdir()
    for p in pdfs:
        shutil.copy(p, src / "cuad" / p.name)
    total = len(pdfs)  # the base texts are unchanged, so only the new PDFs are parsed
    log = tmp_path / "index.stderr"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            cli.argv("--home", settings.home, "index", "crash", src),
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=cli.env(settings.corpora_dir),
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 420
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            found = re.findall(rf"(\d+)/{total}\b", log.read_text(errors="replace"))
            done = max([int(n) for n in found] or [0])
            if done >= 3:  # well under way: files parsed, chunks being embedded
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"indexer ended before it could be killed:\n{log.read_text()[-2000:]}"
        assert done >= 3, "indexer made no progress in time"
    finally:
        _kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    _assert_old_index_intact(settings, "crash", old, embedder)


SLOW_DISK = """
import sys, time
import pipeline.store.index_files as ix
_fsync_tree = ix._fsync_tree
def slow_fsync(root):
    print("writing", root, flush=True)
    time.sleep(600)
    _fsync_tree(root)
ix._fsync_tree = slow_fsync
from pipeline.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.timeout(600)
def test_kill_9_in_the_middle_of_writing_keeps_previous_index(embedder, cli, indexed_texts):
    src, settings, config, _ = indexed_texts()
    old = CorpusIndex.load(settings.indexes_dir, "crash")
    (src / "delta.txt").write_text(DELTA, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_DISK, "--home", str(settings.home), "index", "crash"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env(settings.corpora_dir),
        start_new_session=True,
    )
    try:
        line = proc.stdout.readline()  # the new version is written, not yet synced or switched to
        assert line.startswith("writing"), proc.stderr.read()[-2000:]
    finally:
        _kill_group(proc)
    leftovers = tmp_dirs(settings, "crash")
    assert len(leftovers) == 1 and (leftovers[0] / "manifest.json").exists()
    _assert_old_index_intact(settings, "crash", old, embedder)

    # the next run finishes the job and clears the dead writer's temporary directory
    report = index_corpus(config, settings, embedder=embedder)
    assert report.added == ["delta.txt"] and report.embedded_chunks == 1
    assert tmp_dirs(settings, "crash") == []
    assert CorpusIndex.load(settings.indexes_dir, "crash").manifest.n_documents == 4


def test_failed_write_keeps_current_version(embedder, monkeypatch, indexed_texts):
    src, settings, config, _ = indexed_texts()
    old = CorpusIndex.load(settings.indexes_dir, "crash")
    pointer = (settings.indexes_dir / "crash" / CURRENT).read_text()
    (src / "delta.txt").write_text(DELTA, encoding="utf-8")

    def disk_full(*_args, **_kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(faiss, "write_index", disk_full)
    with pytest.raises(OSError, match="No space left"):
        index_corpus(config, settings, embedder=embedder)
    monkeypatch.undo()
    assert (settings.indexes_dir / "crash" / CURRENT).read_text() == pointer
    assert tmp_dirs(settings, "crash") == []
    _assert_old_index_intact(settings, "crash", old, embedder)

    report = index_corpus(config, settings, embedder=embedder)  # once the disk is fine again
    assert report.added == ["delta.txt"] and report.unchanged == 3
