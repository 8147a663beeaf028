"""PDF text per page, via PDFium (pypdfium2); pages without a text layer read by OCR when asked.

PDFium reads a text layer with 6-8 times less CPU than pure-Python pypdf, and 0.02-0.1 % of the
words differ (bench/bench_pdf.py): the parser must not slow down the embedder it runs beside."""

from __future__ import annotations

import re

from pipeline.ingest.base import DEFAULT_OPTIONS, IngestError, IngestOptions
from pipeline.ingest.headings import heading_sections
from pipeline.ingest.ocr import OcrPage, ocr_pdf_pages
from pipeline.ingest.pdfium_doc import locked_document
from pipeline.schema import Document, Span

PAGE_SEP = "\n\n"
MIN_LAYER_CHARS = 20  # a page with less text than this (a stamp, a page number) is OCR'd when asked
LINE_END_HYPHEN = "\ufffe"  # PDFium's mark for a word hyphenated across a line end; the break is dropped
# PDFium adds no space where a line's clause number is set apart by position alone ("1.1“AdvaMed
# Code”", "1.DEFINITIONS"); the space is put back, so that headings and their words read as printed.
_GLUED_CLAUSE_NUMBER = re.compile(r"(?m)^(\d+(?:\.\d+)+\.?|\d+\.)(?=[A-Z“\"(])")


def load_pdf(data: bytes, doc_id: str, options: IngestOptions = DEFAULT_OPTIONS) -> Document:
    """One document, text kept per page with page numbers (1-based)."""
    import pypdfium2 as pdfium

    with locked_document(data) as pdf:
        try:
            page_texts = [_clean(_page_text(pdf, i)) for i in range(len(pdf))]
        except pdfium.PdfiumError as exc:
            raise IngestError(f"corrupt or unreadable PDF: {exc}") from exc
        meta_title = _meta_title(pdf)
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
    return Document(
        doc_id=doc_id,
        title=_title(meta_title, text, doc_id),
        domain="",
        source="",
        sha256="",
        text=text,
        pages=pages,
        sections=heading_sections(text),
    )


def _page_text(pdf, index: int) -> str:
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        try:
            # the hyphen and the line break it stood before come back as they are printed
            text = textpage.get_text_range().replace(LINE_END_HYPHEN, "-\n")
            return _GLUED_CLAUSE_NUMBER.sub(r"\1 ", text)
        finally:
            textpage.close()
    finally:
        page.close()


def _meta_title(pdf) -> str | None:
    try:
        return pdf.get_metadata_value("Title")
    except Exception:  # noqa: BLE001 - broken metadata must not fail the file
        return None


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


def _title(meta_title: str | None, text: str, doc_id: str) -> str:
    if isinstance(meta_title, str) and len(meta_title.strip()) > 3:
        return meta_title.strip()
    for line in text.splitlines():
        if len(line.strip()) > 3:
            return line.strip()[:200]
    return doc_id
