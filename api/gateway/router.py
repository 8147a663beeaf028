"""The gateway's routes: GET /v1/models and POST /v1/chat/completions (OpenAI-compatible).

Mount with `app.include_router(build_gateway_router(engine, config, auth, audit_path))`; `auth` is
the app's API-key dependency (it returns a Principal), so the gateway's keys and corpus rights are
the API's; `audit_path` is the audit store where keys with `store = true` keep their traffic.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal
from api.errors import ApiError
from api.gateway.config import GatewayConfig, Release
from api.gateway.evidence import Evidence, VeracityOptions, message_text, resolve
from api.gateway.stream import BLOCKED, StreamSession
from api.gateway.traffic import TrafficStore
from api.gateway.upstreams import UpstreamPool
from api.gateway.verifier import EngineSource, Verifier
from pipeline.schema import VerificationResult

log = logging.getLogger("veracity.gateway")


class ChatRequest(BaseModel):
    """An OpenAI chat completion request; fields other than `veracity` go to the upstream unchanged."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, examples=["deepseek-chat"])
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    n: int | None = Field(None, ge=1, le=1, description="one choice per request (each is verified)")
    veracity: VeracityOptions = Field(default_factory=VeracityOptions)


def build_gateway_router(
    engine: EngineSource,
    config: GatewayConfig,
    auth: Callable[..., Principal],
    audit_path: Path | None = None,
) -> APIRouter:
    """The gateway routes. `engine`: an Engine, or a callable returning the loaded one (None while
    loading: 503). `auth`: a FastAPI dependency returning the caller's Principal (401 otherwise).
    `audit_path`: the audit store for keys with `store = true` (opened, and pruned, only if one has)."""
    router = APIRouter(tags=["gateway"])
    pool = UpstreamPool(config)
    verifier = Verifier(engine, config)
    storing = audit_path is not None and any(k.store for k in config.keys.values())
    traffic = TrafficStore(audit_path, config.retention_days) if storing else None
    router.gateway_pool = pool  # type: ignore[attr-defined] - for tests and operations
    router.gateway_traffic = traffic  # type: ignore[attr-defined]
    caller = Depends(auth)  # a default value, not an Annotated alias: annotations here are strings

    def keep(
        p: Principal, rid: str, ev: Evidence, result: VerificationResult | None, verify_ms: float
    ) -> None:
        """Store the completion if the key asks for it (never a cut-off one: result None)."""
        if traffic is not None and result is not None and config.stores(p.key_id):
            traffic.submit(p.key_id, rid, ev, result, verify_ms)

    def log_line(request: Request, p: Principal, model: str, veracity: dict) -> None:
        """One line per completion: who, which upstream, verdict counts; never text or keys."""
        summary = veracity.get("summary", {})
        log.info(
            json.dumps(
                {
                    "event": "gateway",
                    "request_id": getattr(request.state, "request_id", ""),
                    "key": p.key_id,
                    "model": model,
                    "upstream": veracity.get("upstream"),
                    "fallbacks": len(veracity.get("fallbacks", [])),
                    "evidence": veracity.get("evidence"),
                    "release": veracity.get("release"),
                    "finish_reason": veracity.get("finish_reason"),
                    "counts": summary.get("counts"),
                    "blocked": summary.get("blocked"),
                }
            )
        )

    @router.get("/v1/models", summary="Models the configured upstreams serve (OpenAI format)")
    async def models(p: Principal = caller) -> dict:
        return {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": owner}
                for m, owner in config.models().items()
            ],
        }

    @router.post(
        "/v1/chat/completions",
        summary="A chat completion from an upstream LLM, every sentence verified (streaming or not)",
        response_model=None,
    )
    async def chat(req: ChatRequest, request: Request, p: Principal = caller) -> Any:
        t0 = time.perf_counter()
        ev = resolve(req.veracity, dict(request.headers), p.key_id, config, req.messages)
        if ev.corpus is not None and not p.can_read(ev.corpus):
            raise ApiError(404, "corpus_not_found", f"no corpus {ev.corpus!r}", "veracity.corpus")
        request.state.corpus = ev.label
        await verifier.check_corpus(ev)
        body = req.model_dump(exclude={"veracity"}, exclude_unset=True)
        rid = getattr(request.state, "request_id", "")

        if req.stream:

            def report(final: dict, result: VerificationResult | None) -> None:
                log_line(request, p, req.model, final)
                keep(p, rid, ev, result, final.get("timings_ms", {}).get("verify_sum", 0.0))

            opened = await pool.open_stream(body)
            session = StreamSession(
                opened,
                ev,
                verifier,
                report=report,
                extra={"request_id": rid},
            )
            return StreamingResponse(
                session.events(),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache", "x-veracity-upstream": opened.upstream.name},
            )

        upstream, data, attempts = await pool.complete(body)
        choice = data["choices"][0]
        message = choice.get("message") or {}
        content = message_text(message)
        if content.strip():
            result = await verifier.answer(content, ev)
            keep(p, rid, ev, result, result.timings_ms.get("total", 0.0))
            message["content"] = result.output
            if result.summary["blocked"]:
                choice["finish_reason"] = BLOCKED
            veracity = {k: v for k, v in result.to_dict().items() if k != "output"}
        else:  # a tool call or an empty answer: nothing to verify
            veracity = {"sentences": [], "summary": None, "mode": str(ev.mode)}
        veracity |= {
            "release": str(Release.VERIFIED),
            "evidence": ev.label,
            "upstream": upstream.name,
            "fallbacks": [a.to_dict() for a in attempts],
            "request_id": rid,
        }
        veracity.setdefault("timings_ms", {})["request"] = round((time.perf_counter() - t0) * 1000, 2)
        data["veracity"] = veracity
        log_line(request, p, req.model, veracity | {"finish_reason": choice.get("finish_reason")})
        return JSONResponse(data, headers={"x-veracity-upstream": upstream.name})

    return router
