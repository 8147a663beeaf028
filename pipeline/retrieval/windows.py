"""Pick, inside retrieved chunks, the sentences (or two adjacent sentences) that bear on a claim."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.schema import Citation, Place, SearchHit
from pipeline.text import content_words, split_sentences

MAX_WINDOW_CHARS = 700  # what the verifier reads (~128-160 tokens)


@dataclass
class Window:
    citation: Citation
    relevance: float  # share of the claim's content (idf-weighted) found in the window
    retrieval: float  # cosine of the chunk it came from


Sentences = list[tuple[int, int, set[str]]]


def chunk_sentences(text: str) -> Sentences:
    """(start, end, content words) of each sentence of a chunk's text."""
    return [(s, e, set(content_words(text[s:e]))) for s, e in split_sentences(text)]


def select_windows(
    claim: str,
    hits: Sequence[SearchHit],
    place_of: Callable[[str, int, int], Place],
    top: int = 3,
    sentences: dict[int, Sentences] | None = None,
) -> list[Window]:
    """Best windows for `claim` across the hits, at most one per overlapping region.

    `place_of(doc_id, start, end)` gives the page and section where a window's own text stands
    (not its chunk's start: a chunk may begin in the section before the quoted clause).
    `sentences` (chunk id -> chunk_sentences) lets the facts of one answer, which often retrieve
    the same chunks, split each chunk once.
    """
    claim_words = content_words(claim)
    if not claim_words:
        return []
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

    # (relevance, hit, start, end, quote); the page and section are looked up for the chosen only
    candidates: list[tuple[float, SearchHit, int, int, str]] = []
    for hit, sents in zip(hits, sentence_sets, strict=True):
        c = hit.chunk
        for i, (s, e, words) in enumerate(sents):
            spans = [(s, e, words)]
            if i + 1 < len(sents):
                s2, e2, w2 = sents[i + 1]
                if e2 - s <= MAX_WINDOW_CHARS:
                    spans.append((s, e2, words | w2))
            for ws, we, wset in spans:
                covered = sum(weight[w] for w in weight if w in wset)
                rel = covered / total
                # a two-sentence window must earn its extra length
                if (ws, we) != (s, e):
                    rel -= 0.03
                if rel <= 0:
                    continue
                text = c.text[ws:we]
                if len(text) > MAX_WINDOW_CHARS:
                    text = text[:MAX_WINDOW_CHARS]
                    we = ws + len(text)
                candidates.append((rel + 0.05 * hit.dense, hit, c.start + ws, c.start + we, text))
    candidates.sort(key=lambda w: -w[0])
    chosen: list[Window] = []
    for relevance, hit, start, end, text in candidates:
        doc_id = hit.chunk.doc_id
        if any(
            o.citation.doc_id == doc_id and start < o.citation.end and o.citation.start < end for o in chosen
        ):
            continue
        place = place_of(doc_id, start, end)
        citation = Citation(
            doc_id=doc_id,
            title=hit.title,
            page=place.page,
            section=place.section,
            start=start,
            end=end,
            quote=text,
            ocr=place.ocr,
        )
        chosen.append(Window(citation=citation, relevance=relevance, retrieval=hit.dense))
        if len(chosen) >= top:
            break
    return chosen
