"""The review trail: reviewers' decisions on flagged sentences, append-only, and the queue of
flagged sentences with their current status.

It lives in the audit store's database (pipeline.audit.store: SQLite or PostgreSQL) beside the audit
tables, in tables of its own, created here idempotently; the audit tables are only read.

Tables (review schema version 2, tracked in `review_schema`, separate from the audit store's)
-------------------------------------------------------------------------------------------
decisions        append-only: one row per decision; UPDATE and DELETE (and TRUNCATE on PostgreSQL)
                 are refused by triggers
    id INTEGER PRIMARY KEY AUTOINCREMENT
    sentence_id INTEGER            sentences.id of the flagged sentence (no foreign key: the trail
                                   outlives a re-verified turn)
    turn_id INTEGER, run_id TEXT   copied from the sentence's turn when deciding
    decision TEXT                  a ReviewDecision: confirmed | dismissed | escalated on a flagged
                                   sentence, missed on a supported one (version 2)
    comment TEXT                   free text, '' when none
    reviewer TEXT, decided_at TEXT who (reviewer name) and when (UTC ISO-8601)
    verdict TEXT, sentence TEXT    the verdict and sentence text as the reviewer saw them
The current status of a sentence is its latest decision (highest id); 'open' when it has none.

reviewers        local accounts of the review UI (pipeline.review.accounts)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from pipeline.audit.store import AuditStore, now
from pipeline.db import Connection, DatabaseError, Dialect, Migration, count_if
from pipeline.review.accounts import ReviewerAccounts, ReviewError, check_reviewer_name
from pipeline.schema import Label


class ReviewDecision(StrEnum):
    """What a reviewer decided about a flagged sentence."""

    CONFIRMED = "confirmed"  # a real error
    DISMISSED = "dismissed"  # a false alarm
    ESCALATED = "escalated"  # for someone else to decide
    MISSED = "missed"  # a supported sentence that is in fact an error (a missed flag)


# the decisions on a flagged sentence; MISSED is the one decision on a supported sentence
FLAG_DECISIONS = (ReviewDecision.CONFIRMED, ReviewDecision.DISMISSED, ReviewDecision.ESCALATED)


class ReviewStatus(StrEnum):
    """A flagged sentence's current status: its latest decision, or open before any."""

    OPEN = "open"
    CONFIRMED = ReviewDecision.CONFIRMED.value
    DISMISSED = ReviewDecision.DISMISSED.value
    ESCALATED = ReviewDecision.ESCALATED.value


# the queue's status filter: a status, or any decision ('reviewed'), or everything ('all')
REVIEWED, ALL = "reviewed", "all"
STATUS_FILTERS = (*ReviewStatus, REVIEWED, ALL)


# --- schema ----------------------------------------------------------------------------------------


def _r1(conn: Connection) -> None:
    for sql in (
        """CREATE TABLE IF NOT EXISTS decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sentence_id INTEGER NOT NULL, turn_id INTEGER, run_id TEXT,
            decision TEXT NOT NULL CHECK (decision IN ('confirmed', 'dismissed', 'escalated')),
            comment TEXT NOT NULL DEFAULT '', reviewer TEXT NOT NULL, decided_at TEXT NOT NULL,
            verdict TEXT, sentence TEXT)""",
        "CREATE INDEX IF NOT EXISTS decisions_sentence ON decisions(sentence_id, id)",
        "CREATE INDEX IF NOT EXISTS decisions_run ON decisions(run_id, id)",
        """CREATE TABLE IF NOT EXISTS reviewers (
            name TEXT PRIMARY KEY, password TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    ):
        conn.ddl(sql)
    if conn.dialect == Dialect.SQLITE:
        triggers = [
            f"""CREATE TRIGGER IF NOT EXISTS decisions_append_only_{op.lower()} BEFORE {op} ON decisions
                BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END"""
            for op in ("UPDATE", "DELETE")
        ]
    else:
        triggers = [
            """CREATE OR REPLACE FUNCTION veracity_append_only() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RAISE EXCEPTION 'decisions are append-only'; END $$""",
            """CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions
               FOR EACH ROW EXECUTE FUNCTION veracity_append_only()""",
            """CREATE TRIGGER decisions_append_only_truncate BEFORE TRUNCATE ON decisions
               FOR EACH STATEMENT EXECUTE FUNCTION veracity_append_only()""",
        ]
    for sql in triggers:
        conn.execute(sql)


def _r2(conn: Connection) -> None:
    """'missed' joins the decisions' CHECK. SQLite cannot alter a CHECK, so there the table is rebuilt
    (rows copied as they are, ids kept) with its indexes and append-only triggers; PostgreSQL swaps
    the constraint in place (the row triggers do not fire on ALTER)."""
    allowed = "('confirmed', 'dismissed', 'escalated', 'missed')"
    if conn.dialect != Dialect.SQLITE:
        conn.execute(
            "ALTER TABLE decisions DROP CONSTRAINT IF EXISTS decisions_decision_check, "
            f"ADD CONSTRAINT decisions_decision_check CHECK (decision IN {allowed})"
        )
        return
    conn.execute("DROP TRIGGER IF EXISTS decisions_append_only_update")
    conn.execute("DROP TRIGGER IF EXISTS decisions_append_only_delete")
    conn.ddl(
        f"""CREATE TABLE decisions_v2 (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sentence_id INTEGER NOT NULL, turn_id INTEGER, run_id TEXT,
            decision TEXT NOT NULL CHECK (decision IN {allowed}),
            comment TEXT NOT NULL DEFAULT '', reviewer TEXT NOT NULL, decided_at TEXT NOT NULL,
            verdict TEXT, sentence TEXT)"""
    )
    conn.execute("INSERT INTO decisions_v2 SELECT * FROM decisions")
    conn.execute("DROP TABLE decisions")
    conn.execute("ALTER TABLE decisions_v2 RENAME TO decisions")
    _r1(conn)  # indexes and triggers again (the reviewers table exists: IF NOT EXISTS)


# REVIEW_MIGRATIONS[i] brings the review tables to version i + 1; never edit an applied one.
REVIEW_MIGRATIONS: list[Migration] = [_r1, _r2]
REVIEW_SCHEMA_VERSION = len(REVIEW_MIGRATIONS)


# --- queue filters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """Which flagged sentences to list. Empty strings mean 'any'. status: one of STATUS_FILTERS."""

    corpus: str = ""
    run: str = ""
    verdict: str = ""
    doc: str = ""
    status: str = ""

    @classmethod
    def from_mapping(cls, values: Any) -> QueueFilter:
        return cls(**{f.name: str(values.get(f.name) or "").strip()[:300] for f in fields(cls)})

    def items(self) -> list[tuple[str, str]]:
        """The non-empty filters, for query strings."""
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name)]

    def where(self, *, with_status: bool = True) -> tuple[str, list[Any]]:
        clauses, args = ["s.flagged = 1"], []
        for clause, value in (
            ("t.corpus = ?", self.corpus),
            ("t.run_id = ?", self.run),
            ("s.verdict = ?", self.verdict),
            ("EXISTS (SELECT 1 FROM citations c WHERE c.sentence_id = s.id AND c.doc_id = ?)", self.doc),
        ):
            if value:
                clauses.append(clause)
                args.append(value)
        if with_status and self.status and self.status != ALL:
            if self.status == ReviewStatus.OPEN:
                clauses.append("d.id IS NULL")
            elif self.status == REVIEWED:
                clauses.append("d.id IS NOT NULL")
            else:
                clauses.append("d.decision = ?")
                args.append(self.status)
        return " WHERE " + " AND ".join(clauses), args


_QUEUE_FROM = """
    FROM sentences s JOIN turns t ON t.id = s.turn_id
    LEFT JOIN decisions d ON d.id = (SELECT MAX(x.id) FROM decisions x WHERE x.sentence_id = s.id)"""


class ReviewStore(ReviewerAccounts):
    """Decisions and reviewer accounts in the audit store's database. Thread-safe like AuditStore."""

    def __init__(self, store: AuditStore | str | os.PathLike) -> None:
        self._own = not isinstance(store, AuditStore)
        self.store = AuditStore(store) if self._own else store
        self._migrate()

    def close(self) -> None:
        if self._own:
            self.store.close()

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _migrate(self) -> None:
        try:
            self.store.db.migrate("review_schema", REVIEW_MIGRATIONS, "the review tables")
        except DatabaseError as exc:
            raise ReviewError(str(exc)) from None

    # --- decisions ---------------------------------------------------------------------------------
    def decide(self, sentence_id: int, decision: str, reviewer: str, comment: str = "") -> dict:
        """Append a decision on a flagged sentence (or 'missed' on a supported one); returns the
        stored row. Earlier decisions stay."""
        try:
            decision = ReviewDecision(decision)
        except ValueError:
            raise ReviewError(
                f"unknown decision {decision!r}; use one of {', '.join(ReviewDecision)}"
            ) from None
        check_reviewer_name(reviewer)
        comment = (comment or "").strip()
        if len(comment) > 4000:
            raise ReviewError("the comment is longer than 4000 characters")
        with self.store.transaction() as conn:
            row = conn.execute(
                "SELECT s.id, s.turn_id, s.flagged, s.verdict, s.text, t.run_id FROM sentences s "
                "JOIN turns t ON t.id = s.turn_id WHERE s.id = ?",
                (int(sentence_id),),
            ).fetchone()
            if row is None:
                raise ReviewError(f"no sentence {sentence_id}")
            if decision == ReviewDecision.MISSED:
                if row["verdict"] != Label.SUPPORTED:
                    raise ReviewError(
                        f"sentence {sentence_id} is {row['verdict']}: only a supported sentence can be a missed error"
                    )
            elif not row["flagged"]:
                raise ReviewError(
                    f"sentence {sentence_id} is {row['verdict']}, not flagged: nothing to review"
                )
            decision_id = conn.insert(
                "INSERT INTO decisions (sentence_id, turn_id, run_id, decision, comment, reviewer, decided_at, "
                "verdict, sentence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row["id"],
                    row["turn_id"],
                    row["run_id"],
                    str(decision),
                    comment,
                    reviewer,
                    now(),
                    row["verdict"],
                    row["text"],
                ),
            )
            return dict(conn.execute("SELECT * FROM decisions WHERE id = ?", (decision_id,)).fetchone())

    def history(self, sentence_id: int) -> list[dict]:
        """Every decision on the sentence, oldest first."""
        return self.store.query(
            "SELECT * FROM decisions WHERE sentence_id = ? ORDER BY id", (int(sentence_id),)
        )

    def current(self, sentence_id: int) -> dict | None:
        """The latest decision on the sentence (its current status), or None when still open."""
        rows = self.store.query(
            "SELECT * FROM decisions WHERE sentence_id = ? ORDER BY id DESC LIMIT 1", (int(sentence_id),)
        )
        return rows[0] if rows else None

    def status(self, sentence_id: int) -> str:
        cur = self.current(sentence_id)
        return cur["decision"] if cur else ReviewStatus.OPEN

    # --- the queue ---------------------------------------------------------------------------------
    def queue(self, f: QueueFilter = QueueFilter(), *, limit: int = 50, offset: int = 0) -> list[dict]:
        """Flagged sentences matching the filter (by sentence id), with their status and best citation."""
        where, args = f.where()
        rows = self.store.query(
            "SELECT s.id, s.turn_id, s.idx, s.text, s.verdict, s.confidence, s.reason, s.kind, t.run_id, "
            "t.conversation_id, t.turn, t.corpus, COALESCE(d.decision, 'open') AS status, d.reviewer, "
            "d.decided_at, d.comment, "
            "(SELECT c.title FROM citations c WHERE c.sentence_id = s.id ORDER BY c.rank LIMIT 1) AS title, "
            "(SELECT c.doc_id FROM citations c WHERE c.sentence_id = s.id ORDER BY c.rank LIMIT 1) AS doc_id"
            + _QUEUE_FROM
            + where
            + " ORDER BY s.id LIMIT ? OFFSET ?",
            (*args, int(limit), int(offset)),
        )
        return rows

    def count(self, f: QueueFilter = QueueFilter()) -> int:
        where, args = f.where()
        return self.store.query("SELECT COUNT(*) AS n" + _QUEUE_FROM + where, args)[0]["n"]

    def counts(self, f: QueueFilter = QueueFilter()) -> dict[str, Any]:
        """Counts within the filter, ignoring its status: {'total', 'status': {...}, 'verdict': {...}}."""
        where, args = f.where(with_status=False)
        out: dict[str, Any] = {"total": 0, "status": {str(s): 0 for s in ReviewStatus}, "verdict": {}}
        for r in self.store.query(
            "SELECT COALESCE(d.decision, 'open') AS st, s.verdict, COUNT(*) AS n"
            + _QUEUE_FROM
            + where
            + " GROUP BY st, s.verdict",
            args,
        ):
            out["total"] += r["n"]
            out["status"][r["st"]] = out["status"].get(r["st"], 0) + r["n"]
            out["verdict"][r["verdict"]] = out["verdict"].get(r["verdict"], 0) + r["n"]
        out["status"][REVIEWED] = out["total"] - out["status"][ReviewStatus.OPEN]
        return out

    def neighbours(self, sentence_id: int, f: QueueFilter = QueueFilter()) -> tuple[int | None, int | None]:
        """(previous, next) sentence ids in the filtered queue around `sentence_id`."""
        where, args = f.where()
        prev = self.store.query(
            "SELECT MAX(s.id) AS id" + _QUEUE_FROM + where + " AND s.id < ?", (*args, int(sentence_id))
        )[0]["id"]
        nxt = self.store.query(
            "SELECT MIN(s.id) AS id" + _QUEUE_FROM + where + " AND s.id > ?", (*args, int(sentence_id))
        )[0]["id"]
        return prev, nxt

    def position(self, sentence_id: int, f: QueueFilter = QueueFilter()) -> dict:
        """{'index': 1-based place of the sentence in the filtered queue (None when it is not in it), 'total'}."""
        where, args = f.where()
        row = self.store.query(
            f"SELECT COUNT(*) AS total, {count_if('s.id < ?')} AS before, {count_if('s.id = ?')} AS inside"
            + _QUEUE_FROM
            + where,
            (int(sentence_id), int(sentence_id), *args),
        )[0]
        return {"index": (row["before"] or 0) + 1 if row["inside"] else None, "total": row["total"]}

    def first(self, f: QueueFilter = QueueFilter()) -> int | None:
        where, args = f.where()
        return self.store.query("SELECT MIN(s.id) AS id" + _QUEUE_FROM + where, args)[0]["id"]

    def filter_options(self, limit: int = 500) -> dict[str, list[str]]:
        """Values to offer in the queue's filters: corpora, runs, verdicts and cited documents of flags."""
        q = self.store.query
        return {
            "corpus": [
                r["v"]
                for r in q(
                    "SELECT DISTINCT corpus AS v FROM turns WHERE corpus IS NOT NULL "
                    "AND n_flagged > 0 ORDER BY v LIMIT ?",
                    (limit,),
                )
            ],
            "run": [
                r["run_id"]
                for r in q("SELECT run_id FROM runs ORDER BY created_at DESC, run_id LIMIT ?", (limit,))
            ],
            "verdict": [
                r["v"] for r in q("SELECT DISTINCT verdict AS v FROM sentences WHERE flagged = 1 ORDER BY v")
            ],
            "doc": [
                r["v"]
                for r in q(
                    "SELECT DISTINCT c.doc_id AS v FROM citations c JOIN sentences s ON "
                    "s.id = c.sentence_id WHERE s.flagged = 1 AND c.doc_id IS NOT NULL "
                    "ORDER BY v LIMIT ?",
                    (limit,),
                )
            ],
        }

    # --- progress ------------------------------------------------------------------------------------
    def progress(self) -> list[dict]:
        """Per run (newest first): flagged, reviewed, open, one count per decision on a flag,
        confirmed_share (confirmed / reviewed, None before any review) and missed (supported
        sentences a reviewer marked as missed errors)."""
        per_decision = ", ".join(count_if(f"d.decision = '{d}'") + f" AS {d}" for d in FLAG_DECISIONS)
        stats = {
            r["run_id"]: r
            for r in self.store.query(
                f"SELECT t.run_id, COUNT(*) AS flagged, {count_if('d.id IS NOT NULL')} AS reviewed, {per_decision}"
                + _QUEUE_FROM
                + " WHERE s.flagged = 1 GROUP BY t.run_id"
            )
        }
        missed = {
            r["run_id"]: r["n"]
            for r in self.store.query(
                "SELECT t.run_id, COUNT(*) AS n" + _QUEUE_FROM + " WHERE s.flagged = 0 AND d.decision = ? "
                "GROUP BY t.run_id",
                (ReviewDecision.MISSED.value,),
            )
        }
        out = []
        for run in self.store.runs():
            s = stats.get(run["run_id"], {})
            row = {
                "run_id": run["run_id"],
                "kind": run["kind"],
                "corpus": run["corpus"],
                "status": run["status"],
                "created_at": run["created_at"],
                "turns": run["done"],
            }
            for k in ("flagged", REVIEWED, *map(str, FLAG_DECISIONS)):
                row[k] = int(s.get(k) or 0)
            row[ReviewDecision.MISSED] = missed.get(run["run_id"], 0)
            row["open"] = row["flagged"] - row[REVIEWED]
            row["confirmed_share"] = row["confirmed"] / row[REVIEWED] if row[REVIEWED] else None
            out.append(row)
        return out

    def weekly(self) -> list[dict]:
        """Per ISO week of the latest decision (newest first): flags reviewed, confirmed and the
        share confirmed, plus missed errors marked that week; a team sees whether a change helped."""
        weeks: dict[str, dict] = {}
        for r in self.store.query(
            "SELECT d.decided_at, d.decision, s.flagged FROM decisions d JOIN sentences s ON s.id = d.sentence_id "
            "WHERE d.id = (SELECT MAX(x.id) FROM decisions x WHERE x.sentence_id = d.sentence_id)"
        ):
            year, week, _ = datetime.fromisoformat(r["decided_at"].replace("Z", "+00:00")).isocalendar()
            w = weeks.setdefault(
                f"{year}-W{week:02d}",
                {"reviewed": 0, "confirmed": 0, "dismissed": 0, "escalated": 0, "missed": 0},
            )
            w[r["decision"]] += 1
            w["reviewed"] += r["decision"] != ReviewDecision.MISSED and bool(r["flagged"])
        return [
            {"week": k, **w, "confirmed_share": w["confirmed"] / w["reviewed"] if w["reviewed"] else None}
            for k, w in sorted(weeks.items(), reverse=True)
        ]
