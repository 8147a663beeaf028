"""Corpora this key may read, uploading and removing their documents, and the indexing jobs that follow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.auth import Principal
from api.dependencies import Auth, CorpusName, State, readable, writable
from api.errors import ApiError, corpus_not_found
from api.models import CorpusDetail, CorpusList, JobInfo
from api.routers.error_docs import AUTH_ERRORS, CORPUS_404, error_responses
from api.uploads import receive_upload
from pipeline.calibration.apply import in_force
from pipeline.settings import Settings
from pipeline.store import uploads as docs
from pipeline.store.corpora import list_corpora

router = APIRouter(tags=["corpora"])


def _rows(settings: Settings, p: Principal) -> list[dict]:
    out = []
    for row in list_corpora(settings):
        if p.can_read(row["name"]):
            out.append(row | {"uploaded_documents": len(docs.uploaded_files(row["name"], settings))})
    return out


def _accepted(job: dict) -> JSONResponse:
    """202 with the job and where to poll it."""
    return JSONResponse(
        JobInfo(**job).model_dump(), status_code=202, headers={"Location": f"/v1/jobs/{job['id']}"}
    )


@router.get(
    "/v1/corpora",
    response_model=CorpusList,
    summary="Corpora this key may read, with document counts, model and last update",
    responses={**AUTH_ERRORS},
)
async def corpora(p: Auth, state: State) -> dict:
    return {"corpora": await run_in_threadpool(_rows, state.settings, p)}


@router.get(
    "/v1/corpora/{name}",
    response_model=CorpusDetail,
    summary="One corpus, with the thresholds in force and its latest calibration",
    responses={**AUTH_ERRORS, **CORPUS_404},
)
async def corpus(name: CorpusName, request: Request, p: Auth, state: State) -> dict:
    readable(p, name)
    request.state.corpus = name
    for row in await run_in_threadpool(_rows, state.settings, p):
        if row["name"] == name:
            return row | await run_in_threadpool(in_force, name, state.settings)
    raise corpus_not_found(name)


@router.post(
    "/v1/corpora/{name}/documents",
    status_code=202,
    response_model=JobInfo,
    summary="Upload documents (PDF, TXT, MD, SPL XML, openFDA JSON); indexed by a background job",
    description="multipart/form-data with one or more `files` parts. Each file is stored under "
    "HOME/uploads/NAME/ (file name sanitised; it becomes the doc_id), checked and then "
    "indexed incrementally. A name with no corpus yet creates one from the uploads "
    "(needs write access to that name). Poll `GET /v1/jobs/{id}`.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["files"],
                        "properties": {
                            "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                            "domain": {
                                "type": "string",
                                "description": "domain of a new corpus",
                                "example": "contracts",
                            },
                        },
                    }
                }
            },
        }
    },
    responses={
        **AUTH_ERRORS,
        **CORPUS_404,
        **error_responses(
            403,
            "The key may read but not write this corpus",
            ("forbidden", "this API key may read but not change corpus 'sample'", None),
        ),
        **error_responses(
            413,
            "A file over the upload limit",
            ("upload_too_large", "file is larger than the upload limit of 26214400 bytes", "files"),
        ),
        **error_responses(
            415,
            "Not a PDF, TXT, MD, XML or JSON file",
            ("unsupported_media_type", "unsupported file type .docx for 'a.docx'", "files"),
        ),
    },
)
async def upload(name: CorpusName, request: Request, p: Auth, state: State) -> JSONResponse:
    writable(p, name)
    request.state.corpus = name
    received, batch = await receive_upload(request, state.settings, name)
    domain = received.fields.get("domain") or None
    return _accepted(state.jobs.submit_upload(name, received.staged, batch, domain))


@router.delete(
    "/v1/corpora/{name}/documents/{doc_id:path}",
    status_code=202,
    response_model=JobInfo,
    summary="Remove an uploaded document (the corpus is re-indexed by a job)",
    responses={
        **AUTH_ERRORS,
        **error_responses(
            404,
            "Unknown corpus or document",
            ("document_not_found", "no document 'x.pdf' in corpus 'sample'", "doc_id"),
        ),
        **error_responses(
            409,
            "The document comes from the corpus definition, not from an upload",
            (
                "document_not_deletable",
                "document 'northwind-msa.md' comes from the definition "
                "of corpus 'sample', not from an upload; remove it from the corpus's sources "
                "instead",
                "doc_id",
            ),
        ),
    },
)
async def delete_document(
    name: CorpusName, doc_id: str, request: Request, p: Auth, state: State
) -> JSONResponse:
    writable(p, name)
    request.state.corpus = name
    if not await run_in_threadpool(docs.corpus_exists, name, state.settings):
        raise corpus_not_found(name)
    file, removed = await run_in_threadpool(docs.resolve_upload, name, doc_id, state.settings)
    return _accepted(state.jobs.submit_delete(name, file, removed))


@router.get(
    "/v1/jobs/{job_id}",
    response_model=JobInfo,
    summary="Status, progress, per-file failures and result of an indexing job",
    responses={
        **AUTH_ERRORS,
        **error_responses(
            404,
            "Unknown job (or one of a corpus this key may not read)",
            ("job_not_found", "no job '3f2b9c1e'", None),
        ),
    },
)
async def job(
    job_id: Annotated[str, Path(examples=["3f2b9c1e7d4a4e0f9b8a6c5d4e3f2a1b"])], p: Auth, state: State
) -> dict:
    found = await run_in_threadpool(state.jobs.get, job_id)
    if found is None or not p.can_read(found["corpus"]):
        raise ApiError(404, "job_not_found", f"no job {job_id!r}")
    return found
