"""Turn files into Documents (PDF per page with optional OCR, Word, web pages, text, DailyMed SPL XML,
openFDA drug-label JSON) and chunk them."""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path

from pipeline.ingest.base import DEFAULT_OPTIONS, IngestError, IngestOptions
from pipeline.schema import Document

__all__ = ["LOADERS", "SUPPORTED_SUFFIXES", "IngestError", "IngestOptions", "SourceFile", "load_file"]


@dataclass(frozen=True)
class Format:
    """A format's loader: `function` of module pipeline.ingest.`module`, imported when a file of the
    format is first read, so a format's library (pypdf, python-docx, BeautifulSoup, OCR) costs
    nothing to those who never read one."""

    module: str
    function: str
    many: bool = False  # returns a list of documents (else one)
    options: bool = False  # takes the IngestOptions

    def load(self, data: bytes, doc_id: str, options: IngestOptions) -> list[Document]:
        fn = getattr(importlib.import_module(f"pipeline.ingest.{self.module}"), self.function)
        out = fn(data, doc_id, options) if self.options else fn(data, doc_id)
        return out if self.many else [out]


# file suffix -> its format. Adding a format: a module in this package and its suffixes here.
LOADERS: dict[str, Format] = {
    ".pdf": Format("pdf", "load_pdf", options=True),
    ".docx": Format("docx", "load_docx"),
    ".html": Format("html", "load_html"),
    ".htm": Format("html", "load_html"),
    ".txt": Format("text", "load_text"),
    ".md": Format("text", "load_text"),
    ".xml": Format("spl", "load_spl_file", many=True),
    ".json": Format("openfda", "load_openfda", many=True),
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
    docs = load.load(data, src.doc_id, options)
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
