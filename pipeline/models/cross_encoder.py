"""The trained 3-way entailment verifier shipped in pipeline/models/verifier/.

A MiniLM-L6 cross-encoder (initialised from all-MiniLM-L6-v2, fine-tuned here on permissively
licensed NLI data plus contract / drug-label pairs; see MODEL_CARD.md there). Two backends
read the same shipped folder, offline:

- "onnx":  `model.int8.onnx` through ONNX Runtime (int8 dynamic quantisation) - the default;
- "torch": `weights.int8.safetensors` (weight-only int8, de-quantised to fp32 at load time)
           in a transformers BertForSequenceClassification built from `config.json`.

Labels: entailment=0, neutral=1, contradiction=2. Inputs are `[CLS] premise [SEP] hypothesis
[SEP]`, at most 256 tokens, the premise (evidence) truncated first.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.models import MODELS_DIR
from pipeline.models.offline import stay_offline
from pipeline.settings import Settings

MODEL_DIR = MODELS_DIR / "verifier"
ONNX_FILE = "model.int8.onnx"
TORCH_FILE = "weights.int8.safetensors"
TOKENIZER_FILE = "tokenizer.json"
MAX_LEN = 256
MIN_PREMISE_TOKENS = 32  # the hypothesis is only cut when the premise would drop below this
BATCH = 32  # torch; the int8 ONNX graph runs one pair per call (see TrainedJudge)

_CACHE: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()
_VERSION: dict[str, str] = {}


def model_threads() -> int:
    """Threads the verifier model runs on: VERACITY_VERIFIER_THREADS, else 2, capped at the CPU count."""
    return max(1, min(os.cpu_count() or 1, Settings().verifier_threads or 2))


def _load_tokenizer(model_dir: Path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
    tok.no_truncation()
    tok.no_padding()
    return tok


def onnx_session(path: Path, threads: int | None = None):
    """An ONNX Runtime CPU session on `threads` intra-op threads (default `model_threads()`; the scorer
    runs single-threaded sessions side by side, see TrainedJudge); benchmarks time graphs with it."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or model_threads()
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def dequantize_state_dict(tensors: dict) -> dict:
    """weights.int8.safetensors -> fp32 state dict (`name.q` int8 rows * `name.scale`)."""
    import torch

    state = {}
    for name, t in tensors.items():
        if name.endswith(".scale"):
            continue
        if name.endswith(".q"):
            base = name[:-2]
            state[base] = t.to(torch.float32) * tensors[base + ".scale"].to(torch.float32).unsqueeze(1)
        else:
            state[name] = t.to(torch.float32)
    return state


def load_torch_model(model_dir: Path):
    """The torch model from the shipped int8 weights (de-quantised to fp32), in eval mode."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig, BertForSequenceClassification

    torch.set_num_threads(model_threads())
    config = BertConfig.from_json_file(str(model_dir / "config.json"))
    model = BertForSequenceClassification(config)
    state = dequantize_state_dict(load_file(str(model_dir / TORCH_FILE)))
    missing, unexpected = model.load_state_dict(state, strict=True)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(
            f"verifier weights do not match the model: missing={missing} unexpected={unexpected}"
        )
    model.eval()
    return model


def load(backend: str, model_dir: Path, onnx_path: Path | None = None):
    key = (backend, str(onnx_path or model_dir))
    with _LOCK:
        if key not in _CACHE:
            stay_offline()
            tok = _load_tokenizer(model_dir)
            if backend == "onnx":
                model = onnx_session(onnx_path or model_dir / ONNX_FILE, threads=1)
            else:
                model = load_torch_model(model_dir)
            _CACHE[key] = (tok, model)
        return _CACHE[key]


def encode(
    tok, pairs: Sequence[tuple[str, str]], max_len: int = MAX_LEN
) -> list[tuple[list[int], list[int]]]:
    """(input_ids, token_type_ids) per pair, premise truncated first."""
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    prem = tok.encode_batch([p or "" for p, _ in pairs], add_special_tokens=False)
    hyp = tok.encode_batch([h or "" for _, h in pairs], add_special_tokens=False)
    budget = max_len - 3
    out = []
    for pe, he in zip(prem, hyp, strict=True):
        p, h = pe.ids, he.ids
        if len(p) + len(h) > budget:
            keep_p = max(budget - len(h), min(len(p), MIN_PREMISE_TOKENS))
            p = p[:keep_p]
            h = h[: budget - len(p)]
        ids = [cls_id, *p, sep_id, *h, sep_id]
        types = [0] * (len(p) + 2) + [1] * (len(h) + 1)
        out.append((ids, types))
    return out


def softmax(rows) -> list[list[float]]:
    import numpy as np

    x = np.asarray(rows, dtype=np.float64)
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return (e / e.sum(axis=1, keepdims=True)).tolist()


def model_files_present(model_dir: Path | None = None) -> bool:
    d = model_dir or MODEL_DIR
    return (d / TOKENIZER_FILE).is_file() and ((d / ONNX_FILE).is_file() or (d / TORCH_FILE).is_file())


def model_version(model_dir: Path | None = None) -> str:
    """Short sha256 of the shipped weights (ONNX file, else the torch weights); 'none' if absent."""
    d = model_dir or MODEL_DIR
    key = str(d)
    if key not in _VERSION:
        for name in (ONNX_FILE, TORCH_FILE):
            path = d / name
            if path.is_file():
                h = hashlib.sha256()
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                _VERSION[key] = h.hexdigest()[:12]
                break
        else:
            return "none"
    return _VERSION[key]
