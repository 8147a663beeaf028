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
