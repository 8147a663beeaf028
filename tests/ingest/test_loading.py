"""Ingestion of real PDFs, SPL XML and openFDA JSON: page and section offsets, titles, tables, and
documents' stable identity (ids and hashes) wherever the files lie."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from helpers import CUAD_SMALL, OPENFDA, VEKLURY, write_texts
from pypdf import PdfReader

from pipeline.ingest import SourceFile, load_file
from pipeline.schema import Document
from pipeline.store.corpora import Source, resolve_sources

TAG = re.compile(r"</?[A-Za-z][\w:.-]*(\s[^<>]*)?/?>")


def norm_ws(s: str) -> str:
    return " ".join(s.split())


def test_cuad_pdf_keeps_real_page_numbers(shared, real_docs):
    (doc,) = real_docs["cuad"]
    reader = PdfReader(shared / CUAD_SMALL)
    assert len(doc.pages) == len(reader.pages) == 4
    assert [p.label for p in doc.pages] == ["1", "2", "3", "4"]
    assert all(a.end <= b.start for a, b in zip(doc.pages, doc.pages[1:], strict=False))
    for number, (span, page) in enumerate(zip(doc.pages, reader.pages, strict=True), start=1):
        # the text pypdf reads from page N is exactly what lies in the page-N span
        assert norm_ws(doc.text[span.start : span.end]) == norm_ws(page.extract_text())
        assert doc.page_numbers(span.start, span.end) == [number]
    page2 = norm_ws(reader.pages[1].extract_text())
    phrase = page2[len(page2) // 2 : len(page2) // 2 + 60]
    at = norm_ws(doc.text).find(phrase)
    assert at > 0 and norm_ws(doc.text).find(phrase, at + 1) == -1, "the page-2 phrase is unique"
    p2 = doc.pages[1]
    assert phrase in norm_ws(doc.text[p2.start : p2.end])
    assert phrase not in norm_ws(doc.text[doc.pages[0].start : doc.pages[0].end])
    assert doc.title and "1. Net Investment Income Maintenance." in [s.label for s in doc.sections]


def test_spl_xml_sections_titles_codes_and_tables(real_docs):
    (doc,) = real_docs["humira"]
    assert doc.title == "HUMIRA (adalimumab) injection, for subcutaneous use"
    by_label = {s.label: s for s in doc.sections}
    dosage = by_label["2 DOSAGE AND ADMINISTRATION"]
    assert dosage.code == "34068-7"
    assert by_label["1 INDICATIONS AND USAGE"].code == "34067-9"
    assert by_label["5 WARNINGS AND PRECAUTIONS"].code == "43685-7"
    subs = [s for s in doc.sections if s.label.startswith("2.1 ")]
    assert len(subs) == 1
    sub = subs[0]
    assert sub.label.startswith("2.1 Rheumatoid Arthritis")
    assert dosage.start <= sub.start < sub.end <= dosage.end
    assert doc.section_at(sub.start + 5, sub.start + 50) == sub  # the innermost section wins
    for s in doc.sections:  # every section's text starts with its displayed title
        assert doc.text[s.start : s.end].startswith(s.label), s
    assert (
        "The recommended dose of HUMIRA for adult patients with rheumatoid arthritis"
        in doc.text[sub.start : sub.end]
    )
    # tables become rows of cells joined by " | "
    rows = [ln for ln in doc.text.splitlines() if " | " in ln]
    assert len(rows) > 100
    assert "Pediatric Patients (4 to 17 years) | Dose" in rows
    # no markup or XML noise; "<" itself does occur in the label ("p<0.001", "<30 kg")
    assert not TAG.search(doc.text)
    for noise in ("urn:hl7", "xmlns", "&lt;", "&amp;", "&#", "xsi:"):
        assert noise not in doc.text
    assert "48780-1" not in {s.code for s in doc.sections}  # product data elements are skipped


def test_veklury_pdf_has_30_page_spans(shared, real_docs):
    (doc,) = real_docs["veklury"]
    assert len(PdfReader(shared / VEKLURY).pages) == 30
    assert [p.label for p in doc.pages] == [str(i) for i in range(1, 31)]
    assert all(a.end <= b.start for a, b in zip(doc.pages, doc.pages[1:], strict=False))
    assert doc.pages[-1].end == len(doc.text)
    assert "remdesivir" in doc.text.lower()


def test_openfda_json_records_become_documents(shared, real_docs):
    docs = real_docs["openfda"]
    records = json.loads((shared / OPENFDA).read_text())["results"]
    name = "openfda_json/" + Path(OPENFDA).name
    assert [d.doc_id for d in docs] == [f"{name}#{i}" for i in range(5)] and len(records) == 5
    assert len({d.sha256 for d in docs}) == 5  # records of one file are told apart
    for doc, rec in zip(docs, records, strict=True):
        assert doc.title and doc.domain == "drug_labels"
        fields = [
            k
            for k, v in rec.items()
            if k
            not in (
                "openfda",
                "set_id",
                "id",
                "version",
                "effective_time",
                "spl_product_data_elements",
                "package_label_principal_display_panel",
            )
            and not k.endswith("_table")  # HTML copies of tables whose text the plain field holds
            and isinstance(v, list)
            and any(isinstance(x, str) and x.strip() for x in v)
        ]
        assert [s.code for s in doc.sections] == fields
        for s in doc.sections:
            assert s.label == s.code.replace("_", " ").upper()
            body = doc.text[s.start : s.end]
            assert body.startswith(s.label + "\n")
            assert norm_ws(rec[s.code][0]) in norm_ws(body)
        assert rec["set_id"] not in doc.text and "<" not in doc.text  # no identifiers, no HTML
    assert docs[0].title == "Acetaminophen"
    assert {"DOSAGE AND ADMINISTRATION", "WARNINGS"} <= {s.label for s in docs[0].sections}


def test_documents_have_stable_identity(tmp_path, shared):
    src = tmp_path / "corpus"
    (src / "contracts" / "sub dir").mkdir(parents=True)
    shutil.copy(shared / CUAD_SMALL, src / "contracts" / "sub dir" / "securian.PDF")
    shutil.copy(shared / OPENFDA, src / "otc.json")
    write_texts(src)
    (src / "ignored.pptx").write_bytes(b"not indexed")  # a type no loader reads

    def ingest_all(root: Path) -> list[Document]:
        files, problems = resolve_sources([Source(str(root), "mixed")], root)
        assert problems == []
        return [d for f, dom in files for d in load_file(f, dom)]

    docs = ingest_all(src)
    ids = [d.doc_id for d in docs]
    assert ids == [
        "alpha.txt",
        "beta.txt",
        "contracts/sub dir/securian.PDF",
        "gamma.md",
        "otc.json#0",
        "otc.json#1",
        "otc.json#2",
        "otc.json#3",
        "otc.json#4",
    ]
    for d in docs:
        path = Path(d.source)
        assert path.is_absolute() and path.exists() and path.is_relative_to(src)
        assert d.title.strip() and d.domain == "mixed"
        assert re.fullmatch(r"[0-9a-f]{64}", d.sha256)
        if "#" not in d.doc_id:
            assert d.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
            assert path.relative_to(src).as_posix() == d.doc_id
    # the same files elsewhere, on another run: the same ids and hashes
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(src, moved)
    again = ingest_all(moved)
    assert [(d.doc_id, d.sha256, d.title) for d in again] == [(d.doc_id, d.sha256, d.title) for d in docs]


ARMSTRONG = (
    "contracts/cuad/full_contract_pdf/Part_I/IP/"
    "ArmstrongFlooringInc_20190107_8-K_EX-10.2_11471795_EX-10.2_Intellectual Property Agreement.pdf"
)


def test_pdf_words_hyphenated_across_lines_keep_their_hyphen(shared):
    """PDFium marks a line-end hyphen and drops the break; the text keeps both, as printed, so
    "non-exclusive" is never read as "nonexclusive"."""
    (doc,) = load_file(SourceFile(shared / ARMSTRONG, "armstrong.pdf"), "contracts")
    assert "\ufffe" not in doc.text
    assert "Arizona Assigned Know-\nHow" in doc.text
    assert "KnowHow" not in doc.text and "nonexclusive" not in doc.text
    # the same words, in order, as pypdf reads them
    pypdf_words = " ".join(p.extract_text() for p in PdfReader(shared / ARMSTRONG).pages).split()
    assert doc.text.split() == pypdf_words


def test_pdfs_parsed_in_threads_read_as_when_parsed_alone(shared):
    """PDFium is not thread-safe; uploads are parsed in server threads."""
    from concurrent.futures import ThreadPoolExecutor

    paths = [shared / CUAD_SMALL, shared / ARMSTRONG, shared / VEKLURY] * 3

    def text(path: Path) -> str:
        return load_file(SourceFile(path, path.name), "x")[0].text

    alone = [text(p) for p in paths]
    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(text, paths)) == alone


EXACT = (
    "contracts/cuad/full_contract_pdf/Part_I/Promotion/"
    "ExactSciencesCorp_20180822_8-K_EX-10.1_11331629_EX-10.1_Promotion Agreement.pdf"
)


def test_pdf_clause_numbers_set_apart_by_position_keep_their_space(shared):
    """PDFium writes "1.1“AdvaMed Code”" where the page sets the number apart by position only."""
    (doc,) = load_file(SourceFile(shared / EXACT, "exact.pdf"), "contracts")
    assert "1.1 “AdvaMed Code” shall have the meaning" in doc.text
    assert "1.1“" not in doc.text
    assert "1. DEFINITIONS." in [s.label for s in doc.sections]
