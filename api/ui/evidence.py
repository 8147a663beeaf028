"""Document text for the review UI: the cited passage inside its surrounding text, and the whole
document with the citation marked.

Documents come from the corpus's live index: through the API's already loaded Engine when there is
one (no second copy in memory), else through pipeline.store.corpora.open_index, cached per index version.
A citation's offsets are checked against the document text; when the index was rebuilt since the
verification and the text moved, the quote is looked up again (nearest occurrence) and the view says so.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.schema import Document
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.store.index_files import CorpusIndex
    from pipeline.verification.engine import Engine

log = logging.getLogger("veracity.ui")

CONTEXT_CHARS = 400


@dataclass
class Located:
    """Where a citation's quote lies in the document text now."""

    start: int
    end: int
    moved: bool = False  # the stored offsets no longer held the quote; found it elsewhere


@dataclass
class Passage:
    before: str
    quote: str
    after: str
    clipped_before: bool
    clipped_after: bool
    located: Located


@dataclass
class Segment:
    kind: str  # "text", "mark", "page"
    text: str = ""
    label: str = ""
    anchor: str = ""


@dataclass
class DocLookup:
    document: Document | None
    problem: str = ""


class DocumentSource:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._indexes: dict[str, tuple[str, CorpusIndex]] = {}
        self._lock = threading.Lock()

    def _index(self, corpus: str, engine: Engine | None) -> CorpusIndex:
        if engine is not None:
            try:
                return engine.index(corpus)
            except Exception:  # noqa: BLE001 - fall back to opening the index ourselves
                log.debug("engine could not open corpus %s", corpus, exc_info=True)
        from pipeline.store.corpora import open_index
        from pipeline.store.index_files import corpus_dir, current_version

        vdir = current_version(corpus_dir(self.settings.indexes_dir, corpus))
        key = vdir.name if vdir else ""
        with self._lock:
            cached = self._indexes.get(corpus)
        if cached and cached[0] == key:
            return cached[1]
        index = open_index(corpus, self.settings)
        with self._lock:
            self._indexes[corpus] = (index.manifest.version, index)
        return index

    def get(self, corpus: str | None, doc_id: str, engine: Engine | None = None) -> DocLookup:
        if not corpus:
            return DocLookup(
                None, "this answer was verified against passages given with the request, not a corpus"
            )
        try:
            doc = self._index(corpus, engine).document(doc_id)
        except Exception:  # noqa: BLE001 - the reviewer sees that, the log says why (server paths)
            log.exception("review UI: cannot open corpus %s", corpus)
            return DocLookup(
                None, f"corpus {corpus!r} cannot be opened on the server (the server log has the details)"
            )
        if doc is None:
            return DocLookup(None, f"document {doc_id!r} is no longer in corpus {corpus!r}")
        return DocLookup(doc)


def locate(text: str, start: int | None, end: int | None, quote: str | None) -> Located | None:
    """The quote's span in `text`: the stored offsets when they still hold it, else the occurrence
    nearest to them, else (no quote) the stored offsets when in range."""
    start = int(start or 0)
    end = int(end if end is not None else start)
    if quote:
        if text[start:end] == quote:
            return Located(start, end)
        hits, i = [], text.find(quote)
        while i != -1 and len(hits) < 1000:
            hits.append(i)
            i = text.find(quote, i + 1)
        if hits:
            best = min(hits, key=lambda h: abs(h - start))
            return Located(best, best + len(quote), moved=True)
        stripped = quote.strip()
        if stripped and stripped != quote:
            return locate(text, start, end, stripped)
        return None
    if 0 <= start <= end <= len(text):
        return Located(start, end)
    return None


def _snap_left(text: str, i: int) -> int:
    """Move a window start forward to the next word boundary (at most 40 chars)."""
    if i <= 0:
        return 0
    for j in range(i, min(i + 40, len(text))):
        if text[j - 1].isspace():
            return j
    return i


def _snap_right(text: str, i: int) -> int:
    if i >= len(text):
        return len(text)
    for j in range(i, max(i - 40, 0), -1):
        if text[j].isspace():
            return j
    return i


def passage(
    doc: Document, start: int | None, end: int | None, quote: str | None, width: int = CONTEXT_CHARS
) -> Passage | None:
    """The quote with up to `width` characters of the document on either side (cut at word boundaries)."""
    loc = locate(doc.text, start, end, quote)
    if loc is None:
        return None
    text = doc.text
    lo = _snap_left(text, max(0, loc.start - width))
    hi = _snap_right(text, min(len(text), loc.end + width))
    return Passage(
        before=text[lo : loc.start],
        quote=text[loc.start : loc.end],
        after=text[loc.end : hi],
        clipped_before=lo > 0,
        clipped_after=hi < len(text),
        located=loc,
    )


def document_segments(doc: Document, loc: Located | None) -> list[Segment]:
    """The whole text in pieces: page markers (paginated documents), plain text, and the marked citation."""
    cuts: list[tuple[int, int, Segment]] = []  # (offset, order, segment to insert there)
    for p in doc.pages:
        cuts.append((p.start, 0, Segment("page", label=p.label, anchor=f"page-{p.label}")))
    if loc is not None:
        cuts.append((loc.start, 1, Segment("mark_start")))
        cuts.append((loc.end, 2, Segment("mark_end")))
    cuts.sort(key=lambda c: (c[0], c[1]))
    out: list[Segment] = []
    pos, in_mark = 0, False
    for offset, _, seg in cuts:
        offset = max(pos, min(offset, len(doc.text)))
        if offset > pos:
            out.append(Segment("mark" if in_mark else "text", doc.text[pos:offset]))
            pos = offset
        if seg.kind == "mark_start":
            in_mark = True
        elif seg.kind == "mark_end":
            in_mark = False
        else:
            out.append(seg)
    if pos < len(doc.text):
        out.append(Segment("mark" if in_mark else "text", doc.text[pos:]))
    # the anchor of the citation goes on its first marked piece
    for seg in out:
        if seg.kind == "mark":
            seg.anchor = "cite"
            break
    return out


def where(citation: dict, doc: Document | None = None) -> str:
    """'p. 3 · Section 4. Term' style label of a citation's place, '· OCR text' added when the quote
    stands on a page of `doc` that was read by OCR."""
    parts = []
    if citation.get("page") is not None:
        parts.append(f"p. {citation['page']}")
    if citation.get("section"):
        parts.append(str(citation["section"]))
    start = citation.get("start_char")
    if doc is not None and start is not None and doc.place(start, citation.get("end_char") or start).ocr:
        parts.append("OCR text")
    return " · ".join(parts)
