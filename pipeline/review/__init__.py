"""The review trail: reviewers' decisions on flagged sentences, and the reviewers' local accounts.

Library code only (the web UI is api/ui). It lives in the audit store's SQLite file
(pipeline.audit.store) beside the audit tables, in tables of its own, created here idempotently;
the audit tables are only read.

Tables (review schema version 1, tracked in `review_schema`, separate from the audit store's)
-------------------------------------------------------------------------------------------
decisions        append-only: one row per decision; UPDATE and DELETE are refused by triggers
    id INTEGER PRIMARY KEY AUTOINCREMENT
    sentence_id INTEGER            sentences.id of the flagged sentence (no foreign key: the trail
                                   outlives a re-verified turn)
    turn_id INTEGER, run_id TEXT   copied from the sentence's turn when deciding
    decision TEXT                  confirmed (a real error) | dismissed (false alarm) | escalated
    comment TEXT                   free text, '' when none
    reviewer TEXT, decided_at TEXT who (reviewer name) and when (UTC ISO-8601)
    verdict TEXT, sentence TEXT    the verdict and sentence text as the reviewer saw them
The current status of a sentence is its latest decision (highest id); 'open' when it has none.

reviewers        local accounts of the review UI
    name TEXT PRIMARY KEY, password TEXT ("scrypt$n$r$p$salt$hash", per-user random salt),
    active INTEGER, created_at TEXT, updated_at TEXT

Command line (no `veracity` install needed):
    python -m pipeline.review add-reviewer NAME [--db PATH | --home DIR]   # password read from stdin
    python -m pipeline.review set-password NAME | disable-reviewer NAME | list-reviewers
    python -m pipeline.review export [--run RUN] [--corpus C] [--latest] [-o FILE]
"""

from __future__ import annotations

import argparse
import csv
import getpass
import hashlib
import hmac
import io
import os
import re
import secrets
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from pipeline.audit.store import AuditStore, apply_migrations, now, store_path
from pipeline.schema import VeracityError

DECISIONS = ("confirmed", "dismissed", "escalated")
STATUSES = ("open", *DECISIONS)
REVIEWER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8

# scrypt cost: 16 MiB of memory and ~50 ms per check
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN = 2**14, 8, 1, 32


class ReviewError(VeracityError):
    """A decision or account request that cannot be carried out; the message says why."""


# --- passwords -------------------------------------------------------------------------------------


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
    if not REVIEWER_RE.match(name or ""):
        raise ReviewError(
            f"invalid reviewer name {name!r}: use letters, digits, '.', '_', '@' or '-' (max 64)"
        )
    return name


# --- schema ----------------------------------------------------------------------------------------


def _r1(conn: sqlite3.Connection) -> None:
    for sql in (
        """CREATE TABLE IF NOT EXISTS decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sentence_id INTEGER NOT NULL, turn_id INTEGER, run_id TEXT,
            decision TEXT NOT NULL CHECK (decision IN ('confirmed', 'dismissed', 'escalated')),
            comment TEXT NOT NULL DEFAULT '', reviewer TEXT NOT NULL, decided_at TEXT NOT NULL,
            verdict TEXT, sentence TEXT)""",
        "CREATE INDEX IF NOT EXISTS decisions_sentence ON decisions(sentence_id, id)",
        "CREATE INDEX IF NOT EXISTS decisions_run ON decisions(run_id, id)",
        """CREATE TRIGGER IF NOT EXISTS decisions_append_only_update BEFORE UPDATE ON decisions
           BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END""",
        """CREATE TRIGGER IF NOT EXISTS decisions_append_only_delete BEFORE DELETE ON decisions
           BEGIN SELECT RAISE(ABORT, 'decisions are append-only'); END""",
        """CREATE TABLE IF NOT EXISTS reviewers (
            name TEXT PRIMARY KEY, password TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    ):
        conn.execute(sql)


# REVIEW_MIGRATIONS[i] brings the review tables to version i + 1; never edit an applied one.
REVIEW_MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_r1]
REVIEW_SCHEMA_VERSION = len(REVIEW_MIGRATIONS)


# --- queue filters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """Which flagged sentences to list. Empty strings mean 'any'. status: open, reviewed, all, or
    one of DECISIONS."""

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
        if self.corpus:
            clauses.append("t.corpus = ?")
            args.append(self.corpus)
        if self.run:
            clauses.append("t.run_id = ?")
            args.append(self.run)
        if self.verdict:
            clauses.append("s.verdict = ?")
            args.append(self.verdict)
        if self.doc:
            clauses.append("EXISTS (SELECT 1 FROM citations c WHERE c.sentence_id = s.id AND c.doc_id = ?)")
            args.append(self.doc)
        if with_status and self.status and self.status != "all":
            if self.status == "open":
                clauses.append("d.id IS NULL")
            elif self.status == "reviewed":
                clauses.append("d.id IS NOT NULL")
            else:
                clauses.append("d.decision = ?")
                args.append(self.status)
        return " WHERE " + " AND ".join(clauses), args


_QUEUE_FROM = """
    FROM sentences s JOIN turns t ON t.id = s.turn_id
    LEFT JOIN decisions d ON d.id = (SELECT MAX(x.id) FROM decisions x WHERE x.sentence_id = s.id)"""

EXPORT_COLUMNS = [
    "decision_id",
    "decided_at",
    "reviewer",
    "decision",
    "comment",
    "current",
    "sentence_id",
    "run_id",
    "conversation_id",
    "turn",
    "corpus",
    "verdict",
    "sentence",
    "reason",
    "doc_id",
    "title",
    "page",
    "section",
    "quote",
]


def _csv_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


class ReviewStore:
    """Decisions and reviewer accounts in the audit store's SQLite file. Thread-safe like AuditStore."""

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
        with self.store.transaction() as conn:
            current = apply_migrations(conn, "review_schema", REVIEW_MIGRATIONS)
        if current > REVIEW_SCHEMA_VERSION:
            raise ReviewError(
                f"review tables in {self.store.path} have version {current}, newer than this "
                f"Veracity understands ({REVIEW_SCHEMA_VERSION}); upgrade Veracity"
            )

    # --- decisions ---------------------------------------------------------------------------------
    def decide(self, sentence_id: int, decision: str, reviewer: str, comment: str = "") -> dict:
        """Append a decision on a flagged sentence; returns the stored row. Earlier decisions stay."""
        if decision not in DECISIONS:
            raise ReviewError(f"unknown decision {decision!r}; use one of {', '.join(DECISIONS)}")
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
            if not row["flagged"]:
                raise ReviewError(
                    f"sentence {sentence_id} is {row['verdict']}, not flagged: nothing to review"
                )
            cur = conn.execute(
                "INSERT INTO decisions (sentence_id, turn_id, run_id, decision, comment, reviewer, decided_at, "
                "verdict, sentence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row["id"],
                    row["turn_id"],
                    row["run_id"],
                    decision,
                    comment,
                    reviewer,
                    now(),
                    row["verdict"],
                    row["text"],
                ),
            )
            return dict(conn.execute("SELECT * FROM decisions WHERE id = ?", (cur.lastrowid,)).fetchone())

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
        return cur["decision"] if cur else "open"

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
        out: dict[str, Any] = {"total": 0, "status": dict.fromkeys(STATUSES, 0), "verdict": {}}
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
        out["status"]["reviewed"] = out["total"] - out["status"]["open"]
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
            "SELECT COUNT(*) AS total, SUM(s.id < ?) AS before, SUM(s.id = ?) AS inside"
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
        """Per run (newest first): flagged, reviewed, open, confirmed, dismissed, escalated and
        confirmed_share (confirmed / reviewed, None before any review)."""
        stats = {
            r["run_id"]: r
            for r in self.store.query(
                "SELECT t.run_id, COUNT(*) AS flagged, SUM(d.id IS NOT NULL) AS reviewed, "
                "SUM(d.decision = 'confirmed') AS confirmed, SUM(d.decision = 'dismissed') AS dismissed, "
                "SUM(d.decision = 'escalated') AS escalated"
                + _QUEUE_FROM
                + " WHERE s.flagged = 1 GROUP BY t.run_id"
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
            for k in ("flagged", "reviewed", "confirmed", "dismissed", "escalated"):
                row[k] = int(s.get(k) or 0)
            row["open"] = row["flagged"] - row["reviewed"]
            row["confirmed_share"] = row["confirmed"] / row["reviewed"] if row["reviewed"] else None
            out.append(row)
        return out

    # --- export --------------------------------------------------------------------------------------
    def export_rows(
        self, *, run: str | None = None, corpus: str | None = None, latest_only: bool = False
    ) -> Iterator[dict]:
        """Decisions (oldest first) joined with their sentence, turn and best citation. `current` is 1 for
        the decision that is a sentence's current status. latest_only: only those."""
        clauses, args = [], []
        if run:
            clauses.append("d.run_id = ?")
            args.append(run)
        if corpus:
            clauses.append("t.corpus = ?")
            args.append(corpus)
        if latest_only:
            clauses.append("d.id = (SELECT MAX(x.id) FROM decisions x WHERE x.sentence_id = d.sentence_id)")
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        q = (
            "SELECT d.id AS decision_id, d.decided_at, d.reviewer, d.decision, d.comment, "
            "(d.id = (SELECT MAX(x.id) FROM decisions x WHERE x.sentence_id = d.sentence_id)) AS current, "
            "d.sentence_id, d.run_id, t.conversation_id, t.turn, t.corpus, d.verdict, d.sentence, s.reason, "
            "c.doc_id, c.title, c.page, c.section, c.quote "
            "FROM decisions d LEFT JOIN sentences s ON s.id = d.sentence_id "
            "LEFT JOIN turns t ON t.id = d.turn_id "
            "LEFT JOIN citations c ON c.sentence_id = d.sentence_id AND c.rank = 0" + where + " ORDER BY d.id"
        )
        yield from self.store.query(q, args)

    def iter_csv(self, **kwargs) -> Iterator[str]:
        """The export as CSV text, header first, a few rows per chunk."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(EXPORT_COLUMNS)
        for i, row in enumerate(self.export_rows(**kwargs)):
            writer.writerow([_csv_cell(row.get(c)) for c in EXPORT_COLUMNS])
            if i % 200 == 199:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    def write_csv(self, fp: IO[str], **kwargs) -> None:
        for part in self.iter_csv(**kwargs):
            fp.write(part)

    # --- reviewers -----------------------------------------------------------------------------------
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


# --- command line ------------------------------------------------------------------------------------


def _db_path(args: argparse.Namespace) -> Path:
    if args.db:
        return Path(args.db)
    from pipeline.settings import Settings

    settings = Settings(home=Path(args.home)) if args.home else Settings()
    return store_path(settings)


def _read_password(stdin: IO[str]) -> str:
    if stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise ReviewError("the passwords differ")
        return first
    line = stdin.readline()
    return line.rstrip("\r\n")


def main(
    argv: Iterable[str] | None = None, stdin: IO[str] | None = None, stdout: IO[str] | None = None
) -> int:
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.review", description="Review UI accounts and the decision trail."
    )
    parser.add_argument("--db", help="audit store (default: VERACITY_AUDIT_DB or HOME/audit.sqlite)")
    parser.add_argument("--home", help="Veracity home (default: VERACITY_HOME or the project directory)")
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd, help_text in (
        ("add-reviewer", "create a reviewer; the password is read from stdin"),
        ("set-password", "set a reviewer's password (read from stdin) and re-activate it"),
        ("disable-reviewer", "stop a reviewer from signing in (decisions are kept)"),
    ):
        p = sub.add_parser(cmd, help=help_text)
        p.add_argument("name")
    sub.add_parser("list-reviewers", help="reviewers and whether they may sign in")
    p = sub.add_parser("export", help="the decision trail as CSV")
    p.add_argument("--run")
    p.add_argument("--corpus")
    p.add_argument("--latest", action="store_true", help="only each sentence's current decision")
    p.add_argument("-o", "--out", help="file to write (default: stdout)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        with ReviewStore(_db_path(args)) as rs:
            if args.command in ("add-reviewer", "set-password"):
                check_reviewer_name(args.name)
                rs.add_reviewer(args.name, _read_password(stdin), replace=args.command == "set-password")
                print(f"reviewer {args.name} can sign in at /ui/login ({rs.store.path})", file=stdout)
            elif args.command == "disable-reviewer":
                rs.set_active(args.name, False)
                print(f"reviewer {args.name} disabled", file=stdout)
            elif args.command == "list-reviewers":
                for r in rs.reviewers():
                    print(
                        f"{r['name']}\t{'active' if r['active'] else 'disabled'}\tcreated {r['created_at']}",
                        file=stdout,
                    )
            elif args.command == "export":
                kwargs = {"run": args.run, "corpus": args.corpus, "latest_only": args.latest}
                if args.out:
                    with open(args.out, "w", newline="", encoding="utf-8") as fp:
                        rs.write_csv(fp, **kwargs)
                else:
                    rs.write_csv(stdout, **kwargs)
    except VeracityError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
