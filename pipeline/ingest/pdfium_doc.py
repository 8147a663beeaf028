"""PDFium (pypdfium2) documents for the PDF loader and the OCR renderer.

PDFium is not thread-safe, even across documents, and the server parses uploads in threads: every
call into it holds PDFIUM_LOCK."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.ingest.base import IngestError

PDFIUM_LOCK = threading.RLock()
PASSWORD_ERROR = 4  # FPDF_ERR_PASSWORD


def open_document(data: bytes | Path, purpose: str = "corrupt or unreadable PDF"):
    """A pypdfium2 document from bytes or a file (read by PDFium as it needs it; the caller closes it
    under PDFIUM_LOCK); IngestError when PDFium cannot open it, naming a password when that is why."""
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        try:
            return pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if getattr(exc, "err_code", None) == PASSWORD_ERROR:
                raise IngestError("encrypted PDF (a password is required)") from exc
            raise IngestError(f"{purpose}: {exc}") from exc


@contextmanager
def locked_document(data: bytes | Path) -> Iterator:
    """An open document, PDFIUM_LOCK held until it is closed."""
    with PDFIUM_LOCK:
        pdf = open_document(data)
        try:
            yield pdf
        finally:
            pdf.close()


def page_count(data: bytes | Path) -> int:
    """Pages of a PDF, from its page tree only (IngestError when it cannot be opened)."""
    with locked_document(data) as pdf:
        return len(pdf)
