"""Web pages (.html, .htm) via BeautifulSoup on lxml: headings as sections, lists and tables as
readable lines; scripts, styles and navigation dropped; the character encoding detected."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Comment, NavigableString, Tag, UnicodeDammit
from bs4.element import CData, Declaration, Doctype, ProcessingInstruction

from pipeline.ingest.base import IngestError
from pipeline.ingest.blocks import BlockText
from pipeline.schema import Document

DROPPED = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "aside",
        "footer",
        "form",
        "button",
        "select",
        "svg",
        "canvas",
        "iframe",
        "object",
        "embed",
        "head",
        "meta",
        "link",
    }
)
DROPPED_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "complementary"})
HEADINGS = {f"h{i}": i for i in range(1, 7)}
BLOCKS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "header",
        "blockquote",
        "address",
        "figure",
        "figcaption",
        "dl",
        "dt",
        "dd",
        "hr",
        "details",
        "summary",
        "center",
        "body",
        "html",
    }
)
_NOT_TEXT = (Comment, CData, Declaration, Doctype, ProcessingInstruction)
_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")


def load_html(data: bytes, doc_id: str) -> Document:
    """One document from a saved web page."""
    dammit = UnicodeDammit(data, is_html=True)
    if dammit.unicode_markup is None:
        raise IngestError("cannot detect the character encoding of the page")
    soup = BeautifulSoup(dammit.unicode_markup, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    out = _Walker()
    out.walk(soup)
    out.flush()
    return out.text.document(doc_id, " ".join(title.split()))


class _Walker:
    def __init__(self) -> None:
        self.text = BlockText()
        self.inline: list[str] = []
        self.marker = ""  # a list item's indent and bullet or number, put before its text

    def flush(self) -> None:
        lines = [" ".join(_SPACES.sub(" ", ln).split()) for ln in "".join(self.inline).split("\n")]
        self.inline.clear()
        text = "\n".join(ln for ln in lines if ln)
        if text and self.marker:
            text, self.marker = self.marker + text, ""
        self.text.add_paragraph(text)

    def walk(self, node: Tag, depth: int = 0) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, _NOT_TEXT):
                    self.inline.append(str(child))
                continue
            if not isinstance(child, Tag) or _dropped(child):
                continue
            name = child.name
            if name in HEADINGS:
                self.flush()
                self.text.add(" ".join(child.get_text(" ").split()), heading=HEADINGS[name])
            elif name == "table":
                self.flush()
                self.text.add(_table_text(child))
            elif name in ("ul", "ol"):
                self.flush()
                self._list(child, depth)
            elif name == "pre":
                self.flush()
                self.text.add(child.get_text())
            elif name == "br":
                self.inline.append("\n")
            elif name in BLOCKS or name == "li":
                self.flush()
                self.walk(child, depth)
                self.flush()
            else:
                self.walk(child, depth)

    def _list(self, lst: Tag, depth: int) -> None:
        number = int(lst.get("start", 1)) if str(lst.get("start", "1")).isdigit() else 1
        for li in lst.find_all("li", recursive=False):
            marker = f"{number}." if lst.name == "ol" else "-"
            number += 1
            self.marker = "  " * depth + marker + " "
            self.walk(li, depth + 1)
            self.flush()


def _dropped(tag: Tag) -> bool:
    if tag.name in DROPPED or tag.has_attr("hidden"):
        return True
    return str(tag.get("role", "")).lower() in DROPPED_ROLES or "display:none" in str(
        tag.get("style", "")
    ).replace(" ", "")


def _table_text(table: Tag) -> str:
    """Caption, then one line per row with cells separated by ' | '."""
    lines = []
    caption = table.find("caption")
    if caption:
        lines.append(" ".join(caption.get_text(" ").split()))
    for tr in table.find_all("tr"):
        if tr.find_parent("table") is not table:
            continue  # a nested table's rows are read inside its cell
        cells = [" ".join(c.get_text(" ").split()) for c in tr.find_all(["td", "th"], recursive=False)]
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)
