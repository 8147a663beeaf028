"""Split documents into chunks that know their offsets, pages and section."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pipeline.schema import Chunk, Document

# Break first before headings and clause numbers, then paragraphs, lines, sentences, words.
SEPARATORS = [
    r"\n\n(?=(?:ARTICLE|Article|SECTION|Section)\s+[0-9IVXLC]+)",
    r"\n(?=(?:ARTICLE|Article|SECTION|Section)\s+[0-9IVXLC]+)",
    r"\n(?=\d{1,2}\.\d{1,2}\.?\s)",
    r"\n(?=\d{1,2}\.?\s+[A-Z])",
    r"\n\n",
    r"\n",
    r"(?<=[.;:])\s+",
    r"\s+",
    r"",
]


@dataclass(frozen=True)
class ChunkSettings:
    chunk_size: int = 900
    chunk_overlap: int = 120

    def to_dict(self) -> dict:
        return asdict(self) | {"separators": "clause-aware-v1"}


def chunk_document(doc: Document, settings: ChunkSettings) -> list[Chunk]:
    """Chunks with `doc.text[start:end] == chunk.text`, page numbers and section title."""
    # imported here: opening a corpus needs ChunkSettings, not the splitter (~0.4 s of imports)
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        separators=SEPARATORS,
        is_separator_regex=True,
        keep_separator="start",
        strip_whitespace=True,
    )
    chunks: list[Chunk] = []
    cursor = 0
    for piece in splitter.split_text(doc.text):
        start = doc.text.find(piece, cursor)
        if start < 0:  # overlap can move a repeat before the cursor; search from the beginning
            start = doc.text.find(piece)
        end = start + len(piece)
        section = doc.section_at(start, end)
        chunks.append(
            Chunk(
                doc_id=doc.doc_id,
                text=piece,
                start=start,
                end=end,
                pages=doc.page_numbers(start, end),
                section=section.label if section else "",
            )
        )
        cursor = max(cursor, start + 1)
    return chunks
