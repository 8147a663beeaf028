"""Build or update a corpus index incrementally: only new or changed files are parsed and embedded."""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing as mp
import time
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pipeline.ingest import IngestError, IngestOptions, SourceFile, load_file
from pipeline.ingest.chunk import chunk_document
from pipeline.models.embedders import Embedder, get_embedder
from pipeline.schema import Chunk, Document
from pipeline.settings import Settings
from pipeline.store.corpora import CorpusConfig, CorpusError, Source, resolve_sources
from pipeline.store.index_files import (
    Manifest,
    corpus_dir,
    current_version,
    load_previous,
    write_version,
    writer_lock,
)
from pipeline.store.jobs import index_lock

EMBED_FLUSH = 512  # chunks buffered before an embedding call; big enough for efficient batches
PARSE_AHEAD = 8  # files parsed ahead of the embedder: keeps it fed without holding the corpus


@dataclass
class IndexReport:
    corpus: str
    documents: int = 0
    chunks: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    embedded_chunks: int = 0
    failures: list[dict] = field(default_factory=list)  # {"path", "error"}
    formats: dict[str, dict[str, int]] = field(default_factory=dict)  # ".pdf" -> read, ocr, failed files
    skipped: list[str] = field(default_factory=list)  # files of types no loader reads
    low_confidence: list[dict] = field(default_factory=list)  # OCR'd pages: {"doc_id", "page", "confidence"}
    seconds: float = 0.0
    index_type: str = ""
    version: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    def count(self, path: Path, docs: list[Document], failed: bool, low_confidence: float) -> None:
        """Tally one file under its format: read (OCR'd when a page was), or failed; name its pages
        whose OCR confidence is below `low_confidence`."""
        tally = self.formats.setdefault(path.suffix.lower() or "(none)", {"read": 0, "ocr": 0, "failed": 0})
        if failed:
            tally["failed"] += 1
            return
        tally["read"] += 1
        ocr_pages = [(d.doc_id, p) for d in docs for p in d.pages if p.ocr_confidence is not None]
        tally["ocr"] += bool(ocr_pages)
        self.low_confidence += [
            {"doc_id": doc_id, "page": int(p.label), "confidence": p.ocr_confidence}
            for doc_id, p in ocr_pages
            if p.ocr_confidence < low_confidence
        ]


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _parse(item: tuple[SourceFile, str, IngestOptions]) -> tuple[list[Document], str | None]:
    src, domain, options = item
    try:
        return load_file(src, domain, options), None
    except IngestError as exc:
        return [], str(exc)
    except Exception as exc:  # noqa: BLE001 - one broken file must not stop the corpus
        return [], f"unexpected {type(exc).__name__}: {exc}"


def index_corpus(
    config: CorpusConfig,
    settings: Settings,
    *,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    progress: bool = False,
    parsed: Mapping[str, list[Document]] | None = None,
) -> IndexReport:
    """Index the corpus's sources; the live index is replaced only when the new one is complete.
    `parsed` maps resolved file paths to documents the caller already parsed from those very files."""
    t0 = time.perf_counter()
    report = IndexReport(corpus=config.name)
    skipped: list[Path] = []
    files, problems = resolve_sources(config.sources, config.base_dir, skipped)
    report.skipped = [str(p) for p in skipped]
    missing = [p for p in problems if p.endswith("no such file or directory")]
    if missing:
        # a vanished mount must not delete its documents from the index
        raise CorpusError("; ".join(missing) + " (index left unchanged)")
    report.failures += [{"path": p.split(": ", 1)[0], "error": p.split(": ", 1)[-1]} for p in problems]
    embedder = embedder or get_embedder(config.embedder)
    cdir = corpus_dir(settings.indexes_dir, config.name)
    chunk_cfg = config.chunking.to_dict()
    with index_lock(settings, config.name), writer_lock(cdir):  # one replica, then one process
        prev_manifest, prev_docs, prev_chunks, prev_vecs = load_previous(current_version(cdir))
        compatible = (
            prev_manifest is not None
            and not rebuild
            and prev_manifest.model == embedder.id
            and {k: v for k, v in prev_manifest.chunking.items() if not k.startswith("_")} == chunk_cfg
        )
        if not compatible:
            prev_docs, prev_chunks, prev_vecs = {}, {}, None
        prev_meta = prev_manifest.documents if compatible else {}

        by_file: dict[str, list[str]] = {}
        for doc_id, meta in prev_meta.items():
            by_file.setdefault(meta.get("file", doc_id), []).append(doc_id)

        low = config.ingest.ocr_low_confidence
        kept: dict[str, Document] = {}
        kept_meta: dict[str, dict] = {}
        to_parse: list[tuple[SourceFile, str, str]] = []
        for src, domain in files:
            sha = _file_sha(src.path)
            old = by_file.get(src.doc_id, [])
            if old and all(
                prev_meta[d].get("file_sha256") == sha and prev_meta[d].get("domain") == domain for d in old
            ):
                for d in old:
                    kept[d] = prev_docs[d]
                    kept_meta[d] = prev_meta[d]
                report.unchanged += len(old)
                report.count(src.path, [prev_docs[d] for d in old], False, low)
            else:
                to_parse.append((src, domain, sha))

        new_docs: list[Document] = []
        new_chunks: list[Chunk] = []
        new_vecs: list[np.ndarray] = []
        pending: list[Chunk] = []

        def flush() -> None:
            if pending:
                new_vecs.append(
                    embedder.encode([c.text for c in pending], batch_size=settings.embed_batch_size)
                )
                new_chunks.extend(pending)
                pending.clear()

        bar = tqdm(
            total=len(to_parse),
            desc=f"index {config.name}",
            unit="file",
            disable=not progress or len(to_parse) < 2,
        )
        results = _parse_all(to_parse, config.ingest, parsed or {})
        for (src, _domain, sha), (docs, error) in zip(to_parse, results, strict=True):
            old = by_file.get(src.doc_id, [])
            report.count(src.path, docs, bool(error), low)
            if error:
                report.failures.append({"path": str(src.path), "error": error})
                for d in old:  # keep the last good version of a file that broke
                    kept[d] = prev_docs[d]
                    kept_meta[d] = prev_meta[d]
            else:
                for doc in docs:
                    (report.changed if doc.doc_id in prev_meta else report.added).append(doc.doc_id)
                    new_docs.append(doc)
                    chunks = chunk_document(doc, config.chunking)
                    kept_meta[doc.doc_id] = {
                        "title": doc.title,
                        "domain": doc.domain,
                        "sha256": doc.sha256,
                        "file": src.doc_id,
                        "file_sha256": sha,
                        "chunks": len(chunks),
                    }
                    pending.extend(chunks)
                    if len(pending) >= EMBED_FLUSH:
                        flush()
                for d in old:
                    if d not in kept_meta:
                        report.removed.append(d)
            bar.update(1)
            bar.set_postfix(chunks=len(new_chunks) + len(pending))
        flush()
        bar.close()

        listed = {src.doc_id for src, _ in files}
        report.removed += sorted(d for f, ds in by_file.items() if f not in listed for d in ds)

        # assemble the new version: reused vectors from the previous one, fresh ones for the rest
        new_by_doc: dict[str, list[int]] = {}
        for i, c in enumerate(new_chunks):
            new_by_doc.setdefault(c.doc_id, []).append(i)
        fresh = np.concatenate(new_vecs) if new_vecs else np.zeros((0, embedder.dim), np.float32)
        new_vecs.clear()  # one copy of the new vectors at a time: memory stays flat with corpus size
        docs_out: list[Document] = []
        chunks_out: list[Chunk] = []
        blocks: list[tuple[np.ndarray, list[int]]] = []  # rows of `vectors`, in order: (source, row ids)
        all_docs = {d.doc_id: d for d in new_docs} | kept
        for doc_id in sorted(kept_meta):
            docs_out.append(all_docs[doc_id])
            if doc_id in new_by_doc:
                idxs = new_by_doc[doc_id]
                src_chunks = [new_chunks[i] for i in idxs]
                blocks.append((fresh, idxs))
            else:
                src_chunks = prev_chunks.get(doc_id, [])
                blocks.append((prev_vecs, [c.id for c in src_chunks]) if src_chunks else (fresh, []))
            for c in src_chunks:
                chunks_out.append(
                    Chunk(
                        doc_id=c.doc_id,
                        text=c.text,
                        start=c.start,
                        end=c.end,
                        pages=c.pages,
                        section=c.section,
                        id=len(chunks_out),
                    )
                )
        vectors = np.empty((len(chunks_out), embedder.dim), np.float32)
        row = 0
        for source, idxs in blocks:
            vectors[row : row + len(idxs)] = source[idxs]
            row += len(idxs)
        del fresh, blocks

        manifest = Manifest(
            corpus=config.name,
            model=embedder.id,
            dim=embedder.dim,
            chunking=chunk_cfg,
            index_type="",
            documents=kept_meta,
            sources=[asdict(s) | {"base_dir": str(config.base_dir)} for s in config.sources],
            failures=report.failures,
        )
        vdir = write_version(
            cdir,
            manifest,
            docs_out,
            chunks_out,
            vectors,
            settings.approx_threshold,
            settings.hnsw_m,
            settings.hnsw_ef_construction,
            settings.hnsw_ef_search,
        )
        report.documents = len(docs_out)
        report.chunks = len(chunks_out)
        report.embedded_chunks = len(new_chunks)
        report.index_type = manifest.index_type
        report.version = vdir.name
    report.seconds = time.perf_counter() - t0
    return report


def _parse_all(
    items: list[tuple[SourceFile, str, str]], options: IngestOptions, parsed: Mapping[str, list[Document]]
) -> Iterator[tuple[list[Document], str | None]]:
    """Parse in a separate process, overlapping PDF parsing with embedding in this one; a file in
    `parsed` is taken from there instead. At most PARSE_AHEAD files are parsed ahead of the
    embedding, so parsed documents waiting for the embedder do not grow with the corpus."""
    work = [(src, domain, options) for src, domain, _ in items if str(src.path.resolve()) not in parsed]
    with ExitStack() as stack:
        if len(work) < 8:
            fresh: Iterator[tuple[list[Document], str | None]] = map(_parse, work)
        else:
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")))
            fresh = _ahead(pool, work, PARSE_AHEAD)
        for src, domain, _ in items:
            docs = parsed.get(str(src.path.resolve()))
            if docs is None:
                yield next(fresh)
                continue
            for doc in docs:
                doc.domain, doc.source = domain, str(src.path)
            yield docs, None


def _ahead(pool: ProcessPoolExecutor, work: list, ahead: int) -> Iterator[tuple[list[Document], str | None]]:
    """pool.map(_parse, work) in order, with at most `ahead` files submitted and not yet taken."""
    queue: deque[Future] = deque()
    todo = iter(work)
    for item in itertools.islice(todo, ahead):
        queue.append(pool.submit(_parse, item))
    while queue:
        result = queue.popleft().result()
        for item in itertools.islice(todo, 1):
            queue.append(pool.submit(_parse, item))
        yield result


def sources_from_manifest(manifest: Manifest) -> tuple[list[Source], Path]:
    base = Path(manifest.sources[0]["base_dir"]) if manifest.sources else Path(".")
    return [Source(s["path"], s["domain"]) for s in manifest.sources], base
