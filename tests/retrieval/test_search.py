"""Hybrid search over the indexed SPL drug labels."""

from __future__ import annotations

import re

from pipeline.retrieval.hybrid import Retriever
from pipeline.store.corpora import open_index


def test_humira_dose_question_finds_the_dosage_section(labels, embedder):
    settings, _ = labels
    hits = Retriever(open_index("labels", settings), embedder).search(
        "recommended dose of HUMIRA for rheumatoid arthritis", k=5
    )
    top = hits[0].chunk
    assert top.doc_id == "humira.xml", [(h.chunk.doc_id, h.chunk.section) for h in hits]
    assert top.section == "2 DOSAGE AND ADMINISTRATION" or re.match(r"2\.\d+ ", top.section), top.section
    assert "40 mg" in top.text and hits[0].title.startswith("HUMIRA")


def test_bm25_from_token_ids_scores_as_from_token_strings():
    """The indexer builds BM25 from ids that share one vocabulary (less memory); every score equals
    the index built from the token strings, empty texts included."""
    import bm25s
    import numpy as np

    from pipeline.store.index_files import bm25_corpus
    from pipeline.text import bm25_tokens

    texts = [
        "Either party may terminate this Agreement upon ninety (90) days' written notice.",
        "Licensee shall pay royalties of 5% of Net Sales within thirty days after each quarter.",
        "",
        "The recommended dose is 40 mg every other week; do not exceed 80 mg.",
        "Notice shall be given in writing to the other party at its address.",
    ]
    strings = bm25s.BM25()
    strings.index([bm25_tokens(t) or ["\u2205"] for t in texts], show_progress=False)
    ids = bm25s.BM25()
    ids.index(bm25_corpus(texts), show_progress=False)
    for query in ("terminate notice days", "royalties net sales quarter", "dose mg week", "\u2205"):
        tokens = [t for t in bm25_tokens(query) if t in strings.vocab_dict] or ["\u2205"]
        assert np.array_equal(strings.get_scores(tokens), ids.get_scores(tokens)), query
        assert strings.get_scores(tokens).max() > 0
