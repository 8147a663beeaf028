"""An ONNX graph of a BERT sentence encoder (encoder, mean pooling, L2 normalisation), built in memory
from its safetensors weights with the `onnx` helper API: no torch, no export step, no file written.

The graph computes what sentence-transformers' Transformer + Pooling(mean) + Normalize modules
compute, in fp32, so its vectors match theirs to float rounding and an index built by either one
stays valid for the other. Inputs: `input_ids` and `attention_mask` (int64, [batch, seq]) for single
texts (token type 0 throughout); output: `embedding` (float32, [batch, hidden]).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

OPSET = 20  # LayerNormalization (17) and Gelu (20) as standard ops; ONNX Runtime fuses the rest


_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read-only arrays mapped from a .safetensors file (8-byte header length, JSON header, data):
    nothing is copied or read until used."""
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    n = int.from_bytes(raw[:8].tobytes(), "little")
    header = json.loads(raw[8 : 8 + n].tobytes())
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        data = raw[8 + n + begin : 8 + n + end].view(_DTYPES[meta["dtype"]])
        # Checkpoints saved from BertModel have no "bert." prefix; ones saved from a task head do.
        out[name.removeprefix("bert.")] = data.reshape(meta["shape"])
    return out


def build_graph(model_dir: Path) -> tuple[Any, dict[str, np.ndarray]]:
    """The encoder's `onnx.ModelProto` from `config.json` + `model.safetensors`, and its weights by
    name: the graph names them as external data, to be handed to ONNX Runtime in memory
    (`SessionOptions.add_external_initializers`) rather than copied into the protobuf."""
    from onnx import TensorProto, helper, numpy_helper

    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if (
        config.get("hidden_act", "gelu") != "gelu"
        or config.get("position_embedding_type", "absolute") != "absolute"
    ):
        raise ValueError(f"{model_dir}: only BERT with gelu and absolute positions is supported")
    w = read_safetensors(model_dir / "model.safetensors")
    hidden, heads = config["hidden_size"], config["num_attention_heads"]
    head_dim = hidden // heads
    eps = float(config["layer_norm_eps"])

    nodes: list = []
    inits: list = []
    weights: dict[str, np.ndarray] = {}

    def const(name: str, value: np.ndarray) -> str:
        value = np.ascontiguousarray(value)
        if value.size < 64:  # shapes and scalars: inline
            inits.append(numpy_helper.from_array(value, name))
            return name
        t = TensorProto(name=name, dims=value.shape, data_type=helper.np_dtype_to_tensor_dtype(value.dtype))
        t.data_location = TensorProto.EXTERNAL
        t.external_data.add(key="location", value="in-memory")  # never read: the session gets `weights`
        inits.append(t)
        weights[name] = value
        return name

    def node(op: str, inputs: list[str], out: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def linear(x: str, prefix: str, out: str) -> str:
        # torch Linear keeps weight as [out, in]; MatMul wants [in, out]
        wt = const(f"{prefix}.weight.T", np.asarray(w[f"{prefix}.weight"].T, dtype=np.float32))
        b = const(f"{prefix}.bias", np.asarray(w[f"{prefix}.bias"], dtype=np.float32))
        return node("Add", [node("MatMul", [x, wt], f"{out}.mm"), b], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        g = const(f"{prefix}.weight", np.asarray(w[f"{prefix}.weight"], dtype=np.float32))
        b = const(f"{prefix}.bias", np.asarray(w[f"{prefix}.bias"], dtype=np.float32))
        return node("LayerNormalization", [x, g, b], out, axis=-1, epsilon=eps)

    # Embeddings: word + position + token type 0 (single texts), folded into one position table.
    const("word_emb", np.asarray(w["embeddings.word_embeddings.weight"], dtype=np.float32))
    pos = w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
    const("pos_type_emb", pos.astype(np.float32))
    const("i0", np.array([0], dtype=np.int64))
    const("i1", np.array([1], dtype=np.int64))
    const("i2", np.array([2], dtype=np.int64))
    node("Shape", ["input_ids"], "ids_shape")
    node("Slice", ["ids_shape", "i1", "i2"], "seq_len")
    node("Slice", ["pos_type_emb", "i0", "seq_len", "i0"], "pos_rows")
    node("Gather", ["word_emb", "input_ids"], "tok_rows")
    node("Add", ["tok_rows", "pos_rows"], "emb_sum")
    x = layer_norm("emb_sum", "embeddings.LayerNorm", "emb")

    # Additive attention mask [batch, 1, 1, seq]: 0 for tokens, the float32 minimum for padding (as
    # transformers does), so padded keys get exactly zero weight.
    node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    const("one", np.array(1.0, dtype=np.float32))
    const("neg", np.array(np.finfo(np.float32).min, dtype=np.float32))
    node("Sub", ["one", "mask_f"], "mask_inv")
    node("Mul", ["mask_inv", "neg"], "mask_add2d")
    const("axes12", np.array([1, 2], dtype=np.int64))
    node("Unsqueeze", ["mask_add2d", "axes12"], "mask_add")

    const("split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    const("merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    const("scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        heads_of = {}
        for part in ("query", "key", "value"):
            proj = linear(x, f"{p}.attention.self.{part}", f"l{i}.{part}")
            split = node("Reshape", [proj, "split_heads"], f"l{i}.{part}.split")
            perm = [0, 2, 3, 1] if part == "key" else [0, 2, 1, 3]  # keys transposed for q @ k
            heads_of[part] = node("Transpose", [split], f"l{i}.{part}.heads", perm=perm)
        scores = node("MatMul", [heads_of["query"], heads_of["key"]], f"l{i}.scores")
        scaled = node("Mul", [scores, "scale"], f"l{i}.scaled")
        masked = node("Add", [scaled, "mask_add"], f"l{i}.masked")
        probs = node("Softmax", [masked], f"l{i}.probs", axis=-1)
        ctx = node("MatMul", [probs, heads_of["value"]], f"l{i}.ctx")
        ctx = node("Transpose", [ctx], f"l{i}.ctx.t", perm=[0, 2, 1, 3])
        ctx = node("Reshape", [ctx, "merge_heads"], f"l{i}.ctx.merged")
        attn = linear(ctx, f"{p}.attention.output.dense", f"l{i}.attn_out")
        h = layer_norm(node("Add", [attn, x], f"l{i}.attn_res"), f"{p}.attention.output.LayerNorm", f"l{i}.h")
        up = linear(h, f"{p}.intermediate.dense", f"l{i}.up")
        act = node("Gelu", [up], f"l{i}.gelu")  # exact (erf) gelu, as BERT's "gelu"
        down = linear(act, f"{p}.output.dense", f"l{i}.down")
        x = layer_norm(node("Add", [down, h], f"l{i}.ffn_res"), f"{p}.output.LayerNorm", f"l{i}.out")

    # Mean pooling over real tokens, then L2 normalisation (sentence-transformers' clamps: 1e-9, 1e-12).
    const("axis_last", np.array([-1], dtype=np.int64))
    const("axis_seq", np.array([1], dtype=np.int64))
    const("min_count", np.array(1e-9, dtype=np.float32))
    const("min_norm", np.array(1e-12, dtype=np.float32))
    node("Unsqueeze", ["mask_f", "axis_last"], "mask_3d")
    node("Mul", [x, "mask_3d"], "masked_tokens")
    node("ReduceSum", ["masked_tokens", "axis_seq"], "token_sum", keepdims=0)
    node("ReduceSum", ["mask_3d", "axis_seq"], "token_count", keepdims=0)
    node("Max", ["token_count", "min_count"], "token_count_safe")
    node("Div", ["token_sum", "token_count_safe"], "mean")
    node("ReduceL2", ["mean", "axis_last"], "norm", keepdims=1)
    node("Max", ["norm", "min_norm"], "norm_safe")
    node("Div", ["mean", "norm_safe"], "embedding")

    graph = helper.make_graph(
        nodes,
        "bert_mean_pooled",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=10), weights
