"""Pick, inside retrieved chunks, the sentences (or two adjacent sentences) that bear on a claim or a
query: the evidence windows the verifier reads, and the place a search hit shows."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.schema import Chunk, Citation, Place, SearchHit
from pipeline.text import content_words, split_sentences

MAX_WINDOW_CHARS = 700  # what the verifier reads (~128-160 tokens)

PlaceOf = Callable[[str, int, int], Place]
FetchChunks = Callable[[Sequence[int]], list[Chunk]]
_SENTENCE_END = ".!?;:…"


@dataclass
class Window:
    citation: Citation
    relevance: float  # share of the claim's content (idf-weighted) found in the window
    retrieval: float  # cosine of the chunk it came from


@dataclass(frozen=True)
class _Span:
    """A candidate window: characters [start, end) of a hit's chunk text."""

    hit: SearchHit
    start: int
    end: int
    relevance: float

    def citation(self, place_of: PlaceOf, before: str = "", after: str = "") -> Citation:
        """The window as a citation, with the page and section where its own text stands (not its
        chunk's start: a chunk may begin in the section before the quoted clause). `before` and
        `after`: the document's text just before and after the window, quoted with it."""
        c = self.hit.chunk
        start, end = c.start + self.start - len(before), c.start + self.end + len(after)
        place = place_of(c.doc_id, start, end)
        return Citation(
            doc_id=c.doc_id,
            title=self.hit.title,
            page=place.page,
            section=place.section,
            start=start,
            end=end,
            quote=before + c.text[self.start : self.end] + after,
            ocr=place.ocr,
        )

    def overlaps(self, other: _Span) -> bool:
        a, b = self.hit.chunk, other.hit.chunk
        return (
            a.doc_id == b.doc_id
            and a.start + self.start < b.start + other.end
            and b.start + other.start < a.start + self.end
        )


Sentences = list[tuple[int, int, set[str]]]


def chunk_sentences(text: str) -> Sentences:
    """(start, end, content words) of each sentence of a chunk's text."""
    return [(s, e, set(content_words(text[s:e]))) for s, e in split_sentences(text)]


def select_windows(
    claim: str,
    hits: Sequence[SearchHit],
    place_of: PlaceOf,
    top: int = 3,
    sentences: dict[int, Sentences] | None = None,
    fetch: FetchChunks | None = None,
) -> list[Window]:
    """Best windows for `claim` across the hits, at most one per overlapping region;
    `place_of(doc_id, start, end)` gives the page and section of a window's own text.
    `sentences` (chunk id -> chunk_sentences) lets the facts of one answer, which often retrieve
    the same chunks, split each chunk once. With `fetch` (the index's chunks by id), a window that a
    chunk boundary cuts mid-sentence is completed from the neighbouring chunk."""
    candidates = sorted(
        (s for spans in _spans(claim, hits, sentences) for s in spans), key=lambda s: -s.relevance
    )
    chosen: list[_Span] = []
    for s in candidates:
        if any(s.overlaps(o) for o in chosen):
            continue
        chosen.append(s)
        if len(chosen) >= top:
            break
    return [
        Window(s.citation(place_of, *(_cut_sentence(s, fetch) if fetch else ())), s.relevance, s.hit.dense)
        for s in chosen
    ]


def _cut_sentence(span: _Span, fetch: FetchChunks) -> tuple[str, str]:
    """The document's text before and after `span` that completes a sentence its chunk's edge cuts
    ("... Licensor may assess interest on the past due amount at" | next chunk: "the rate of 1.5% per
    month."), taken from the chunk before or after it in the same document, within MAX_WINDOW_CHARS
    (the end first)."""
    chunk = span.hit.chunk
    text = chunk.text
    before = after = ""
    if not text[: span.start].strip() and chunk.id > 0:
        prev = _neighbour(chunk, -1, fetch)
        if prev is not None:
            cut = chunk.start - prev.start
            for s, e in split_sentences(prev.text):
                if s < cut < e:
                    before = prev.text[s:cut] + text[: span.start]
                    break
    quote = text[span.start : span.end]
    if not text[span.end :].strip() and quote.rstrip("\"'”’)]").rstrip()[-1:] not in _SENTENCE_END:
        nxt = _neighbour(chunk, 1, fetch)
        if nxt is not None:
            cut = chunk.end - nxt.start
            end = next((e for _, e in split_sentences(nxt.text) if e > cut), None)
            if end is not None:
                after = text[span.end :] + nxt.text[cut:end]
    if len(before) + len(quote) + len(after) > MAX_WINDOW_CHARS:
        before = "" if len(quote) + len(after) <= MAX_WINDOW_CHARS else before
        after = "" if len(before) + len(quote) + len(after) > MAX_WINDOW_CHARS else after
    return before, after


def _neighbour(chunk: Chunk, step: int, fetch: FetchChunks) -> Chunk | None:
    """The chunk next to `chunk` in its document (ids follow the text), overlapping or touching it."""
    found = fetch([chunk.id + step])
    if not found or found[0].doc_id != chunk.doc_id:
        return None
    n = found[0]
    touches = chunk.start < n.start <= chunk.end if step > 0 else n.start < chunk.start <= n.end
    return n if touches else None


def locate_hits(query: str, hits: Sequence[SearchHit], place_of: PlaceOf) -> None:
    """Set each hit's `match`: the window of its chunk that best matches the query (scored as the
    verifier chooses evidence), or, when no word of the query is in the chunk (a match on meaning
    alone), the sentence at the chunk's middle. Its page and section are where a search result
    stands: a chunk may begin in the section (or on the page) before the one it is about."""
    for hit, spans in zip(hits, _spans(query, hits), strict=True):
        best = max(spans, key=lambda s: s.relevance, default=None) or _middle(hit)
        hit.match = best.citation(place_of)


def _middle(hit: SearchHit) -> _Span:
    text = hit.chunk.text
    mid = len(text) // 2
    s, e = next(((s, e) for s, e in split_sentences(text) if e > mid), (0, len(text)))
    return _Span(hit, s, min(e, s + MAX_WINDOW_CHARS), 0.0)


def _spans(
    claim: str, hits: Sequence[SearchHit], sentences: dict[int, Sentences] | None = None
) -> list[list[_Span]]:
    """Per hit, its sentences and pairs of adjacent sentences that hold some of the claim's content
    words, with their relevance: the idf-weighted share of those words they hold."""
    claim_words = content_words(claim)
    if not claim_words:
        return [[] for _ in hits]
    sentences = {} if sentences is None else sentences
    # words rare among the retrieved text weigh more: drug names, numbers, defined terms
    doc_freq: dict[str, int] = {}
    sentence_sets = []
    for hit in hits:
        sents = sentences.get(hit.chunk.id)
        if sents is None:
            sents = sentences[hit.chunk.id] = chunk_sentences(hit.chunk.text)
        for _, _, words in sents:
            for w in words:
                doc_freq[w] = doc_freq.get(w, 0) + 1
        sentence_sets.append(sents)
    n = sum(len(s) for s in sentence_sets) + 1
    weight = {w: math.log(1 + n / (1 + doc_freq.get(w, 0))) for w in set(claim_words)}
    total = sum(weight.values()) or 1.0

    out = []
    for hit, sents in zip(hits, sentence_sets, strict=True):
        spans = []
        for i, (s, e, words) in enumerate(sents):
            pairs = [(s, e, words)]
            if i + 1 < len(sents):
                s2, e2, w2 = sents[i + 1]
                if e2 - s <= MAX_WINDOW_CHARS:
                    pairs.append((s, e2, words | w2))
            for ws, we, wset in pairs:
                covered = sum(weight[w] for w in weight if w in wset)
                rel = covered / total
                # a two-sentence window must earn its extra length
                if (ws, we) != (s, e):
                    rel -= 0.03
                if rel <= 0:
                    continue
                spans.append(_Span(hit, ws, min(we, ws + MAX_WINDOW_CHARS), rel + 0.05 * hit.dense))
        out.append(spans)
    return out
