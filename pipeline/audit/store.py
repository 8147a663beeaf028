"""The audit store: every verified turn of every audit run (and of API calls), in the database.

Location (pipeline.db.database_location): PostgreSQL at `Settings.database_url`
(VERACITY_DATABASE_URL) when set, else the SQLite file `Settings.audit_db` (VERACITY_AUDIT_DB), else
`settings.home / "audit.sqlite"` (see `store_path`). The batch audit writes it, the review UI and
the REST API read it (and may record API verifications with `record_verification`).

SQLite connections use WAL mode, `busy_timeout` 30 s, `synchronous=NORMAL` and foreign keys. A turn,
its sentences and their citations are written in ONE transaction together with the turn's status,
so a killed writer leaves either the whole turn or nothing. On SQLite one writer at a time (the
audit's parent process); readers never block it. On PostgreSQL the same tables (INTEGER as BIGINT,
REAL as DOUBLE PRECISION, ids from identity columns) are shared by every replica.

Schema (version 1)
------------------
schema_version   one row per applied migration
    version INTEGER PRIMARY KEY, applied_at TEXT            current version = MAX(version)

runs             one row per audit run; API verifications go to run "api" and the OpenAI gateway's
                 stored traffic to run "gateway" (both kind 'api')
    run_id TEXT PRIMARY KEY        letters, digits, '.', '_', '-'
    kind TEXT                      'audit' | 'api'
    corpus TEXT                    default corpus given on the command line (NULL for 'api')
    inputs TEXT                    JSON list of the transcript paths
    options TEXT                   JSON object: workers, mode, ...
    out_dir TEXT                   where the report was written (NULL until then)
    status TEXT                    'running' | 'finished' | 'interrupted' | 'failed' | 'open' (api)
    created_at, updated_at, finished_at TEXT   UTC ISO-8601 ("2026-11-23T16:35:13Z")

conversations    one row per conversation seen in a run
    id INTEGER PRIMARY KEY AUTOINCREMENT
    run_id TEXT -> runs, conversation_id TEXT     UNIQUE(run_id, conversation_id)
    source TEXT, line INTEGER      transcript file (absolute path) and line where it starts
    metadata TEXT                  JSON object of the conversation's metadata (or NULL)
    n_turns INTEGER                assistant turns read from it (NULL for API conversations)
    session TEXT                   id of the audit invocation that last read it (finds duplicate ids)

turns            one row per verified assistant turn; key UNIQUE(run_id, conversation_id, turn)
    id INTEGER PRIMARY KEY AUTOINCREMENT     stable turn id (never reused)
    run_id TEXT -> runs, conversation_id TEXT
    turn INTEGER                   index of the assistant message in the conversation (JSONL: its
                                   position in `messages`, from 0; CSV: the `turn` column)
    source TEXT, line INTEGER      where the assistant message was read
    question TEXT                  the preceding user turn (NULL when there is none)
    answer TEXT                    the assistant turn, verified
    corpus TEXT, doc_ids TEXT      corpus and JSON list of doc_ids the evidence was limited to (or NULL)
    mode TEXT, output TEXT         policy mode and the answer rendered for it (annotated)
    status TEXT                    'done' (result stored) | 'error' (see `error`; retried on resume)
    error TEXT                     why verification failed, NULL when done
    n_sentences, n_flagged, n_supported, n_contradicted, n_unsupported, n_unchecked,
    n_not_a_claim INTEGER          sentence counts
    worst TEXT                     most severe verdict of the turn (NULL when no sentences)
    versions TEXT, timings TEXT    JSON: engine versions; engine timings in ms (split, retrieve, ...)
    verify_ms REAL                 wall time of the verification call
    verified_at TEXT               UTC ISO-8601

sentences        one row per sentence of a done turn, in answer order
    id INTEGER PRIMARY KEY AUTOINCREMENT     stable sentence id: the id of a flagged sentence in the
                                             review UI (never reused, never rewritten)
    turn_id INTEGER -> turns(id) ON DELETE CASCADE, idx INTEGER      UNIQUE(turn_id, idx)
    text TEXT, start_char INTEGER, end_char INTEGER    the sentence and its offsets into the answer
    verdict TEXT                   supported | contradicted | unsupported | not_a_claim | unchecked
    confidence REAL, reason TEXT
    flagged INTEGER                1 for contradicted, unsupported, unchecked
    kind TEXT                      error kind of a flagged sentence (schema.ErrorKind, from the
                                   kinds of its failed checks): number, negation, entity, model,
                                   not_in_documents, unchecked; 'other' only in older stores

citations        evidence of a sentence, best first
    id INTEGER PRIMARY KEY AUTOINCREMENT
    sentence_id INTEGER -> sentences(id) ON DELETE CASCADE, rank INTEGER (0 = best)
    doc_id TEXT, title TEXT, page INTEGER (NULL unless paginated), section TEXT
    start_char INTEGER, end_char INTEGER     offsets into the document's text
    quote TEXT

problems         input problems of a run: lines that could not be read and were skipped
    id INTEGER PRIMARY KEY AUTOINCREMENT
    run_id TEXT -> runs, source TEXT, line INTEGER, message TEXT, created_at TEXT
    UNIQUE(run_id, source, line, message)    (re-running a run does not repeat them)

Changing the schema: append a function to MIGRATIONS (never edit an applied one). It runs once,
inside a transaction, on every store older than it, on SQLite and PostgreSQL alike (write CREATE
statements with `conn.ddl`, see pipeline.db); a store newer than this code is refused.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipeline.db import Connection, Database, DatabaseError, Migration, count_if, database_location
from pipeline.schema import Label, VeracityError, VerificationResult, count_verdicts
from pipeline.settings import Settings

API_RUN = "api"
GATEWAY_RUN = "gateway"  # the OpenAI-compatible gateway's stored traffic (api/gateway/traffic.py)
API_RUNS = frozenset({API_RUN, GATEWAY_RUN})  # runs of kind 'api': written by the server, not by audits


class RunStatus(StrEnum):
    """Where an audit run stands (runs.status)."""

    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    OPEN = "open"  # the API's run: verifications keep arriving


class TurnStatus(StrEnum):
    """Whether a turn's verification is stored (turns.status)."""

    DONE = "done"
    ERROR = "error"  # retried when the run is resumed


RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class AuditStoreError(VeracityError):
    """The audit store cannot be used (newer schema, bad run id, unknown run)."""


def store_path(settings: Settings) -> str | Path:
    """Where the store lives: the database URL (VERACITY_DATABASE_URL) when set, else Settings.audit_db
    (VERACITY_AUDIT_DB), else home / 'audit.sqlite'."""
    return database_location(settings)


def now() -> str:
    return stamp(datetime.now(UTC))


def stamp(moment: datetime) -> str:
    """A UTC time as the store writes it (so stored times compare as strings)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_run_id(run_id: str) -> str:
    if not RUN_ID_RE.match(run_id or ""):
        raise AuditStoreError(f"invalid run id {run_id!r}: use letters, digits, '.', '_' or '-' (max 80)")
    return run_id


# --- migrations ---------------------------------------------------------------------------------


def _v1_initial(conn: Connection) -> None:
    statements = [
        """CREATE TABLE runs (
            run_id TEXT PRIMARY KEY, kind TEXT NOT NULL DEFAULT 'audit', corpus TEXT, inputs TEXT,
            options TEXT, out_dir TEXT, status TEXT NOT NULL, created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL, finished_at TEXT)""",
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            conversation_id TEXT NOT NULL, source TEXT, line INTEGER, metadata TEXT, n_turns INTEGER,
            session TEXT, UNIQUE (run_id, conversation_id))""",
        """CREATE TABLE turns (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            conversation_id TEXT NOT NULL, turn INTEGER NOT NULL, source TEXT, line INTEGER,
            question TEXT, answer TEXT NOT NULL, corpus TEXT, doc_ids TEXT, mode TEXT, output TEXT,
            status TEXT NOT NULL CHECK (status IN ('done', 'error')), error TEXT,
            n_sentences INTEGER NOT NULL DEFAULT 0, n_flagged INTEGER NOT NULL DEFAULT 0,
            n_supported INTEGER NOT NULL DEFAULT 0, n_contradicted INTEGER NOT NULL DEFAULT 0,
            n_unsupported INTEGER NOT NULL DEFAULT 0, n_unchecked INTEGER NOT NULL DEFAULT 0,
            n_not_a_claim INTEGER NOT NULL DEFAULT 0, worst TEXT, versions TEXT, timings TEXT,
            verify_ms REAL, verified_at TEXT NOT NULL,
            UNIQUE (run_id, conversation_id, turn))""",
        "CREATE INDEX turns_run_status ON turns(run_id, status)",
        "CREATE INDEX turns_run ON turns(run_id)",  # rows of a run in id order, no sort
        """CREATE TABLE sentences (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL, text TEXT NOT NULL, start_char INTEGER, end_char INTEGER,
            verdict TEXT NOT NULL, confidence REAL, reason TEXT, flagged INTEGER NOT NULL, kind TEXT,
            UNIQUE (turn_id, idx))""",
        "CREATE INDEX sentences_flagged ON sentences(flagged, verdict)",
        "CREATE INDEX sentences_kind ON sentences(kind)",
        """CREATE TABLE citations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sentence_id INTEGER NOT NULL REFERENCES sentences(id) ON DELETE CASCADE,
            rank INTEGER NOT NULL, doc_id TEXT, title TEXT, page INTEGER, section TEXT,
            start_char INTEGER, end_char INTEGER, quote TEXT)""",
        "CREATE INDEX citations_sentence ON citations(sentence_id, rank)",
        "CREATE INDEX citations_doc ON citations(doc_id)",
        """CREATE TABLE problems (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            source TEXT, line INTEGER, message TEXT NOT NULL, created_at TEXT NOT NULL,
            UNIQUE (run_id, source, line, message))""",
    ]
    for sql in statements:
        conn.ddl(sql)


# Ordered: MIGRATIONS[i] brings the store to version i + 1.
MIGRATIONS: list[Migration] = [_v1_initial]
SCHEMA_VERSION = len(MIGRATIONS)


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


class AuditStore:
    """The audit store at `location` (a SQLite path, a database URL or an open Database; created and
    migrated on first use). Safe to share between threads."""

    def __init__(self, location: str | os.PathLike | Database) -> None:
        self._own = not isinstance(location, Database)
        self.db = Database(location) if self._own else location
        self.path = self.db.location
        self._migrate()

    def transaction(self) -> AbstractContextManager[Connection]:
        """BEGIN ... COMMIT (ROLLBACK on any exception); BEGIN IMMEDIATE on SQLite."""
        return self.db.transaction()

    def close(self) -> None:
        if self._own:
            self.db.close()

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _migrate(self) -> None:
        try:
            self.db.migrate("schema_version", MIGRATIONS, "the audit store")
        except DatabaseError as exc:
            raise AuditStoreError(str(exc)) from None

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict]:
        """Rows of a read-only query as dicts (for reports and dashboards)."""
        return self.db.query(sql, args)

    def schema_version(self) -> int:
        return self.db.version("schema_version")

    # --- runs -----------------------------------------------------------------------------------
    def start_run(
        self, run_id: str, *, corpus: str | None, inputs: Sequence[str], options: dict, kind: str = "audit"
    ) -> bool:
        """Create the run, or mark an existing one running again. True when the run already existed."""
        check_run_id(run_id)
        t = now()
        with self.transaction() as conn:
            row = conn.execute("SELECT run_id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row:
                conn.execute(
                    "UPDATE runs SET status = 'running', updated_at = ?, finished_at = NULL, inputs = ?, "
                    "options = ?, corpus = COALESCE(?, corpus) WHERE run_id = ?",
                    (t, json.dumps(list(inputs)), json.dumps(options), corpus, run_id),
                )
                return True
            conn.execute(
                "INSERT INTO runs (run_id, kind, corpus, inputs, options, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                (run_id, kind, corpus, json.dumps(list(inputs)), json.dumps(options), t, t),
            )
            return False

    def finish_run(self, run_id: str, status: RunStatus = RunStatus.FINISHED) -> None:
        t = now()
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET status = ?, updated_at = ?, finished_at = ? WHERE run_id = ?",
                (str(status), t, t if status == RunStatus.FINISHED else None, run_id),
            )

    def set_out_dir(self, run_id: str, out_dir: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET out_dir = ?, updated_at = ? WHERE run_id = ?", (out_dir, now(), run_id)
            )

    def _ensure_run(self, conn: Connection, run_id: str) -> None:
        t = now()
        kind = "api" if run_id in API_RUNS else "audit"
        conn.execute(
            "INSERT INTO runs (run_id, kind, inputs, options, status, created_at, updated_at) "
            "VALUES (?, ?, '[]', '{}', 'open', ?, ?) ON CONFLICT DO NOTHING",
            (run_id, kind, t, t),
        )

    def run(self, run_id: str) -> dict | None:
        rows = self._runs("WHERE r.run_id = ?", (run_id,))
        return rows[0] if rows else None

    def runs(self) -> list[dict]:
        """Every run, newest first, with counts: conversations, turns, done, errors, flagged_turns,
        flagged_sentences, sentences, problems."""
        return self._runs("", ())

    def _runs(self, where: str, args: tuple) -> list[dict]:
        q = f"""
            SELECT r.*,
              (SELECT COUNT(*) FROM conversations c WHERE c.run_id = r.run_id) AS conversations,
              (SELECT COUNT(*) FROM problems p WHERE p.run_id = r.run_id) AS problems,
              t.turns, t.done, t.errors, t.flagged_turns, t.flagged_sentences, t.sentences
            FROM runs r LEFT JOIN (
              SELECT run_id, COUNT(*) AS turns, {count_if("status = 'done'")} AS done,
                     {count_if("status = 'error'")} AS errors,
                     {count_if("n_flagged > 0")} AS flagged_turns, SUM(n_flagged) AS flagged_sentences,
                     SUM(n_sentences) AS sentences
              FROM turns GROUP BY run_id) t ON t.run_id = r.run_id
            {where} ORDER BY r.created_at DESC, r.run_id"""
        out = []
        for d in self.db.query(q, args):
            d["inputs"] = _loads(d["inputs"]) or []
            d["options"] = _loads(d["options"]) or {}
            for k in ("turns", "done", "errors", "flagged_turns", "flagged_sentences", "sentences"):
                d[k] = d[k] or 0
            out.append(d)
        return out

    # --- conversations and problems -------------------------------------------------------------
    def register_conversation(
        self,
        run_id: str,
        conversation_id: str,
        source: str | None,
        line: int | None,
        metadata: dict | None = None,
        *,
        n_turns: int | None = None,
        session: str | None = None,
    ) -> tuple[str | None, int | None] | None:
        """Record a conversation of a run as read in `session` (one invocation of the audit). Returns None,
        or the (source, line) where the same conversation id was already read in this session: a
        duplicate. Re-reading it in a later session (a resumed run, even from moved files) is no duplicate."""
        meta = json.dumps(metadata, ensure_ascii=False) if metadata else None
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT id, source, line, session FROM conversations "
                "WHERE run_id = ? AND conversation_id = ?",
                (run_id, conversation_id),
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO conversations (run_id, conversation_id, source, line, metadata, n_turns, "
                    "session) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run_id, conversation_id, source, line, meta, n_turns, session),
                )
                return None
            if session is not None and row["session"] == session:
                return row["source"], row["line"]
            conn.execute(
                "UPDATE conversations SET source = ?, line = ?, metadata = ?, n_turns = ?, session = ? "
                "WHERE id = ?",
                (source, line, meta, n_turns, session, row["id"]),
            )
            return None

    def done_turns(self, run_id: str, conversation_id: str) -> set[int]:
        """Turn indexes of the conversation already verified in the run."""
        return {
            r["turn"]
            for r in self.db.query(
                "SELECT turn FROM turns WHERE run_id = ? AND conversation_id = ? AND status = 'done'",
                (run_id, conversation_id),
            )
        }

    def count_turns(self, run_id: str, status: TurnStatus | None = TurnStatus.DONE) -> int:
        if status is None:
            return self.db.scalar("SELECT COUNT(*) FROM turns WHERE run_id = ?", (run_id,))
        return self.db.scalar(
            "SELECT COUNT(*) FROM turns WHERE run_id = ? AND status = ?", (run_id, str(status))
        )

    def add_problem(self, run_id: str, source: str | None, line: int | None, message: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO problems (run_id, source, line, message, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (run_id, source, line, message, now()),
            )

    def problems(self, run_id: str, limit: int | None = None) -> list[dict]:
        q = "SELECT id, source, line, message FROM problems WHERE run_id = ? ORDER BY source, line, id"
        args: tuple = (run_id,)
        if limit is not None:
            q += " LIMIT ?"
            args += (int(limit),)
        return self.db.query(q, args)

    def count_problems(self, run_id: str) -> int:
        return self.db.scalar("SELECT COUNT(*) FROM problems WHERE run_id = ?", (run_id,))

    # --- writing results ------------------------------------------------------------------------
    def record_verification(
        self,
        run_id: str | None,
        source: str | None,
        conversation_id: str | None,
        turn: int | None,
        question: str | None,
        answer: str,
        corpus: str | None,
        result: VerificationResult,
        *,
        doc_ids: Sequence[str] | None = None,
        line: int | None = None,
        verify_ms: float | None = None,
        replace: bool = False,
    ) -> int:
        """Store one verified turn with its sentences and citations in one transaction; returns the turn id.

        run_id None stores it under run "api"; conversation_id None gets a fresh "api-<uuid>" id; turn
        None is 0. Idempotent: when the turn is already stored as done, nothing is written and its id is
        returned (so sentence ids stay stable), unless replace=True. An 'error' row is replaced.
        """
        run_id = check_run_id(run_id or API_RUN)
        conversation_id = conversation_id or f"api-{uuid.uuid4().hex}"
        turn = int(turn or 0)
        counts = count_verdicts(v.verdict for v in result.sentences)
        n_flagged = sum(v.flagged for v in result.sentences)
        worst = max(
            (Label(v.verdict) for v in result.sentences), key=lambda label: label.severity, default=None
        )
        timings = result.timings_ms or {}
        values = {
            "source": source,
            "line": line,
            "question": question,
            "answer": answer,
            "corpus": corpus,
            "doc_ids": json.dumps(list(doc_ids)) if doc_ids else None,
            "mode": result.mode,
            "output": result.output,
            "status": str(TurnStatus.DONE),
            "error": None,
            "n_sentences": len(result.sentences),
            "n_flagged": n_flagged,
            **{f"n_{label}": n for label, n in counts.items()},
            "worst": str(worst) if worst is not None else None,
            "versions": json.dumps(result.versions or {}),
            "timings": json.dumps({k: round(float(v), 2) for k, v in timings.items()}),
            "verify_ms": verify_ms if verify_ms is not None else timings.get("total"),
            "verified_at": now(),
        }
        with self.transaction() as conn:
            turn_id = self._upsert_turn(conn, run_id, conversation_id, turn, values, replace)
            if turn_id is None:
                return self._turn_id(conn, run_id, conversation_id, turn)
            for idx, v in enumerate(result.sentences):
                verdict = str(v.verdict)
                sid = conn.insert(
                    "INSERT INTO sentences (turn_id, idx, text, start_char, end_char, verdict, confidence, reason, "
                    "flagged, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        turn_id,
                        idx,
                        v.text,
                        v.start,
                        v.end,
                        verdict,
                        round(float(v.confidence), 4),
                        v.reason,
                        int(v.flagged),
                        None if v.error_kind is None else str(v.error_kind),
                    ),
                )
                conn.executemany(
                    "INSERT INTO citations (sentence_id, rank, doc_id, title, page, section, start_char, end_char, "
                    "quote) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (sid, rank, c.doc_id, c.title, c.page, c.section, c.start, c.end, c.quote)
                        for rank, c in enumerate(v.citations)
                    ],
                )
            return turn_id

    def delete_turns(self, run_id: str, verified_before: datetime) -> int:
        """Delete the run's turns verified before `verified_before`, their sentences and citations, and
        the conversations left without turns; returns how many turns. Other runs are never touched."""
        args = (run_id, stamp(verified_before))
        with self.transaction() as conn:
            conversations = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT conversation_id FROM turns WHERE run_id = ? AND verified_at < ?", args
                )
            ]
            n = conn.execute("DELETE FROM turns WHERE run_id = ? AND verified_at < ?", args).rowcount
            conn.executemany(
                "DELETE FROM conversations WHERE run_id = ? AND conversation_id = ? AND NOT EXISTS "
                "(SELECT 1 FROM turns t WHERE t.run_id = ? AND t.conversation_id = ?)",
                [(run_id, c, run_id, c) for c in conversations],
            )
        return n

    def record_error(
        self,
        run_id: str | None,
        source: str | None,
        conversation_id: str,
        turn: int,
        question: str | None,
        answer: str,
        corpus: str | None,
        error: str,
        *,
        doc_ids: Sequence[str] | None = None,
        line: int | None = None,
        verify_ms: float | None = None,
    ) -> int:
        """Store a turn whose verification failed (status 'error'; a later run of the same id retries it).
        A turn already stored as done is left alone."""
        run_id = check_run_id(run_id or API_RUN)
        values = {
            "source": source,
            "line": line,
            "question": question,
            "answer": answer,
            "corpus": corpus,
            "doc_ids": json.dumps(list(doc_ids)) if doc_ids else None,
            "mode": None,
            "output": None,
            "status": str(TurnStatus.ERROR),
            "error": error,
            "n_sentences": 0,
            "n_flagged": 0,
            **{f"n_{label}": 0 for label in Label},
            "worst": None,
            "versions": None,
            "timings": None,
            "verify_ms": verify_ms,
            "verified_at": now(),
        }
        with self.transaction() as conn:
            turn_id = self._upsert_turn(conn, run_id, conversation_id, int(turn), values, replace=False)
            return turn_id if turn_id is not None else self._turn_id(conn, run_id, conversation_id, int(turn))

    def _turn_id(self, conn: Connection, run_id: str, conversation_id: str, turn: int) -> int:
        return conn.execute(
            "SELECT id FROM turns WHERE run_id = ? AND conversation_id = ? AND turn = ?",
            (run_id, conversation_id, turn),
        ).fetchone()[0]

    def _upsert_turn(
        self,
        conn: Connection,
        run_id: str,
        conversation_id: str,
        turn: int,
        values: dict,
        replace: bool,
    ) -> int | None:
        """Insert the turn row, or rewrite an existing one in place (keeping its id). None when a done
        row exists and replace is False (nothing to write)."""
        self._ensure_run(conn, run_id)
        conn.execute(
            "INSERT INTO conversations (run_id, conversation_id, source, line) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (run_id, conversation_id, values["source"], values["line"]),
        )
        row = conn.execute(
            "SELECT id, status FROM turns WHERE run_id = ? AND conversation_id = ? AND turn = ?",
            (run_id, conversation_id, turn),
        ).fetchone()
        cols = list(values)
        if row is None:
            return conn.insert(
                f"INSERT INTO turns (run_id, conversation_id, turn, {', '.join(cols)}) "
                f"VALUES (?, ?, ?, {', '.join('?' * len(cols))})",
                (run_id, conversation_id, turn, *values.values()),
            )
        if row["status"] == TurnStatus.DONE and not replace:
            return None
        conn.execute("DELETE FROM sentences WHERE turn_id = ?", (row["id"],))
        conn.execute(
            f"UPDATE turns SET {', '.join(c + ' = ?' for c in cols)} WHERE id = ?",
            (*values.values(), row["id"]),
        )
        return row["id"]

    # --- reading --------------------------------------------------------------------------------
    _FLAGGED_SELECT = """
        SELECT s.id, s.turn_id, s.idx, s.text, s.start_char, s.end_char, s.verdict, s.confidence, s.reason,
               s.kind, s.flagged, t.run_id, t.conversation_id, t.turn, t.source, t.line, t.corpus, t.question
        FROM sentences s JOIN turns t ON t.id = s.turn_id"""

    def _flagged_where(
        self, run_id, verdict, kind, doc_id, corpus, conversation_id, turn_id, text, after_id
    ) -> tuple[str, list]:
        clauses, args = ["s.flagged = 1"], []
        for col, value in (
            ("t.run_id", run_id),
            ("s.verdict", verdict),
            ("s.kind", kind),
            ("t.corpus", corpus),
            ("t.conversation_id", conversation_id),
            ("s.turn_id", turn_id),
        ):
            if value is None:
                continue
            if isinstance(value, list | tuple | set | frozenset):
                values = [str(v) for v in value]
                clauses.append(f"{col} IN ({', '.join('?' * len(values))})")
                args += values
            else:
                clauses.append(f"{col} = ?")
                args.append(str(value) if not isinstance(value, int) else value)
        if doc_id is not None:
            clauses.append("EXISTS (SELECT 1 FROM citations c WHERE c.sentence_id = s.id AND c.doc_id = ?)")
            args.append(doc_id)
        if text:
            clauses.append("LOWER(s.text) LIKE LOWER(?) ESCAPE '\\'")  # ASCII case ignored, as SQLite's LIKE
            args.append("%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if after_id is not None:
            clauses.append("s.id > ?")
            args.append(int(after_id))
        return " WHERE " + " AND ".join(clauses), args

    def flagged(
        self,
        run_id: str | None = None,
        *,
        verdict: str | Sequence[str] | None = None,
        kind: str | Sequence[str] | None = None,
        doc_id: str | None = None,
        corpus: str | None = None,
        conversation_id: str | None = None,
        turn_id: int | None = None,
        text: str | None = None,
        after_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict]:
        """Flagged sentences (oldest id first) matching every given filter, each with its turn's keys and
        its citations. `text` is a substring of the sentence; `after_id` pages by sentence id."""
        where, args = self._flagged_where(
            run_id, verdict, kind, doc_id, corpus, conversation_id, turn_id, text, after_id
        )
        rows = self.db.query(
            self._FLAGGED_SELECT + where + " ORDER BY s.id LIMIT ? OFFSET ?", (*args, int(limit), int(offset))
        )
        cites = self._citations([r["id"] for r in rows])
        for r in rows:
            r["flagged"] = True
            r["citations"] = cites.get(r["id"], [])
        return rows

    def count_flagged(
        self,
        run_id: str | None = None,
        *,
        verdict=None,
        kind=None,
        doc_id=None,
        corpus=None,
        conversation_id=None,
        turn_id=None,
        text=None,
    ) -> int:
        where, args = self._flagged_where(
            run_id, verdict, kind, doc_id, corpus, conversation_id, turn_id, text, None
        )
        return self.db.scalar(
            "SELECT COUNT(*) FROM sentences s JOIN turns t ON t.id = s.turn_id" + where, args
        )

    def sentence(self, sentence_id: int) -> dict | None:
        """One sentence (flagged or not) with its turn's keys and citations."""
        rows = self.db.query(self._FLAGGED_SELECT + " WHERE s.id = ?", (int(sentence_id),))
        if not rows:
            return None
        d = rows[0]
        d["flagged"] = bool(d["flagged"])
        d["citations"] = self._citations([d["id"]]).get(d["id"], [])
        return d

    def _citations(self, sentence_ids: list[int]) -> dict[int, list[dict]]:
        out: dict[int, list[dict]] = {}
        for i in range(0, len(sentence_ids), 500):
            part = sentence_ids[i : i + 500]
            q = (
                f"SELECT sentence_id, rank, doc_id, title, page, section, start_char, end_char, quote "
                f"FROM citations WHERE sentence_id IN ({', '.join('?' * len(part))}) ORDER BY sentence_id, rank"
            )
            for d in self.db.query(q, part):
                out.setdefault(d.pop("sentence_id"), []).append(d)
        return out

    def turn(self, turn_id: int) -> dict | None:
        """One turn with all its sentences (each with `flagged`, `kind`, `citations`), or None."""
        rows = self.db.query("SELECT * FROM turns WHERE id = ?", (int(turn_id),))
        if not rows:
            return None
        d = _turn_dict(rows[0])
        sentences = self.db.query(
            "SELECT id, idx, text, start_char, end_char, verdict, confidence, reason, flagged, kind "
            "FROM sentences WHERE turn_id = ? ORDER BY idx",
            (d["id"],),
        )
        cites = self._citations([s["id"] for s in sentences])
        for s in sentences:
            s["flagged"] = bool(s["flagged"])
            s["citations"] = cites.get(s["id"], [])
        d["sentences"] = sentences
        return d

    def turn_id(self, run_id: str, conversation_id: str, turn: int) -> int | None:
        return self.db.scalar(
            "SELECT id FROM turns WHERE run_id = ? AND conversation_id = ? AND turn = ?",
            (run_id, conversation_id, int(turn)),
        )

    def iter_turns(self, run_id: str) -> Iterator[dict]:
        """Every turn of the run in id order, with sentences and citations, streamed (flat memory)."""
        q = """SELECT t.id AS t_id, s.id AS s_id, s.idx, s.text, s.start_char AS s_start, s.end_char AS s_end,
                      s.verdict, s.confidence, s.reason, s.flagged, s.kind,
                      c.rank, c.doc_id, c.title, c.page, c.section, c.start_char AS c_start,
                      c.end_char AS c_end, c.quote
               FROM turns t LEFT JOIN sentences s ON s.turn_id = t.id
                            LEFT JOIN citations c ON c.sentence_id = s.id
               WHERE t.run_id = ? ORDER BY t.id, s.idx, c.rank"""
        with self.db.connection(private=True) as conn:
            conn.execute("BEGIN")  # one snapshot for both cursors
            turn_rows = conn.stream("SELECT * FROM turns WHERE run_id = ? ORDER BY id", (run_id,))
            detail = conn.stream(q, (run_id,))
            try:
                yield from _join_turns(turn_rows, detail)
            finally:
                detail.close()
                turn_rows.close()
                conn.execute("COMMIT")

    def iter_flagged(self, run_id: str) -> Iterator[dict]:
        """Every flagged sentence of the run (turn order), each with its citations, streamed."""
        last = None
        while True:
            batch = self.flagged(run_id, after_id=last, limit=500)
            if not batch:
                return
            yield from batch
            last = batch[-1]["id"]


def _join_turns(turn_rows: Iterator[Any], detail: Iterator[Any]) -> Iterator[dict]:
    """Each turn row with its sentences and citations, from the join rows in `detail` (same order)."""
    pending = next(detail, None)
    for trow in turn_rows:
        d = _turn_dict(trow)
        sentences: list[dict] = []
        while pending is not None and pending["t_id"] == d["id"]:
            r = pending
            if r["s_id"] is not None:
                if not sentences or sentences[-1]["id"] != r["s_id"]:
                    sentences.append(
                        {
                            "id": r["s_id"],
                            "idx": r["idx"],
                            "text": r["text"],
                            "start": r["s_start"],
                            "end": r["s_end"],
                            "verdict": r["verdict"],
                            "confidence": r["confidence"],
                            "reason": r["reason"],
                            "flagged": bool(r["flagged"]),
                            "kind": r["kind"],
                            "citations": [],
                        }
                    )
                if r["rank"] is not None:
                    sentences[-1]["citations"].append(
                        {
                            "doc_id": r["doc_id"],
                            "title": r["title"],
                            "page": r["page"],
                            "section": r["section"],
                            "start": r["c_start"],
                            "end": r["c_end"],
                            "quote": r["quote"],
                        }
                    )
            pending = next(detail, None)
        d["sentences"] = sentences
        yield d


def _turn_dict(row: Any) -> dict:
    d = dict(row)
    d["doc_ids"] = _loads(d.get("doc_ids"))
    d["versions"] = _loads(d.get("versions")) or {}
    d["timings"] = _loads(d.get("timings")) or {}
    return d
