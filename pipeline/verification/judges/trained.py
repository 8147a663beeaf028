"""Our judge: the trained MiniLM-L6 cross-encoder shipped in pipeline/models/verifier/."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.models.cross_encoder import (
    BATCH,
    MODEL_DIR,
    encode,
    load,
    model_threads,
    model_version,
    softmax,
)
from pipeline.models.lanes import Lanes
from pipeline.verification.judges.base import JudgeScores


class TrainedJudge:
    """Judge backed by the shipped cross-encoder; the model is loaded once per process."""

    def __init__(
        self,
        backend: str = "onnx",
        model_dir: str | Path | None = None,
        batch_size: int | None = None,
        onnx_path: str | Path | None = None,
    ):
        """backend "onnx" or "torch"; onnx_path overrides the shipped ONNX file (benchmarks use it
        for the fp32 export, which is too big to ship).

        ONNX runs one pair per call by default: the int8 graph quantises activations with one
        scale over the whole input tensor, so inside a batch a pair's scores move with the other
        pairs and their padding (bench/bench_verifier.py: p(entail) by up to 0.50, 8 of 512
        labels change). One pair per call makes a sentence's verdict depend only on that sentence
        and its evidence. The calls run side by side on `model_threads()` lanes, each on a
        single-threaded session (pipeline/models/lanes.py), which is faster than batching them."""
        if backend not in ("onnx", "torch"):
            raise ValueError(f"backend must be 'onnx' or 'torch', not {backend!r}")
        self.backend = backend
        self.model_dir = Path(model_dir) if model_dir else MODEL_DIR
        self.batch_size = batch_size or (1 if backend == "onnx" else BATCH)
        self.onnx_path = Path(onnx_path) if onnx_path else None
        tag = backend if self.onnx_path is None else f"{backend}:{self.onnx_path.name}"
        self.name = f"veracity-verifier-minilm-l6@{model_version(self.model_dir)}:{tag}"
        self._tok, self._model = load(backend, self.model_dir, self.onnx_path)
        self._lanes = Lanes(model_threads() if backend == "onnx" else 1, "judge")
        self._inputs = {i.name for i in self._model.get_inputs()} if backend == "onnx" else set()

    def logits(self, pairs: Sequence[tuple[str, str]]) -> list[list[float]]:
        if not pairs:
            return []
        enc = encode(self._tok, pairs)
        # length-bucketed batches, longest first: the lanes end together rather than on one long pair
        order = sorted(range(len(enc)), key=lambda i: -len(enc[i][0]))
        batches = [order[b : b + self.batch_size] for b in range(0, len(order), self.batch_size)]
        out: list[list[float] | None] = [None] * len(enc)
        for idx, logits in zip(
            batches, self._lanes.map(lambda idx: self._run(enc, idx), batches), strict=True
        ):
            for r, i in enumerate(idx):
                out[i] = [float(v) for v in logits[r]]
        return out  # type: ignore[return-value]

    def _run(self, enc: list[tuple[list[int], list[int]]], idx: list[int]):
        import numpy as np

        width = max(len(enc[i][0]) for i in idx)
        ids = np.zeros((len(idx), width), dtype=np.int64)
        types = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for r, i in enumerate(idx):
            n = len(enc[i][0])
            ids[r, :n], types[r, :n], mask[r, :n] = enc[i][0], enc[i][1], 1
        if self.backend == "onnx":
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            return self._model.run(["logits"], {k: v for k, v in feed.items() if k in self._inputs})[0]
        import torch

        with torch.inference_mode():
            return self._model(
                input_ids=torch.from_numpy(ids),
                attention_mask=torch.from_numpy(mask),
                token_type_ids=torch.from_numpy(types),
            ).logits.numpy()

    def score(self, pairs: Sequence[tuple[str, str]]) -> list[JudgeScores]:
        return (
            [JudgeScores(entail=p[0], neutral=p[1], contradict=p[2]) for p in softmax(self.logits(pairs))]
            if pairs
            else []
        )
