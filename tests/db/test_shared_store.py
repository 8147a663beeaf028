"""The database layer on both back-ends: migrations, job records visible to every process, and the
named locks replicas share (a holder killed with SIGKILL releases its lock)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipeline.db import Database, DatabaseError, held_elsewhere
from pipeline.settings import PROJECT_ROOT
from pipeline.store.jobs import JobRecords


def hold_in_subprocess(location: str | Path, name: str) -> subprocess.Popen:
    """A separate process that takes the named lock, says so on stdout, and then sleeps."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from pipeline.db import Database
        lock = Database({str(location)!r}).lock({name!r})
        lock.acquire()
        print("held", flush=True)
        time.sleep(600)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_migrations_run_once_and_refuse_a_newer_schema(db_location):
    applied = []

    def m1(conn):
        applied.append(1)
        conn.ddl("CREATE TABLE things (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, score REAL)")

    def m2(conn):  # a later migration, e.g. a new unique key
        applied.append(2)
        conn.ddl("CREATE UNIQUE INDEX things_score ON things(score)")

    db = Database(db_location)
    assert db.migrate("things_schema", [m1], "things") == 0
    assert db.migrate("things_schema", [m1, m2], "things") == 1
    assert db.migrate("things_schema", [m1, m2], "things") == 2 and applied == [1, 2]
    with db.transaction() as conn:
        first = conn.insert("INSERT INTO things (name, score) VALUES (?, ?)", ("a%?", 0.25))
        conn.execute("INSERT INTO things (name, score) VALUES (?, ?) ON CONFLICT DO NOTHING", ("a%?", 0.5))
    assert db.query("SELECT id, name, score FROM things") == [{"id": first, "name": "a%?", "score": 0.25}]
    with pytest.raises(db.errors):  # a failed transaction leaves nothing behind
        with db.transaction() as conn:
            conn.execute("INSERT INTO things (name, score) VALUES (?, ?)", ("b", 0.75))
            conn.execute("INSERT INTO things (name, score) VALUES (?, ?)", ("c", 0.75))
    assert db.scalar("SELECT COUNT(*) FROM things") == 1
    with pytest.raises(DatabaseError, match="newer than this Veracity understands"):
        db.migrate("things_schema", [m1], "things")
    db.close()


def test_a_killed_holder_releases_its_lock(db_location):
    db = Database(db_location)
    holder = hold_in_subprocess(db_location, "index:sample")
    try:
        assert held_elsewhere(db, "index:sample")
        assert not db.lock("index:sample").acquire(timeout=0.5)
        assert not held_elsewhere(db, "index:other")  # locks are per name
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        lock = db.lock("index:sample")
        assert lock.acquire(timeout=30), "the lock of a killed holder was not released"
        # and while this process holds it, nobody else gets it
        assert held_elsewhere(db, "index:sample")
        lock.release()
        assert not held_elsewhere(db, "index:sample")
    finally:
        holder.kill()
        holder.wait()
        db.close()


def test_job_records_are_shared_and_a_dead_owner_is_seen(db_location, tmp_path):
    a = JobRecords(Database(db_location), instance="replica-a")
    a.open()
    b = JobRecords(Database(db_location), instance="replica-b")
    job = {"id": "ab" * 16, "corpus": "sample", "status": "running", "owner": "replica-a", "pid": os.getpid()}
    a.save(job)
    assert b.load(job["id"]) == job and b.unfinished() == [job]
    assert b.alive(job)  # replica-a holds its presence lock
    a.save(job | {"status": "succeeded"})
    assert b.load(job["id"])["status"] == "succeeded" and b.unfinished() == []
    a.close()
    assert not b.alive(job)  # replica-a stopped: its unfinished jobs may be settled
    # job files an earlier version wrote are taken into the table
    folder = tmp_path / "jobs"
    folder.mkdir()
    old = {"id": "cd" * 16, "corpus": "sample", "status": "running", "pid": 2**22 + 1}
    (folder / f"{old['id']}.json").write_text(json.dumps(old))
    assert b.import_files(folder) == 1 and not any(folder.iterdir())
    assert b.load(old["id"]) == old and not b.alive(old)
    b.close()
