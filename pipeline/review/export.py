"""The decision trail exported as CSV: one row per decision with its sentence, turn and best citation."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO

from pipeline.files import csv_cell
from pipeline.review.trail import ReviewStore

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


def export_rows(
    rs: ReviewStore, *, run: str | None = None, corpus: str | None = None, latest_only: bool = False
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
        "CASE WHEN d.id = (SELECT MAX(x.id) FROM decisions x WHERE x.sentence_id = d.sentence_id) THEN 1 "
        "ELSE 0 END AS current, "
        "d.sentence_id, d.run_id, t.conversation_id, t.turn, t.corpus, d.verdict, d.sentence, s.reason, "
        "c.doc_id, c.title, c.page, c.section, c.quote "
        "FROM decisions d LEFT JOIN sentences s ON s.id = d.sentence_id "
        "LEFT JOIN turns t ON t.id = d.turn_id "
        "LEFT JOIN citations c ON c.sentence_id = d.sentence_id AND c.rank = 0" + where + " ORDER BY d.id"
    )
    yield from rs.store.query(q, args)


def iter_csv(rs: ReviewStore, **filters) -> Iterator[str]:
    """The export (export_rows' filters) as CSV text, header first, a few rows per chunk."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(EXPORT_COLUMNS)
    for i, row in enumerate(export_rows(rs, **filters)):
        writer.writerow([csv_cell(row.get(c)) for c in EXPORT_COLUMNS])
        if i % 200 == 199:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def write_csv(rs: ReviewStore, fp: IO[str], **filters) -> None:
    """The export (export_rows' filters) written to `fp` as CSV."""
    for part in iter_csv(rs, **filters):
        fp.write(part)
