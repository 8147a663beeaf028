"""Embedders: text -> normalised float32 vectors; one module per embedder, one registry entry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

import numpy as np

from pipeline.schema import VeracityError


class Embedder(Protocol):
    """`dim` and `id` (recorded in every index; an index built with another id is refused)."""

    dim: int
    id: str

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        ...


class UnknownEmbedder(VeracityError):
    """A corpus definition named an embedder that is not registered."""


@dataclass(frozen=True)
class EmbedderEntry:
    model_id: Callable[[], str]  # cheap: checks an index's model without loading the embedder
    load: Callable[[], Embedder]


def _minilm() -> EmbedderEntry:
    from pipeline.models.embedders import minilm

    return EmbedderEntry(model_id=minilm.model_id, load=minilm.MiniLMEmbedder)


def _minilm_torch() -> EmbedderEntry:
    from pipeline.models.embedders import minilm, minilm_torch

    return EmbedderEntry(model_id=minilm.model_id, load=minilm_torch.MiniLMTorchEmbedder)


# name -> entry. Adding an embedder: a module in this package and one entry here. `minilm` runs on
# ONNX Runtime; `minilm-torch` is the same model through sentence-transformers (same vectors, same id).
EMBEDDERS: dict[str, Callable[[], EmbedderEntry]] = {"minilm": _minilm, "minilm-torch": _minilm_torch}
DEFAULT_EMBEDDER = "minilm"


def embedder_entry(name: str = DEFAULT_EMBEDDER) -> EmbedderEntry:
    try:
        return EMBEDDERS[name]()
    except KeyError:
        raise UnknownEmbedder(
            f"unknown embedder {name!r}: choose one of {', '.join(sorted(EMBEDDERS))}"
        ) from None


def embedder_id(name: str = DEFAULT_EMBEDDER) -> str:
    """The id an index built with embedder `name` records, without loading the model."""
    return embedder_entry(name).model_id()


@lru_cache(maxsize=4)
def get_embedder(name: str = DEFAULT_EMBEDDER) -> Embedder:
    """The process-wide embedder registered under `name`, loaded once."""
    return embedder_entry(name).load()
