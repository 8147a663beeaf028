"""Labelled sentences to calibrate on: from a labelled answer file (the format of
bench/data/dev_answers.jsonl) or from the review trail's latest decisions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.review.trail import ReviewDecision, ReviewStore
from pipeline.schema import ErrorKind, Label, VeracityError


class CalibrationError(VeracityError):
    """Unusable labels or an impossible calibration; the message says what to do."""


# The `error` field of a labelled answer file, grouped as the audit and review group flags.
GOLD_ERROR_KIND = {
    "wrong_number": ErrorKind.NUMBER,
    "wrong_unit": ErrorKind.NUMBER,
    "negation_flip": ErrorKind.NEGATION,
    "modality_flip": ErrorKind.NEGATION,
    "swapped_party": ErrorKind.ENTITY,
    "wrong_population": ErrorKind.ENTITY,
    "wrong_fact": ErrorKind.MODEL,
    "invented_clause": ErrorKind.NOT_IN_DOCUMENTS,
    "outside_knowledge": ErrorKind.NOT_IN_DOCUMENTS,
    "unsupported_inference": ErrorKind.NOT_IN_DOCUMENTS,
}
ERROR_LABELS = frozenset({Label.CONTRADICTED, Label.UNSUPPORTED})
FILE_LABELS = frozenset({Label.SUPPORTED, Label.CONTRADICTED, Label.UNSUPPORTED, Label.NOT_A_CLAIM})


@dataclass
class LabelledSentence:
    """One sentence of an answer with what a person said about it."""

    text: str
    start: int
    end: int
    error: bool  # a real error (flagging it is right) or not
    gold: str  # the file's label, or the reviewer's decision
    kind: ErrorKind | None = None  # the error's kind (file) or the flag's kind (reviews)
    sentence_id: int | None = None  # the audit store's sentence (reviews)


@dataclass
class LabelledAnswer:
    id: str
    corpus: str
    answer: str
    question: str | None = None
    doc_ids: list[str] | None = None
    sentences: list[LabelledSentence] = field(default_factory=list)


def gold_offsets(row: dict) -> list[tuple[int, int]]:
    """Character offsets of a labelled answer's sentences in its answer, in order."""
    spans, pos = [], 0
    for s in row["sentences"]:
        start = row["answer"].find(s["text"], pos)
        if start < 0:
            raise ValueError(f"{row['id']}: sentence not found in answer: {s['text'][:60]}")
        spans.append((start, start + len(s["text"])))
        pos = start + len(s["text"])
    return spans


def read_labels(path: Path, corpus: str) -> list[LabelledAnswer]:
    """The answers of a labelled answer file whose `corpus` is `corpus` (a row without one counts
    as this corpus). A malformed line stops with its file and line number."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"cannot read labels {path}: {exc}") from exc
    out = []
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if row.get("corpus", corpus) != corpus:
                continue
            sentences = []
            for (start, end), s in zip(gold_offsets(row), row["sentences"], strict=True):
                if s["label"] not in FILE_LABELS:
                    raise ValueError(f"unknown label {s['label']!r} (use {', '.join(sorted(FILE_LABELS))})")
                error = s["label"] in ERROR_LABELS
                sentences.append(
                    LabelledSentence(
                        s["text"],
                        start,
                        end,
                        error,
                        s["label"],
                        GOLD_ERROR_KIND.get(s.get("error") or "", ErrorKind.OTHER) if error else None,
                    )
                )
            out.append(
                LabelledAnswer(
                    str(row.get("id", f"line-{no}")),
                    corpus,
                    str(row["answer"]),
                    row.get("question"),
                    list(row["doc_ids"]) if row.get("doc_ids") else None,
                    sentences,
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CalibrationError(
                f"{path}:{no}: not a labelled answer ({type(exc).__name__}: {exc})"
            ) from exc
    return out


# A reviewer's decision as a label: confirmed and missed are real errors, dismissed a false alarm;
# escalated says nothing yet.
REVIEW_ERROR = {ReviewDecision.CONFIRMED: True, ReviewDecision.MISSED: True, ReviewDecision.DISMISSED: False}


def review_labels(review: ReviewStore, corpus: str, runs: Sequence[str] = ()) -> list[LabelledAnswer]:
    """The stored answers of `corpus` (in `runs`, default all) with the latest decision of each
    reviewed sentence as its label; sentences without a decision (or escalated) are left out."""
    where, args = ["t.corpus = ?", "t.status = 'done'"], [corpus]
    if runs:
        where.append(f"t.run_id IN ({', '.join('?' * len(runs))})")
        args += list(runs)
    rows = review.store.query(
        "SELECT t.id AS turn_id, t.run_id, t.conversation_id, t.turn, t.answer, t.question, t.doc_ids, "
        "s.id AS sentence_id, s.text, s.start_char, s.end_char, s.kind, d.decision "
        "FROM sentences s JOIN turns t ON t.id = s.turn_id "
        "JOIN decisions d ON d.id = (SELECT MAX(x.id) FROM decisions x WHERE x.sentence_id = s.id) "
        f"WHERE {' AND '.join(where)} ORDER BY t.id, s.idx",
        args,
    )
    answers: dict[int, LabelledAnswer] = {}
    for r in rows:
        decision = ReviewDecision(r["decision"])
        if decision not in REVIEW_ERROR or r["start_char"] is None:
            continue
        a = answers.get(r["turn_id"])
        if a is None:
            a = answers[r["turn_id"]] = LabelledAnswer(
                f"{r['run_id']}/{r['conversation_id']}/{r['turn']}",
                corpus,
                r["answer"],
                r["question"],
                json.loads(r["doc_ids"]) if r["doc_ids"] else None,
            )
        a.sentences.append(
            LabelledSentence(
                r["text"],
                r["start_char"],
                r["end_char"],
                REVIEW_ERROR[decision],
                str(decision),
                _stored_kind(r["kind"]),
                r["sentence_id"],
            )
        )
    return list(answers.values())


def _stored_kind(code: str | None) -> ErrorKind | None:
    try:
        return ErrorKind(code) if code else None
    except ValueError:
        return ErrorKind.OTHER
