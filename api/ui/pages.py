"""What every page of the review UI uses: ReviewUI (sessions, the CSRF check, templates, the
stores), SecureRoute (security headers on every response) and the URL helpers."""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from api.ui import evidence
from api.ui.session import (
    COOKIE,
    DEFAULT_TTL_S,
    LoginThrottle,
    Revocations,
    Session,
    Signer,
    load_secret,
)
from pipeline.review.trail import ReviewStore
from pipeline.schema import ErrorKind, Label
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.verification.engine import Engine

HERE = Path(__file__).resolve().parent
VERDICT_CLASSES = frozenset(Label)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class SecureRoute(APIRoute):
    """Adds the security headers (and no-store, unless the route set its own caching) to every response."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def with_headers(request: Request) -> Response:
            response = await handler(request)
            for k, v in SECURITY_HEADERS.items():
                response.headers.setdefault(k, v)
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return with_headers


class ReviewUI:
    """What the routes share; the signing key and the stores are opened on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.throttle = LoginThrottle()
        self.docs = evidence.DocumentSource(settings)
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["short"] = _short
        self.env.filters["when"] = _when
        self.env.filters["pct"] = lambda x: "–" if x is None else f"{100 * x:.0f}%"
        self.env.filters["vclass"] = lambda v: v if v in VERDICT_CLASSES else "unknown"
        self.env.filters["label"] = lambda v: str(v or "").replace("_", " ")
        self.env.filters["kind"] = ErrorKind.label_of
        self._lock = threading.Lock()
        self._signer: Signer | None = None
        self._review: ReviewStore | None = None
        self._revocations: Revocations | None = None

    @property
    def signer(self) -> Signer:
        with self._lock:
            if self._signer is None:
                self._signer = Signer(load_secret(self.settings), DEFAULT_TTL_S)
            return self._signer

    @property
    def review(self) -> ReviewStore:
        with self._lock:
            if self._review is None:
                from pipeline.audit.store import store_path

                self._review = ReviewStore(store_path(self.settings))
            return self._review

    @property
    def revocations(self) -> Revocations:
        db = self.review.store.db  # sign-outs live beside the reviewers' accounts
        with self._lock:
            if self._revocations is None:
                self._revocations = Revocations(db)
            return self._revocations

    # --- sessions ---------------------------------------------------------------------------------
    def session(self, request: Request) -> Session | None:
        """The cookie's session, unless it is missing, forged, expired or signed out."""
        s = self.signer.loads(request.cookies.get(COOKIE))
        return None if s is None or self.revocations.revoked(s) else s

    def reviewer(self, request: Request) -> Session | None:
        """The signed-in session of an active reviewer, else None."""
        s = self.session(request)
        if s is None or not s.reviewer or not self.review.is_active(s.reviewer):
            return None
        return s

    def set_cookie(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            self.signer.dumps(session),
            max_age=max(0, session.expires - int(time.time())),
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path=base(request).rstrip("/"),
        )

    def post_allowed(self, request: Request, session: Session | None, token: str) -> bool:
        """The CSRF token matches the session's, and the request does not come from another site."""
        if session is None or not token or not hmac.compare_digest(session.csrf.encode(), token.encode()):
            return False
        if request.headers.get("sec-fetch-site") == "cross-site":
            return False
        origin = request.headers.get("origin")
        if origin is not None:
            host = (request.headers.get("host") or "").lower()
            if origin == "null" or urlsplit(origin).netloc.lower() != host:
                return False
        return True

    # --- rendering --------------------------------------------------------------------------------
    def render(
        self, request: Request, template: str, session: Session | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        b = base(request)
        html = self.env.get_template(template).render(
            base=b,
            static=b + "static/",
            reviewer=session.reviewer if session else None,
            csrf=session.csrf if session else "",
            page=template.removesuffix(".html"),
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def forbidden(self, request: Request, session: Session | None) -> HTMLResponse:
        return self.render(
            request,
            "message.html",
            session,
            403,
            title="Request refused",
            message="The form was stale or did not come from this site (CSRF check failed). "
            "Reload the page and try again.",
        )

    def not_found(self, request: Request, session: Session | None, what: str) -> HTMLResponse:
        return self.render(request, "message.html", session, 404, title="Not found", message=what)


def base(request: Request) -> str:
    """The UI's path prefix with a trailing slash, e.g. '/ui/'."""
    return request.url_for("ui_home").path


def qs(pairs: Any) -> str:
    items = [(k, v) for k, v in (pairs.items() if isinstance(pairs, dict) else pairs) if v not in (None, "")]
    return ("?" + urlencode(items)) if items else ""


def login_redirect(request: Request) -> RedirectResponse:
    """To the login page, coming back to this page after signing in."""
    target = request.url.path + (("?" + request.url.query) if request.url.query else "")
    return RedirectResponse(base(request) + "login" + qs({"next": target}), status_code=303)


def engine_of(request: Request) -> Engine | None:
    """The API's loaded Engine, when the UI runs inside the API (for its open indexes)."""
    return getattr(getattr(request.app.state, "veracity", None), "engine", None)


INT64 = 2**63  # SQLite's integers; a larger id would overflow the query, and names nothing anyway


def as_int(value: Any, default: int | None = None) -> int | None:
    """`value` as an integer SQLite can hold, else `default`."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if -INT64 <= number < INT64 else default


def _short(text: Any, n: int = 160) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _when(ts: Any) -> str:
    if not ts:
        return ""
    try:
        return (
            datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
            .astimezone(UTC)
            .strftime("%Y-%m-%d %H:%M:%S UTC")
        )
    except ValueError:
        return str(ts)
