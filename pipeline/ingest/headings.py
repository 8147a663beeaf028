"""Section headings in contract-like plain text: ARTICLE IV, Section 5, 12.3 Title, Markdown #."""

from __future__ import annotations

import re

from pipeline.schema import Span

_HEADING = re.compile(
    r"^[ \t]*(?:"
    r"#{1,6}[ \t]+\S.*"  # Markdown
    r"|(?:ARTICLE|Article)[ \t]+(?:[IVXLC]+|\d+)\b.*"  # ARTICLE IV ...
    r"|(?:SECTION|Section)[ \t]+\d+(?:\.\d+)*\.?[ \t]+[A-Z].{0,80}"  # Section 5. Term
    r"|\d{1,2}(?:\.\d{1,2})*\.?[ \t]+[A-Z][A-Za-z ,&'/-]{2,80}\.?"  # 12.3 Confidentiality.
    r"|[A-Z][A-Z0-9 ,&'/()-]{5,80}"  # ALL-CAPS LINE
    r")[ \t]*$",
    re.MULTILINE,
)


def heading_sections(text: str) -> list[Span]:
    """Sections running from each heading line to the next one."""
    marks = []
    for m in _HEADING.finditer(text):
        title = m.group(0).strip().lstrip("#").strip()
        if len(title.split()) <= 14:
            marks.append((m.start(), title))
    spans = []
    for i, (start, title) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(text)
        spans.append(Span(start, end, title))
    return spans


def nested_sections(marks: list[tuple[int, int, str]], end: int) -> list[Span]:
    """Sections from (start, level, title) marks in text order: each runs to the next mark of the
    same or a higher level (a smaller number), so subsections nest inside their heading."""
    spans = []
    for i, (start, level, title) in enumerate(marks):
        stop = next((s for s, lv, _ in marks[i + 1 :] if lv <= level), end)
        spans.append(Span(start, stop, title))
    return spans
