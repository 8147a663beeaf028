"""One streamed chat completion: upstream chunks in, OpenAI-format SSE chunks out, verified per sentence.

`release: verified` holds each sentence until its verdict is known and sends it rendered by the
mode (annotate: a [n✗] marker and the flagged list at the end; redact: flagged sentences left out
and a note at the end; block: the stream ends at the first contradicted sentence with a notice and
finish_reason "content_filter"). `release: immediate` sends tokens as they come and each sentence's
verdicts in the `veracity` field of an extra chunk with an empty delta, which clients ignore.
Sentences are verified concurrently and released in order. A sentence that could be complete is
verified speculatively until its end is final (api.gateway.sentences), then released; the
verdict is used only if exactly that sentence is confirmed, else it is cancelled or ignored.
Cancelling the generator (the client went away) cancels the upstream request.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio

from api.gateway.config import Release
from api.gateway.evidence import Evidence
from api.gateway.sentences import SentenceStream, Span
from api.gateway.upstreams import OpenStream
from api.gateway.verifier import Checked, Verifier
from pipeline.schema import Label, Mode, Verdict, VerificationResult
from pipeline.verification.render import MARK, render

log = logging.getLogger("veracity.gateway")

BLOCKED = "content_filter"  # the finish_reason OpenAI uses for withheld content; every client accepts it


def sse(obj: dict | str) -> str:
    return f"data: {obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)}\n\n"


def verdict_dict(v: Verdict, held_ms: float | None = None) -> dict:
    out = v.to_dict()
    if held_ms is not None:
        out["held_ms"] = round(held_ms, 2)
    return out


class StreamSession:
    """State of one streamed completion; iterate `events()` for the SSE body."""

    def __init__(
        self,
        opened: OpenStream,
        ev: Evidence,
        verifier: Verifier,
        report: Callable[[dict, VerificationResult | None], None],
        extra: dict[str, Any],
    ) -> None:
        self.opened = opened
        self.ev = ev
        self.verifier = verifier
        # called once with the final `veracity` object and the verified answer (None when the client
        # went away), for the log and the traffic store
        self.report = report
        self.extra = extra  # request_id etc., added to the final veracity object
        head = opened.first[0] if opened.first else {}
        self.head = {
            "id": head.get("id") or "chatcmpl-veracity",
            "object": "chat.completion.chunk",
            "created": head.get("created") or int(time.time()),
            "model": head.get("model") or "",
        }
        self.sentences = SentenceStream()
        self.arrivals: list[int] = []  # answer length after each delta ...
        self.arrival_t: list[float] = []  # ... and when that delta arrived
        self.queue: asyncio.Queue = asyncio.Queue()
        self.pending: deque[tuple[Span, asyncio.Task]] = deque()
        self.speculative: dict[Span, asyncio.Task] = {}  # candidates being verified before confirmation
        self.verdicts: list[Verdict] = []
        self.held_ms: list[float] = []
        self.verify_ms: list[float] = []
        self.versions: dict[str, str] = {}
        self.streamed = ""  # content sent so far (verified release)
        self.pos = 0  # answer offset up to which the answer has been released
        self.finish: str | None = None
        self.usage: dict | None = None
        self.upstream_error: str | None = None
        self.t0 = time.perf_counter()

    # --- chunks --------------------------------------------------------------------------------
    def chunk(self, delta: dict, finish: str | None = None, veracity: dict | None = None, **more) -> str:
        body = self.head | {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]} | more
        if veracity is not None:
            body["veracity"] = veracity
        return sse(body)

    # --- upstream reader (its own task, so verdicts can be released while it waits) ---------------
    async def _pump(self) -> None:
        try:
            async for chunk in self.opened.chunks():
                if chunk.get("usage"):
                    self.usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        await self.queue.put(("delta", delta["content"]))
                    elif delta.get("tool_calls") or delta.get("function_call"):
                        await self.queue.put(("raw", chunk))
                    if choice.get("finish_reason"):
                        self.finish = choice["finish_reason"]
            await self.queue.put(
                ("end", None if self.finish else "the upstream stream ended without a finish")
            )
        except Exception as exc:  # noqa: BLE001 - a cut stream: what arrived is still verified
            await self.queue.put(("end", f"the upstream stream failed ({type(exc).__name__})"))

    def _verify(self, span: Span) -> asyncio.Task:
        task = asyncio.create_task(self.verifier.sentence(span, self.ev))
        task.add_done_callback(lambda _: self.queue.put_nowait(("verified", None)))
        return task

    def _start(self, span: Span) -> None:
        """Queue a confirmed sentence for release, with its speculative verification if it had one:
        the same offsets and text, so the same verdicts."""
        task = self.speculative.pop(span, None) or self._verify(span)
        self.pending.append((span, task))

    def _speculate(self, candidates: list[Span]) -> None:
        """Verify the new candidates; drop those no longer candidates (their boundary moved)."""
        for span in [s for s in self.speculative if s not in candidates]:
            self.speculative.pop(span).cancel()
        for span in candidates:
            if span not in self.speculative:
                self.speculative[span] = self._verify(span)

    def _arrived(self, offset: int) -> float:
        """When the delta holding the answer's character at `offset - 1` arrived."""
        i = bisect.bisect_left(self.arrivals, offset)
        return self.arrival_t[min(i, len(self.arrival_t) - 1)]

    # --- release -------------------------------------------------------------------------------
    def _piece(self, checked: Checked, answer: str) -> str:
        """The text released for one verified sentence (verified release)."""
        out = []
        flagged_before = sum(v.flagged for v in self.verdicts)
        for v in checked.verdicts:
            if self.ev.mode == Mode.REDACT:
                out.append(answer[self.pos : v.start] + ("" if v.flagged else answer[v.start : v.end]))
            else:
                out.append(answer[self.pos : v.end])
                if v.flagged:
                    flagged_before += 1
                    out.append(f" [{flagged_before}{MARK[v.verdict]}]")
            self.pos = v.end
            self.verdicts.append(v)
        return "".join(out)

    def _result(self) -> VerificationResult:
        answer = self.sentences.text
        return VerificationResult(
            answer,
            self.verdicts,
            render(answer, self.verdicts, self.ev.mode),
            self.ev.mode,
            versions=self.versions,
        )

    def _tail(self, result: VerificationResult) -> str:
        """What follows the last released sentence: the rest of the text and the mode's closing note."""
        if self.ev.mode == Mode.REDACT:
            if not any(v.flagged for v in self.verdicts):
                return self.sentences.text[self.pos :]
            return "\n\n" + result.output.rsplit("\n\n", 1)[-1]
        if result.output.startswith(self.streamed):
            return result.output[len(self.streamed) :]
        return self.sentences.text[self.pos :]

    def veracity(self, result: VerificationResult, blocked: bool) -> dict:
        held = sorted(self.held_ms)
        out = {
            "sentences": [v.to_dict() for v in self.verdicts],
            "summary": result.summary | {"blocked": blocked},
            "output": result.output,
            "mode": str(self.ev.mode),
            "release": str(self.ev.release),
            "evidence": self.ev.label,
            "versions": self.versions,
            "timings_ms": {
                "total": round((time.perf_counter() - self.t0) * 1000, 2),
                "verify_sum": round(sum(self.verify_ms), 2),
                "held_p50": round(held[len(held) // 2], 2) if held else 0.0,
                "held_max": round(held[-1], 2) if held else 0.0,
            },
            "upstream": self.opened.upstream.name,
            "fallbacks": [a.to_dict() for a in self.opened.attempts],
        }
        if self.upstream_error:
            out["upstream_error"] = self.upstream_error
        return out | self.extra

    async def events(self) -> AsyncIterator[str]:
        reader = asyncio.create_task(self._pump())
        immediate = self.ev.release == Release.IMMEDIATE
        upstream_done = False
        blocked: list[dict] = []  # the verdicts of the sentence that ended a blocked stream
        reported = False
        try:
            yield self.chunk({"role": "assistant", "content": ""})
            while True:
                kind, payload = await self.queue.get()
                if kind == "delta":
                    self.arrivals.append(len(self.sentences.text) + len(payload))
                    self.arrival_t.append(time.perf_counter())
                    if immediate:
                        yield self.chunk({"content": payload})
                    for span in self.sentences.feed(payload):
                        self._start(span)
                    self._speculate(self.sentences.candidates())
                elif kind == "raw":
                    yield sse(payload)
                elif kind == "end":
                    upstream_done, self.upstream_error = True, payload
                    if self.arrivals:
                        self.arrivals[-1] = max(self.arrivals[-1], len(self.sentences.text))
                    for span in self.sentences.finish():
                        self._start(span)
                    self._speculate([])
                while self.pending and self.pending[0][1].done():
                    span, task = self.pending.popleft()
                    checked: Checked = task.result()
                    self.versions = self.versions or checked.versions
                    self.verify_ms.append(checked.verify_ms)
                    held = (time.perf_counter() - self._arrived(span.end)) * 1000
                    self.held_ms.append(held)
                    contradicted = any(v.verdict == Label.CONTRADICTED for v in checked.verdicts)
                    sentences = [verdict_dict(v, held) for v in checked.verdicts]
                    if immediate:
                        self.verdicts.extend(checked.verdicts)
                        yield self.chunk({}, veracity={"sentences": sentences})
                    else:
                        piece = self._piece(checked, self.sentences.text)
                        if not (self.ev.mode == Mode.BLOCK and contradicted):
                            self.streamed += piece
                            yield self.chunk({"content": piece}, veracity={"sentences": sentences})
                    if self.ev.mode == Mode.BLOCK and contradicted:
                        blocked = sentences
                        break
                if blocked or (upstream_done and not self.pending):
                    break
            result = self._result()
            if blocked:
                notice = render(self.sentences.text, self.verdicts, Mode.BLOCK)
                notice = ("\n\n" if self.streamed or immediate else "") + notice
                yield self.chunk({"content": notice}, veracity={"sentences": blocked})
                finish = BLOCKED
            else:
                tail = "" if immediate else self._tail(result)
                if tail:
                    yield self.chunk({"content": tail})
                finish = self.finish or "stop"
            final = self.veracity(result, bool(blocked))
            # reported before the last chunks: a client that hangs up on [DONE] may cancel what follows
            self.report(final | {"finish_reason": finish}, result)
            reported = True
            more = {"usage": self.usage} if self.usage else {}
            yield self.chunk({}, finish, veracity=final, **more)
            yield sse("[DONE]")
        except asyncio.CancelledError:
            if not reported:
                self.report(
                    {"upstream": self.opened.upstream.name, "finish_reason": "client_disconnected"}
                    | self.extra,
                    None,
                )
            raise
        finally:
            with anyio.CancelScope(shield=True):
                reader.cancel()
                for task in [t for _, t in self.pending] + list(self.speculative.values()):
                    task.cancel()
                with contextlib.suppress(BaseException):
                    await reader
                await self.opened.aclose()
