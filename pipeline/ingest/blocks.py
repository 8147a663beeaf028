"""Text assembled block by block (paragraphs, list items, table rows, headings) by the loaders of
structured formats (DOCX, HTML), keeping each heading's offset for the section map."""

from __future__ import annotations

import re

from pipeline.ingest.headings import nested_sections
from pipeline.schema import Document

BLOCK_SEP = "\n\n"
CLAUSE_LEVEL = 10  # numbered clauses nest inside every heading level (1-9)
_CLAUSE = re.compile(r"^(\d{1,2}(?:\.\d{1,2})*)(\.?)[ \t]+(?=[A-Z(])")
_CLAUSE_TITLE = re.compile(r"[^.;:\n]{2,80}[.;:]")


def clause_heading(text: str) -> tuple[int, str] | None:
    """(level, label) of a paragraph that starts a numbered clause: "3.2 Termination. Customer may..."
    gives (11, "3.2 Termination."); the label is the number and its title, or its first words."""
    m = _CLAUSE.match(text)
    if not m:
        return None
    rest = text[m.end() :]
    title = _CLAUSE_TITLE.match(rest)
    label = title.group(0) if title else " ".join(rest.split()[:8])
    return CLAUSE_LEVEL + m.group(1).count("."), f"{m.group(1)}{m.group(2)} {label}".strip()


class BlockText:
    """Blocks joined by blank lines; headings become nested sections."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._pos = 0
        self._marks: list[tuple[int, int, str]] = []

    def add(self, text: str, heading: int | None = None) -> None:
        """Append a block; `heading` is its level (1 = top) when it opens a section."""
        text = text.strip("\n").rstrip()  # a list item's leading indent is kept
        if not text.strip():
            return
        if self._parts:
            self._parts.append(BLOCK_SEP)
            self._pos += len(BLOCK_SEP)
        if heading is not None:
            self._marks.append((self._pos, heading, " ".join(text.split())[:200]))
        self._parts.append(text)
        self._pos += len(text)

    def add_paragraph(self, text: str) -> None:
        """A body paragraph; one that starts a numbered clause opens a section."""
        clause = clause_heading(text.strip())
        if clause is None:
            self.add(text)
            return
        level, label = clause
        start = self._pos + (len(BLOCK_SEP) if self._parts else 0)
        self.add(text)
        self._marks.append((start, level, label))

    @property
    def first_heading(self) -> str:
        return self._marks[0][2] if self._marks else ""

    def document(self, doc_id: str, title: str) -> Document:
        text = "".join(self._parts)
        return Document(
            doc_id=doc_id,
            title=(title or self.first_heading or next(iter(text.splitlines()), "") or doc_id)[:200],
            domain="",
            source="",
            sha256="",
            text=text,
            sections=nested_sections(self._marks, len(text)),
        )
