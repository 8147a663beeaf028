"""Scanned PDFs (a real contract, and a bilingual Chinese-English contract, rendered to image-only
PDFs) indexed with OCR: text found on the right page, per-page confidence stored and low-confidence
pages named, citations marked; a file over its OCR time limit fails inside its page."""

from __future__ import annotations

import dataclasses
import re

import pytest
from helpers import (
    CUAD_SMALL,
    TEXTS,
    ZH_PAGES,
    cjk_font,
    home_settings,
    image_pdf,
    scan_pdf,
    text_page,
    write_texts,
)
from pypdf import PdfReader

from api.ui.evidence import where
from pipeline.ingest import IngestError, IngestOptions, SourceFile, load_file
from pipeline.retrieval.hybrid import Retriever
from pipeline.retrieval.windows import locate_hits
from pipeline.schema import Citation, Label, Verdict
from pipeline.store.builder import index_corpus
from pipeline.store.index_files import CorpusIndex
from pipeline.verification.render import annotate


@pytest.mark.timeout(600)
def test_scanned_pdf_is_ocrd_searched_and_cited_on_its_page(tmp_path, shared, embedder, config_for):
    folder = tmp_path / "scans"
    folder.mkdir()
    scan = scan_pdf(shared / CUAD_SMALL, folder / "scanned-contract.pdf", pages=2)
    assert not "".join(p.extract_text() or "" for p in PdfReader(scan).pages).strip()  # image only
    with pytest.raises(IngestError, match="--ocr"):
        load_file(SourceFile(scan, "scanned-contract.pdf"), "contracts")
    with pytest.raises(IngestError, match="over the limit of 1"):
        load_file(SourceFile(scan, "s.pdf"), "contracts", IngestOptions(ocr=True, ocr_max_pages=1))

    settings = home_settings(tmp_path)
    config = config_for("scans", folder, domain="contracts")
    config.ingest = IngestOptions(ocr=True, ocr_low_confidence=0.999)  # every page named below
    report = index_corpus(config, settings, embedder=embedder)
    assert report.failures == [] and report.formats == {".pdf": {"read": 1, "ocr": 1, "failed": 0}}
    assert [p["page"] for p in report.low_confidence] == [1, 2]
    assert all(0.5 < p["confidence"] < 0.999 for p in report.low_confidence)

    idx = CorpusIndex.load(settings.indexes_dir, "scans")
    doc = idx.document("scanned-contract.pdf")
    assert [p.label for p in doc.pages] == ["1", "2"] and all(p.ocr_confidence for p in doc.pages)
    # a sentence of page 2 as the text layer had it, searched in the OCR'd text
    truth = PdfReader(shared / CUAD_SMALL).pages[1].extract_text()
    line = max(truth.splitlines()[3:-3], key=len)
    hit = Retriever(idx, embedder).search(line, k=1)[0]
    assert hit.chunk.pages[0] == 2 or hit.chunk.pages == [1, 2], hit.chunk.pages
    words = [w for w in line.split() if len(w) > 4][:4]
    at = doc.text.find(words[0], doc.pages[1].start)
    assert at > 0 and sum(w in doc.text[doc.pages[1].start :] for w in words) >= 3
    place = idx.place_of(doc.doc_id, at, at + 40)
    assert place.page == 2 and place.ocr

    cite = Citation(
        doc.doc_id, doc.title, place.page, place.section, at, at + 40, doc.text[at : at + 40], place.ocr
    )
    verdict = Verdict("A claim.", 0, 8, Label.CONTRADICTED, 0.9, "differs", [cite])
    assert f"({doc.doc_id}, p. 2 (OCR text))" in annotate("A claim.", [verdict])
    assert dataclasses.asdict(cite)["ocr"] is True
    stored = {"page": 2, "section": "", "start_char": at, "end_char": at + 40}  # as the audit store has it
    assert where(stored, doc) == "p. 2 · OCR text" and where(stored) == "p. 2"


@pytest.mark.timeout(600)
def test_chinese_scan_is_ocrd_and_a_chinese_phrase_found_on_its_page(tmp_path, embedder, config_for):
    folder = tmp_path / "scans"
    write_texts(folder)  # English contracts beside the scan
    font = cjk_font(34)
    image_pdf([text_page(lines, font) for lines in ZH_PAGES], folder / "服务协议.pdf")
    settings = home_settings(tmp_path)
    config = config_for("zh", folder, domain="contracts")
    config.ingest = IngestOptions(ocr=True)
    report = index_corpus(config, settings, embedder=embedder)
    assert report.failures == [] and report.formats[".pdf"] == {"read": 1, "ocr": 1, "failed": 0}

    idx = CorpusIndex.load(settings.indexes_dir, "zh")
    doc = idx.document("服务协议.pdf")
    page2 = doc.text[doc.pages[1].start : doc.pages[1].end]
    assert "任何一方可提前九十天书面通知对方终止本协议。" in page2
    assert "甲方应在收到发票后三十日内支付全部服务费用。" in doc.text[: doc.pages[0].end]

    hits = Retriever(idx, embedder).search("提前九十天书面通知", k=3)
    locate_hits("提前九十天书面通知", hits, idx.place_of)
    top = hits[0]
    assert top.chunk.doc_id == "服务协议.pdf", [h.chunk.doc_id for h in hits]
    assert top.match.page == 2 and top.match.ocr and "九十天书面通知" in top.match.quote
    assert top.match.start >= doc.pages[1].start


@pytest.mark.timeout(600)
def test_ocr_time_limit_stops_a_file_within_its_first_page(tmp_path, shared, embedder, config_for):
    folder = tmp_path / "scans"
    write_texts(folder)
    scan_pdf(shared / CUAD_SMALL, folder / "slow-scan.pdf", pages=2)
    settings = home_settings(tmp_path)
    config = config_for("slow", folder, domain="contracts")
    config.ingest = IngestOptions(ocr=True, ocr_timeout_s=0.5)  # a page of this contract takes seconds
    report = index_corpus(config, settings, embedder=embedder)

    assert report.formats[".pdf"] == {"read": 0, "ocr": 0, "failed": 1}
    [failure] = report.failures
    assert failure["path"].endswith("slow-scan.pdf")
    m = re.search(
        r"OCR time limit of 0.5 s reached on page 1 \(text detected, (\d+) of (\d+) lines", failure["error"]
    )
    assert m and int(m[1]) < int(m[2]), failure["error"]  # stopped inside the page
    assert "0 of 2 scanned pages were read; the file is not indexed" in failure["error"]
    assert "ocr_timeout_s" in failure["error"]
    # the index holds the other files, consistent and searchable
    idx = CorpusIndex.load(settings.indexes_dir, "slow")
    assert sorted(idx.manifest.documents) == sorted(TEXTS)
    assert Retriever(idx, embedder).search("blue widgets each month", k=1)[0].chunk.doc_id == "alpha.txt"
