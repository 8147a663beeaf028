"""Indexing jobs' records in the database, so every replica sharing it answers for every job; and the
lock that lets one process at a time index a corpus.

Table (jobs schema version 1, tracked in `jobs_schema`)
jobs    id TEXT PRIMARY KEY (32 hex digits), corpus TEXT, status TEXT (queued | running | succeeded |
        failed), owner TEXT (the server instance running it), data TEXT (the job as JSON, what
        GET /v1/jobs/{id} returns), created_at, updated_at TEXT (UTC ISO-8601)

A job's owner is alive while it holds the named lock `instance:<owner>` (pipeline.db.locks), which
goes with its process: a job whose owner is gone is settled by the next server that starts.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from pipeline.db import Connection, Database, Migration, NamedLock, held_elsewhere, now, open_database
from pipeline.settings import Settings

UNFINISHED = ("queued", "running")


def _j1(conn: Connection) -> None:
    conn.ddl(
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY, corpus TEXT NOT NULL, status TEXT NOT NULL, owner TEXT,
            data TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)"""
    )
    conn.ddl("CREATE INDEX jobs_status ON jobs(status)")


# JOBS_MIGRATIONS[i] brings the jobs table to version i + 1; never edit an applied one.
JOBS_MIGRATIONS: list[Migration] = [_j1]


def instance_name() -> str:
    """A name for this server process, unique across the machines sharing a database."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobRecords:
    """The jobs table of `db`, written by the server instance `instance` (alive while `presence` is
    held: call `open` before writing and `close` when the server stops)."""

    def __init__(self, db: Database, instance: str | None = None) -> None:
        self.db = db
        self.instance = instance or instance_name()
        self._presence: NamedLock | None = None
        db.migrate("jobs_schema", JOBS_MIGRATIONS, "the jobs table")

    def open(self) -> None:
        """Hold this instance's presence lock, so other servers see its jobs as running."""
        if self._presence is None:
            lock = self.db.lock(f"instance:{self.instance}")
            lock.acquire()
            self._presence = lock

    def close(self, keep_database: bool = False) -> None:
        """Release the presence lock (other servers may now settle this instance's unfinished jobs)
        and, unless keep_database, the database connections."""
        if self._presence is not None:
            self._presence.release()
            self._presence = None
        if not keep_database:
            self.db.close()

    def save(self, job: dict[str, Any]) -> None:
        t = now()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (id, corpus, status, owner, data, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
                "owner = excluded.owner, data = excluded.data, updated_at = excluded.updated_at",
                (job["id"], job["corpus"], job["status"], job.get("owner"), json.dumps(job), t, t),
            )

    def load(self, job_id: str) -> dict[str, Any] | None:
        data = self.db.scalar("SELECT data FROM jobs WHERE id = ?", (job_id,))
        return json.loads(data) if data else None

    def unfinished(self) -> list[dict[str, Any]]:
        rows = self.db.query(
            "SELECT data FROM jobs WHERE status IN (?, ?) ORDER BY created_at, id", UNFINISHED
        )
        return [json.loads(r["data"]) for r in rows]

    def alive(self, job: dict[str, Any]) -> bool:
        """Whether the server that owns the job still runs (a job written before owners were
        recorded: whether its process does, on this machine)."""
        owner = job.get("owner")
        if owner:
            return owner == self.instance or held_elsewhere(self.db, f"instance:{owner}")
        return pid_alive(int(job.get("pid", 0)) or -1)

    def import_files(self, folder: Path) -> int:
        """Move the job files an earlier version kept in `folder` (ID.json) into the table; how many."""
        n = 0
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                job = json.loads(path.read_text())
                if self.load(job["id"]) is None:
                    self.save(job)
                    n += 1
            except (OSError, ValueError, KeyError, TypeError):
                continue
            path.unlink(missing_ok=True)
        return n


def index_lock(settings: Settings, corpus: str):
    """With a shared database (VERACITY_DATABASE_URL), the lock that lets one replica at a time index
    `corpus`, held in the database and released if its holder dies. Without one, a no-op: the index
    directory's flock (index_files.writer_lock) already serialises one machine's writers."""
    if not settings.database_url:
        return nullcontext()
    return _held_index_lock(settings, corpus)


@contextmanager
def _held_index_lock(settings: Settings, corpus: str) -> Iterator[None]:
    db = open_database(settings)
    try:
        with db.lock(f"index:{corpus}"):
            yield
    finally:
        db.close()
