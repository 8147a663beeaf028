"""Reviewer sessions of the review UI: an HMAC-signed cookie, a CSRF token per session, revocation
on sign-out (in the database, shared by replicas), and a throttle on failed sign-ins (per process).

The cookie holds {"r": reviewer or None, "c": csrf token, "e": expiry (unix s)}, base64url JSON and
an HMAC-SHA256 over it. The key comes from `settings.ui_secret` (VERACITY_UI_SECRET), else a
random secret generated once into `settings.home / ".veracity-ui-secret"` (mode 0600). Signing in
issues a fresh session (new CSRF token), so a token seen before sign-in is worthless after it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from pipeline.db import Connection, Database, Migration
from pipeline.files import atomic_write
from pipeline.settings import Settings

COOKIE = "veracity_ui"
SECRET_FILE = ".veracity-ui-secret"
DEFAULT_TTL_S = 12 * 3600
LOGIN_FORM_TTL_S = 3600  # the pre-sign-in session only carries the login form's CSRF token


def load_secret(settings: Settings) -> bytes:
    """The signing key (see the module docstring for where it comes from)."""
    explicit = settings.ui_secret
    if explicit:
        if len(str(explicit)) < 32:
            raise ValueError("VERACITY_UI_SECRET must have at least 32 characters")
        return str(explicit).encode("utf-8")
    path = Path(settings.home) / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    try:
        atomic_write(path, lambda fp: fp.write(secret.hex()), mode=0o600, exclusive=True)
    except FileExistsError:  # another process won the race
        return bytes.fromhex(path.read_text().strip())
    return secret


@dataclass(frozen=True)
class Session:
    reviewer: str | None
    csrf: str
    expires: int

    @classmethod
    def new(cls, reviewer: str | None, ttl_s: int) -> Session:
        return cls(reviewer, secrets.token_urlsafe(24), int(time.time()) + ttl_s)


class Signer:
    def __init__(self, secret: bytes, ttl_s: int = DEFAULT_TTL_S) -> None:
        self._key = hashlib.sha256(b"veracity-ui-session\0" + secret).digest()
        self.ttl_s = ttl_s

    def _mac(self, payload: bytes) -> str:
        return (
            base64.urlsafe_b64encode(hmac.new(self._key, payload, hashlib.sha256).digest())
            .decode()
            .rstrip("=")
        )

    def dumps(self, session: Session) -> str:
        body = json.dumps(
            {"r": session.reviewer, "c": session.csrf, "e": session.expires}, separators=(",", ":")
        ).encode()
        payload = base64.urlsafe_b64encode(body).rstrip(b"=")
        return payload.decode() + "." + self._mac(payload)

    def loads(self, token: str | None) -> Session | None:
        """The session, or None for a missing, tampered or expired cookie."""
        if not token or token.count(".") != 1 or len(token) > 1024:
            return None
        payload, mac = token.split(".")
        if not hmac.compare_digest(self._mac(payload.encode()), mac):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(data["r"], str(data["c"]), int(data["e"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if session.expires < time.time():
            return None
        return session


class LoginThrottle:
    """Failed sign-ins in the last `window_s`: at most `limit` per (name, client), `account_limit` per
    name from any client, `client_limit` per client for any name. `attempt` checks and counts in one
    step, so concurrent guesses cannot all slip past the check; a success takes its count back."""

    def __init__(
        self, limit: int = 5, window_s: float = 300.0, account_limit: int = 20, client_limit: int = 30
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.account_limit = account_limit
        self.client_limit = client_limit
        self._fails: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, name: str, client: str) -> list[tuple[tuple[str, str], int]]:
        name = name.lower()
        return [
            ((name, client), self.limit),
            ((name, "*"), self.account_limit),
            (("*", client), self.client_limit),
        ]

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        cutoff = time.monotonic() - self.window_s
        while q and q[0] < cutoff:
            q.popleft()
        return q

    def blocked(self, name: str, client: str) -> bool:
        with self._lock:
            return any(len(self._recent(k)) >= n for k, n in self._keys(name, client))

    def attempt(self, name: str, client: str) -> bool:
        """False when blocked; else the attempt is counted as a failure until `succeeded`."""
        with self._lock:
            keys = self._keys(name, client)
            if any(len(self._recent(k)) >= n for k, n in keys):
                return False
            self._count(keys)
            return True

    def failed(self, name: str, client: str) -> None:
        with self._lock:
            self._count(self._keys(name, client))

    def _count(self, keys: list[tuple[tuple[str, str], int]]) -> None:
        now = time.monotonic()
        for k, _n in keys:
            self._recent(k).append(now)
        if len(self._fails) > 10_000:  # forget idle keys
            for k in [k for k, q in self._fails.items() if not q]:
                del self._fails[k]

    def succeeded(self, name: str, client: str) -> None:
        with self._lock:
            keys = self._keys(name, client)
            self._fails.pop(keys[0][0], None)
            for k, _n in keys[1:]:
                q = self._fails.get(k)
                if q:
                    q.pop()


def _u1(conn: Connection) -> None:
    conn.ddl("CREATE TABLE ui_revoked (id TEXT PRIMARY KEY, expires INTEGER NOT NULL)")


# UI_MIGRATIONS[i] brings the UI's tables to version i + 1 (tracked in `ui_schema`).
UI_MIGRATIONS: list[Migration] = [_u1]


class Revocations:
    """Sessions ended by signing out, until they would have expired anyway: the table `ui_revoked` in
    the audit store's database holds a digest of each session's token and its expiry, so a cookie
    saved before sign-out is refused by every server process (and replica) sharing that database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.migrate("ui_schema", UI_MIGRATIONS, "the review UI's tables")

    @staticmethod
    def _id(session: Session) -> str:
        return hashlib.sha256(session.csrf.encode()).hexdigest()[:32]

    def revoked(self, session: Session) -> bool:
        return self.db.scalar("SELECT 1 FROM ui_revoked WHERE id = ?", (self._id(session),)) is not None

    def revoke(self, session: Session) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM ui_revoked WHERE expires < ?", (int(time.time()),))
            conn.execute(
                "INSERT INTO ui_revoked (id, expires) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (self._id(session), session.expires),
            )
