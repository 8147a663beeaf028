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
