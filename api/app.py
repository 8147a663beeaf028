"""The FastAPI app: verify answers, manage corpora and their uploaded documents, health and metrics.

create_app puts one AppState (api.state) on the app, mounts the routers of api.routers and the
review UI, and fills this deployment's size limits into the OpenAPI schema. Models and default
indexes load once, in the lifespan; the engine reopens a corpus's index when its CURRENT pointer
moves, so readers never see a half-built index.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool

from api import errors
from api.auth import HEADER
from api.config import ApiSettings
from api.dependencies import principal
from api.middleware import RequestMiddleware
from api.routers import corpora, docs_page, operations, verify
from api.state import AppState, EngineFactory, default_engine
from pipeline.audit.store import store_path

if TYPE_CHECKING:
    from api.gateway import GatewayConfig
    from pipeline.verification.engine import Engine

log = logging.getLogger("veracity.api")


def create_app(
    settings: ApiSettings | None = None,
    *,
    engine: Engine | None = None,
    engine_factory: EngineFactory | None = None,
    gateway: GatewayConfig | None = None,
) -> FastAPI:
    """The app. `engine` (already loaded) or `engine_factory` replace the default Engine(settings);
    `gateway` (else the file named by settings.gateway_config, if any) mounts the OpenAI-compatible
    gateway at /v1/chat/completions and /v1/models."""
    settings = settings or ApiSettings()
    if gateway is None and settings.gateway_config:
        from api.gateway import load_gateway_config  # only a deployment serving the gateway imports it

        gateway = load_gateway_config(settings.gateway_config)
    state = AppState(settings, engine, engine_factory or default_engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(state.jobs.recover)  # before any job runs
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
        docs_url=None,  # FastAPI's Swagger UI and ReDoc load from a CDN: /docs is served offline
        redoc_url=None,
    )
    app.state.veracity = state
    app.openapi = lambda: _openapi(app, settings)
    errors.install(app)
    app.add_middleware(RequestMiddleware, state=state)
    for module in (verify, corpora, operations, docs_page):
        app.include_router(module.router)

    from api.ui import build_ui_router  # review UI (issue 7; api/ui)

    app.include_router(build_ui_router(settings), prefix="/ui")
    if gateway is not None:
        from api.gateway import build_gateway_router

        router = build_gateway_router(lambda: state.engine, gateway, principal, store_path(settings))
        app.include_router(router)
        app.state.gateway_pool = router.gateway_pool
        app.state.gateway_traffic = router.gateway_traffic
    return app


def _openapi(app: FastAPI, settings: ApiSettings) -> dict:
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
        spec["components"]["schemas"]["BatchRequest"]["properties"]["items"]["maxItems"] = settings.max_batch
        app.openapi_schema = spec
    return app.openapi_schema
