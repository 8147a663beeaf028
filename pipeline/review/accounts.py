"""Reviewers' local accounts of the review UI: names, scrypt password hashes, sign-in checks.

Table (created by the review migrations in pipeline.review.trail)
reviewers        name TEXT PRIMARY KEY, password TEXT ("scrypt$n$r$p$salt$hash", per-user random salt),
                 active INTEGER, created_at TEXT, updated_at TEXT
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from functools import lru_cache

from pipeline.audit.store import AuditStore, now
from pipeline.schema import VeracityError

REVIEWER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8

# scrypt cost: 16 MiB of memory and ~50 ms per check
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN = 2**14, 8, 1, 32


class ReviewError(VeracityError):
    """A decision or account request that cannot be carried out; the message says why."""


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """'scrypt$n$r$p$salt$hash' (hex) with a fresh random 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=SCRYPT_DKLEN, maxmem=128 * n * r * p + 2**20
    )
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches the encoded hash (constant-time comparison)."""
    try:
        algo, n, r, p, salt, digest = encoded.split("$")
        if algo != "scrypt":
            return False
        n, r, p = int(n), int(r), int(p)
        expected = bytes.fromhex(digest)
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=bytes.fromhex(salt),
            n=n,
            r=r,
            p=p,
            dklen=len(expected),
            maxmem=128 * n * r * p + 2**20,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash checked when the name is unknown, so a wrong name takes as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


def check_reviewer_name(name: str) -> str:
    """`name` when it is a valid reviewer name, else ReviewError."""
    if not REVIEWER_RE.match(name or ""):
        raise ReviewError(
            f"invalid reviewer name {name!r}: use letters, digits, '.', '_', '@' or '-' (max 64)"
        )
    return name


class ReviewerAccounts:
    """The reviewers table, for a class holding the audit store as `store` (ReviewStore)."""

    store: AuditStore

    def add_reviewer(self, name: str, password: str, *, replace: bool = False) -> None:
        """Create a reviewer (or, with replace, set a new password and re-activate one)."""
        check_reviewer_name(name)
        if len(password) < MIN_PASSWORD:
            raise ReviewError(f"the password must have at least {MIN_PASSWORD} characters")
        encoded, t = hash_password(password), now()
        with self.store.transaction() as conn:
            exists = conn.execute("SELECT 1 FROM reviewers WHERE name = ?", (name,)).fetchone()
            if exists and not replace:
                raise ReviewError(f"reviewer {name!r} exists; use set-password to change the password")
            if exists:
                conn.execute(
                    "UPDATE reviewers SET password = ?, active = 1, updated_at = ? WHERE name = ?",
                    (encoded, t, name),
                )
            else:
                conn.execute(
                    "INSERT INTO reviewers (name, password, active, created_at, updated_at) "
                    "VALUES (?, ?, 1, ?, ?)",
                    (name, encoded, t, t),
                )

    def set_active(self, name: str, active: bool) -> None:
        with self.store.transaction() as conn:
            cur = conn.execute(
                "UPDATE reviewers SET active = ?, updated_at = ? WHERE name = ?", (int(active), now(), name)
            )
            if cur.rowcount == 0:
                raise ReviewError(f"no reviewer {name!r}")

    def authenticate(self, name: str, password: str) -> bool:
        """True for an active reviewer with this password. Unknown names cost as much as wrong passwords."""
        rows = self.store.query("SELECT password, active FROM reviewers WHERE name = ?", (name,))
        if not rows:
            verify_password(password, _dummy_hash())
            return False
        return verify_password(password, rows[0]["password"]) and bool(rows[0]["active"])

    def is_active(self, name: str) -> bool:
        rows = self.store.query("SELECT active FROM reviewers WHERE name = ?", (name,))
        return bool(rows and rows[0]["active"])

    def reviewers(self) -> list[dict]:
        return self.store.query("SELECT name, active, created_at, updated_at FROM reviewers ORDER BY name")

    def has_reviewers(self) -> bool:
        return bool(self.store.query("SELECT 1 AS x FROM reviewers WHERE active = 1 LIMIT 1"))
