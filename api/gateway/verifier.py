"""Verifying gateway answers with the engine: a whole answer, or one streamed sentence at a time.

Runs in the gateway's own worker threads (GatewayConfig.verify_concurrency, all streams together),
so the event loop keeps relaying tokens. A sentence whose verification fails is `unchecked`, never
`supported`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from api.errors import ApiError
from api.gateway.config import GatewayConfig
from api.gateway.evidence import Evidence
from api.gateway.sentences import Span
from pipeline.schema import Label, Mode, Verdict, VerificationResult

log = logging.getLogger("veracity.gateway")

EngineSource = Any | Callable[[], Any]  # an Engine, or a callable giving the loaded one (None while loading)


@dataclass
class Checked:
    """The verdicts of one streamed sentence, offsets into the whole answer."""

    span: Span
    verdicts: list[Verdict]
    versions: dict[str, str]
    verify_ms: float


class Verifier:
    def __init__(self, engine: EngineSource, config: GatewayConfig) -> None:
        self._engine = engine
        self.config = config
        self.executor = ThreadPoolExecutor(config.verify_concurrency, thread_name_prefix="veracity-gateway")

    def engine(self) -> Any:
        engine = self._engine() if callable(self._engine) else self._engine
        if engine is None:
            raise ApiError(
                503,
                "models_unavailable",
                "the verification models are not loaded yet",
                headers={"Retry-After": "10"},
            )
        return engine

    async def _run(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    async def check_corpus(self, ev: Evidence) -> None:
        """Open the corpus before any upstream token is paid for: 404 / 503 now, not mid-stream."""
        if ev.corpus is not None:
            engine = self.engine()
            await self._run(lambda: engine.retriever(ev.corpus))

    def _verify(self, text: str, ev: Evidence, mode: Mode) -> VerificationResult:
        return self.engine().verify(
            text,
            corpus=ev.corpus,
            contexts=ev.contexts,
            question=ev.question,
            doc_ids=ev.doc_ids,
            mode=mode,
            judge=ev.judge,
            cascade=ev.cascade,
            timeout_s=self.config.verify_timeout_s,
        )

    async def answer(self, text: str, ev: Evidence) -> VerificationResult:
        """A whole (non-streamed) answer."""
        return await self._run(lambda: self._verify(text, ev, ev.mode))

    async def sentence(self, span: Span, ev: Evidence) -> Checked:
        """One sentence of a stream; an engine failure gives `unchecked`."""
        t0 = time.perf_counter()
        try:
            result = await self._run(lambda: self._verify(span.text, ev, Mode.ANNOTATE))
        except Exception as exc:  # noqa: BLE001 - never fail open: the sentence is unchecked
            log.error("sentence verification failed: %s", type(exc).__name__)
            verdict = Verdict(span.text, span.start, span.end, Label.UNCHECKED, 0.0, "verification failed")
            return Checked(span, [verdict], {}, (time.perf_counter() - t0) * 1000)
        shifted = [replace(v, start=v.start + span.start, end=v.end + span.start) for v in result.sentences]
        return Checked(span, shifted, result.versions, (time.perf_counter() - t0) * 1000)
