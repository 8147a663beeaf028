"""Probes and scrapes: /healthz (the process is up), /readyz (models and default indexes loaded), /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth import HEADER
from api.dependencies import State, principal
from api.errors import ApiError
from api.models import Health, Readiness
from api.routers.error_docs import AUTH_ERRORS, error_responses

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Models and default indexes loaded (503 until they are)",
    responses={503: {"model": Readiness, "description": "Not ready yet"}},
)
async def readyz(request: Request, state: State) -> JSONResponse:
    if not state.ready():
        await run_in_threadpool(state.load, False)
    ready = state.ready()
    problems = []
    if state.engine is None:
        problems.append(f"models: {state.engine_error or 'loading'}")
    problems += [f"corpus {n}: {m}" for n, m in sorted(state.corpus_problems.items())]
    who = state.keys.authenticate(request.headers.get(HEADER))
    if not (who and who.reads_all):
        problems = ["details need a key that may read every corpus"] if problems else []
    serve_corpora = state.settings.serve_corpora
    body = Readiness(
        status="ready" if ready else "not_ready",
        models=state.engine is not None,
        corpora_loaded=len(state.loaded_corpora & set(serve_corpora)),
        corpora_expected=len(serve_corpora),
        problems=problems,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
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
        **error_responses(
            403,
            "Needs a key that may read every corpus",
            ("forbidden", "/metrics needs a key that may read '*'", None),
        ),
    },
)
async def metrics(request: Request, state: State) -> Response:
    if not (state.settings.metrics_public or state.keys.disabled):
        p = principal(request, request.headers.get(HEADER))
        if not p.reads_all:
            raise ApiError(
                403,
                "forbidden",
                "/metrics needs a key that may read '*' (or set VERACITY_METRICS_PUBLIC=1)",
            )
    data = await run_in_threadpool(state.metrics.render)
    return Response(data, media_type="text/plain; version=0.0.4; charset=utf-8")
