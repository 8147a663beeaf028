"""A corpus index on disk: FAISS vectors + SQLite metadata + BM25 + a manifest, in versioned
directories switched atomically, so a crash mid-write leaves the last good index loadable.

indexes/NAME/CURRENT          name of the live version directory (replaced with os.replace)
indexes/NAME/v-*/manifest.json model, dimension, chunking, per-document hashes and counts
indexes/NAME/v-*/meta.sqlite   documents (text, pages, sections) and chunks keyed by FAISS id
indexes/NAME/v-*/vectors.npy   normalised embeddings, row i = FAISS id i
indexes/NAME/v-*/faiss.index   flat inner product, or HNSW above the size threshold
indexes/NAME/v-*/bm25/         lexical index over the same chunks
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import faiss
import numpy as np

from pipeline.files import atomic_write, fsync_dir
from pipeline.ingest.chunk import ChunkSettings
from pipeline.schema import Chunk, Document, Place, Span, VeracityError
from pipeline.text import bm25_tokens

# An exact (flat) search of an answer's few queries as one BLAS product rather than FAISS's
# query-by-query scan below 20 queries: half the time on the 42,000-chunk CUAD index
# (bench/bench_verify_speed.py); the same top hits up to float rounding of near-ties.
faiss.cvar.distance_compute_blas_threshold = 1

FORMAT = 1
CURRENT = "CURRENT"


class IndexUnavailable(VeracityError):
    """Missing, unreadable or incompatible index; the message says how to fix it."""


class IndexMismatch(IndexUnavailable):
    pass


@dataclass
class Manifest:
    corpus: str
    model: str
    dim: int
    chunking: dict
    index_type: str
    documents: dict[str, dict] = field(default_factory=dict)  # doc_id -> sha256, title, domain, chunks
    sources: list[dict] = field(default_factory=list)  # how it was built, for a re-run without paths
    failures: list[dict] = field(default_factory=list)
    created: str = ""
    version: str = ""
    format: int = FORMAT

    @property
    def n_documents(self) -> int:
        return len(self.documents)

    @property
    def n_chunks(self) -> int:
        return sum(d["chunks"] for d in self.documents.values())


def corpus_dir(indexes_dir: Path, name: str) -> Path:
    return indexes_dir / name


def current_version(cdir: Path) -> Path | None:
    try:
        name = (cdir / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    vdir = cdir / name
    return vdir if (vdir / "manifest.json").exists() else None


def read_manifest(vdir: Path) -> Manifest:
    raw = json.loads((vdir / "manifest.json").read_text())
    return Manifest(**raw)


@contextmanager
def writer_lock(cdir: Path):
    """One writer per corpus at a time (another process waits)."""
    cdir.mkdir(parents=True, exist_ok=True)
    with open(cdir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class CorpusIndex:
    """Read side of one index version. Safe to share between threads."""

    def __init__(self, vdir: Path, manifest: Manifest) -> None:
        self.vdir = vdir
        self.manifest = manifest
        self.name = manifest.corpus
        self.vectors = np.load(vdir / "vectors.npy", mmap_mode="r")
        self.faiss = faiss.read_index(str(vdir / "faiss.index"))
        if manifest.index_type == "hnsw":
            self.faiss.hnsw.efSearch = int(manifest.chunking.get("_ef_search", 96))
        self._db_path = vdir / "meta.sqlite"
        self._local_conns: dict[int, sqlite3.Connection] = {}
        self._maps: dict[str, Document] = {}  # doc_id -> its page and section maps, no text

    @classmethod
    def load(
        cls,
        indexes_dir: Path,
        name: str,
        expect_model: str | None = None,
        expect_chunking: dict | None = None,
    ) -> CorpusIndex:
        """The live version of corpus NAME; refuses one built with another model or chunking."""
        vdir = current_version(corpus_dir(indexes_dir, name))
        if vdir is None:
            raise IndexUnavailable(
                f"corpus {name!r} has no index under {indexes_dir}; build it with "
                f"`veracity index {name} [PATH ...]`"
            )
        manifest = read_manifest(vdir)
        rebuild = f"rebuild it with `veracity index {name} --rebuild`"
        if manifest.format != FORMAT:
            raise IndexMismatch(f"index {name!r} has format {manifest.format}, expected {FORMAT}; {rebuild}")
        if expect_model and manifest.model != expect_model:
            raise IndexMismatch(
                f"index {name!r} was built with model {manifest.model}, "
                f"this installation uses {expect_model}; {rebuild}"
            )
        if expect_chunking is not None and _public(manifest.chunking) != _public(expect_chunking):
            raise IndexMismatch(
                f"index {name!r} was built with chunking {_public(manifest.chunking)}, "
                f"the corpus definition says {_public(expect_chunking)}; {rebuild}"
            )
        return cls(vdir, manifest)

    # --- metadata -----------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        import threading

        key = threading.get_ident()
        conn = self._local_conns.get(key)
        if conn is None:
            conn = sqlite3.connect(f"file:{self._db_path}?mode=ro", uri=True, check_same_thread=False)
            self._local_conns[key] = conn
        return conn

    def chunks(self, ids: Sequence[int]) -> list[Chunk]:
        if not len(ids):
            return []
        ids = [int(i) for i in ids]
        rows = {}
        for i in range(0, len(ids), 900):
            part = ids[i : i + 900]
            q = f"{_CHUNK_SELECT} WHERE id IN ({','.join('?' * len(part))})"
            for r in self._conn().execute(q, part):
                rows[r[0]] = _chunk_from_row(r)
        return [rows[i] for i in ids if i in rows]

    def all_chunk_texts(self) -> list[str]:
        return [r[0] for r in self._conn().execute("SELECT text FROM chunks ORDER BY id")]

    def chunk_ids_for(
        self, doc_ids: Iterable[str] | None = None, domains: Iterable[str] | None = None
    ) -> np.ndarray:
        """FAISS ids of the chunks of the given documents and/or domains."""
        clauses, args = [], []
        if doc_ids is not None:
            doc_ids = list(doc_ids)
            clauses.append(f"c.doc_id IN ({','.join('?' * len(doc_ids))})")
            args += doc_ids
        if domains is not None:
            domains = list(domains)
            clauses.append(f"d.domain IN ({','.join('?' * len(domains))})")
            args += domains
        where = " AND ".join(clauses) or "1"
        q = f"SELECT c.id FROM chunks c JOIN documents d ON d.doc_id = c.doc_id WHERE {where} ORDER BY c.id"
        return np.array([r[0] for r in self._conn().execute(q, args)], dtype=np.int64)

    def document(self, doc_id: str) -> Document | None:
        r = self._conn().execute(f"{_DOCUMENT_SELECT} WHERE doc_id = ?", (doc_id,)).fetchone()
        return None if r is None else _document_from_row(r)

    def opening(self, doc_id: str, chars: int) -> str:
        """The first `chars` characters of a document's text ("" for an unknown document), read
        without loading the rest."""
        r = (
            self._conn()
            .execute("SELECT substr(text, 1, ?) FROM documents WHERE doc_id = ?", (chars, doc_id))
            .fetchone()
        )
        return r[0] if r else ""

    def place_of(self, doc_id: str, start: int, end: int) -> Place:
        """Page and section of [start, end) from the document's page and section maps."""
        maps = self._maps.get(doc_id)
        if maps is None:
            row = (
                self._conn()
                .execute("SELECT pages, sections FROM documents WHERE doc_id = ?", (doc_id,))
                .fetchone()
            )
            pages, sections = (_spans(row[0]), _spans(row[1])) if row else ([], [])
            maps = Document(doc_id, "", "", "", "", "", pages=pages, sections=sections)
            self._maps[doc_id] = maps
        return maps.place(start, end)

    @cached_property
    def titles(self) -> dict[str, str]:
        return {k: v["title"] for k, v in self.manifest.documents.items()}

    # --- search -------------------------------------------------------------------------------
    def search_vectors(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[list[tuple[int, float]]]:
        """Per query, (chunk id, cosine) best first. With `allowed`, exact search over those chunks
        only. One call for all queries: a flat index is read from memory once, not once per query."""
        q = np.asarray(queries, dtype=np.float32).reshape(len(queries), -1)
        if allowed is not None:
            if not len(allowed):
                return [[] for _ in q]
            sims = np.asarray(self.vectors[allowed] @ q.T).T
            return [[(int(allowed[i]), float(row[i])) for i in np.argsort(-row)[:k]] for row in sims]
        if self.faiss.ntotal == 0:
            return [[] for _ in q]
        scores, ids = self.faiss.search(q, min(k, self.faiss.ntotal))
        return [
            [(int(i), float(s)) for i, s in zip(id_row, score_row, strict=True) if i >= 0]
            for id_row, score_row in zip(ids, scores, strict=True)
        ]

    @cached_property
    def bm25(self):
        import bm25s

        return bm25s.BM25.load(str(self.vdir / "bm25"), load_corpus=False, mmap=False)


def _public(chunking: dict) -> dict:
    return {k: v for k, v in chunking.items() if not k.startswith("_")}


# --- write side ----------------------------------------------------------------------------------


def build_faiss(vectors: np.ndarray, threshold: int, m: int, ef_construction: int) -> tuple[faiss.Index, str]:
    """Exact flat inner product up to `threshold` vectors; HNSW (inner product) above it."""
    dim = vectors.shape[1]
    if len(vectors) <= threshold:
        index = faiss.IndexFlatIP(dim)
        kind = "flat"
    else:
        index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        kind = "hnsw"
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index, kind


def write_version(
    cdir: Path,
    manifest: Manifest,
    documents: list[Document],
    chunks: list[Chunk],
    vectors: np.ndarray,
    threshold: int,
    hnsw_m: int,
    hnsw_ef_construction: int,
    hnsw_ef_search: int,
    keep: int = 2,
) -> Path:
    """Write a complete new version beside the live one, then switch CURRENT to it atomically."""
    import bm25s

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    vdir = cdir / f"v-{stamp}-{os.getpid()}"
    tmp = cdir / f".tmp-{vdir.name}"
    tmp.mkdir(parents=True)
    try:
        _write_sqlite(tmp / "meta.sqlite", documents, chunks)
        np.save(tmp / "vectors.npy", vectors.astype(np.float32, copy=False))
        index, kind = build_faiss(vectors, threshold, hnsw_m, hnsw_ef_construction)
        faiss.write_index(index, str(tmp / "faiss.index"))
        retriever = bm25s.BM25()
        retriever.index(bm25_corpus(c.text for c in chunks), show_progress=False)
        retriever.save(str(tmp / "bm25"))
        manifest.index_type = kind
        manifest.chunking = manifest.chunking | {"_ef_search": hnsw_ef_search}
        manifest.created = datetime.now(UTC).isoformat(timespec="seconds")
        manifest.version = vdir.name
        (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=1))
        _fsync_tree(tmp)
        os.rename(tmp, vdir)
        atomic_write(cdir / CURRENT, lambda fh: fh.write(vdir.name))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(cdir, vdir.name, keep)
    return vdir


def bm25_corpus(texts: Iterable[str]) -> tuple[list[list[int]], dict[str, int]]:
    """Token ids per text and their vocabulary, built text by text: the ids share the vocabulary's
    int objects, so memory grows by a pointer per token rather than by a string per token (the
    largest part of the indexer's peak on big corpora). An empty text gets the empty-set token."""
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in bm25_tokens(text) or ["\u2205"]] for text in texts]
    return ids or [[vocab.setdefault("\u2205", 0)]], vocab


def _write_sqlite(path: Path, documents: list[Document], chunks: list[Chunk]) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.executescript(
            """
            CREATE TABLE documents (doc_id TEXT PRIMARY KEY, title TEXT, domain TEXT, source TEXT,
                                    sha256 TEXT, text TEXT, pages TEXT, sections TEXT);
            CREATE TABLE chunks (id INTEGER PRIMARY KEY, doc_id TEXT, start INTEGER, end INTEGER,
                                 text TEXT, pages TEXT, section TEXT);
            CREATE INDEX chunks_doc ON chunks(doc_id);
            """
        )
        conn.executemany(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    d.doc_id,
                    d.title,
                    d.domain,
                    d.source,
                    d.sha256,
                    d.text,
                    json.dumps([asdict(s) for s in d.pages]),
                    json.dumps([asdict(s) for s in d.sections]),
                )
                for d in documents
            ],
        )
        conn.executemany(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?)",
            [(c.id, c.doc_id, c.start, c.end, c.text, json.dumps(c.pages), c.section) for c in chunks],
        )
        conn.commit()
    finally:
        conn.close()


def _fsync_tree(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            fd = os.open(os.path.join(dirpath, f), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def _prune(cdir: Path, live: str, keep: int) -> None:
    """Drop old versions (readers that still hold one keep their open files) and stale temp dirs."""
    versions = sorted((p for p in cdir.glob("v-*") if p.is_dir() and p.name != live), key=lambda p: p.name)
    for old in versions[: max(0, len(versions) - (keep - 1))]:
        shutil.rmtree(old, ignore_errors=True)
    for tmp in cdir.glob(".tmp-v-*"):
        try:
            stale = _writer_gone(tmp) or time.time() - tmp.stat().st_mtime > 3600
        except FileNotFoundError:
            continue
        if stale:
            shutil.rmtree(tmp, ignore_errors=True)


def _writer_gone(tmp: Path) -> bool:
    """The process that was writing `.tmp-v-STAMP-PID` has died (killed mid-write): its half-written
    version will never be switched to. A live or unknown writer's directory is left alone."""
    try:
        pid = int(tmp.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def load_previous(
    vdir: Path | None,
) -> tuple[Manifest | None, dict[str, Document], dict[str, list[Chunk]], np.ndarray | None]:
    """Everything of the live version needed to reuse unchanged documents without re-embedding."""
    if vdir is None:
        return None, {}, {}, None
    manifest = read_manifest(vdir)
    idx = CorpusIndex(vdir, manifest)
    conn = idx._conn()
    docs = {r[0]: _document_from_row(r) for r in conn.execute(_DOCUMENT_SELECT)}
    chunks: dict[str, list[Chunk]] = {}
    for r in conn.execute(f"{_CHUNK_SELECT} ORDER BY id"):
        chunks.setdefault(r[1], []).append(_chunk_from_row(r))
    conn.close()
    return manifest, docs, chunks, np.asarray(idx.vectors)


_DOCUMENT_SELECT = "SELECT doc_id, title, domain, source, sha256, text, pages, sections FROM documents"


def _document_from_row(r: tuple) -> Document:
    return Document(
        doc_id=r[0],
        title=r[1],
        domain=r[2],
        source=r[3],
        sha256=r[4],
        text=r[5],
        pages=_spans(r[6]),
        sections=_spans(r[7]),
    )


def _spans(raw: str) -> list[Span]:
    return [Span(**s) for s in json.loads(raw)]


_CHUNK_SELECT = "SELECT id, doc_id, start, end, text, pages, section FROM chunks"


def _chunk_from_row(r: tuple) -> Chunk:
    return Chunk(id=r[0], doc_id=r[1], start=r[2], end=r[3], text=r[4], pages=json.loads(r[5]), section=r[6])


def chunking_key(settings: ChunkSettings) -> dict:
    return settings.to_dict()
