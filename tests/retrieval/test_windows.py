"""Evidence windows inside retrieved chunks (pipeline.retrieval.windows)."""

from __future__ import annotations

from pipeline.retrieval.windows import select_windows
from pipeline.schema import Chunk, Place, SearchHit

DOC = (
    "1. Fees. Licensee shall pay the fees set out in Schedule A. "
    "If any License Fees are more than ten (10) days past due, Licensor may assess interest on the past due "
    "amount at the rate of 1.5% per month. Licensee shall keep accurate records of all sales. "
    "2. Term. This Agreement runs for five years."
)


def chunked(size: int, overlap: int) -> list[Chunk]:
    out, start, i = [], 0, 0
    while start < len(DOC):
        end = min(len(DOC), start + size)
        out.append(Chunk("lic.txt", DOC[start:end], start, end, id=i))
        if end == len(DOC):
            break
        start, i = end - overlap, i + 1
    return out


def place_of(doc_id: str, start: int, end: int) -> Place:
    return Place()


def test_a_sentence_cut_by_the_chunk_edge_is_completed_from_the_next_chunk():
    chunks = chunked(150, 20)
    assert "past due" in chunks[0].text and "1.5%" not in chunks[0].text
    hit = SearchHit(chunks[0], 1.0, "Licence", dense=0.8)
    fetch = lambda ids: [chunks[i] for i in ids if 0 <= i < len(chunks)]  # noqa: E731
    claim = "Overdue license fees accrue interest at 1.5% per month."

    cut = select_windows(claim, [hit], place_of, top=1)[0].citation
    assert cut.quote.endswith("may assess interest on") and "1.5%" not in cut.quote

    whole = select_windows(claim, [hit], place_of, top=1, fetch=fetch)[0].citation
    assert whole.quote.endswith("at the rate of 1.5% per month.")
    assert DOC[whole.start : whole.end] == whole.quote  # still the document's own characters
    assert whole.start == cut.start


def test_a_sentence_begun_in_the_chunk_before_is_completed_from_it():
    chunks = chunked(150, 20)
    second = chunks[1]
    assert not second.text.startswith("If any")  # the chunk starts inside the interest sentence
    hit = SearchHit(second, 1.0, "Licence", dense=0.8)
    fetch = lambda ids: [chunks[i] for i in ids if 0 <= i < len(chunks)]  # noqa: E731
    window = select_windows(
        "Interest at 1.5% per month on fees ten days past due.", [hit], place_of, 1, None, fetch
    )
    quote = window[0].citation
    assert quote.quote.startswith("If any License Fees are more than ten (10) days past due")
    assert DOC[quote.start : quote.end] == quote.quote


def test_no_completion_across_documents_or_beyond_the_window_limit():
    chunks = chunked(150, 20)
    other = Chunk("other.txt", "unrelated text.", 0, 15, id=1)
    hit = SearchHit(chunks[0], 1.0, "Licence", dense=0.8)
    window = select_windows(
        "Interest at 1.5% per month.", [hit], place_of, 1, None, lambda ids: [other] if ids == [1] else []
    )
    assert "1.5%" not in window[0].citation.quote
