"""The review UI router: a queue of flagged sentences, an item view with the evidence beside the
answer, decisions (confirm / dismiss / escalate) with an append-only trail, per-run progress and a
CSV export. Server-rendered (Jinja2, autoescape), one static JS file for keyboard shortcuts, no CDN.

Every page needs a signed-in reviewer (else a redirect to the login page); every POST needs the
session's CSRF token and, when the browser sends one, a same-host Origin. Pages carry a strict
Content-Security-Policy (no inline script or style). The pages are grouped in login.py, queue.py,
documents.py and runs.py; what they share is in pages.py.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from api.ui.documents import document_routes
from api.ui.login import login_routes
from api.ui.pages import HERE, ReviewUI, SecureRoute
from api.ui.queue import queue_routes
from api.ui.runs import run_routes
from pipeline.settings import Settings

STATIC = HERE / "static"
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


def build_ui_router(settings: Settings) -> APIRouter:
    """The review UI; mount it with `app.include_router(build_ui_router(settings), prefix="/ui")`."""
    ui = ReviewUI(settings)
    router = APIRouter(route_class=SecureRoute, include_in_schema=False)
    for routes in (login_routes, queue_routes, document_routes, run_routes):
        router.include_router(routes(ui))

    @router.get("/static/{name}", name="ui_static")
    def static(name: str) -> Response:
        path = STATIC / name
        if "/" in name or name.startswith(".") or path.suffix not in STATIC_TYPES or not path.is_file():
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(
            path, media_type=STATIC_TYPES[path.suffix], headers={"Cache-Control": "public, max-age=300"}
        )

    router.ui = ui  # type: ignore[attr-defined] - for tests and the operator's shell
    return router


__all__ = ["build_ui_router", "ReviewUI"]
