"""Passages an application already gave its LLM, as a throw-away in-memory index (the RAG case)."""

from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np

from pipeline.ingest.chunk import ChunkSettings, chunk_document
from pipeline.models.embedders import Embedder
from pipeline.schema import Chunk, Document, Place
from pipeline.text import bm25_tokens


class ContextIndex:
    """A SearchIndex over passages doc_id'd "context-1", "context-2", ..."""

    def __init__(
        self, passages: Sequence[str], embedder: Embedder, chunking: ChunkSettings | None = None
    ) -> None:
        chunking = chunking or ChunkSettings()
        self.documents = {}
        chunks: list[Chunk] = []
        for i, text in enumerate(passages, start=1):
            doc = Document(
                doc_id=f"context-{i}",
                title=f"Context passage {i}",
                domain="context",
                source="request",
                sha256="",
                text=text,
            )
            self.documents[doc.doc_id] = doc
            for c in chunk_document(doc, chunking):
                c.id = len(chunks)
                chunks.append(c)
        self._chunks = chunks
        self.titles = {d: doc.title for d, doc in self.documents.items()}
        self.vectors = embedder.encode([c.text for c in chunks])
        self.bm25 = bm25s.BM25()
        self.bm25.index(
            [bm25_tokens(c.text) or ["\u2205"] for c in chunks] or [["\u2205"]], show_progress=False
        )

    def chunks(self, ids: Sequence[int]) -> list[Chunk]:
        return [self._chunks[int(i)] for i in ids if 0 <= int(i) < len(self._chunks)]

    def chunk_ids_for(self, doc_ids=None, domains=None) -> np.ndarray:
        keep = [
            c.id
            for c in self._chunks
            if (doc_ids is None or c.doc_id in doc_ids) and (domains is None or "context" in domains)
        ]
        return np.array(keep, dtype=np.int64)

    def search_vectors(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[list[tuple[int, float]]]:
        ids = allowed if allowed is not None else np.arange(len(self._chunks))
        if not len(ids):
            return [[] for _ in queries]
        sims = np.asarray(queries, dtype=np.float32) @ self.vectors[ids].T
        return [[(int(ids[i]), float(row[i])) for i in np.argsort(-row)[:k]] for row in sims]

    def place_of(self, doc_id: str, start: int, end: int) -> Place:
        doc = self.documents.get(doc_id)
        return doc.place(start, end) if doc else Place()
