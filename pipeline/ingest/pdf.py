"""PDF text per page, via pypdf."""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from pipeline.ingest.base import DEFAULT_OPTIONS, IngestError, IngestOptions
from pipeline.ingest.headings import heading_sections
from pipeline.schema import Document, Span

logging.getLogger("pypdf").setLevel(logging.ERROR)
PAGE_SEP = "\n\n"


def load_pdf(data: bytes, doc_id: str, options: IngestOptions = DEFAULT_OPTIONS) -> Document:
    """One document, text kept per page with page numbers (1-based)."""

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:  # noqa: BLE001 - pypdf raises several types for unsupported crypto
                ok = 0
            if not ok:
                raise IngestError("encrypted PDF (a password is required)")
        page_texts = [_clean(page.extract_text() or "") for page in reader.pages]
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise IngestError(f"corrupt or unreadable PDF: {exc}") from exc
    if not any(t.strip() for t in page_texts):
        raise IngestError("PDF has no text layer (scanned images?); OCR it first")
    parts, pages, pos = [], [], 0
    for number, text in enumerate(page_texts, start=1):
        if parts:
            parts.append(PAGE_SEP)
            pos += len(PAGE_SEP)
        parts.append(text)
        pages.append(Span(pos, pos + len(text), str(number)))
        pos += len(text)
    text = "".join(parts)
    title = _title(reader, text, doc_id)
    return Document(
        doc_id=doc_id,
        title=title,
        domain="",
        source="",
        sha256="",
        text=text,
        pages=pages,
        sections=heading_sections(text),
    )


def _clean(text: str) -> str:
    return "\n".join(
        line.rstrip() for line in text.replace("\x00", "").replace("\xa0", " ").splitlines()
    ).strip()


def _title(reader: PdfReader, text: str, doc_id: str) -> str:
    try:
        meta_title = (reader.metadata or {}).get("/Title")
    except Exception:  # noqa: BLE001 - broken metadata must not fail the file
        meta_title = None
    if isinstance(meta_title, str) and len(meta_title.strip()) > 3:
        return meta_title.strip()
    for line in text.splitlines():
        if len(line.strip()) > 3:
            return line.strip()[:200]
    return doc_id
