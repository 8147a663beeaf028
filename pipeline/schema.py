"""Records that flow between the stages (Document -> Chunk -> SearchHit -> Claim -> Verdict ->
VerificationResult) and the vocabulary they share (Label, Mode, CheckKind, ErrorKind)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class VeracityError(Exception):
    """A user-facing error: bad input, unknown corpus, unusable index. The message says what to do."""


@dataclass(frozen=True)
class Span:
    """A labelled character range of a document's text: a page or a section."""

    start: int
    end: int
    label: str
    code: str = ""  # LOINC code for SPL sections, empty elsewhere
    ocr_confidence: float | None = None  # a page read by OCR: its mean recognition score


@dataclass(frozen=True)
class Place:
    """Where a character range of a document stands: its page (if paginated) and section, and
    whether that page's text was read by OCR."""

    page: int | None = None
    section: str = ""
    ocr: bool = False


@dataclass
class Document:
    doc_id: str
    title: str
    domain: str
    source: str
    sha256: str
    text: str
    pages: list[Span] = field(default_factory=list)  # label = page number as text
    sections: list[Span] = field(default_factory=list)

    def page_numbers(self, start: int, end: int) -> list[int]:
        """Page numbers overlapping text[start:end]."""
        return [int(p.label) for p in self._pages_over(start, end)]

    def _pages_over(self, start: int, end: int) -> Iterable[Span]:
        return (p for p in self.pages if p.start < max(end, start + 1) and p.end > start)

    def section_at(self, start: int, end: int) -> Span | None:
        """The innermost section containing `start`, else the first one overlapping the range."""
        best: Span | None = None
        for s in self.sections:
            if s.start <= start < s.end and (best is None or s.end - s.start <= best.end - best.start):
                best = s
        if best is None:
            best = next((s for s in self.sections if s.start < end and s.end > start), None)
        return best

    def place(self, start: int, end: int) -> Place:
        """The first page overlapping text[start:end] and the section it starts in."""
        page = next(iter(self._pages_over(start, end)), None)
        section = self.section_at(start, end)
        return Place(
            int(page.label) if page else None,
            section.label if section else "",
            page is not None and page.ocr_confidence is not None,
        )


@dataclass
class Chunk:
    doc_id: str
    text: str
    start: int
    end: int
    pages: list[int] = field(default_factory=list)
    section: str = ""  # the section at the chunk's start; a search hit shows its match's (SearchHit.match)
    id: int = -1  # FAISS id once indexed


@dataclass
class SearchHit:
    chunk: Chunk
    score: float  # fused rank score
    title: str = ""
    dense: float = 0.0  # cosine similarity of query and chunk
    lexical: float = 0.0  # BM25 score
    # where the hit stands: the window of the chunk that best matches the query, with its own page
    # and section (retrieval.windows.locate_hits); a chunk may begin in the section before
    match: Citation | None = None

    def to_dict(self) -> dict[str, Any]:
        """The chunk (offsets, all its pages, text) and, once located, the matched window's page,
        section, offsets and text."""
        c, m = self.chunk, self.match
        return {
            "doc_id": c.doc_id,
            "title": self.title,
            "page": m.page if m else None,
            "section": m.section if m else "",
            "ocr": m.ocr if m else False,
            "match": {"start": m.start, "end": m.end, "text": m.quote} if m else None,
            "pages": c.pages,
            "start": c.start,
            "end": c.end,
            "score": round(float(self.score), 4),
            "dense": round(float(self.dense), 4),
            "lexical": round(float(self.lexical), 4),
            "text": c.text,
        }


class Label(StrEnum):
    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    UNSUPPORTED = "unsupported"
    NOT_A_CLAIM = "not_a_claim"
    UNCHECKED = "unchecked"

    @property
    def severity(self) -> int:
        """Order used to pick a sentence's worst fact and a turn's worst sentence."""
        return _SEVERITY[self]


_SEVERITY = {
    Label.CONTRADICTED: 4,
    Label.UNSUPPORTED: 3,
    Label.UNCHECKED: 2,
    Label.SUPPORTED: 1,
    Label.NOT_A_CLAIM: 0,
}
FLAGGED = frozenset({Label.CONTRADICTED, Label.UNSUPPORTED, Label.UNCHECKED})
BY_SEVERITY = tuple(sorted(Label, key=lambda label: label.severity, reverse=True))  # worst first


def count_verdicts(verdicts: Iterable[Label | str]) -> dict[str, int]:
    """How many of each label (every label, in Label order, 0 when absent)."""
    counts = {str(label): 0 for label in Label}
    for verdict in verdicts:
        counts[str(verdict)] += 1
    return counts


class Mode(StrEnum):
    """What happens to flagged sentences in the returned answer."""

    ANNOTATE = "annotate"  # marked with a footnote
    REDACT = "redact"  # replaced by a notice
    BLOCK = "block"  # the whole answer withheld when a sentence is contradicted


class CheckKind(StrEnum):
    """The slot a deterministic check compares between claim and evidence."""

    NUMBER = "number"
    UNIT = "unit"
    DATE = "date"
    NEGATION = "negation"
    MODALITY = "modality"
    PARTY = "party"
    POPULATION = "population"
    PRODUCT = "product"
    ENTITY = "entity"  # another subject the check could not name more precisely

    @property
    def error_kind(self) -> ErrorKind:
        """The group a contradiction found by this check is counted under in audits and reviews."""
        return _CHECK_ERROR_KIND[self]


class ErrorKind(StrEnum):
    """Why a flagged sentence was flagged, as the audit store, report and review UI group it."""

    NUMBER = "number"
    NEGATION = "negation"
    ENTITY = "entity"
    MODEL = "model"
    NOT_IN_DOCUMENTS = "not_in_documents"
    UNCHECKED = "unchecked"
    OTHER = "other"  # only in stores written before the kinds were recorded as data

    @property
    def label(self) -> str:
        return _ERROR_KIND_LABELS[self]

    @classmethod
    def label_of(cls, code: str | None) -> str:
        """The label of a stored kind code; an unknown code as it is, none as ''."""
        try:
            return cls(code).label
        except ValueError:
            return code or ""


_CHECK_ERROR_KIND = {
    CheckKind.NUMBER: ErrorKind.NUMBER,
    CheckKind.UNIT: ErrorKind.NUMBER,
    CheckKind.DATE: ErrorKind.NUMBER,
    CheckKind.NEGATION: ErrorKind.NEGATION,
    CheckKind.MODALITY: ErrorKind.NEGATION,
    CheckKind.PARTY: ErrorKind.ENTITY,
    CheckKind.POPULATION: ErrorKind.ENTITY,
    CheckKind.PRODUCT: ErrorKind.ENTITY,
    CheckKind.ENTITY: ErrorKind.ENTITY,
}
_ERROR_KIND_LABELS = {
    ErrorKind.NUMBER: "number/unit mismatch",
    ErrorKind.NEGATION: "negation/modality",
    ErrorKind.ENTITY: "entity (party, population, product)",
    ErrorKind.MODEL: "model contradiction",
    ErrorKind.NOT_IN_DOCUMENTS: "not in documents",
    ErrorKind.UNCHECKED: "unchecked",
    ErrorKind.OTHER: "other contradiction",
}


@dataclass
class Claim:
    """A sentence of the answer (or one fact of it), with offsets into the answer."""

    text: str
    start: int
    end: int
    checkable: bool = True
    parts: list[str] = field(default_factory=list)  # independent facts joined in the sentence


@dataclass
class Citation:
    doc_id: str
    title: str
    page: int | None
    section: str
    start: int
    end: int
    quote: str
    ocr: bool = False  # the quote stands on a page read by OCR: its wording may be misread

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def where(self) -> str:
        """ "p. 3", else the section; "(OCR text)" added for a quote read by OCR."""
        place = f"p. {self.page}" if self.page else self.section
        return f"{place} (OCR text)" if self.ocr else place


@dataclass
class SlotCheck:
    """A deterministic comparison of one slot (number, negation, entity) between claim and evidence."""

    kind: CheckKind
    ok: bool
    message: str


@dataclass
class Verdict:
    text: str
    start: int
    end: int
    verdict: Label
    confidence: float
    reason: str
    citations: list[Citation] = field(default_factory=list)
    failed_checks: list[CheckKind] = field(default_factory=list)  # slot checks that decided a contradiction

    @property
    def flagged(self) -> bool:
        return self.verdict in FLAGGED

    @property
    def error_kind(self) -> ErrorKind | None:
        """Why it is flagged: the first failed check's group, else the judge (None when not flagged)."""
        if self.verdict == Label.UNCHECKED:
            return ErrorKind.UNCHECKED
        if self.verdict == Label.UNSUPPORTED:
            return ErrorKind.NOT_IN_DOCUMENTS
        if self.verdict == Label.CONTRADICTED:
            return self.failed_checks[0].error_kind if self.failed_checks else ErrorKind.MODEL
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "verdict": str(self.verdict),
            "confidence": round(float(self.confidence), 4),
            "reason": self.reason,
            "citations": [c.to_dict() for c in self.citations],
            "failed_checks": [str(k) for k in self.failed_checks],
        }


@dataclass
class VerificationResult:
    answer: str
    sentences: list[Verdict]
    output: str
    mode: Mode
    timings_ms: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def summary(self) -> dict[str, Any]:
        counts = count_verdicts(v.verdict for v in self.sentences)
        return {
            "counts": counts,
            "flagged": any(v.flagged for v in self.sentences),
            "n_sentences": len(self.sentences),
            "blocked": self.mode == Mode.BLOCK and counts[str(Label.CONTRADICTED)] > 0,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "sentences": [v.to_dict() for v in self.sentences],
            "summary": self.summary,
            "output": self.output,
            "mode": str(self.mode),
            "versions": self.versions,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }
