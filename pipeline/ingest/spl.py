"""DailyMed Structured Product Labeling (SPL) XML: one document per label, LOINC-coded sections."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from pipeline.ingest.base import IngestError
from pipeline.schema import Document, Span

NS = "{urn:hl7-org:v3}"
_PRODUCT_DATA = "48780-1"  # product data elements: codes and packaging, not reader text
_BLOCKS = {"paragraph", "item", "caption", "tr", "title", "list", "table", "content_block"}
_SPACE = re.compile(r"\s+")


def looks_like_spl(data: bytes) -> bool:
    head = data[:2000]
    return b"urn:hl7-org:v3" in head and b"<document" in head


def load_spl(data: bytes, doc_id: str) -> Document:
    """Sections keep their displayed titles ("2 DOSAGE AND ADMINISTRATION") and LOINC codes;
    tables are flattened into rows of cells joined by ' | '."""

    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise IngestError(f"malformed XML: {exc}") from exc
    builder = _Builder()
    body = root.find(f"{NS}component/{NS}structuredBody")
    if body is None:
        raise IngestError("SPL document has no structuredBody")
    for comp in body.findall(f"{NS}component"):
        section = comp.find(f"{NS}section")
        if section is not None:
            builder.section(section)
    text = builder.text()
    return Document(
        doc_id=doc_id,
        title=_title(root, doc_id),
        domain="",
        source="",
        sha256="",
        text=text,
        sections=builder.spans,
    )


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.spans: list[Span] = []

    def _emit(self, s: str) -> None:
        self.parts.append(s)
        self.pos += len(s)

    def _line(self, s: str) -> None:
        s = _SPACE.sub(" ", s).strip()
        if not s:
            return
        if self.parts and not self.parts[-1].endswith("\n"):
            self._emit("\n")
        self._emit(s + "\n")

    def text(self) -> str:
        return "".join(self.parts).strip("\n")

    def section(self, sec: ET.Element) -> None:
        code_el = sec.find(f"{NS}code")
        code = code_el.get("code", "") if code_el is not None else ""
        if code == _PRODUCT_DATA:
            return
        title_el = sec.find(f"{NS}title")
        title = _SPACE.sub(" ", _inline(title_el)).strip() if title_el is not None else ""
        if not title and code_el is not None:
            title = (code_el.get("displayName") or "").title()
        if self.parts:
            self._emit("\n")
        start = self.pos
        if title:
            self._line(title)
        text_el = sec.find(f"{NS}text")
        if text_el is not None:
            self._block(text_el)
        for comp in sec.findall(f"{NS}component"):
            child = comp.find(f"{NS}section")
            if child is not None:
                self.section(child)
        end = self.pos - (1 if self.parts and self.parts[-1].endswith("\n") else 0)
        if end > start:
            self.spans.append(Span(start, end, title or "(untitled section)", code))

    def _block(self, el: ET.Element) -> None:
        """Walk block-level children; runs of inline content become one line each."""
        buf: list[str] = [el.text or ""]
        for child in el:
            tag = child.tag.replace(NS, "")
            if tag == "table":
                self._line("".join(buf))
                buf = []
                self._table(child)
            elif tag in _BLOCKS:
                self._line("".join(buf))
                buf = []
                if tag == "item":
                    self._item(child)
                else:
                    self._block(child)
            elif tag == "br":
                self._line("".join(buf))
                buf = []
            else:
                buf.append(_inline(child))
            buf.append(child.tail or "")
        self._line("".join(buf))

    def _item(self, el: ET.Element) -> None:
        before = len(self.parts)
        self._block(el)
        if len(self.parts) > before:
            # the first line of a list item gets a bullet so items stay distinguishable
            for i in range(before, len(self.parts)):
                if self.parts[i].strip():
                    self.parts[i] = "• " + self.parts[i]
                    self.pos += 2
                    break

    def _table(self, el: ET.Element) -> None:
        caption = el.find(f"{NS}caption")
        if caption is not None:
            self._line(_inline(caption))
        for tr in el.iter(f"{NS}tr"):
            cells = [_SPACE.sub(" ", _inline(td)).strip() for td in tr if td.tag in (f"{NS}td", f"{NS}th")]
            cells = [c for c in cells if c]
            if cells:
                self._line(" | ".join(cells))


def _inline(el: ET.Element | None) -> str:
    if el is None:
        return ""
    out = [el.text or ""]
    for child in el:
        tag = child.tag.replace(NS, "")
        out.append(" " if tag == "br" else _inline(child))
        if tag in ("paragraph", "item", "tr", "td", "th"):
            out.append(" ")
        out.append(child.tail or "")
    return "".join(out)


def _title(root: ET.Element, doc_id: str) -> str:
    title_el = root.find(f"{NS}title")
    lines = []
    if title_el is not None:
        buf = [title_el.text or ""]
        for child in title_el:
            if child.tag == f"{NS}br":
                lines.append("".join(buf))
                buf = []
            else:
                buf.append(_inline(child))
            buf.append(child.tail or "")
        lines.append("".join(buf))
    lines = [_SPACE.sub(" ", ln).strip() for ln in lines]
    useful = [ln for ln in lines if ln and not ln.lower().startswith(("these highlights", "initial u.s."))]
    if useful:
        return useful[0][:200]
    name = root.find(f".//{NS}manufacturedProduct/{NS}manufacturedProduct/{NS}name")
    if name is not None and (name.text or "").strip():
        return name.text.strip()
    return doc_id


def load_spl_file(data: bytes, doc_id: str) -> list[Document]:
    """The loader for .xml files: only SPL documents are accepted."""
    if not looks_like_spl(data):
        raise IngestError("XML file is not a DailyMed SPL document (no urn:hl7-org:v3 <document>)")
    return [load_spl(data, doc_id)]
