"""The audit on a real local Ray of 2 workers: a worker killed mid-run, the run still stores every turn
once with the verdicts of a local run; a second driver joins the same Ray by its address."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from audit_support import audit_args, children, cmdline, counts, turn_verdicts

from pipeline.audit.cli import run_audit
from pipeline.audit.runner import AuditError
from pipeline.audit.store import AuditStore
from pipeline.settings import PROJECT_ROOT

ray = pytest.importorskip("ray", reason="the `ray` extra is not installed (CI installs it with .[dev])")
from pipeline.audit.ray_runner import LOCAL, ray_session  # noqa: E402

KILL_AFTER = 4  # turns stored before a worker is killed


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray of 2 CPUs for the module, started the way `--ray` starts one; yields its address."""
    with ray_session(LOCAL, 2):
        yield ray.get_runtime_context().gcs_address


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def _worker_pids() -> list[int]:
    """The audit's Ray workers (actor processes titled "ray::AuditWorker...") started by this test."""
    return [p for p in _descendants(os.getpid()) if cmdline(p).startswith(b"ray::AuditWorker")]


def _stored(db, run_id: str) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(
                "SELECT COUNT(*) FROM turns WHERE run_id = ? AND status = 'done'", (run_id,)
            ).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def test_worker_killed_mid_run_counts_stay_exact(ray_address, clean_run, transcripts, home, tmp_path):
    db, out = clean_run["db"], tmp_path / "out"
    killed: dict = {}
    stop = threading.Event()

    def kill_one_worker() -> None:
        while not stop.is_set():
            stored = _stored(db, "ray-kill")
            workers = _worker_pids()
            if stored >= KILL_AFTER and len(workers) == 2:
                os.kill(workers[0], signal.SIGKILL)
                killed.update(pid=workers[0], stored=stored, workers=workers)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    # this process is already connected to Ray: the run uses the module's local Ray
    args = audit_args([transcripts["dir"]], "ray-kill", out, workers=2, ray=LOCAL)
    try:
        assert run_audit(args, home) == 0
    finally:
        stop.set()
        killer.join(timeout=10)

    assert killed, "no worker was killed: the run ended before KILL_AFTER turns were seen"
    assert KILL_AFTER <= killed["stored"] < transcripts["turns"]  # killed mid-run
    assert killed["pid"] not in _worker_pids()
    # every turn stored once, with the counts and the per-sentence verdicts of the local run
    ray_counts = counts(db, "ray-kill")
    assert ray_counts == counts(db, "clean")
    assert ray_counts["turns"] == transcripts["turns"]
    assert turn_verdicts(db, "ray-kill") == turn_verdicts(db, "clean")
    with AuditStore(db) as store:
        run = store.run("ray-kill")
    assert run["status"] == "finished" and run["options"] == {"workers": 2, "mode": "annotate", "cascade": None, "ray": LOCAL}
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == transcripts["turns"]
    assert (out / "report.html").exists()


def test_cli_joins_a_ray_cluster_by_address(ray_address, clean_run, transcripts, home, tmp_path):
    """`veracity audit ... --ray ADDRESS` from another process joins the running Ray and leaves it up."""
    first_two = transcripts["jsonl"].read_bytes().split(b"\n")[:2]  # chat-000, chat-001
    part = tmp_path / "part.jsonl"
    part.write_bytes(b"\n".join(first_two) + b"\n")
    db = tmp_path / "join.sqlite"
    env = {k: v for k, v in os.environ.items() if k != "VERACITY_AUDIT_DB"} | {"VERACITY_AUDIT_DB": str(db)}
    cmd = [sys.executable, "-m", "pipeline.cli", "--home", str(home.home), "audit", "sample", str(part)]
    done = subprocess.run(
        [*cmd, "--run-id", "join", "--no-progress", "--out", str(tmp_path / "out"), "--ray", ray_address],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "run join: 4 turns verified" in done.stdout
    clean = [v for v in turn_verdicts(clean_run["db"], "clean") if v[0] in ("chat-000", "chat-001")]
    assert turn_verdicts(db, "join") == clean
    with AuditStore(db) as store:
        assert store.run("join")["options"]["ray"] == ray_address
    assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 2  # the cluster is still up


def test_a_transcript_taken_for_the_address_is_a_clear_error(home, transcripts):
    args = audit_args(
        [transcripts["csv"]], None, ray=str(transcripts["jsonl"])
    )  # --ray chats.jsonl export.csv
    with pytest.raises(AuditError, match="not host:port"):
        run_audit(args, home)
