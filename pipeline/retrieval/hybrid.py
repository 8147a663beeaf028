"""Hybrid retrieval: FAISS dense + BM25 lexical, fused by reciprocal rank, optionally scoped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.models.embedders import Embedder
from pipeline.retrieval.base import SearchIndex
from pipeline.schema import SearchHit
from pipeline.text import bm25_tokens


@dataclass(frozen=True)
class Scope:
    """Restrict retrieval to documents and/or domains; None means no restriction."""

    doc_ids: tuple[str, ...] | None = None
    domains: tuple[str, ...] | None = None

    @property
    def empty(self) -> bool:
        return self.doc_ids is None and self.domains is None


class Retriever:
    """Dense and BM25 search over one SearchIndex: the `depth` best of each, fused by reciprocal rank
    with constant `rrf_k`."""

    def __init__(self, index: SearchIndex, embedder: Embedder, rrf_k: int = 60, depth: int = 50) -> None:
        self.index = index
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.depth = depth
        self._scope_cache: dict[Scope, np.ndarray] = {}

    def allowed_ids(self, scope: Scope) -> np.ndarray | None:
        if scope.empty:
            return None
        if scope not in self._scope_cache:
            if len(self._scope_cache) > 256:
                self._scope_cache.clear()
            self._scope_cache[scope] = self.index.chunk_ids_for(scope.doc_ids, scope.domains)
        return self._scope_cache[scope]

    def search(
        self,
        query: str,
        k: int = 5,
        scope: Scope = Scope(),
        query_vec: np.ndarray | None = None,
        depth: int | None = None,
    ) -> list[SearchHit]:
        """Top-k chunks; `score` is the fused RRF score, `dense` the cosine similarity."""
        return self.search_many([query], k, scope, None if query_vec is None else query_vec[None, :], depth)[
            0
        ]

    def search_many(
        self,
        queries: Sequence[str],
        k: int = 5,
        scope: Scope = Scope(),
        query_vecs: np.ndarray | None = None,
        depth: int | None = None,
    ) -> list[list[SearchHit]]:
        """Batched search in one pass: one embedding call and one FAISS search for all queries,
        BM25 per query over one shared scope mask, and one chunk fetch for the hits of all queries."""
        if not queries:
            return []
        depth = depth or self.depth
        if query_vecs is None:
            query_vecs = self.embedder.encode(list(queries))
        allowed = self.allowed_ids(scope)
        mask = None
        if allowed is not None:
            mask = np.zeros(len(self.index.vectors), dtype=np.float32)
            mask[allowed] = 1.0
        dense_per_query = self.index.search_vectors(query_vecs, depth, allowed)
        ranked = []  # per query: top ids, fused scores, cosine and BM25 per id
        for query, vec, dense in zip(queries, query_vecs, dense_per_query, strict=True):
            lexical = self._bm25(query, depth, mask)
            fused: dict[int, float] = {}
            for rank, (cid, _) in enumerate(dense):
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (self.rrf_k + rank + 1)
            for rank, (cid, _) in enumerate(lexical):
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (self.rrf_k + rank + 1)
            top = sorted(fused, key=lambda c: -fused[c])[:k]
            dense_sim = dict(dense)
            missing = [c for c in top if c not in dense_sim]
            if missing:  # lexical-only hits still get their true cosine
                sims = np.asarray(self.index.vectors[missing]) @ vec
                dense_sim.update(zip(missing, map(float, sims), strict=True))
            ranked.append((top, fused, dense_sim, dict(lexical)))
        wanted = list(dict.fromkeys(cid for top, *_ in ranked for cid in top))
        by_id = {c.id: c for c in self.index.chunks(wanted)}
        results = []
        for top, fused, dense_sim, lex in ranked:
            hits = []
            for cid in top:
                chunk = by_id.get(cid)
                if chunk is None:
                    continue
                hit = SearchHit(chunk=chunk, score=fused[cid], title=self.index.titles.get(chunk.doc_id, ""))
                hit.dense = dense_sim[cid]
                hit.lexical = lex.get(cid, 0.0)
                hits.append(hit)
            results.append(hits)
        return results

    def _bm25(self, query: str, depth: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
        bm25 = self.index.bm25
        tokens = [t for t in bm25_tokens(query) if t in bm25.vocab_dict]
        if not tokens:
            return []
        scores = bm25.get_scores(tokens)
        if mask is not None:
            scores = scores * mask
        n = min(depth, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]
