"""Word documents (.docx) via python-docx: body paragraphs and tables in order, headings and
numbered clauses as sections, tracked changes read as accepted; headers and footers left out."""

from __future__ import annotations

import functools
import io
import re
import zipfile

import docx
from docx.document import Document as DocxDocument
from docx.opc.exceptions import PackageNotFoundError
from docx.oxml.ns import qn
from lxml import etree

from pipeline.ingest.base import IngestError
from pipeline.ingest.blocks import BlockText
from pipeline.schema import Document

# A .docx is a zip: its declared sizes are checked before anything is decompressed (zipfile stops
# at the declared size, so a member cannot inflate beyond what is checked here).
MAX_UNCOMPRESSED = 200 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed, for members above RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024
MAX_MEMBERS = 10_000
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted Office files and legacy .doc

_HEADING_STYLE = re.compile(r"^(?:Heading|heading)\s*(\d)$")
# accepted text: insertions kept (w:ins), deletions and moved-away text (w:del, w:moveFrom) dropped
_NS = {"w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main"}
_TEXT = etree.XPath(
    ".//w:t[not(ancestor::w:del) and not(ancestor::w:moveFrom)]"
    " | .//w:tab[not(ancestor::w:pPr)] | .//w:br | .//w:cr",
    namespaces=_NS,
)
_MERGED_ON = etree.XPath("./w:tcPr/w:vMerge[not(@w:val) or @w:val='continue']", namespaces=_NS)


def _attr(element, path: str) -> str:
    """The string value of an XPath (an attribute) under `element`, '' when absent."""
    return str(_compiled(f"string({path})")(element))


@functools.cache
def _compiled(expr: str) -> etree.XPath:
    return etree.XPath(expr, namespaces=_NS)


def load_docx(data: bytes, doc_id: str) -> Document:
    """One document; a corrupt, encrypted or oversized (zip bomb) file raises IngestError."""
    check_package(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise IngestError(f"corrupt or unreadable DOCX: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - lxml and python-docx raise many types for broken XML
        raise IngestError(f"corrupt or unreadable DOCX: {type(exc).__name__}: {exc}") from exc
    out = BlockText()
    numbering = _Numbering(document)
    for kind, element in _body_blocks(document.element.body):
        if kind == "tbl":
            out.add(_table_text(element))
            continue
        text = numbering.prefix(element) + paragraph_text(element)
        level = _heading_level(document, element)
        if level is not None:
            out.add(text, heading=level)
        else:
            out.add_paragraph(text)
    title = (document.core_properties.title or "").strip()
    return out.document(doc_id, title)


def check_package(data: bytes) -> None:
    """Refuse encrypted, corrupt and zip-bomb packages from their directory alone."""
    if data.startswith(OLE_MAGIC):
        raise IngestError(
            "encrypted (password-protected) or legacy .doc file; save it as an unprotected .docx"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise IngestError(f"corrupt DOCX (not a zip package): {exc}") from exc
    if len(members) > MAX_MEMBERS:
        raise IngestError(f"DOCX has {len(members)} parts (over {MAX_MEMBERS}); refused as a zip bomb")
    total = sum(m.file_size for m in members)
    if total > MAX_UNCOMPRESSED:
        raise IngestError(
            f"DOCX would expand to {total / 2**20:.0f} MiB (over {MAX_UNCOMPRESSED // 2**20} MiB); "
            "refused as a zip bomb"
        )
    for m in members:
        if m.flag_bits & 0x1:
            raise IngestError("encrypted DOCX part; save it unprotected")
        if m.file_size > RATIO_FLOOR and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise IngestError(
                f"DOCX part {m.filename} compresses {m.file_size // max(m.compress_size, 1)}:1; refused as a zip bomb"
            )
    if "word/document.xml" not in {m.filename for m in members}:
        raise IngestError("corrupt DOCX: no word/document.xml (not a Word document)")


def paragraph_text(p) -> str:
    """A w:p element's text as it reads with all tracked changes accepted."""
    out = []
    for node in _TEXT(p):
        tag = node.tag
        if tag == qn("w:t"):
            out.append(node.text or "")
        elif tag == qn("w:tab"):
            out.append("\t")
        else:
            out.append("\n")
    return "".join(out)


def _body_blocks(body):
    """("p" | "tbl", element) in document order, looking inside content controls (w:sdt)."""
    for child in body.iterchildren():
        if child.tag == qn("w:p"):
            yield "p", child
        elif child.tag == qn("w:tbl"):
            yield "tbl", child
        elif child.tag == qn("w:sdt"):
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                yield from _body_blocks(content)


def _table_text(tbl) -> str:
    """One line per row, cells separated by ' | ' (a merged cell once); nested tables inline."""
    rows = []
    for tr in tbl.iterchildren(qn("w:tr")):
        cells = []
        for tc in tr.iterchildren(qn("w:tc")):
            text = " ".join(" ".join(paragraph_text(p).split()) for p in tc.iter(qn("w:p")))
            if _MERGED_ON(tc):
                text = ""  # the continuation of a vertically merged cell: said once, in the first row
            cells.append(text.strip())
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _heading_level(document: DocxDocument, p) -> int | None:
    style_id = _attr(p, "./w:pPr/w:pStyle/@w:val")
    if not style_id:
        return None
    try:
        name = document.styles.get_by_id(style_id, 1).name or ""  # 1: WD_STYLE_TYPE.PARAGRAPH
    except (KeyError, ValueError, AttributeError):
        name = style_id
    if name in ("Title", "Subtitle"):
        return 1
    m = _HEADING_STYLE.match(name)
    return int(m.group(1)) if m else None


class _Numbering:
    """Renders automatic list numbers ("3.2 ", "(a) ", "• ") that Word shows but does not store."""

    _FORMATS = {
        "decimal": str,
        "lowerLetter": lambda n: chr(96 + (n - 1) % 26 + 1),
        "upperLetter": lambda n: chr(64 + (n - 1) % 26 + 1),
        "lowerRoman": lambda n: _roman(n).lower(),
        "upperRoman": lambda n: _roman(n),
    }

    def __init__(self, document: DocxDocument) -> None:
        self.levels: dict[tuple[str, int], tuple[str, str, int]] = {}  # (numId, ilvl) -> fmt, text, start
        self.counters: dict[str, list[int]] = {}
        # list styles ("List Number") carry their numbering in the style, not the paragraph
        self.by_style: dict[str, tuple[str, int]] = {}
        for style in document.styles.element.iterchildren(qn("w:style")):
            num_id = _attr(style, "./w:pPr/w:numPr/w:numId/@w:val")
            if num_id:
                ilvl = int(_attr(style, "./w:pPr/w:numPr/w:ilvl/@w:val") or 0)
                self.by_style[style.get(qn("w:styleId"))] = (num_id, ilvl)
        try:
            root = document.part.numbering_part.element
        except (NotImplementedError, KeyError, AttributeError):
            return
        abstract = {a.get(qn("w:abstractNumId")): a for a in root.iterchildren(qn("w:abstractNum"))}
        for num in root.iterchildren(qn("w:num")):
            ref = num.find(qn("w:abstractNumId"))
            a = abstract.get(ref.get(qn("w:val"))) if ref is not None else None
            if a is None:
                continue
            for lvl in a.iterchildren(qn("w:lvl")):
                fmt = _attr(lvl, "./w:numFmt/@w:val") or "decimal"
                text = _attr(lvl, "./w:lvlText/@w:val")
                start = int(_attr(lvl, "./w:start/@w:val") or 1)
                self.levels[(num.get(qn("w:numId")), int(lvl.get(qn("w:ilvl")) or 0))] = (fmt, text, start)

    def prefix(self, p) -> str:
        num_id = _attr(p, "./w:pPr/w:numPr/w:numId/@w:val")
        ilvl = int(_attr(p, "./w:pPr/w:numPr/w:ilvl/@w:val") or 0)
        if not num_id:
            num_id, ilvl = self.by_style.get(_attr(p, "./w:pPr/w:pStyle/@w:val"), ("", 0))
        level = self.levels.get((num_id, ilvl))
        if level is None:
            return ""
        fmt, text, start = level
        if fmt == "bullet":
            return "• "
        counts = self.counters.setdefault(num_id, [])
        while len(counts) <= ilvl:
            counts.append(0)
        del counts[ilvl + 1 :]
        counts[ilvl] += 1
        for i, n in enumerate(counts):
            lf, _, ls = self.levels.get((num_id, i), ("decimal", "", 1))
            value = self._FORMATS.get(lf, str)(n + ls - 1)
            text = text.replace(f"%{i + 1}", value)
        return text + " " if text else ""


def _roman(n: int) -> str:
    out = ""
    for value, numeral in (
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ):
        while n >= value:
            out += numeral
            n -= value
    return out
