"""What every format loader is: bytes and a doc_id in, Documents out, IngestError when it cannot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.schema import Document, VeracityError


class IngestError(VeracityError):
    """A file that cannot be turned into a document; the message says why."""


@dataclass(frozen=True)
class IngestOptions:
    """How files are read: OCR of PDF pages without a text layer, and its per-file limits."""

    ocr: bool = False
    ocr_max_pages: int = 100  # a longer scan is refused: OCR it in parts or raise the limit
    ocr_timeout_s: float = 600.0  # per file
    ocr_low_confidence: float = 0.85  # pages whose mean recognition score is below are named


DEFAULT_OPTIONS = IngestOptions()

# (file bytes, doc_id, options) -> the documents in the file (an openFDA JSON file may hold several)
Loader = Callable[[bytes, str, IngestOptions], list[Document]]
