"""Turn files into Documents (PDF per page with optional OCR, Word, web pages, text, DailyMed SPL XML,
openFDA drug-label JSON) and chunk them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline.ingest.base import DEFAULT_OPTIONS, IngestError, IngestOptions, Loader
from pipeline.ingest.docx import load_docx
from pipeline.ingest.html import load_html
from pipeline.ingest.openfda import load_openfda
from pipeline.ingest.pdf import load_pdf
from pipeline.ingest.spl import load_spl_file
from pipeline.ingest.text import load_text
from pipeline.schema import Document

__all__ = ["LOADERS", "SUPPORTED_SUFFIXES", "IngestError", "IngestOptions", "SourceFile", "load_file"]


def _one(load: Callable[[bytes, str], Document]) -> Loader:
    return lambda data, doc_id, _options: [load(data, doc_id)]


def _many(load: Callable[[bytes, str], list[Document]]) -> Loader:
    return lambda data, doc_id, _options: load(data, doc_id)


# file suffix -> loader. Adding a format: a module in this package and its suffixes here.
LOADERS: dict[str, Loader] = {
    ".pdf": lambda data, doc_id, options: [load_pdf(data, doc_id, options)],
    ".docx": _one(load_docx),
    ".html": _one(load_html),
    ".htm": _one(load_html),
    ".txt": _one(load_text),
    ".md": _one(load_text),
    ".xml": _many(load_spl_file),
    ".json": _many(load_openfda),
}
SUPPORTED_SUFFIXES = tuple(LOADERS)


@dataclass(frozen=True)
class SourceFile:
    path: Path
    doc_id: str  # path relative to the directory it was found in, '/'-separated


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_file(src: SourceFile, domain: str, options: IngestOptions = DEFAULT_OPTIONS) -> list[Document]:
    """Documents in one file (an openFDA JSON file may hold several records)."""
    suffix = src.path.suffix.lower()
    try:
        data = src.path.read_bytes()
    except OSError as exc:
        raise IngestError(f"cannot read file: {exc.strerror or exc}") from exc
    digest = sha256_bytes(data)
    load = LOADERS.get(suffix)
    if load is None:
        raise IngestError(
            f"unsupported file type {suffix or '(none)'}; supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    docs = load(data, src.doc_id, options)
    out = []
    for doc in docs:
        if not doc.text.strip():
            raise IngestError("no extractable text (a scanned or empty document?)")
        doc.domain = domain
        doc.source = str(src.path)
        # records of one JSON file share the file hash; the doc_id tells them apart
        doc.sha256 = digest if len(docs) == 1 else sha256_bytes(digest.encode() + doc.text.encode())
        out.append(doc)
    return out
