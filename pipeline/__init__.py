"""Veracity: check every factual sentence of an LLM answer against authoritative documents."""

__version__ = "0.1.0"
