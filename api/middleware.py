"""Per request: a request id, the body size limit, one JSON log line and the route's metrics; with
authentication off, only same-origin requests to a loopback Host."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException

from api.config import is_loopback
from api.errors import body as error_body
from api.state import AppState

access_log = logging.getLogger("veracity.api.access")


class BodyTooLarge(HTTPException):
    """An HTTPException, so FastAPI's body reader lets it through (rendered as 413 by api.errors)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit} bytes")


def foreign_request(headers: dict[bytes, bytes]) -> str | None:
    """Why a request must be refused when authentication is off (loopback mode), else None: its Host
    is not a loopback name (DNS rebinding), or a browser says it comes from another origin (any web
    page the local user opens could otherwise post documents to this server)."""
    host = headers.get(b"host", b"").decode("latin-1").strip().lower()
    hostname = urlsplit(f"//{host}").hostname if host else None
    if not hostname or not is_loopback(hostname):
        return (
            "authentication is off: only requests to a loopback host (127.0.0.1, localhost, ::1) are served"
        )
    origin = headers.get(b"origin")
    if origin is not None and urlsplit(origin.decode("latin-1")).netloc.lower() != host:
        return "authentication is off: cross-origin requests are refused"
    if headers.get(b"sec-fetch-site", b"") == b"cross-site":
        return "authentication is off: cross-site requests are refused"
    return None


async def _send_json(send, status: int, body: dict) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


class RequestMiddleware:
    """Pure ASGI middleware (no BaseHTTPMiddleware: streaming uploads pass through untouched)."""

    def __init__(self, app, state: AppState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        rid = uuid.uuid4().hex[:16]
        req_state = scope.setdefault("state", {})
        req_state["request_id"] = rid
        settings = self.state.settings
        is_upload = scope["method"] == "POST" and scope["path"].endswith("/documents")
        limit = None if is_upload else settings.max_body_bytes
        status = {"code": 500, "started": False}

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        received = 0

        async def receive_wrapper():
            nonlocal received
            message = await receive()
            if limit is not None and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length", b"")
            refusal = self.state.keys.disabled and foreign_request(headers)
            if refusal:
                await _send_json(send_wrapper, 403, error_body("forbidden_origin", refusal))
            elif limit is not None and length.isdigit() and int(length) > limit:
                await self._too_large(send_wrapper, limit)
            else:
                await self.app(scope, receive_wrapper, send_wrapper)
        except BodyTooLarge:
            if not status["started"]:
                await self._too_large(send_wrapper, limit)
        finally:
            self._finish(scope, req_state, status["code"], time.perf_counter() - t0)

    @staticmethod
    async def _too_large(send, limit: int | None) -> None:
        body = error_body("payload_too_large", f"request body over the limit of {limit} bytes")
        await _send_json(send, 413, body)

    def _finish(self, scope, req_state: dict, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or ("(unmatched)" if status == 404 else "(other)")
        try:
            self.state.metrics.observe_request(scope["method"], template, status, seconds)
        except Exception:  # noqa: BLE001 - metrics must never break a request
            pass
        if template in ("/healthz", "/readyz", "/metrics") and status < 400:
            return  # probes and scrapes would drown the log
        line = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "event": "request",
            "request_id": req_state.get("request_id"),
            "method": scope["method"],
            "route": template,
            "status": status,
            "latency_ms": round(seconds * 1000, 1),
        }
        for key in ("corpus", "key", "counts"):
            if req_state.get(key) is not None:
                line[key] = req_state[key]
        if "answer" in req_state:
            line["answer"] = req_state["answer"]
        access_log.info(json.dumps(line, ensure_ascii=False))
