"""What the retriever searches: a corpus's index on disk or passages given with a request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from pipeline.schema import Chunk, Place


class SearchIndex(Protocol):
    """Chunks with their vectors and a BM25 index; ids are row numbers of `vectors`."""

    titles: dict[str, str]  # doc_id -> title
    vectors: np.ndarray  # normalised float32, one row per chunk
    bm25: Any  # a bm25s.BM25 over bm25_tokens of each chunk

    def chunks(self, ids: Sequence[int]) -> list[Chunk]:
        """The chunks with these ids, in that order; an id that names no chunk is left out."""
        ...

    def chunk_ids_for(
        self, doc_ids: Sequence[str] | None = None, domains: Sequence[str] | None = None
    ) -> np.ndarray:
        """Ids of the chunks of these documents and/or domains."""
        ...

    def search_vectors(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[list[tuple[int, float]]]:
        """Per query, the k nearest chunks (id, cosine), among `allowed` ids when given."""
        ...

    def place_of(self, doc_id: str, start: int, end: int) -> Place:
        """The page (where the document has pages) and section of a character range."""
        ...
