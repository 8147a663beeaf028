"""Word files and web pages made by the tests: order, sections, tables, tracked changes, headers
left out, scripts and navigation dropped, encodings detected; broken and hostile files refused."""

from __future__ import annotations

import pytest
from helpers import make_docx, zip_bomb

from pipeline.ingest import IngestError, SourceFile, load_file


def test_docx_paragraphs_sections_tables_and_tracked_changes(tmp_path):
    (doc,) = load_file(SourceFile(make_docx(tmp_path / "supply.docx"), "supply.docx"), "contracts")
    text = doc.text
    assert doc.title == "Harbour Supply Agreement"
    order = [
        "ARTICLE I. SUPPLY",
        "1.1 Products.",
        "Product | Quantity | Price",
        "Blue widget | 500 | USD 12.50",
        "ARTICLE II. TERM",
        "2.1 Term.",
        "2.2 Termination.",
    ]
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)
    assert "Either party may terminate on ninety (90) days' notice." in text  # insertion accepted
    assert "thirty (30)" not in text  # deletion accepted
    assert "CONFIDENTIAL DRAFT HEADER" not in text and "Page footer" not in text
    assert "1. List item in a numbered list" in text  # Word's automatic number rendered
    labels = [s.label for s in doc.sections]
    assert "ARTICLE II. TERM AND TERMINATION" in labels and "2.2 Termination." in labels
    for s in doc.sections:
        assert text[s.start :].startswith(s.label.split()[0])
    at = text.index("ninety (90)")
    assert doc.place(at, at + 10).section == "2.2 Termination."  # the clause, inside its article
    article = next(s for s in doc.sections if s.label.startswith("ARTICLE II"))
    assert article.start < at < article.end and article.end == len(text)


def test_broken_and_hostile_docx_fail_clearly(tmp_path):
    corrupt = tmp_path / "corrupt.docx"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip file")
    with pytest.raises(IngestError, match="corrupt"):
        load_file(SourceFile(corrupt, "corrupt.docx"), "x")

    encrypted = tmp_path / "locked.docx"  # Office wraps an encrypted package in an OLE container
    encrypted.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    with pytest.raises(IngestError, match="encrypted"):
        load_file(SourceFile(encrypted, "locked.docx"), "x")

    bomb = tmp_path / "bomb.docx"
    bomb.write_bytes(zip_bomb())
    with pytest.raises(IngestError, match="zip bomb"):
        load_file(SourceFile(bomb, "bomb.docx"), "x")


PAGE = """<!DOCTYPE html><html><head><meta charset="windows-1252"><title>Zentrol Tablets Label</title>
<style>body {{ color: red }}</style><script>var leaked = "SCRIPT TEXT";</script></head>
<body><nav><a href="/">Home</a> | <a href="/drugs">All drugs</a></nav>
<h1>Zentrol (zentrolamide) tablets</h1>
<h2>Dosage and Administration</h2><p>Take one tablet daily.<br>Do not crush.</p>
<ul><li>Adults: 20 mg once daily</li><li>Children: not established
<ol><li>under 12 years</li><li>under 6 years</li></ol></li></ul>
<h2>Storage</h2><table><caption>Storage conditions</caption>
<tr><th>Condition</th><th>Limit</th></tr><tr><td>Temperature</td><td>20 {deg}C to 25 {deg}C</td></tr></table>
<p>Caf{e} staff keep it dry.</p><footer>Copyright footer</footer></body></html>"""


def test_html_headings_lists_tables_without_scripts_or_navigation(tmp_path):
    page = tmp_path / "zentrol.html"
    page.write_bytes(PAGE.format(deg="\xb0", e="\xe9").encode("cp1252"))
    (doc,) = load_file(SourceFile(page, "zentrol.html"), "drug_labels")
    text = doc.text
    assert doc.title == "Zentrol Tablets Label"
    for gone in ("SCRIPT TEXT", "color: red", "All drugs", "Copyright footer"):
        assert gone not in text
    assert "Take one tablet daily.\nDo not crush." in text
    assert "- Adults: 20 mg once daily" in text and "  1. under 12 years" in text
    assert "Condition | Limit\nTemperature | 20 \xb0C to 25 \xb0C" in text  # encoding detected
    assert "Caf\xe9 staff" in text
    labels = [s.label for s in doc.sections]
    assert labels == ["Zentrol (zentrolamide) tablets", "Dosage and Administration", "Storage"]
    at = text.index("Temperature")
    assert doc.place(at, at + 5).section == "Storage"
    top = doc.sections[0]
    assert top.end == len(text)  # the h1 holds the h2 sections
