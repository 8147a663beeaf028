"""Calling the upstream LLMs: routing by model, fallback before the first token, circuit breakers.

Fallback moves a request to the next upstream serving its model on a connection error, a timeout,
429 or 5xx, as long as no token has been received; after that the stream belongs to that upstream.
Upstream keys go only into the Authorization header of the upstream request: never into errors,
logs or responses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.errors import ApiError
from api.gateway.config import GatewayConfig, UpstreamConfig

log = logging.getLogger("veracity.gateway")

RETRYABLE = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; while open the upstream is skipped. After
    `cooldown_s` one request may try it again (half-open): success closes it, failure reopens it."""

    def __init__(self, threshold: int, cooldown_s: float) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self.opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if time.monotonic() - self.opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial:
            self._trial = True
            return True
        return False

    def success(self) -> None:
        self.failures, self.opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        self.failures += 1
        self._trial = False
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = time.monotonic()


class UpstreamFailure(Exception):
    """One upstream did not answer usefully; the message is safe to show (no key, no body)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Attempt:
    upstream: str
    error: str

    def to_dict(self) -> dict[str, str]:
        return {"upstream": self.upstream, "error": self.error}


@dataclass
class OpenStream:
    """An upstream stream whose first content token has arrived (nothing sent to the client yet)."""

    upstream: UpstreamConfig
    response: httpx.Response
    lines: AsyncIterator[str]
    first: list[dict]  # chunks read up to and including the first one with content
    attempts: list[Attempt] = field(default_factory=list)

    async def chunks(self) -> AsyncIterator[dict]:
        """Every chunk of the upstream stream (those already read first); stops at [DONE]."""
        for chunk in self.first:
            yield chunk
        async for chunk in _sse_chunks(self.lines):
            yield chunk

    async def aclose(self) -> None:
        await self.response.aclose()


async def _sse_chunks(lines: AsyncIterator[str]) -> AsyncIterator[dict]:
    async for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError as exc:
            raise UpstreamFailure("the upstream sent a malformed stream chunk") from exc
        if isinstance(chunk, dict) and "error" in chunk:
            raise UpstreamFailure("the upstream reported an error in its stream")
        yield chunk


def has_content(chunk: dict) -> bool:
    return any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or [])


class UpstreamPool:
    """The configured upstreams with one circuit breaker each and one HTTP client per event loop."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.breakers = {
            u.name: CircuitBreaker(config.failure_threshold, config.cooldown_s) for u in config.upstreams
        }
        self._clients: dict[int, httpx.AsyncClient] = {}

    def _client(self) -> httpx.AsyncClient:
        loop = id(asyncio.get_running_loop())
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            client = self._clients[loop] = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=64)
            )
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    def candidates(self, model: str) -> list[UpstreamConfig]:
        routed = self.config.route(model)
        if not routed:
            raise ApiError(404, "model_not_found", f"no upstream serves model {model!r}", "model")
        return routed

    def _request(self, upstream: UpstreamConfig, body: dict) -> httpx.Request:
        headers = {"content-type": "application/json", "accept": "application/json"}
        key = upstream.api_key()
        if key:
            headers["authorization"] = f"Bearer {key}"
        timeout = httpx.Timeout(upstream.read_timeout_s, connect=upstream.connect_timeout_s)
        return self._client().build_request(
            "POST",
            f"{upstream.base_url}/chat/completions",
            json=body,
            headers=headers,
            timeout=timeout,
        )

    async def _send(self, upstream: UpstreamConfig, body: dict, stream: bool) -> httpx.Response:
        try:
            response = await self._client().send(self._request(upstream, body), stream=stream)
        except httpx.TimeoutException as exc:
            raise UpstreamFailure(f"timed out ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise UpstreamFailure(f"connection failed ({type(exc).__name__})") from None
        if response.status_code != 200:
            status = response.status_code
            if stream:
                await response.aread()
                await response.aclose()
            if status in RETRYABLE:
                raise UpstreamFailure(f"HTTP {status}", status)
            raise _client_error(response)
        return response

    def _available(self, model: str, attempts: list[Attempt]) -> list[UpstreamConfig]:
        out = []
        for u in self.candidates(model):
            if self.breakers[u.name].allow():
                out.append(u)
            else:
                attempts.append(Attempt(u.name, "skipped: circuit open"))
        return out

    def _failed(self, upstream: UpstreamConfig, exc: UpstreamFailure, attempts: list[Attempt]) -> None:
        self.breakers[upstream.name].failure()
        attempts.append(Attempt(upstream.name, str(exc)))
        log.warning("upstream %s failed: %s", upstream.name, exc)

    async def complete(self, body: dict) -> tuple[UpstreamConfig, dict, list[Attempt]]:
        """A non-streaming completion from the first upstream that answers."""
        attempts: list[Attempt] = []
        for upstream in self._available(body["model"], attempts):
            try:
                response = await self._send(upstream, body | {"stream": False}, stream=False)
                try:
                    data = response.json()
                except ValueError:
                    raise UpstreamFailure("the upstream answered with malformed JSON") from None
                if not isinstance(data, dict) or not data.get("choices"):
                    raise UpstreamFailure("the upstream answer has no choices")
            except UpstreamFailure as exc:
                self._failed(upstream, exc, attempts)
                continue
            self.breakers[upstream.name].success()
            return upstream, data, attempts
        raise _exhausted(body["model"], attempts)

    async def open_stream(self, body: dict) -> OpenStream:
        """A streaming completion from the first upstream whose first content token arrives."""
        attempts: list[Attempt] = []
        for upstream in self._available(body["model"], attempts):
            response = None
            try:
                response = await self._send(upstream, body | {"stream": True}, stream=True)
                lines = response.aiter_lines()
                first: list[dict] = []
                async for chunk in _sse_chunks(lines):
                    first.append(chunk)
                    if has_content(chunk):
                        break
                else:
                    raise UpstreamFailure("the stream ended before any token")
            except (UpstreamFailure, httpx.HTTPError) as exc:
                if response is not None:
                    await response.aclose()
                if isinstance(exc, httpx.HTTPError):
                    exc = UpstreamFailure(f"stream failed ({type(exc).__name__})")
                self._failed(upstream, exc, attempts)
                continue
            self.breakers[upstream.name].success()
            return OpenStream(upstream, response, lines, first, attempts)
        raise _exhausted(body["model"], attempts)


def _client_error(response: httpx.Response) -> ApiError:
    """A 4xx the request itself caused (no fallback helps): the upstream's message, passed on."""
    message = f"the upstream refused the request (HTTP {response.status_code})"
    try:
        detail: Any = response.json().get("error", {})
        if isinstance(detail, dict) and isinstance(detail.get("message"), str):
            message += f": {detail['message'][:500]}"
    except (ValueError, AttributeError):
        pass
    return ApiError(response.status_code, "upstream_rejected", message)


def _exhausted(model: str, attempts: list[Attempt]) -> ApiError:
    tried = "; ".join(f"{a.upstream}: {a.error}" for a in attempts) or "none available"
    all_429 = attempts and all(a.error == "HTTP 429" for a in attempts)
    return ApiError(
        429 if all_429 else 502,
        "upstream_rate_limited" if all_429 else "upstream_unavailable",
        f"no upstream answered for model {model!r} ({tried})",
        headers={"Retry-After": "5"},
    )
