"""Loaded models, below every stage that uses them: embedders, the judge's cross-encoder runtime,
and the shipped weights (verifier/, decision/)."""

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent  # shipped weights: verifier/, decision/
