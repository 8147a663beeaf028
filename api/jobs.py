"""Background indexing jobs (uploads and deletes), run one at a time per corpus in worker threads;
different corpora are indexed side by side, so one tenant's slow upload never holds up another's.

A job's state is kept in memory and written to the database's jobs table (pipeline.store.jobs) on
every change, so `GET /v1/jobs/{id}` also answers for a job another server process (or replica on
the same PostgreSQL) ran, and a job whose server died is reported as failed rather than running
forever. Indexing itself takes the corpus's index lock (pipeline.store.jobs.index_lock), so replicas
sharing an index directory never index one corpus at the same time.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.db import DatabaseError, database_location, open_database
from pipeline.settings import Settings
from pipeline.store import uploads as docs
from pipeline.store.jobs import JobRecords

log = logging.getLogger("veracity.api")
JOB_ID_CHARS = frozenset("0123456789abcdef")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class JobManager:
    def __init__(
        self,
        settings: Settings,
        workers: int = 1,
        on_finished: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.dir = settings.home / "jobs"  # where earlier versions kept job files (imported at start-up)
        self._records: JobRecords | None = None  # opened on first use (see `records`)
        self._records_lock = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._corpus_locks: dict[str, threading.Lock] = {}
        # jobs not yet started, per corpus; a corpus with a queue has exactly one drainer in the pool
        self._queues: dict[str, deque[Callable[[], None]]] = {}
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="veracity-index")
        self._on_finished = on_finished

    # --- public ---------------------------------------------------------------------------------
    def submit_upload(
        self, corpus: str, staged: list[docs.StagedFile], batch: str, domain: str | None = None
    ) -> dict[str, Any]:
        job = self._new("upload", corpus, files=[s.filename for s in staged])
        job["progress"]["files_total"] = len(staged)
        self._save(job)
        self._enqueue(corpus, lambda: self._run(job["id"], self._upload, corpus, staged, batch, domain))
        return self.snapshot(job["id"])

    def submit_delete(self, corpus: str, file: str, removed: list[str]) -> dict[str, Any]:
        job = self._new("delete", corpus, removed=removed)
        job["progress"]["files_total"] = 1
        self._save(job)
        self._enqueue(corpus, lambda: self._run(job["id"], self._delete, corpus, file))
        return self.snapshot(job["id"])

    def get(self, job_id: str) -> dict[str, Any] | None:
        if len(job_id) != 32 or not set(job_id) <= JOB_ID_CHARS:
            return None
        snap = self.snapshot(job_id)
        if snap is not None:
            return snap
        records = self.records(create=False)
        job = records.load(job_id) if records else None
        if job is None:
            return None
        if job.get("status") in ("queued", "running") and not records.alive(job):
            job["status"] = "failed"
            job["error"] = "interrupted: the server process running this job stopped; upload again"
        return job

    def recover(self) -> list[dict[str, Any]]:
        """At start-up, before any job runs: settle the jobs a stopped server left queued or running,
        so each corpus's uploads and its index agree again. An interrupted upload is rolled back (its
        files that did not reach the index are removed), an interrupted delete is finished, staged
        files are discarded and each touched corpus is re-indexed. Returns the settled jobs (each
        also says what was done in its `error`)."""
        from pipeline.store.index_files import corpus_dir, current_version, read_manifest

        settled, touched = [], set()
        records = self.records(create=self.dir.is_dir())
        if records is not None:
            records.import_files(self.dir)
        for job in records.unfinished() if records else []:
            # a restarted container may reuse the old process's pid: an owner-less job of ours is dead
            reused_pid = job.get("owner") is None and int(job.get("pid", 0)) == os.getpid()
            if not reused_pid and records.alive(job):
                continue
            corpus = job["corpus"]
            vdir = current_version(corpus_dir(self.settings.indexes_dir, corpus))
            meta = read_manifest(vdir).documents if vdir else {}
            indexed = {m.get("file") or d for d, m in meta.items()}
            up = docs.uploads_dir(self.settings, corpus)
            if job["kind"] == "upload":
                undone = [f for f in job.get("files", []) if f not in indexed and (up / f).is_file()]
                for f in undone:
                    (up / f).unlink()
                done = f"rolled back: removed {', '.join(undone)}" if undone else "nothing had been stored"
            else:
                for f in {d.split("#")[0] for d in job.get("removed", [])}:
                    (up / f).unlink(missing_ok=True)
                done = "the delete was finished"
            job.update(
                status="failed",
                finished=_now(),
                error=f"interrupted: the server stopped during this job; at start-up {done}"
                + ("; upload again" if job["kind"] == "upload" else ""),
            )
            self._save(job)
            settled.append(job)
            touched.add(corpus)
            log.warning("job %s (%s %s) was interrupted; %s", job["id"], job["kind"], corpus, done)
        shutil.rmtree(self.settings.home / "uploads" / docs.INCOMING, ignore_errors=True)
        for corpus in sorted(touched):
            try:
                docs.reindex(corpus, self.settings)
            except Exception:  # noqa: BLE001 - the next job of the corpus tries again
                log.exception("cannot re-index corpus %s after an interrupted job", corpus)
        return settled

    def snapshot(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return json.loads(json.dumps(job)) if job else None

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        if self._records is not None:
            self._records.close(keep_database=not wait)  # a job still running may write its record

    def records(self, create: bool = True) -> JobRecords | None:
        """The job records, opened (with this server's presence lock) on first use. None, with
        create=False, while the SQLite file does not exist: a server that never ran a job leaves no
        database behind."""
        with self._records_lock:
            if self._records is None:
                location = database_location(self.settings)
                if not create and isinstance(location, Path) and not location.exists():
                    return None
                records = JobRecords(open_database(self.settings))
                records.open()
                self._records = records
            return self._records

    # --- running --------------------------------------------------------------------------------
    def _new(
        self, kind: str, corpus: str, files: list[str] | None = None, removed: list[str] | None = None
    ) -> dict[str, Any]:
        job = {
            "id": uuid.uuid4().hex,
            "kind": kind,
            "corpus": corpus,
            "status": "queued",
            "files": files or [],
            "removed": removed or [],
            "renamed": {},
            "progress": {"stage": "queued", "files_total": 0, "files_done": 0, "fraction": 0.0},
            "failures": [],
            "error": None,
            "result": None,
            "created": _now(),
            "started": None,
            "finished": None,
            "pid": os.getpid(),
            "owner": self.records().instance,
        }
        with self._lock:
            self._jobs[job["id"]] = job
            if len(self._jobs) > 10_000:  # forget the oldest finished jobs (their records remain)
                for old in [k for k, j in self._jobs.items() if j["finished"]][:1000]:
                    del self._jobs[old]
        return job

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            job = self._jobs[job_id]
            for k, v in changes.items():
                if k == "progress":
                    job["progress"] |= v
                else:
                    job[k] = v
        self._save(job)

    def _save(self, job: dict[str, Any]) -> None:
        records = self.records()
        try:
            with self._lock:
                copy = json.loads(json.dumps(job))
            records.save(copy)
        except (OSError, DatabaseError, *records.db.errors):
            log.exception("cannot save job %s", job["id"])

    def _enqueue(self, corpus: str, task: Callable[[], None]) -> None:
        with self._lock:
            queue = self._queues.get(corpus)
            if queue is not None:  # its drainer will get to it
                queue.append(task)
                return
            self._queues[corpus] = deque([task])
        self._pool.submit(self._drain, corpus)

    def _drain(self, corpus: str) -> None:
        """Run the corpus's jobs in order, then let the worker go to another corpus."""
        while True:
            with self._lock:
                queue = self._queues[corpus]
                if not queue:
                    del self._queues[corpus]
                    return
                task = queue.popleft()
            try:
                task()
            except Exception:  # noqa: BLE001 - the corpus's later jobs must still run
                log.exception("indexing job of corpus %s failed outside its own handling", corpus)

    def _corpus_lock(self, corpus: str) -> threading.Lock:
        with self._lock:
            return self._corpus_locks.setdefault(corpus, threading.Lock())

    def _run(self, job_id: str, fn: Callable[..., None], corpus: str, *args: Any) -> None:
        with self._corpus_lock(corpus):
            self._update(job_id, status="running", started=_now())
            try:
                fn(job_id, corpus, *args)
                status = "succeeded"
            except Exception as exc:  # noqa: BLE001 - reported in the job
                log.exception("job %s (%s) failed", job_id, corpus)
                self._update(job_id, error=f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc))
                status = "failed"
            with self._lock:
                failed_all = self._jobs[job_id]["error"] is not None
            self._update(
                job_id,
                status="failed" if failed_all else status,
                finished=_now(),
                progress={"stage": "done", "fraction": 1.0},
            )
        job = self.snapshot(job_id)
        if self._on_finished and job:
            try:
                self._on_finished(job)
            except Exception:  # noqa: BLE001
                log.exception("job %s: on_finished hook failed", job_id)

    def _upload(
        self, job_id: str, corpus: str, staged: list[docs.StagedFile], batch: str, domain: str | None
    ) -> None:
        try:
            self._update(job_id, progress={"stage": "checking", "fraction": 0.05})
            accepted = docs.accept_staged(corpus, self.settings, staged, domain)
        finally:
            docs.discard_batch(self.settings, corpus, batch)
        failures = list(accepted.failures)
        self._update(
            job_id,
            failures=failures,
            files=accepted.accepted,
            renamed=accepted.renamed,
            progress={"stage": "indexing", "files_done": len(failures), "fraction": 0.3},
        )
        if not accepted.accepted:
            self._update(
                job_id,
                error="no file could be ingested: "
                + "; ".join(f"{f['file']}: {f['error']}" for f in failures),
            )
            return
        report = docs.reindex(corpus, self.settings, domain, parsed=accepted.parsed)
        up = str(docs.uploads_dir(self.settings, corpus).resolve())
        for f in report.failures:
            path = str(Path(f["path"]).resolve())
            if path.startswith(up + os.sep) and Path(path).name in accepted.accepted:
                failures.append({"file": Path(path).name, "error": f["error"]})
        self._update(job_id, result=report.to_dict(), failures=failures, progress={"files_done": len(staged)})

    def _delete(self, job_id: str, corpus: str, file: str) -> None:
        self._update(job_id, progress={"stage": "indexing", "fraction": 0.2})
        docs.delete_upload(corpus, file, self.settings)
        report = docs.reindex(corpus, self.settings)
        self._update(job_id, result=report.to_dict(), progress={"files_done": 1})
