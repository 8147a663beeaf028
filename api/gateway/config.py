"""Gateway configuration (a TOML file): the upstream LLMs, the circuit breaker, per-key evidence defaults.

[gateway]
failure_threshold = 3       # consecutive failures that open an upstream's circuit
cooldown_s = 30             # how long an open circuit skips the upstream
retention_days = 30         # stored traffic (keys with store = true) is deleted after this long

[[upstreams]]
name = "deepseek"
base_url = "https://api.deepseek.com/v1"
api_key_env = "DEEPSEEK_API_KEY"   # the NAME of the variable; the key itself never sits in the file
models = ["deepseek-chat", "deepseek-reasoner"]
connect_timeout_s = 5
read_timeout_s = 60                # longest wait for the first, and for each next, token

[keys.tenant-a]                    # defaults for requests made with the API key named tenant-a
corpus = "sample"
cascade = true                     # the LLM second judge on for its requests (the request may say no)
store = true                       # keep its completions in the audit store (the review queue)
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from api.config import ConfigError, read_toml

ANY_MODEL = "*"


class Release(StrEnum):
    """When streamed text reaches the client."""

    VERIFIED = "verified"  # each sentence held until it is verified
    IMMEDIATE = "immediate"  # tokens pass at once; verdicts follow


class EvidenceSource(StrEnum):
    CORPUS = "corpus"
    MESSAGES = "messages"  # the passages the app put in the system/user messages


class UpstreamConfig(BaseModel):
    """One OpenAI-compatible server (DeepSeek, OpenAI, vLLM, Ollama, llama.cpp server)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    base_url: str  # up to and including /v1
    api_key_env: str | None = None  # None: send no Authorization header (Ollama, a local vLLM)
    models: list[str] = Field(min_length=1)  # "*" serves any model name
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0

    @field_validator("base_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

    def api_key(self) -> str | None:
        """The key, read from the environment on each request (rotated keys need no restart)."""
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    def serves(self, model: str) -> bool:
        return ANY_MODEL in self.models or model in self.models


class KeyDefaults(BaseModel):
    """Evidence used for a key's requests that name none, and whether its traffic is stored."""

    corpus: str | None = None
    doc_ids: list[str] | None = None
    evidence: EvidenceSource | None = None
    mode: str | None = None
    release: Release | None = None
    cascade: bool | None = None  # ask the LLM judge (the server's VERACITY_CASCADE__*) by default
    store: bool = False  # each completion (answer, question, verdicts) kept in the audit store


class GatewayConfig(BaseModel):
    upstreams: list[UpstreamConfig] = Field(min_length=1)
    failure_threshold: int = Field(3, ge=1)
    cooldown_s: float = Field(30.0, ge=0)
    verify_concurrency: int = Field(4, ge=1)  # sentence verifications running at once, all streams together
    verify_timeout_s: float = 20.0  # a sentence not scored by then is `unchecked`
    max_passages: int = 64  # passages taken from the messages (`"evidence": "messages"`)
    retention_days: float = Field(30.0, gt=0)  # stored traffic older than this is deleted
    keys: dict[str, KeyDefaults] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique(self) -> GatewayConfig:
        names = [u.name for u in self.upstreams]
        if len(set(names)) != len(names):
            raise ValueError(f"upstream names must be unique: {names}")
        return self

    def stores(self, key_id: str) -> bool:
        """Whether completions made with this key are kept in the audit store."""
        defaults = self.keys.get(key_id)
        return bool(defaults and defaults.store)

    def route(self, model: str) -> list[UpstreamConfig]:
        """The upstreams serving `model`, in the order they are tried."""
        return [u for u in self.upstreams if u.serves(model)]

    def models(self) -> dict[str, str]:
        """Every named model -> the first upstream serving it."""
        out: dict[str, str] = {}
        for u in self.upstreams:
            for m in u.models:
                if m != ANY_MODEL:
                    out.setdefault(m, u.name)
        return out


def load_gateway_config(path: Path | str) -> GatewayConfig:
    """The gateway TOML; ConfigError saying what is wrong."""
    raw = read_toml(path, "gateway config")
    values = dict(raw.get("gateway", {}))
    values["upstreams"] = raw.get("upstreams", [])
    values["keys"] = raw.get("keys", {})
    try:
        return GatewayConfig(**values)
    except ValidationError as exc:
        raise ConfigError(f"gateway config {path}: {exc}") from exc
