"""The one settings object. Values come from VERACITY_* environment variables or arguments."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
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
    # Where the learned decision's p(supported) starts 'supported'; None: the shipped model's own
    # threshold. Set per corpus by `veracity calibrate`.
    decision: float | None = None
    # A failed slot check speaks only for on-topic evidence: relevance at least
    # max(on_topic_floor, on_topic_share * the best window's), or at least contradiction_relevance
    # when the judge also leans to contradiction (p >= veto_contradict). Such a failure vetoes support
    # and makes a contradiction of confidence at least veto_confidence.
    on_topic_floor: float = 0.45
    on_topic_share: float = 0.85
    contradiction_relevance: float = 0.35  # also the least relevance for a judge-only contradiction
    veto_contradict: float = 0.3
    veto_confidence: float = 0.8
    # Above this share of letters in scripts the judge cannot read, a claim is not judged.
    foreign_share: float = 0.3
    # The cascade's uncertain band: with the LLM judge on, a fact no slot check vetoed whose best
    # entailment probability is in [cascade_low, cascade_high) goes to it, as do 'needs review' facts.
    cascade_low: float = 0.1
    cascade_high: float = 0.9


class CascadeSettings(BaseModel):
    """The LLM asked about the facts the local judge is unsure of (VERACITY_CASCADE__<FIELD>)."""

    enabled: bool = False  # a corpus's [cascade] table and the request's `cascade` override it
    base_url: str = ""  # an OpenAI-compatible API, e.g. https://api.deepseek.com/v1
    model: str = ""
    api_key_env: str | None = None  # the NAME of the environment variable holding the key
    timeout_s: float = 30.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VERACITY_", env_nested_delimiter="__", extra="ignore")

    home: Path = PROJECT_ROOT  # indexes/ and the audit store live below it
    corpora_dir: Path = PROJECT_ROOT / "corpora"
    # Texts per embedding call when indexing (length-sorted, so little padding). Small batches keep
    # the attention matrices in cache: 8 embeds ~35 % more chunks/s than 64 on this 2-core machine,
    # at less than half the memory (bench/bench_index.py --sizes 20,100: raw encode 38.4 -> 51.9
    # chunks/s and peak RSS 1,559 -> 714 MB at 100 contracts).
    embed_batch_size: int = 8
    # Above this many chunks an HNSW index replaces the exact flat one.
    approx_threshold: int = 200_000
    hnsw_m: int = 32
    hnsw_ef_search: int = 96
    hnsw_ef_construction: int = 80
    embedder: str = "minilm"  # for caller-given passages; a corpus names its own in its TOML
    embedder_threads: int = 0  # intra-op threads of the embedder; 0: one per physical core
    # Retrieval: chunks fetched per fact, evidence windows kept per fact, candidates taken from each of
    # the dense and BM25 searches before fusion, and the reciprocal-rank-fusion constant.
    chunks_per_claim: int = 6
    evidence_per_claim: int = 3
    retrieval_depth: int = 50
    rrf_k: int = 60
    # Verification: the judge a corpus uses unless its TOML or the request names one.
    judge: str = "auto"
    cascade: CascadeSettings = Field(default_factory=CascadeSettings)
    verifier_threads: int = 0  # model threads of the trained judge; 0: 2, capped at the CPU count
    audit_threads: int = 1  # model threads per audit worker process
    audit_db: Path | None = None  # default: home / audit.sqlite
    # The stores (audit, review trail, accounts, jobs, UI sessions) in PostgreSQL instead of the SQLite
    # file, e.g. postgresql://veracity:PASSWORD@db.internal/veracity: what replicas share (pipeline/db).
    database_url: str | None = None
    database_pool_size: int = 8  # connections per store and process (PostgreSQL: mind max_connections)
    ui_secret: str | None = None  # signs review UI cookies; default: a key kept in home
    # An uploaded file with more PDF pages or more extracted characters than this is refused.
    max_file_pages: int = 2_000
    max_file_chars: int = 5_000_000

    @property
    def indexes_dir(self) -> Path:
        return self.home / "indexes"


@lru_cache(maxsize=8)
def get_settings(home: str | None = None) -> Settings:
    """Settings, with `home` (the --home flag) taking precedence over VERACITY_HOME."""
    return Settings(home=Path(home)) if home else Settings()
