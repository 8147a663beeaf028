"""API keys: who may read (verify against, list) and write (upload to, delete from) which corpora.

A key is looked up by its SHA-256 digest, so keys can be configured as "sha256:<hex>" and the
process never needs the plain key. A key that may not read a corpus gets 404 for it, exactly as
for a corpus that does not exist: a tenant never learns another tenant's corpus names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from api.config import ConfigError, KeyPolicy

HEADER = "X-API-Key"
ALL = "*"


@dataclass(frozen=True)
class Principal:
    key_id: str  # safe to log: the policy's name or a short digest prefix
    read: frozenset[str]
    write: frozenset[str]

    def can_read(self, corpus: str) -> bool:
        return bool({ALL, corpus} & (self.read | self.write))

    def can_write(self, corpus: str) -> bool:
        return bool({ALL, corpus} & self.write)

    @property
    def reads_all(self) -> bool:
        return ALL in self.read or ALL in self.write


ANONYMOUS_ADMIN = Principal("auth-disabled", frozenset({ALL}), frozenset({ALL}))


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    def __init__(self, policies: dict[str, KeyPolicy], disabled: bool) -> None:
        self.disabled = disabled
        self._by_digest: dict[str, Principal] = {}
        for key, policy in policies.items():
            if key.startswith("sha256:"):
                d = key.removeprefix("sha256:").strip().lower()
                if len(d) != 64 or any(c not in "0123456789abcdef" for c in d):
                    raise ConfigError(
                        f"API key {policy.name or key[:14]!r}: sha256 digest must be 64 hex digits"
                    )
            else:
                if len(key) < 8:
                    raise ConfigError(f"API key {policy.name or '(unnamed)'!r} is shorter than 8 characters")
                d = digest(key)
            self._by_digest[d] = Principal(
                policy.name or f"key-{d[:8]}", frozenset(policy.read), frozenset(policy.write)
            )
        if not disabled and not self._by_digest:
            raise ConfigError(
                "API authentication is enabled but no API keys are configured: set "
                'VERACITY_API_KEYS=\'{"<key>": {"read": ["sample"], "write": []}}\' or '
                "VERACITY_API_KEYS_FILE=keys.toml, or run on 127.0.0.1 with --no-auth"
            )

    def __len__(self) -> int:
        return len(self._by_digest)

    def authenticate(self, key: str | None) -> Principal | None:
        """The key's principal; None for a missing or unknown key. With auth disabled, full access."""
        if self.disabled:
            return ANONYMOUS_ADMIN
        if not key:
            return None
        return self._by_digest.get(digest(key.strip()))
