"""OCR of PDF pages that have no text layer: each page rendered with pypdfium2 and read by RapidOCR
(PP-OCR detection, direction and recognition models, English and Simplified Chinese, shipped inside
the rapidocr-onnxruntime wheel and run on ONNX Runtime; nothing is downloaded at run time).

The per-file time limit holds within a page too: a page is read in steps (text detection, then the
detected lines in batches of the engine's batch size) and the deadline is checked before each, so a
file stops at most one detection or one batch of six lines past its limit."""

from __future__ import annotations

import functools
import math
import re
import time
from dataclasses import dataclass

import numpy as np

from pipeline.ingest.base import IngestError

RENDER_SCALE = 200 / 72  # 200 dpi: small print stays legible, a page stays a few megapixels
# RapidOCR shrinks images above 2000 px; a 200-dpi letter or A4 page is 2200-2340 px tall, and the
# shrink cost 4-9 points of character accuracy on CUAD pages (bench/bench_ocr.py). Larger pages
# (posters, drawings) are rendered at a lower resolution, so no page costs more than this.
MAX_SIDE = 3000
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


@dataclass(frozen=True)
class OcrPage:
    text: str
    # mean recognition score of its lines weighted by length, times the share of the detected text
    # area that was read (see recognise); 0.0 when empty
    confidence: float


class OcrTimeLimit(IngestError):
    """The file's OCR time limit passed; `progress` says how far the current page got."""

    def __init__(self, progress: str):
        super().__init__(progress)
        self.progress = progress


@functools.cache
def _engine():
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(max_side_len=MAX_SIDE)


def ocr_pdf_pages(data: bytes, numbers: list[int], timeout_s: float) -> dict[int, OcrPage]:
    """Text of the given pages (1-based), read in order. Past `timeout_s` the file fails, also in
    the middle of a page, rather than being indexed with pages missing."""
    from pipeline.ingest.pdfium_doc import PDFIUM_LOCK, open_document

    deadline = time.monotonic() + timeout_s
    pdf = open_document(data, "cannot render PDF for OCR")
    out = {}
    try:
        for n, number in enumerate(numbers):
            try:
                _check(deadline, "before rendering")
                with PDFIUM_LOCK:  # held while rendering only, not while the image is read
                    image = render_page(pdf[number - 1])
                out[number] = recognise(image, deadline)
            except OcrTimeLimit as exc:
                raise IngestError(
                    f"OCR time limit of {timeout_s:g} s reached on page {number} ({exc.progress}); "
                    f"{n} of {len(numbers)} scanned pages were read; the file is not indexed: raise "
                    "`ocr_timeout_s` in the corpus definition or split the file"
                ) from None
    finally:
        with PDFIUM_LOCK:
            pdf.close()
    return out


def render_page(page):
    """A pypdfium2 page as a grayscale PIL image at RENDER_SCALE, or smaller so that neither side
    passes MAX_SIDE pixels; the page is closed. The caller holds PDFIUM_LOCK."""
    scale = min(RENDER_SCALE, MAX_SIDE / max(page.get_width(), page.get_height(), 1.0))
    try:
        return page.render(scale=scale, grayscale=True).to_pil()
    finally:
        page.close()


def _check(deadline: float, progress: str) -> None:
    if time.monotonic() > deadline:
        raise OcrTimeLimit(progress)


def recognise(image, deadline: float = math.inf) -> OcrPage:
    """OCR one page image (PIL or numpy); lines in reading order. The steps of RapidOCR's own call
    (rapidocr-onnxruntime 1.4), with `deadline` (time.monotonic) checked after text detection and
    before each recognition batch (OcrTimeLimit). The lines are batched in the engine's order (by
    aspect ratio), so a page reads exactly as in one engine call."""
    engine = _engine()
    img = engine.load_img(image)
    raw_h, raw_w = img.shape[:2]
    img, ratio_h, ratio_w = engine.preprocess(img)
    img, record = engine.maybe_add_letterbox(img, {"preprocess": {"ratio_h": ratio_h, "ratio_w": ratio_w}})
    boxes, _ = engine.auto_text_det(img)
    if boxes is None:
        return page_from_boxes([])
    crops = engine.get_crop_img_list(img, boxes)
    order = np.argsort(np.array([c.shape[1] / float(c.shape[0]) for c in crops]))
    batch = engine.text_rec.rec_batch_num
    read: list[tuple[str, float]] = [("", 0.0)] * len(crops)
    for b in range(0, len(order), batch):
        _check(deadline, f"text detected, {b} of {len(crops)} lines recognised")
        ids = order[b : b + batch]
        upright, _, _ = engine.text_cls([crops[i] for i in ids])
        texts, _ = engine.text_rec(upright)
        for i, (text, score, *_) in zip(ids, texts, strict=True):
            read[i] = (text, score)
    points = engine._get_origin_points(boxes, record, raw_h, raw_w)
    kept = []
    area = dropped = 0.0
    for box, (text, score) in zip(points, read, strict=True):
        a = _area(box)
        area += a
        if score >= engine.text_score:
            kept.append([box.tolist(), text, score])
        else:
            dropped += a
    page = page_from_boxes(kept)
    # Text detected but not read (its score under the engine's threshold) is missing from the page
    # without a trace: detection may merge dense lines into a box the recogniser cannot read. Its
    # share of the detected area lowers the page's confidence, so such a page is named, not trusted.
    unread = dropped / area if area else 0.0
    return OcrPage(page.text, round(page.confidence * (1.0 - unread), 4))


def _area(box) -> float:
    """Area of a detected quadrilateral (shoelace formula)."""
    pts = np.asarray(box, dtype=float)
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


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
