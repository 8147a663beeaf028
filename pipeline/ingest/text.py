"""Plain text and Markdown."""

from __future__ import annotations

from pipeline.ingest.base import IngestError
from pipeline.ingest.headings import heading_sections
from pipeline.schema import Document


def load_text(data: bytes, doc_id: str) -> Document:
    """One document; Markdown headings and contract headings become sections."""

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise IngestError("text file is neither UTF-8 nor Windows-1252") from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").replace("\xa0", " ")
    title = next((ln.strip().lstrip("#").strip() for ln in text.splitlines() if ln.strip()), doc_id)
    return Document(
        doc_id=doc_id,
        title=title[:200],
        domain="",
        source="",
        sha256="",
        text=text,
        sections=heading_sections(text),
    )
