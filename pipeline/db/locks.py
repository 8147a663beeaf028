"""Named locks held in the database, released when their holder dies.

PostgreSQL: a session advisory lock on a connection of its own; the server drops it when that
connection ends, which a killed process's does at once (its socket closes) and a dead host's after
about 25 s (TCP keepalives, set per session in Database.open_raw). SQLite: an exclusive flock on a
file in `<database>.locks/`, which the kernel drops when the holding process dies. Either way two
holders in one process exclude each other too.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from typing import TYPE_CHECKING, Any

from pipeline.db.database import Dialect

if TYPE_CHECKING:
    from pipeline.db.database import Database

_POLL_S = 0.2


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key of a lock name."""
    digest = hashlib.blake2b(b"veracity\0" + name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class NamedLock:
    """A lock on `name` in `db`: acquire(timeout) / release(), or `with` (waits as long as it takes)."""

    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = name
        self._held: Any = None

    @property
    def held(self) -> bool:
        return self._held is not None

    def acquire(self, timeout: float | None = None) -> bool:
        """True once held; False when `timeout` seconds passed first (0: one try)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        session = self.db.open_raw() if self.db.dialect == Dialect.POSTGRESQL else None
        try:
            while True:
                if self._try(session):
                    session = None  # now holds the lock
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                time.sleep(_POLL_S)
        finally:
            if session is not None:
                session.close()

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.close()  # ends the session (PostgreSQL) or the open file (flock): the lock goes with it

    def __enter__(self) -> NamedLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _try(self, session: Any) -> bool:
        if session is not None:  # PostgreSQL
            if session.execute("SELECT pg_try_advisory_lock(%s)", (lock_key(self.name),)).fetchone()[0]:
                self._held = session
                return True
            return False
        folder = self.db.path.with_name(self.db.path.name + ".locks")
        folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", self.name)[:80] + f"-{lock_key(self.name) & 0xFFFFFFFF:08x}"
        fh = open(folder / f"{safe}.lock", "a")  # noqa: SIM115 - held open as long as the lock
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.truncate(0)
        fh.write(f"{os.getpid()}\n")  # who holds it, for a person looking
        fh.flush()
        self._held = fh
        return True


def held_elsewhere(db: Database, name: str) -> bool:
    """True when another holder (another process, or another NamedLock here) holds `name` now."""
    probe = NamedLock(db, name)
    if probe.acquire(timeout=0):
        probe.release()
        return False
    return True
