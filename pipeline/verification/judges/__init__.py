"""Judges: score (evidence, claim) pairs as entail / neutral / contradict; one module per judge, one registry entry.
llm.py holds the cascade's LLM judge, which gives verdicts rather than scores and is not registered."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from pipeline.models.cross_encoder import MODEL_DIR, ONNX_FILE, TORCH_FILE, model_files_present
from pipeline.schema import VeracityError
from pipeline.verification.judges.base import Judge, JudgeScores
from pipeline.verification.judges.lexical import LexicalJudge
from pipeline.verification.judges.trained import TrainedJudge

__all__ = ["JUDGES", "Judge", "JudgeScores", "UnknownJudge", "make_judge"]


class UnknownJudge(VeracityError):
    """A corpus definition or request named a judge that is not registered."""


def _auto() -> Judge:
    """Our trained judge (ONNX Runtime, else torch) when its files ship, else the lexical one."""
    if model_files_present():
        for backend, fname, module in (("onnx", ONNX_FILE, "onnxruntime"), ("torch", TORCH_FILE, "torch")):
            if (MODEL_DIR / fname).is_file() and importlib.util.find_spec(module) is not None:
                return TrainedJudge(backend=backend)
    return LexicalJudge()


# name -> constructor. Adding a judge: a module in this package and one entry here.
JUDGES: dict[str, Callable[[], Judge]] = {
    "auto": _auto,
    "trained": lambda: TrainedJudge(backend="onnx"),
    "trained-torch": lambda: TrainedJudge(backend="torch"),
    "lexical": LexicalJudge,
}


def make_judge(name: str = "auto") -> Judge:
    """The judge registered under `name` ("auto": the trained one when it ships, else lexical)."""
    try:
        factory = JUDGES[name]
    except KeyError:
        raise UnknownJudge(f"unknown judge {name!r}: choose one of {', '.join(sorted(JUDGES))}") from None
    return factory()
