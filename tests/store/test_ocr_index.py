"""A scanned PDF (a real contract rendered to an image-only PDF) indexed with OCR: text found on
the right page, per-page confidence stored and low-confidence pages named, citations marked."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import CUAD_SMALL, home_settings, scan_pdf
from pypdf import PdfReader

from api.ui.evidence import where
from pipeline.ingest import IngestError, IngestOptions, SourceFile, load_file
from pipeline.retrieval.hybrid import Retriever
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
