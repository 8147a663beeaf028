"""What every format loader shares: IngestError when a file cannot be read, and the IngestOptions."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.schema import VeracityError


class IngestError(VeracityError):
    """A file that cannot be turned into a document; the message says why."""


@dataclass(frozen=True)
class IngestOptions:
    """How files are read: OCR of PDF pages without a text layer, and its per-file limits."""

    ocr: bool = False
    ocr_max_pages: int = 100  # a longer scan is refused: OCR it in parts or raise the limit
    ocr_timeout_s: float = 600.0  # per file
    # pages whose confidence (see ingest.ocr.OcrPage) is below are named; on rendered CUAD pages
    # it runs about 0.01-0.02 under the character accuracy (bench_ocr.py)
    ocr_low_confidence: float = 0.9


DEFAULT_OPTIONS = IngestOptions()
