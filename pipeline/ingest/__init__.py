"""Turn files into Documents: PDF (per page), text, DailyMed SPL XML, openFDA drug-label JSON."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pipeline.ingest.openfda import load_openfda
from pipeline.ingest.pdf import load_pdf
from pipeline.ingest.spl import load_spl, looks_like_spl
from pipeline.ingest.text import load_text
from pipeline.schema import Document, VeracityError

SUPPORTED_SUFFIXES = (".pdf", ".txt", ".md", ".xml", ".json")


class IngestError(VeracityError):
    """A file that cannot be turned into a document; the message says why."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    doc_id: str  # path relative to the directory it was found in, '/'-separated


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_file(src: SourceFile, domain: str) -> list[Document]:
    """Documents in one file (an openFDA JSON file may hold several records)."""
    suffix = src.path.suffix.lower()
    try:
        data = src.path.read_bytes()
    except OSError as exc:
        raise IngestError(f"cannot read file: {exc.strerror or exc}") from exc
    digest = sha256_bytes(data)
    if suffix == ".pdf":
        docs = [load_pdf(data, src.doc_id)]
    elif suffix in (".txt", ".md"):
        docs = [load_text(data, src.doc_id)]
    elif suffix == ".xml":
        if not looks_like_spl(data):
            raise IngestError("XML file is not a DailyMed SPL document (no urn:hl7-org:v3 <document>)")
        docs = [load_spl(data, src.doc_id)]
    elif suffix == ".json":
        docs = load_openfda(data, src.doc_id)
    else:
        raise IngestError(
            f"unsupported file type {suffix or '(none)'}; supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
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
