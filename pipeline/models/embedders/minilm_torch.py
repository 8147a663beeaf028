"""all-MiniLM-L6-v2 through sentence-transformers and torch: the reference the ONNX embedder
(`minilm`) is checked against, registered as `minilm-torch` under the same model id."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from pipeline.models.embedders.minilm import embedder_threads, model_dir, model_id
from pipeline.models.offline import stay_offline


class MiniLMTorchEmbedder:
    """Normalised float32 vectors; thread-safe (torch inference under a lock is cheaper than copies)."""

    def __init__(self) -> None:
        stay_offline()
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        if embedder_threads():
            torch.set_num_threads(embedder_threads())
        transformers.logging.disable_progress_bar()
        self.model = SentenceTransformer(str(model_dir()), device="cpu")
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
