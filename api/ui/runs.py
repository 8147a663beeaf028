"""Review progress per audit run, and the decision trail as a CSV download."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.ui.pages import ReviewUI, SecureRoute, base, login_redirect, qs
from pipeline.review.export import iter_csv
from pipeline.review.trail import ReviewStatus


def run_routes(ui: ReviewUI) -> APIRouter:
    """/runs and /export.csv."""
    router = APIRouter(route_class=SecureRoute, include_in_schema=False)

    @router.get("/runs", name="ui_runs")
    def runs(request: Request) -> Response:
        s = ui.reviewer(request)
        if s is None:
            return login_redirect(request)
        b = base(request)
        rows = ui.review.progress()
        for r in rows:
            r["queue_href"] = b + "queue" + qs({"run": r["run_id"]})
            r["open_href"] = b + "queue" + qs({"run": r["run_id"], "status": ReviewStatus.OPEN})
            r["export_href"] = b + "export.csv" + qs({"run": r["run_id"]})
        return ui.render(
            request, "runs.html", s, rows=rows, weeks=ui.review.weekly(), export_href=b + "export.csv"
        )

    @router.get("/export.csv", name="ui_export")
    def export(request: Request, run: str = "", corpus: str = "", latest: str = "") -> Response:
        s = ui.reviewer(request)
        if s is None:
            return login_redirect(request)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        scope = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in (run or corpus or "all"))[:80]
        body = "".join(iter_csv(ui.review, run=run or None, corpus=corpus or None, latest_only=latest == "1"))
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="veracity-decisions-{scope}-{stamp}.csv"'},
        )

    return router
