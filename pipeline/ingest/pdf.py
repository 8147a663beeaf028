"""PDF text per page, via pypdf; pages without a text layer read by OCR when asked."""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from pipeline.ingest.base import DEFAULT_OPTIONS, IngestError, IngestOptions
from pipeline.ingest.headings import heading_sections
from pipeline.ingest.ocr import OcrPage, ocr_pdf_pages
from pipeline.schema import Document, Span

logging.getLogger("pypdf").setLevel(logging.ERROR)
PAGE_SEP = "\n\n"
MIN_LAYER_CHARS = 20  # a page with less text than this (a stamp, a page number) is OCR'd when asked


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
    scanned = [n for n, t in enumerate(page_texts, start=1) if len("".join(t.split())) < MIN_LAYER_CHARS]
    ocr = _ocr(data, scanned, options) if options.ocr and scanned else {}
    if not ocr and not any(t.strip() for t in page_texts):
        raise IngestError(
            "PDF has no text layer (scanned images?); index it with OCR: `ocr = true` in the corpus "
            "definition or `veracity index --ocr`"
        )
    parts, pages, pos = [], [], 0
    for number, layer in enumerate(page_texts, start=1):
        read = ocr.get(number)
        text = _clean(read.text) if read else layer
        if parts:
            parts.append(PAGE_SEP)
            pos += len(PAGE_SEP)
        parts.append(text)
        pages.append(
            Span(pos, pos + len(text), str(number), ocr_confidence=read.confidence if read else None)
        )
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


def _ocr(data: bytes, numbers: list[int], options: IngestOptions) -> dict[int, OcrPage]:
    """OCR'd pages that yielded text, within the per-file page and time limits."""
    if len(numbers) > options.ocr_max_pages:
        raise IngestError(
            f"{len(numbers)} scanned pages to OCR, over the limit of {options.ocr_max_pages} per file"
        )
    read = ocr_pdf_pages(data, numbers, options.ocr_timeout_s)
    return {n: page for n, page in read.items() if page.text.strip()}


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
