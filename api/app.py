"""The FastAPI app: verify answers, manage corpora and their uploaded documents, health and metrics.

Models and default indexes load once, in the lifespan. Verification runs in worker threads (at most
VERACITY_VERIFY_CONCURRENCY at once) so the event loop keeps serving; the engine reopens a corpus's
index when its CURRENT pointer moves, so readers never see a half-built index.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Path, Request, Security
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from api import errors
from api.auth import HEADER, KeyStore, Principal
from api.config import ApiSettings
from api.errors import ApiError
from api.jobs import JobManager
from api.metrics import Metrics
from api.middleware import RequestMiddleware
from api.models import (
    CORPUS_PATTERN,
    BatchRequest,
    BatchResponse,
    CorpusInfo,
    CorpusList,
    ErrorBody,
    Health,
    JobInfo,
    Readiness,
    VerifyRequest,
    VerifyResponse,
    error_example,
)
from api.uploads import receive_upload
from pipeline.schema import VeracityError
from pipeline.store import uploads as docs
from pipeline.store.corpora import CorpusError, list_corpora

log = logging.getLogger("veracity.api")

EngineFactory = Callable[[ApiSettings], Any]


def _default_engine(settings: ApiSettings):
    from pipeline.verification.engine import Engine

    return Engine(settings)


def _err(status: int, description: str, *examples: tuple[str, str, str | None]) -> dict:
    ex = {code: {"value": error_example(code, msg, field)} for code, msg, field in examples}
    return {
        status: {
            "model": ErrorBody,
            "description": description,
            "content": {"application/json": {"examples": ex}},
        }
    }


AUTH_ERRORS = _err(
    401, "Missing or unknown API key", ("unauthorized", "missing or unknown API key (X-API-Key)", None)
)
CORPUS_404 = _err(
    404, "Unknown corpus, or one this key may not read", ("corpus_not_found", "no corpus 'acme'", "corpus")
)
UNAVAILABLE = _err(
    503,
    "Models or the index could not be loaded; sentences are never reported as supported",
    ("index_unavailable", "corpus 'sample' has no index; build it with `veracity index sample`", None),
    ("models_unavailable", "the verification models are not loaded", None),
    ("overloaded", "too many verifications waiting; retry shortly", None),
)


def _first_error(group: BaseExceptionGroup) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_error(exc)
        if not isinstance(exc, anyio.get_cancelled_exc_class()):
            return exc
    return group.exceptions[0]


class AppState:
    """Everything the routes share: settings, keys, the engine, jobs and metrics."""

    def __init__(self, settings: ApiSettings, engine: Any | None, engine_factory: EngineFactory) -> None:
        self.settings = settings
        self.keys = KeyStore(settings.key_policies(), disabled=settings.auth_disabled is True)
        self.engine = engine
        self.engine_factory = engine_factory
        self.engine_error: str | None = None
        self.corpus_problems: dict[str, str] = {}
        self.loaded_corpora: set[str] = set()
        self.metrics = Metrics(lambda: list_corpora(settings))
        self.jobs = JobManager(settings, settings.index_workers, on_finished=self._job_finished)
        self.limiter = anyio.CapacityLimiter(max(1, settings.verify_concurrency))
        self.pending = 0
        self._load_lock = threading.Lock()
        self._last_load = 0.0
        self._last_engine_try = 0.0

    # --- start-up ---------------------------------------------------------------------------------
    def load(self, force: bool = True) -> None:
        """Load the models and open the default corpora; what fails is reported by /readyz (and
        retried by it: corpora at most every 5 s, the models at most every 60 s)."""
        with self._load_lock:
            now = time.monotonic()
            if not force and now - self._last_load < 5:
                return
            self._last_load = now
            if self.engine is None:
                if not force and now - self._last_engine_try < 60:
                    return
                self._last_engine_try = now
                t0 = time.perf_counter()
                try:
                    self.engine = self.engine_factory(self.settings)
                    self.engine_error = None
                    log.info("models loaded in %.1f s", time.perf_counter() - t0)
                except Exception as exc:  # noqa: BLE001 - reported by /readyz and as 503
                    self.engine_error = f"{type(exc).__name__}: {exc}"
                    log.exception("cannot load the verification models")
                    return
                self._warm_up()
            for name in self.settings.serve_corpora:
                if name in self.loaded_corpora:
                    continue
                try:
                    retriever, _ = self.engine.retriever(name)
                    _ = retriever.index.bm25  # loaded lazily otherwise: on the first request
                    self.loaded_corpora.add(name)
                    self.corpus_problems.pop(name, None)
                    log.info("corpus %s loaded (%s)", name, retriever.index.manifest.version)
                except Exception as exc:  # noqa: BLE001
                    self.corpus_problems[name] = str(exc)
                    log.error("corpus %s not loaded: %s", name, exc)

    def _warm_up(self) -> None:
        try:
            self.engine.verify(
                "The notice period is ninety days.",
                contexts=["The notice period is ninety (90) days."],
                timeout_s=30,
            )
        except Exception:  # noqa: BLE001 - a warm-up failure shows up on the first real request
            log.exception("warm-up verification failed")

    def ready(self) -> bool:
        return self.engine is not None and all(n in self.loaded_corpora for n in self.settings.serve_corpora)

    def _job_finished(self, job: dict) -> None:
        self.metrics.jobs.labels(job["kind"], job["status"]).inc()
        if self.engine is not None and job["status"] == "succeeded":
            try:  # open the new version now rather than on the next request
                retriever, _ = self.engine.retriever(job["corpus"])
                _ = retriever.index.bm25
            except Exception:  # noqa: BLE001
                log.exception("cannot open corpus %s after job %s", job["corpus"], job["id"])

    # --- verification ------------------------------------------------------------------------------
    async def verify(self, req: VerifyRequest, t0: float) -> dict:
        if self.engine is None:
            raise ApiError(
                503,
                "models_unavailable",
                f"the verification models are not loaded: {self.engine_error or 'still loading'}",
                headers={"Retry-After": "10"},
            )
        if self.pending >= self.settings.max_pending:
            raise ApiError(
                503,
                "overloaded",
                f"{self.pending} verifications are running or waiting; retry shortly",
                headers={"Retry-After": "1"},
            )
        self.pending += 1
        self.metrics.verify_inflight.inc()
        try:
            return await anyio.to_thread.run_sync(self._verify_sync, req, t0, limiter=self.limiter)
        finally:
            self.pending -= 1
            self.metrics.verify_inflight.dec()

    def _verify_sync(self, req: VerifyRequest, t0: float) -> dict:
        started = time.perf_counter()
        budget = self.settings.request_timeout_s - (started - t0)
        if budget <= 0:
            raise ApiError(
                503,
                "timeout",
                f"the request waited {started - t0:.1f} s for a free worker, longer "
                f"than the {self.settings.request_timeout_s:g} s limit; retry shortly",
                headers={"Retry-After": "1"},
            )
        try:
            result = self.engine.verify(
                req.answer,
                corpus=req.corpus,
                contexts=req.contexts,
                question=req.question,
                doc_ids=req.doc_ids,
                domains=req.domains,
                mode=req.mode,
                timeout_s=budget,
            )
        except CorpusError as exc:
            if "unknown corpus" in str(exc):
                raise errors.not_found("corpus", req.corpus or "") from exc
            raise
        except VeracityError:
            raise
        except Exception as exc:  # a model or index failure: 503, never a verdict
            log.exception("verification failed")
            raise ApiError(
                503,
                "engine_error",
                f"verification failed: {type(exc).__name__}: {exc}",
                headers={"Retry-After": "5"},
            ) from exc
        out = result.to_dict()
        out["timings_ms"]["queue"] = round((started - t0) * 1000, 2)
        out["timings_ms"]["request"] = round((time.perf_counter() - t0) * 1000, 2)
        out["corpus"] = req.corpus
        out["language"] = req.language
        self.metrics.count_verdicts(out["summary"]["counts"])
        return out

    def check_limits(self, req: VerifyRequest, prefix: str = "") -> None:
        s = self.settings
        if len(req.answer) > s.max_answer_chars:
            raise ApiError(
                413,
                "answer_too_large",
                f"the answer has {len(req.answer)} characters; the limit is {s.max_answer_chars}",
                f"{prefix}answer",
            )
        if req.question and len(req.question) > s.max_question_chars:
            raise ApiError(
                413,
                "question_too_large",
                f"the question has {len(req.question)} characters; the limit is {s.max_question_chars}",
                f"{prefix}question",
            )
        if req.contexts is not None:
            if len(req.contexts) > s.max_contexts:
                raise ApiError(
                    413,
                    "too_many_contexts",
                    f"{len(req.contexts)} context passages; the limit is {s.max_contexts}",
                    f"{prefix}contexts",
                )
            total = sum(len(c) for c in req.contexts)
            if total > s.max_context_chars:
                raise ApiError(
                    413,
                    "contexts_too_large",
                    f"the context passages have {total} characters; the limit is {s.max_context_chars}",
                    f"{prefix}contexts",
                )


api_key_header = APIKeyHeader(name=HEADER, auto_error=False, description="Your Veracity API key")


def principal(request: Request, key: Annotated[str | None, Security(api_key_header)] = None) -> Principal:
    """The caller's key (X-API-Key, or `Authorization: Bearer`); 401 when missing or unknown."""
    if key is None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
    p = request.app.state.veracity.keys.authenticate(key)
    if p is None:
        raise ApiError(
            401,
            "unauthorized",
            f"missing or unknown API key (send it in the {HEADER} header)",
            headers={"WWW-Authenticate": f'ApiKey header="{HEADER}"'},
        )
    request.state.key = p.key_id
    return p


Auth = Annotated[Principal, Depends(principal)]
CorpusName = Annotated[str, Path(pattern=CORPUS_PATTERN, description="Corpus name", examples=["sample"])]


def create_app(
    settings: ApiSettings | None = None,
    *,
    engine: Any | None = None,
    engine_factory: EngineFactory | None = None,
) -> FastAPI:
    """The app. `engine` (already loaded) or `engine_factory` replace the default Engine(settings)."""
    settings = settings or ApiSettings()
    state = AppState(settings, engine, engine_factory or _default_engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(state.load)
        if state.keys.disabled:
            log.warning("API authentication is DISABLED: every client has full access to every corpus")
        yield
        state.jobs.shutdown(wait=False)

    app = FastAPI(
        title="Veracity API",
        version="1.0.0",
        summary="Checks every factual sentence of an LLM answer against your own authoritative documents.",
        description="Send an answer and a corpus (or the context passages the LLM was given); get a verdict, "
        "reason and citations for every sentence, plus the answer rendered for display. "
        f"Authenticate with the `{HEADER}` header.",
        lifespan=lifespan,
    )
    app.state.veracity = state

    def openapi() -> dict:
        """The generated schema, with the size limits of this deployment filled in."""
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            props = spec["components"]["schemas"]["VerifyRequest"]["properties"]
            props["answer"]["maxLength"] = settings.max_answer_chars
            for option in props["question"].get("anyOf", [props["question"]]):
                if option.get("type") == "string":
                    option["maxLength"] = settings.max_question_chars
            for option in props["contexts"].get("anyOf", [props["contexts"]]):
                if option.get("type") == "array":
                    option["maxItems"] = settings.max_contexts
            spec["components"]["schemas"]["BatchRequest"]["properties"]["items"]["maxItems"] = (
                settings.max_batch
            )
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi
    errors.install(app)
    app.add_middleware(RequestMiddleware, state=state)

    def readable(p: Principal, name: str | None, field: str = "corpus") -> None:
        if name is not None and not p.can_read(name):
            raise ApiError(404, "corpus_not_found", f"no corpus {name!r}", field)

    def writable(p: Principal, name: str) -> None:
        readable(p, name)
        if not p.can_write(name):
            raise ApiError(403, "forbidden", f"this API key may read but not change corpus {name!r}")

    # --- verify ----------------------------------------------------------------------------------
    @app.post(
        "/v1/verify",
        response_model=VerifyResponse,
        tags=["verify"],
        summary="Verify every sentence of one answer",
        responses={
            **AUTH_ERRORS,
            **CORPUS_404,
            **UNAVAILABLE,
            **_err(
                413,
                "Answer (or contexts) over the size limit",
                ("answer_too_large", "the answer has 25000 characters; the limit is 20000", "answer"),
            ),
            **_err(
                422,
                "Invalid body; `field` names the offending field",
                ("invalid_request", "corpus: give exactly one of `corpus` or `contexts`", "corpus"),
                ("empty_answer", "answer: the answer is empty", "answer"),
            ),
        },
    )
    async def verify(req: VerifyRequest, request: Request, p: Auth) -> dict:
        t0 = time.perf_counter()
        state.check_limits(req)
        readable(p, req.corpus)
        request.state.corpus = req.corpus or "(contexts)"
        if settings.log_answers:
            request.state.answer = req.answer
        out = await state.verify(req, t0)
        out["request_id"] = getattr(request.state, "request_id", "")
        request.state.counts = out["summary"]["counts"]
        return out

    @app.post(
        "/v1/verify/batch",
        response_model=BatchResponse,
        tags=["verify"],
        summary="Verify several answers; results in the same order",
        responses={
            **AUTH_ERRORS,
            **CORPUS_404,
            **UNAVAILABLE,
            **_err(
                413,
                "Too many items, or an item over a size limit",
                ("batch_too_large", "17 items; the limit is 16", "items"),
            ),
            **_err(
                422, "Invalid body", ("invalid_request", "items[0].answer: Field required", "items[0].answer")
            ),
        },
    )
    async def verify_batch(batch: BatchRequest, request: Request, p: Auth) -> dict:
        t0 = time.perf_counter()
        if len(batch.items) > settings.max_batch:
            raise ApiError(
                413,
                "batch_too_large",
                f"{len(batch.items)} items; the limit is {settings.max_batch}",
                "items",
            )
        for i, item in enumerate(batch.items):
            state.check_limits(item, f"items[{i}].")
            readable(p, item.corpus, f"items[{i}].corpus")
        request.state.corpus = ",".join(sorted({i.corpus or "(contexts)" for i in batch.items}))
        results: list[dict | None] = [None] * len(batch.items)

        async def one(i: int, item: VerifyRequest) -> None:
            results[i] = await state.verify(item, t0)

        try:
            async with anyio.create_task_group() as tg:
                for i, item in enumerate(batch.items):
                    tg.start_soon(one, i, item)
        except BaseExceptionGroup as group:  # the first item's error stands for the batch
            raise _first_error(group) from None
        rid = getattr(request.state, "request_id", "")
        counts: dict[str, int] = {}
        for r in results:
            r["request_id"] = rid
            for k, v in r["summary"]["counts"].items():
                counts[k] = counts.get(k, 0) + v
        request.state.counts = counts
        return {"results": results, "timings_ms": {"request": round((time.perf_counter() - t0) * 1000, 2)}}

    # --- corpora ---------------------------------------------------------------------------------
    def _rows(p: Principal) -> list[dict]:
        out = []
        for row in list_corpora(settings):
            if p.can_read(row["name"]):
                out.append(row | {"uploaded_documents": len(docs.uploaded_files(row["name"], settings))})
        return out

    @app.get(
        "/v1/corpora",
        response_model=CorpusList,
        tags=["corpora"],
        summary="Corpora this key may read, with document counts, model and last update",
        responses={**AUTH_ERRORS},
    )
    async def corpora(p: Auth) -> dict:
        return {"corpora": await run_in_threadpool(_rows, p)}

    @app.get(
        "/v1/corpora/{name}",
        response_model=CorpusInfo,
        tags=["corpora"],
        summary="One corpus",
        responses={**AUTH_ERRORS, **CORPUS_404},
    )
    async def corpus(name: CorpusName, request: Request, p: Auth) -> dict:
        readable(p, name)
        request.state.corpus = name
        for row in await run_in_threadpool(_rows, p):
            if row["name"] == name:
                return row
        raise ApiError(404, "corpus_not_found", f"no corpus {name!r}", "corpus")

    @app.post(
        "/v1/corpora/{name}/documents",
        status_code=202,
        response_model=JobInfo,
        tags=["corpora"],
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
            **_err(
                403,
                "The key may read but not write this corpus",
                ("forbidden", "this API key may read but not change corpus 'sample'", None),
            ),
            **_err(
                413,
                "A file over the upload limit",
                ("upload_too_large", "file is larger than the upload limit of 26214400 bytes", "files"),
            ),
            **_err(
                415,
                "Not a PDF, TXT, MD, XML or JSON file",
                ("unsupported_media_type", "unsupported file type .docx for 'a.docx'", "files"),
            ),
        },
    )
    async def upload(name: CorpusName, request: Request, p: Auth) -> JSONResponse:
        writable(p, name)
        request.state.corpus = name
        received, batch = await receive_upload(request, settings, name)
        domain = received.fields.get("domain") or None
        job = state.jobs.submit_upload(name, received.staged, batch, domain)
        return JSONResponse(
            JobInfo(**job).model_dump(), status_code=202, headers={"Location": f"/v1/jobs/{job['id']}"}
        )

    @app.delete(
        "/v1/corpora/{name}/documents/{doc_id:path}",
        status_code=202,
        response_model=JobInfo,
        tags=["corpora"],
        summary="Remove an uploaded document (the corpus is re-indexed by a job)",
        responses={
            **AUTH_ERRORS,
            **_err(
                404,
                "Unknown corpus or document",
                ("document_not_found", "no document 'x.pdf' in corpus 'sample'", "doc_id"),
            ),
            **_err(
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
    async def delete_document(name: CorpusName, doc_id: str, request: Request, p: Auth) -> JSONResponse:
        writable(p, name)
        request.state.corpus = name
        if not await run_in_threadpool(docs.corpus_exists, name, settings):
            raise ApiError(404, "corpus_not_found", f"no corpus {name!r}", "corpus")
        file, removed = await run_in_threadpool(docs.resolve_upload, name, doc_id, settings)
        job = state.jobs.submit_delete(name, file, removed)
        return JSONResponse(
            JobInfo(**job).model_dump(), status_code=202, headers={"Location": f"/v1/jobs/{job['id']}"}
        )

    @app.get(
        "/v1/jobs/{job_id}",
        response_model=JobInfo,
        tags=["corpora"],
        summary="Status, progress, per-file failures and result of an indexing job",
        responses={
            **AUTH_ERRORS,
            **_err(
                404,
                "Unknown job (or one of a corpus this key may not read)",
                ("job_not_found", "no job '3f2b9c1e'", None),
            ),
        },
    )
    async def job(
        job_id: Annotated[str, Path(examples=["3f2b9c1e7d4a4e0f9b8a6c5d4e3f2a1b"])], p: Auth
    ) -> dict:
        found = await run_in_threadpool(state.jobs.get, job_id)
        if found is None or not p.can_read(found["corpus"]):
            raise ApiError(404, "job_not_found", f"no job {job_id!r}")
        return found

    # --- operations ------------------------------------------------------------------------------
    @app.get("/healthz", response_model=Health, tags=["operations"], summary="The process is up")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=Readiness,
        tags=["operations"],
        summary="Models and default indexes loaded (503 until they are)",
        responses={503: {"model": Readiness, "description": "Not ready yet"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        if not state.ready():
            await run_in_threadpool(state.load, False)
        ready = state.ready()
        problems = []
        if state.engine is None:
            problems.append(f"models: {state.engine_error or 'loading'}")
        problems += [f"corpus {n}: {m}" for n, m in sorted(state.corpus_problems.items())]
        key = request.headers.get(HEADER)
        who = state.keys.authenticate(key)
        if not (who and who.reads_all):
            problems = ["details need a key that may read every corpus"] if problems else []
        body = Readiness(
            status="ready" if ready else "not_ready",
            models=state.engine is not None,
            corpora_loaded=len(state.loaded_corpora & set(settings.serve_corpora)),
            corpora_expected=len(settings.serve_corpora),
            problems=problems,
        )
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {
                "content": {
                    "text/plain": {
                        "example": 'veracity_http_requests_total{method="POST",'
                        'route="/v1/verify",status="200"} 42.0\n'
                    }
                }
            },
            **AUTH_ERRORS,
            **_err(
                403,
                "Needs a key that may read every corpus",
                ("forbidden", "/metrics needs a key that may read '*'", None),
            ),
        },
    )
    async def metrics(request: Request) -> Response:
        if not (settings.metrics_public or state.keys.disabled):
            p = principal(request, request.headers.get(HEADER))
            if not p.reads_all:
                raise ApiError(
                    403,
                    "forbidden",
                    "/metrics needs a key that may read '*' (or set VERACITY_METRICS_PUBLIC=1)",
                )
        data = await run_in_threadpool(state.metrics.render)
        return Response(data, media_type="text/plain; version=0.0.4; charset=utf-8")

    # --- review UI (issue 7; api/ui, mounted by the UI's author) ---------------------------------
    from api.ui import build_ui_router

    app.include_router(build_ui_router(settings), prefix="/ui")
    # --- end review UI ---------------------------------------------------------------------------

    return app
