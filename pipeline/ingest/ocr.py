"""OCR of PDF pages that have no text layer: each page rendered with pypdfium2 and read by RapidOCR
(PP-OCR detection, direction and recognition models, English and Simplified Chinese, shipped inside
the rapidocr-onnxruntime wheel and run on ONNX Runtime; nothing is downloaded at run time)."""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass

from pipeline.ingest.base import IngestError

RENDER_SCALE = 200 / 72  # 200 dpi: small print stays legible, a page stays a few megapixels
# RapidOCR shrinks images above 2000 px; a 200-dpi letter or A4 page is 2200-2340 px tall, and the
# shrink cost 4-9 points of character accuracy on CUAD pages (bench/bench_ocr.py)
MAX_SIDE = 3000
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


@dataclass(frozen=True)
class OcrPage:
    text: str
    confidence: float  # mean recognition score of its lines, weighted by length; 0.0 when empty


@functools.cache
def _engine():
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(max_side_len=MAX_SIDE)


def ocr_pdf_pages(data: bytes, numbers: list[int], deadline: float) -> dict[int, OcrPage]:
    """Text of the given pages (1-based), read in order; past `deadline` (time.monotonic) the file
    fails rather than being indexed with pages missing."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise IngestError(f"cannot render PDF for OCR: {exc}") from exc
    out = {}
    try:
        for n, number in enumerate(numbers):
            if time.monotonic() > deadline:
                raise IngestError(f"OCR time limit reached after {n} of {len(numbers)} scanned pages")
            page = pdf[number - 1]
            image = page.render(scale=RENDER_SCALE, grayscale=True).to_pil()
            page.close()
            out[number] = recognise(image)
    finally:
        pdf.close()
    return out


def recognise(image) -> OcrPage:
    """OCR one page image (PIL or numpy); lines in reading order."""
    result, _ = _engine()(image)
    return page_from_boxes(result or [])


def page_from_boxes(boxes: list) -> OcrPage:
    """Lines from RapidOCR's [box, text, score] items: boxes whose vertical centres fall within half
    a line height of each other form one line, read left to right; lines top to bottom."""
    items = []
    for box, text, score in boxes:
        ys = [pt[1] for pt in box]
        xs = [pt[0] for pt in box]
        items.append((min(ys), max(ys), min(xs), text.strip(), float(score)))
    items.sort(key=lambda it: (it[0] + it[1]) / 2)
    lines: list[list[tuple]] = []
    for it in items:
        centre, height = (it[0] + it[1]) / 2, it[1] - it[0]
        if lines:
            last = lines[-1]
            lc = sum((i[0] + i[1]) / 2 for i in last) / len(last)
            if abs(centre - lc) < max(height, last[0][1] - last[0][0]) / 2:
                last.append(it)
                continue
        lines.append([it])
    text_lines = []
    for line in lines:
        words = [it[3] for it in sorted(line, key=lambda i: i[2]) if it[3]]
        joined = ""
        for w in words:
            cjk_join = joined and _CJK.match(w[0]) and _CJK.match(joined[-1])
            joined += w if not joined or cjk_join else " " + w
        if joined:
            text_lines.append(joined)
    weight = sum(len(it[3]) for it in items)
    confidence = sum(len(it[3]) * it[4] for it in items) / weight if weight else 0.0
    return OcrPage("\n".join(text_lines), round(confidence, 4))
