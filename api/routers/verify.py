"""POST /v1/verify and /v1/verify/batch.

Verification runs in worker threads (at most VERACITY_VERIFY_CONCURRENCY at once, at most
VERACITY_MAX_PENDING running or waiting) so the event loop keeps serving; a model or index failure
is a 503, never a verdict.
"""

from __future__ import annotations

import logging
import time

import anyio
from fastapi import APIRouter, Request

from api.dependencies import Auth, State, readable
from api.errors import ApiError, corpus_not_found
from api.models import BatchRequest, BatchResponse, VerifyRequest, VerifyResponse
from api.routers.error_docs import AUTH_ERRORS, CORPUS_404, UNAVAILABLE, error_responses
from api.state import AppState
from pipeline.schema import VeracityError
from pipeline.store.corpora import UnknownCorpus

log = logging.getLogger("veracity.api")

router = APIRouter(tags=["verify"])


@router.post(
    "/v1/verify",
    response_model=VerifyResponse,
    summary="Verify every sentence of one answer",
    responses={
        **AUTH_ERRORS,
        **CORPUS_404,
        **UNAVAILABLE,
        **error_responses(
            413,
            "Answer (or contexts) over the size limit",
            ("answer_too_large", "the answer has 25000 characters; the limit is 20000", "answer"),
        ),
        **error_responses(
            422,
            "Invalid body; `field` names the offending field",
            ("invalid_request", "corpus: give exactly one of `corpus` or `contexts`", "corpus"),
            ("empty_answer", "answer: the answer is empty", "answer"),
        ),
    },
)
async def verify(req: VerifyRequest, request: Request, p: Auth, state: State) -> dict:
    t0 = time.perf_counter()
    check_limits(state, req)
    readable(p, req.corpus)
    request.state.corpus = req.corpus or "(contexts)"
    if state.settings.log_answers:
        request.state.answer = req.answer
    out = await run_verification(state, req, t0)
    out["request_id"] = getattr(request.state, "request_id", "")
    request.state.counts = out["summary"]["counts"]
    return out


@router.post(
    "/v1/verify/batch",
    response_model=BatchResponse,
    summary="Verify several answers; results in the same order",
    responses={
        **AUTH_ERRORS,
        **CORPUS_404,
        **UNAVAILABLE,
        **error_responses(
            413,
            "Too many items, or an item over a size limit",
            ("batch_too_large", "17 items; the limit is 16", "items"),
        ),
        **error_responses(
            422, "Invalid body", ("invalid_request", "items[0].answer: Field required", "items[0].answer")
        ),
    },
)
async def verify_batch(batch: BatchRequest, request: Request, p: Auth, state: State) -> dict:
    t0 = time.perf_counter()
    max_batch = state.settings.max_batch
    if len(batch.items) > max_batch:
        raise ApiError(413, "batch_too_large", f"{len(batch.items)} items; the limit is {max_batch}", "items")
    for i, item in enumerate(batch.items):
        check_limits(state, item, f"items[{i}].")
        readable(p, item.corpus, f"items[{i}].corpus")
    request.state.corpus = ",".join(sorted({i.corpus or "(contexts)" for i in batch.items}))
    results: list[dict | None] = [None] * len(batch.items)

    async def one(i: int, item: VerifyRequest) -> None:
        results[i] = await run_verification(state, item, t0, own_budget=True)

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


def _first_error(group: BaseExceptionGroup) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_error(exc)
        if not isinstance(exc, anyio.get_cancelled_exc_class()):
            return exc
    return group.exceptions[0]


def check_limits(state: AppState, req: VerifyRequest, prefix: str = "") -> None:
    """413 when the answer, question or contexts pass this deployment's size limits."""
    s = state.settings
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


async def run_verification(state: AppState, req: VerifyRequest, t0: float, own_budget: bool = False) -> dict:
    """The response body for one request, verified in a worker thread; 503 when the models are not
    loaded or too many verifications are waiting. own_budget (a batch item): the time limit counts
    from when a worker takes the item, so items waiting behind slow ones are never lost; what an
    item cannot score in its time comes back `unchecked`."""
    if state.engine is None:
        raise ApiError(
            503,
            "models_unavailable",
            f"the verification models are not loaded: {state.engine_error or 'still loading'}",
            headers={"Retry-After": "10"},
        )
    if state.pending >= state.settings.max_pending:
        raise ApiError(
            503,
            "overloaded",
            f"{state.pending} verifications are running or waiting; retry shortly",
            headers={"Retry-After": "1"},
        )
    state.pending += 1
    state.metrics.verify_inflight.inc()
    try:
        return await anyio.to_thread.run_sync(_verify_sync, state, req, t0, own_budget, limiter=state.limiter)
    finally:
        state.pending -= 1
        state.metrics.verify_inflight.dec()


def _verify_sync(state: AppState, req: VerifyRequest, t0: float, own_budget: bool) -> dict:
    started = time.perf_counter()
    timeout_s = state.settings.request_timeout_s
    budget = timeout_s if own_budget else timeout_s - (started - t0)
    if budget <= 0:
        raise ApiError(
            503,
            "timeout",
            f"the request waited {started - t0:.1f} s for a free worker, longer "
            f"than the {timeout_s:g} s limit; retry shortly",
            headers={"Retry-After": "1"},
        )
    try:
        result = state.engine.verify(
            req.answer,
            corpus=req.corpus,
            contexts=req.contexts,
            question=req.question,
            doc_ids=req.doc_ids,
            domains=req.domains,
            mode=req.mode,
            judge=req.judge,
            timeout_s=budget,
            cascade=req.cascade,
        )
    except UnknownCorpus as exc:  # the same answer as for a corpus this key may not read
        raise corpus_not_found(req.corpus or "") from exc
    except VeracityError:
        raise
    except Exception as exc:  # a model or index failure: 503, never a verdict
        log.exception("verification failed")
        raise ApiError(  # the exception's text stays in the log: it may name server paths
            503,
            "engine_error",
            "verification failed on the server; retry shortly (the server log has the details)",
            headers={"Retry-After": "5"},
        ) from exc
    out = result.to_dict()
    out["timings_ms"]["queue"] = round((started - t0) * 1000, 2)
    out["timings_ms"]["request"] = round((time.perf_counter() - t0) * 1000, 2)
    out["corpus"] = req.corpus
    out["language"] = req.language
    state.metrics.count_verdicts(out["summary"]["counts"])
    return out
