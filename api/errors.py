"""Every error is JSON {"error": {"code", "message", "field"?}} with a fitting status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.config import ConfigError
from pipeline.ingest import IngestError
from pipeline.schema import VeracityError
from pipeline.store.corpora import CorpusError, UnknownCorpus
from pipeline.store.index_files import IndexUnavailable
from pipeline.store.uploads import (
    DocumentConflict,
    DocumentError,
    DocumentNotFound,
    UnsupportedFileType,
    UploadTooLarge,
)

log = logging.getLogger("veracity.api")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def corpus_not_found(name: str, field: str = "corpus") -> ApiError:
    """The 404 for a corpus that does not exist or that this key may not read: the same answer."""
    return ApiError(404, "corpus_not_found", f"no corpus {name!r}", field)


def body(code: str, message: str, field: str | None = None) -> dict:
    detail = {"code": code, "message": message}
    if field:
        detail["field"] = field
    return {"error": detail}


def error_response(
    status: int, code: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body(code, message, field), status_code=status, headers=headers)


# library error -> (status, code, field, headers); the first class the error is an instance of wins,
# so subclasses come before their parents
_STATUS: list[tuple[type[Exception], int, str, str | None, dict[str, str] | None]] = [
    (UploadTooLarge, 413, "upload_too_large", "files", None),
    (UnsupportedFileType, 415, "unsupported_media_type", "files", None),
    (DocumentNotFound, 404, "document_not_found", "doc_id", None),
    (DocumentConflict, 409, "document_not_deletable", "doc_id", None),
    (IndexUnavailable, 503, "index_unavailable", None, {"Retry-After": "30"}),
    (UnknownCorpus, 404, "corpus_not_found", "corpus", None),
    (CorpusError, 422, "invalid_corpus", "corpus", None),
    (IngestError, 422, "unreadable_document", "files", None),
    (DocumentError, 422, "invalid_document", None, None),
    (ConfigError, 503, "misconfigured", None, None),
]


def from_veracity_error(exc: VeracityError) -> ApiError:
    """Map the library's errors to statuses: bad input 4xx, an unusable index or model 503;
    VerificationError and anything else the engine raises on purpose is a bad request."""
    for cls, status, code, field, headers in _STATUS:
        if isinstance(exc, cls):
            return ApiError(status, code, str(exc), field, headers=headers)
    return ApiError(422, "invalid_request", str(exc))


def _field(err: dict) -> str:
    ctx = err.get("ctx") or {}
    loc = [p for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
    if isinstance(ctx, dict) and ctx.get("field"):
        loc.append(ctx["field"])
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"msg": "invalid request", "loc": ()}
        field = _field(first)
        if first.get("type") == "json_invalid":
            return error_response(422, "invalid_json", f"request body is not valid JSON: {first.get('msg')}")
        if first.get("type") == "missing" and not field:
            return error_response(422, "missing_body", "a JSON request body is required")
        message = str(first.get("msg", "invalid value"))
        if field:
            message = f"{field}: {message}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        return error_response(422, "invalid_request", message, field or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            return error_response(422, "invalid_json", "request body is not valid JSON (or not UTF-8)")
        code = {
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthorized",
            413: "payload_too_large",
            415: "unsupported_media_type",
        }.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(VeracityError)
    async def _veracity(request: Request, exc: VeracityError) -> JSONResponse:
        e = from_veracity_error(exc)
        return error_response(e.status, e.code, e.message, e.field, e.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error; see the server log")
