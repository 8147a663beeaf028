"""Settings of the REST API: the pipeline's Settings plus limits, auth and logging (VERACITY_* env)."""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from pipeline.schema import VeracityError
from pipeline.settings import Settings


class ConfigError(VeracityError):
    """The server cannot start with this configuration; the message says what to change."""


class KeyPolicy(BaseModel):
    """What one API key may do: the corpora it may read (verify, list, jobs) and write (upload,
    delete). "*" means every corpus. Write access implies read access."""

    name: str = ""
    read: list[str] = Field(default_factory=list)
    write: list[str] = Field(default_factory=list)


class ApiSettings(Settings):
    """Everything `veracity serve` reads. Environment: VERACITY_<FIELD> (upper case)."""

    # --- auth ---
    # JSON object {"<key>": {"read": ["sample"], "write": ["sample"], "name": "team-a"}, ...}.
    # A key written "sha256:<hex>" is compared by its SHA-256 digest, so the file need not hold it.
    api_keys: dict[str, KeyPolicy] = Field(default_factory=dict)
    # TOML file with [[keys]] tables: key (or key_sha256), name, read, write.
    api_keys_file: Path | None = None
    # True: no API keys (loopback only). False: keys required. None: decided by `serve` (see server.py).
    auth_disabled: bool | None = None
    metrics_public: bool = False  # /metrics without a key (else a key that may read "*")
    # Addresses of reverse proxies whose X-Forwarded-For / -Proto are believed (comma-separated, "*"
    # for any). Unset: the headers are ignored, so a client cannot pick its own address (the UI's
    # sign-in throttle counts per client address).
    forwarded_allow_ips: str | None = None

    # --- limits ---
    max_answer_chars: int = 20_000
    max_question_chars: int = 4_000
    max_batch: int = 16
    max_contexts: int = 32
    max_context_chars: int = 200_000  # all passages of one request together
    max_upload_bytes: int = 25 * 1024 * 1024  # per file
    max_upload_files: int = 20
    max_body_bytes: int = 16 * 1024 * 1024  # any non-upload request body
    request_timeout_s: float = 20.0  # sentences not scored by then come back `unchecked`
    verify_concurrency: int = 4  # verifications running at once (threads); more wait in line
    max_pending: int = 256  # verifications running or waiting; beyond it 503 `overloaded`
    index_workers: int = 4  # corpora indexed at once (each corpus's jobs run one after another)

    # --- start-up and logging ---
    # loaded at start-up and awaited by /readyz; env: comma-separated or a JSON list
    serve_corpora: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["sample"])
    # TOML file of upstream LLMs: set, the OpenAI-compatible gateway is served too (api/gateway/README.md).
    gateway_config: Path | None = None
    log_answers: bool = False  # debug: put answer text in the request log
    log_level: str = "INFO"

    @field_validator("serve_corpora", mode="before")
    @classmethod
    def _split_corpora(cls, value):
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                import json

                return json.loads(value)
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    def key_policies(self) -> dict[str, KeyPolicy]:
        """Keys from VERACITY_API_KEYS and VERACITY_API_KEYS_FILE together."""
        keys = dict(self.api_keys)
        if self.api_keys_file:
            keys |= load_key_file(self.api_keys_file)
        return keys


def read_toml(path: Path | str, what: str) -> dict:
    """A TOML file's tables; ConfigError naming `what` ("API key file") when it cannot be read."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} {path} does not exist") from exc
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc


def load_key_file(path: Path) -> dict[str, KeyPolicy]:
    raw = read_toml(path, "API key file")
    out: dict[str, KeyPolicy] = {}
    for i, entry in enumerate(raw.get("keys", [])):
        key = entry.get("key") or (f"sha256:{entry['key_sha256']}" if entry.get("key_sha256") else None)
        if not key:
            raise ConfigError(f"{path}: keys[{i}] has neither `key` nor `key_sha256`")
        out[str(key)] = KeyPolicy(
            name=str(entry.get("name", "")),
            read=list(entry.get("read", [])),
            write=list(entry.get("write", [])),
        )
    return out


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
