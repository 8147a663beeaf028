"""The one settings object. Values come from VERACITY_* environment variables or arguments."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Thresholds:
    """Decision thresholds of the verifier, per corpus."""

    entail: float = 0.5  # entailment probability needed for 'supported'
    contradict: float = 0.6  # contradiction probability needed for 'contradicted'
    min_retrieval: float = 0.25  # evidence whose dense similarity is below this is ignored
    # A fact the learned decision scores within this distance below its threshold is reported
    # `unchecked` ("needs review") rather than `unsupported`: the evidence is close to stating it.
    review_band: float = 0.15


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VERACITY_", extra="ignore")

    home: Path = PROJECT_ROOT  # indexes/ and the audit store live below it
    corpora_dir: Path = PROJECT_ROOT / "corpora"
    embed_batch_size: int = 64
    # Above this many chunks an HNSW index replaces the exact flat one.
    approx_threshold: int = 200_000
    hnsw_m: int = 32
    hnsw_ef_search: int = 96
    hnsw_ef_construction: int = 80

    @property
    def indexes_dir(self) -> Path:
        return self.home / "indexes"


@lru_cache(maxsize=8)
def get_settings(home: str | None = None) -> Settings:
    """Settings, with `home` (the --home flag) taking precedence over VERACITY_HOME."""
    return Settings(home=Path(home)) if home else Settings()
