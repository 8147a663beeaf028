"""The OCR engine on rendered pages: Simplified Chinese read by RapidOCR's default PP-OCR models,
the page read in steps exactly as one engine call reads it, and huge pages rendered within bounds."""

from __future__ import annotations

import time

import pypdfium2 as pdfium
import pytest
from helpers import ZH_PAGES, cjk_font, image_pdf, text_page
from PIL import Image

from pipeline.ingest.ocr import MAX_SIDE, OcrTimeLimit, _engine, page_from_boxes, recognise, render_page


@pytest.mark.timeout(600)
def test_chinese_page_is_read_in_steps_as_one_engine_call_reads_it():
    page = text_page(ZH_PAGES[1], cjk_font(34))
    read = recognise(page)
    boxes, _ = _engine()(page)  # RapidOCR's own call: detection, direction, recognition at once
    one_call = page_from_boxes(boxes)
    # the same text; the steps' confidence also counts detected text that could not be read
    assert read.text == one_call.text and read.confidence <= one_call.confidence
    lines = read.text.splitlines()
    assert "任何一方可提前九十天书面通知对方终止本协议。" in lines
    assert "违约方应赔偿守约方因此遭受的全部损失。" in lines
    assert "Either party may terminate this Agreement on ninety (9" in read.text  # "(9o)" at times
    assert read.confidence > 0.9
    with pytest.raises(OcrTimeLimit, match=r"text detected, 0 of \d+ lines recognised"):
        recognise(page, deadline=time.monotonic())


def test_a_huge_page_is_rendered_within_max_side(tmp_path):
    # a 3000 px image at 10 dpi is a 300-inch page: 60,000 px at the OCR resolution
    pdf = pdfium.PdfDocument(image_pdf([Image.new("L", (3000, 1500), 255)], tmp_path / "poster.pdf", dpi=10))
    assert max(render_page(pdf[0]).size) == MAX_SIDE
