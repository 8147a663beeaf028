"""A fake OpenAI-compatible LLM server for tests, benchmarks and trying the gateway without a model.

It streams a set reply token by token at a set rate and can be told to answer 500 or 429, hang
before answering, cut the stream after some tokens, or refuse (a non-streamed reply's `refusal`).
It records what it was asked and when it sent each token, and whether the client went away mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

_TOKEN = re.compile(r"\s*\S+")


def tokens(text: str) -> list[str]:
    """Word-sized tokens (each with its leading whitespace) that join back to `text`."""
    out = _TOKEN.findall(text)
    rest = text[len("".join(out)) :]
    return out + [rest] if rest else out


@dataclass
class Behaviour:
    status: int = 200  # 500, 429 ...: answer that status at once
    hang: bool = False  # never send a response
    delay_s: float = 0.0  # wait this long before answering (a hang that ends, so the server can stop)
    cut_after: int | None = None  # drop the connection after this many tokens
    tokens_per_s: float = 0.0  # 0: as fast as possible
    reply: str | Callable[[list[dict]], str] = "The answer is unknown."
    refusal: str | None = None  # a non-streamed reply refuses with this and has no content


@dataclass
class Record:
    requests: int = 0
    authorization: list[str] = field(default_factory=list)
    bodies: list[dict] = field(default_factory=list)
    token_times: list[list[float]] = field(default_factory=list)  # per streamed request
    cancelled: int = 0  # streams the client closed before the end
    finished: int = 0


def fake_upstream(name: str, model: str = "fake-model") -> tuple[FastAPI, Behaviour, Record]:
    """The app, its behaviour (change it at any time) and its record."""
    app = FastAPI()
    behaviour, record = Behaviour(), Record()

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": name}]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        record.requests += 1
        record.bodies.append(body)
        record.authorization.append(request.headers.get("authorization", ""))
        if behaviour.hang:
            await asyncio.sleep(3600)
        await asyncio.sleep(behaviour.delay_s)
        if behaviour.status != 200:
            return JSONResponse(
                {"error": {"message": f"fake {behaviour.status}"}}, status_code=behaviour.status
            )
        reply = behaviour.reply(body["messages"]) if callable(behaviour.reply) else behaviour.reply
        cid, created = f"chatcmpl-{name}-{record.requests}", int(time.time())
        if not body.get("stream"):
            message = {"role": "assistant", "content": reply}
            if behaviour.refusal is not None:
                message = {"role": "assistant", "content": None, "refusal": behaviour.refusal}
            return {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": len(tokens(reply)), "total_tokens": 10},
            }
        times: list[float] = []
        record.token_times.append(times)
        cut, interval = behaviour.cut_after, 1.0 / behaviour.tokens_per_s if behaviour.tokens_per_s else 0.0

        def chunk(delta: dict, finish: str | None = None) -> str:
            c = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(c)}\n\n"

        async def stream():
            try:
                yield chunk({"role": "assistant", "content": ""})
                start = time.perf_counter()
                for i, tok in enumerate(tokens(reply)):
                    if cut is not None and i >= cut:
                        raise ConnectionAbortedError("fake upstream cut the stream")
                    if interval:  # on a schedule, so a slow consumer does not lower the rate
                        await asyncio.sleep(max(0.0, start + i * interval - time.perf_counter()))
                    times.append(time.perf_counter())
                    yield chunk({"content": tok})
                yield chunk({}, "stop")
                yield "data: [DONE]\n\n"
                record.finished += 1
            except asyncio.CancelledError:
                record.cancelled += 1
                raise

        return StreamingResponse(stream(), media_type="text/event-stream")

    return app, behaviour, record
