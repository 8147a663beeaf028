"""Signing in and out of the review UI (and its home, which leads to the queue)."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.ui.pages import ReviewUI, SecureRoute, base
from api.ui.session import COOKIE, LOGIN_FORM_TTL_S, Session


def safe_next(request: Request, target: str | None) -> str:
    """A post-login destination inside the UI (never another host), else the queue."""
    b = base(request)
    if target and target.startswith(b) and "\\" not in target and not target.startswith("//"):
        return target
    return b + "queue"


def login_routes(ui: ReviewUI) -> APIRouter:
    """/, /login (GET and POST) and /logout."""
    router = APIRouter(route_class=SecureRoute, include_in_schema=False)

    @router.get("/", name="ui_home")
    def home(request: Request) -> Response:
        return RedirectResponse(base(request) + "queue", status_code=303)

    @router.get("/login", name="ui_login")
    def login_page(request: Request, next: str = "") -> Response:
        s = ui.session(request)
        if s is not None and s.reviewer and ui.review.is_active(s.reviewer):
            return RedirectResponse(safe_next(request, next), status_code=303)
        fresh = s is None
        s = s or Session.new(None, LOGIN_FORM_TTL_S)
        resp = ui.render(
            request,
            "login.html",
            s,
            next=safe_next(request, next),
            error="",
            name="",
            no_reviewers=not ui.review.has_reviewers(),
        )
        if fresh:
            ui.set_cookie(request, resp, s)
        return resp

    @router.post("/login", name="ui_login_post")
    def login(
        request: Request,
        name: str = Form(""),
        password: str = Form(""),
        csrf: str = Form(""),
        next: str = Form(""),
    ) -> Response:
        s = ui.session(request)
        if not ui.post_allowed(request, s, csrf):
            return ui.forbidden(request, s)
        client = request.client.host if request.client else "?"
        name = name.strip()

        def refuse(message: str, status: int) -> HTMLResponse:
            return ui.render(
                request,
                "login.html",
                s,
                status,
                next=safe_next(request, next),
                error=message,
                name=name,
                no_reviewers=False,
            )

        if not ui.throttle.attempt(name, client):  # counted as a failure until it succeeds
            return refuse("Too many failed sign-ins. Wait a few minutes and try again.", 429)
        if not name or not password or not ui.review.authenticate(name, password):
            return refuse("Unknown reviewer or wrong password.", 401)
        ui.throttle.succeeded(name, client)
        resp = RedirectResponse(safe_next(request, next), status_code=303)
        ui.set_cookie(request, resp, Session.new(name, ui.signer.ttl_s))  # new session, new CSRF token
        return resp

    @router.post("/logout", name="ui_logout")
    def logout(request: Request, csrf: str = Form("")) -> Response:
        s = ui.session(request)
        if not ui.post_allowed(request, s, csrf):
            return ui.forbidden(request, s)
        ui.revocations.revoke(s)  # a copy of the cookie is worthless from now on
        resp = RedirectResponse(base(request) + "login", status_code=303)
        resp.delete_cookie(COOKIE, path=base(request).rstrip("/"), httponly=True, samesite="lax")
        return resp

    return router
