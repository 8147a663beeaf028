"""The review UI router: a queue of flagged sentences, an item view with the evidence beside the
answer, decisions (confirm / dismiss / escalate) with an append-only trail, per-run progress and a
CSV export. Server-rendered (Jinja2, autoescape), one static JS file for keyboard shortcuts, no CDN.

Every page needs a signed-in reviewer (else a redirect to the login page); every POST needs the
session's CSRF token and, when the browser sends one, a same-host Origin. Pages carry a strict
Content-Security-Policy (no inline script or style).
"""

from __future__ import annotations

import hmac
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from api.ui import evidence
from api.ui.session import COOKIE, DEFAULT_TTL_S, LoginThrottle, Session, Signer, load_secret
from pipeline.audit.kinds import kind_label
from pipeline.review import DECISIONS, STATUSES, QueueFilter, ReviewError, ReviewStore

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
PAGE_SIZE = 50
VERDICT_CLASSES = {"supported", "contradicted", "unsupported", "not_a_claim", "unchecked"}

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

    def __init__(self, settings: Any) -> None:
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
        self.env.filters["kind"] = kind_label
        self._lock = threading.Lock()
        self._signer: Signer | None = None
        self._review: ReviewStore | None = None

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

    # --- sessions ---------------------------------------------------------------------------------
    def session(self, request: Request) -> Session | None:
        return self.signer.loads(request.cookies.get(COOKIE))

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
            max_age=self.signer.ttl_s,
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


def _int(value: Any, default: int | None = None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def safe_next(request: Request, target: str | None) -> str:
    """A post-login destination inside the UI (never another host), else the queue."""
    b = base(request)
    if target and target.startswith(b) and "\\" not in target and not target.startswith("//"):
        return target
    return b + "queue"


def answer_segments(
    answer: str, sentences: list[dict], selected: int, link: Callable[[int], str]
) -> list[dict]:
    """The answer in pieces: plain text between sentences, and each sentence with its verdict."""

    def piece(s: dict) -> dict:
        return {
            "text": s["text"],
            "id": s["id"],
            "verdict": s["verdict"],
            "flagged": s["flagged"],
            "selected": s["id"] == selected,
            "href": link(s["id"]),
        }

    out, pos = [], 0
    ordered = sorted(sentences, key=lambda s: (s.get("start_char") or 0, s["idx"]))
    consistent = all(s.get("start_char") is not None and s.get("end_char") is not None for s in ordered)
    for s in ordered:
        start, end = (s["start_char"], s["end_char"]) if consistent else (None, None)
        if start is None or start < pos or end > len(answer) or answer[start:end] != s["text"]:
            consistent = False
            break
        if start > pos:
            out.append({"text": answer[pos:start]})
        out.append(piece(s))
        pos = end
    if not consistent:  # offsets do not fit the stored answer: show the sentences one after another
        out = []
        for s in sorted(sentences, key=lambda s: s["idx"]):
            out += [piece(s), {"text": " "}]
        return out
    if pos < len(answer):
        out.append({"text": answer[pos:]})
    return out


def build_ui_router(settings: Any) -> APIRouter:
    """The review UI; mount it with `app.include_router(build_ui_router(settings), prefix="/ui")`."""
    ui = ReviewUI(settings)
    router = APIRouter(route_class=SecureRoute, include_in_schema=False)

    def login_redirect(request: Request) -> RedirectResponse:
        target = request.url.path + (("?" + request.url.query) if request.url.query else "")
        return RedirectResponse(base(request) + "login" + qs({"next": target}), status_code=303)

    def engine_of(request: Request) -> Any:
        return getattr(getattr(request.app.state, "veracity", None), "engine", None)

    # --- sign-in --------------------------------------------------------------------------------
    @router.get("/", name="ui_home")
    def home(request: Request) -> Response:
        return RedirectResponse(base(request) + "queue", status_code=303)

    @router.get("/login", name="ui_login")
    def login_page(request: Request, next: str = "") -> Response:
        s = ui.session(request)
        if s is not None and s.reviewer and ui.review.is_active(s.reviewer):
            return RedirectResponse(safe_next(request, next), status_code=303)
        fresh = s is None
        s = s or Session.new(None, 3600)
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

        if ui.throttle.blocked(name, client):
            return refuse("Too many failed sign-ins. Wait a few minutes and try again.", 429)
        if not name or not password or not ui.review.authenticate(name, password):
            ui.throttle.failed(name, client)
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
        resp = RedirectResponse(base(request) + "login", status_code=303)
        resp.delete_cookie(COOKIE, path=base(request).rstrip("/"), httponly=True, samesite="lax")
        return resp

    # --- queue ----------------------------------------------------------------------------------
    @router.get("/queue", name="ui_queue")
    def queue(request: Request, page: int = 1) -> Response:
        s = ui.reviewer(request)
        if s is None:
            return login_redirect(request)
        f = QueueFilter.from_mapping(request.query_params)
        rs = ui.review
        total = rs.count(f)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(max(1, page), pages)
        rows = rs.queue(f, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        fq = f.items()
        b = base(request)
        for r in rows:
            r["href"] = f"{b}items/{r['id']}{qs(fq)}"
        counts = rs.counts(f)
        status_links = [
            (
                st,
                counts["status"].get(st, 0),
                b + "queue" + qs([*QueueFilter(**{**dict(fq), "status": st}).items()]),
            )
            for st in ("open", *DECISIONS, "reviewed", "all")
        ]
        status_links[-1] = ("all", counts["total"], status_links[-1][2])
        first = rs.first(f)
        return ui.render(
            request,
            "queue.html",
            s,
            rows=rows,
            filter=f,
            options=rs.filter_options(),
            counts=counts,
            status_links=status_links,
            total=total,
            page_no=page,
            pages=pages,
            page_link=lambda n: b + "queue" + qs([*fq, ("page", n)]),
            start_href=f"{b}items/{first}{qs(fq)}" if first else "",
            statuses=("", *STATUSES, "reviewed", "all"),
            export_href=b + "export.csv" + qs({"run": f.run, "corpus": f.corpus}),
        )

    # --- item -----------------------------------------------------------------------------------
    def item_page(
        request: Request,
        s: Session,
        sentence_id: int,
        f: QueueFilter,
        *,
        error: str = "",
        saved: int | None = None,
        advance: bool = False,
        status: int = 200,
    ) -> Response:
        rs = ui.review
        sentence = rs.store.sentence(sentence_id)
        if sentence is None:
            return ui.not_found(request, s, f"There is no sentence {sentence_id} in the audit store.")
        turn = rs.store.turn(sentence["turn_id"]) or {}
        b = base(request)
        fq = f.items()
        segments = answer_segments(
            turn.get("answer") or "",
            turn.get("sentences") or [],
            sentence_id,
            lambda i: f"{b}items/{i}{qs(fq)}",
        )
        engine = engine_of(request)
        cites = []
        for rank, c in enumerate(sentence["citations"]):
            found = (
                ui.docs.get(turn.get("corpus"), c["doc_id"], engine)
                if c.get("doc_id")
                else evidence.DocLookup(None, "no document")
            )
            p = (
                evidence.passage(found.document, c["start_char"], c["end_char"], c["quote"])
                if found.document
                else None
            )
            cites.append(
                {
                    **c,
                    "rank": rank,
                    "where": evidence.where(c),
                    "passage": p,
                    "problem": found.problem
                    or ("" if p or not found.document else "the quote is no longer in this document"),
                    "href": f"{b}items/{sentence_id}/evidence/{rank}#cite" if found.document else "",
                }
            )
        prev_id, next_id = rs.neighbours(sentence_id, f) if sentence["flagged"] else (None, None)
        history = rs.history(sentence_id)
        return ui.render(
            request,
            "item.html",
            s,
            status,
            sentence=sentence,
            turn=turn,
            segments=segments,
            citations=cites,
            history=list(reversed(history)),
            current=history[-1] if history else None,
            filter=f,
            filter_items=fq,
            prev_href=f"{b}items/{prev_id}{qs(fq)}" if prev_id else "",
            next_href=f"{b}items/{next_id}{qs(fq)}" if next_id else "",
            queue_href=b + "queue" + qs(fq),
            decide_href=f"{b}items/{sentence_id}/decide",
            error=error,
            saved=saved,
            advance=advance,
            decisions=DECISIONS,
            position=rs.position(sentence_id, f) if sentence["flagged"] else None,
        )

    @router.get("/items/{sentence_id}", name="ui_item")
    def item(request: Request, sentence_id: str, saved: str = "", advance: str = "") -> Response:
        s = ui.reviewer(request)
        if s is None:
            return login_redirect(request)
        sid = _int(sentence_id)
        if sid is None:
            return ui.not_found(request, s, f"{sentence_id!r} is not a sentence id.")
        return item_page(
            request,
            s,
            sid,
            QueueFilter.from_mapping(request.query_params),
            saved=_int(saved),
            advance=advance == "1",
        )

    @router.post("/items/{sentence_id}/decide", name="ui_decide")
    def decide(
        request: Request,
        sentence_id: str,
        csrf: str = Form(""),
        decision: str = Form(""),
        comment: str = Form(""),
        advance: str = Form(""),
        corpus: str = Form(""),
        run: str = Form(""),
        verdict: str = Form(""),
        doc: str = Form(""),
        status: str = Form(""),
    ) -> Response:
        session = ui.session(request)
        if not ui.post_allowed(request, session, csrf):
            return ui.forbidden(request, session)
        s = ui.reviewer(request)
        if s is None:
            return login_redirect(request)
        sid = _int(sentence_id)
        if sid is None:
            return ui.not_found(request, s, f"{sentence_id!r} is not a sentence id.")
        f = QueueFilter.from_mapping(
            {"corpus": corpus, "run": run, "verdict": verdict, "doc": doc, "status": status}
        )
        try:
            row = ui.review.decide(sid, decision, s.reviewer, comment)
        except ReviewError as exc:
            if ui.review.store.sentence(sid) is None:
                return ui.not_found(request, s, str(exc))
            return item_page(request, s, sid, f, error=str(exc), status=400, advance=advance == "1")
        b = base(request)
        target = sid
        if advance == "1":
            _, nxt = ui.review.neighbours(sid, f)
            target = nxt or sid
        extra = [("saved", row["id"])] if target == sid else []
        if advance == "1":
            extra.append(("advance", "1"))
        return RedirectResponse(f"{b}items/{target}{qs([*f.items(), *extra])}", status_code=303)

    # --- documents ------------------------------------------------------------------------------
    def document_page(
        request: Request,
        s: Session,
        corpus: str | None,
        doc_id: str,
        start: Any,
        end: Any,
        quote_text: str | None,
        back: str = "",
        back_label: str = "",
    ) -> Response:
        found = ui.docs.get(corpus, doc_id, engine_of(request))
        if found.document is None:
            return ui.not_found(request, s, found.problem)
        doc = found.document
        loc = (
            evidence.locate(doc.text, _int(start), _int(end), quote_text)
            if start is not None or quote_text
            else None
        )
        section = doc.section_at(loc.start, loc.end) if loc else None
        pages = doc.page_numbers(loc.start, loc.end) if loc else []
        return ui.render(
            request,
            "document.html",
            s,
            doc=doc,
            corpus=corpus,
            segments=evidence.document_segments(doc, loc),
            loc=loc,
            section=section.label if section else "",
            pages=pages,
            back=back,
            back_label=back_label,
            sections=doc.sections[:200],
        )

    @router.get("/items/{sentence_id}/evidence/{rank}", name="ui_evidence")
    def item_evidence(request: Request, sentence_id: str, rank: str) -> Response:
        s = ui.reviewer(request)
        if s is None:
            return login_redirect(request)
        sentence = ui.review.store.sentence(_int(sentence_id, -1))
        r = _int(rank, -1)
        if sentence is None or not 0 <= r < len(sentence["citations"]):
            return ui.not_found(request, s, "No such citation.")
        c = sentence["citations"][r]
        return document_page(
            request,
            s,
            sentence["corpus"],
            c["doc_id"],
            c["start_char"],
            c["end_char"],
            c["quote"],
            back=f"{base(request)}items/{sentence['id']}",
            back_label=f"back to sentence {sentence['id']}",
        )

    @router.get("/docs/{corpus}/{doc_id:path}", name="ui_document")
    def document(
        request: Request, corpus: str, doc_id: str, start: str | None = None, end: str | None = None
    ) -> Response:
        s = ui.reviewer(request)
        if s is None:
            return login_redirect(request)
        return document_page(request, s, corpus, doc_id, start, end, None)

    # --- runs and export ------------------------------------------------------------------------
    @router.get("/runs", name="ui_runs")
    def runs(request: Request) -> Response:
        s = ui.reviewer(request)
        if s is None:
            return login_redirect(request)
        b = base(request)
        rows = ui.review.progress()
        for r in rows:
            r["queue_href"] = b + "queue" + qs({"run": r["run_id"]})
            r["open_href"] = b + "queue" + qs({"run": r["run_id"], "status": "open"})
            r["export_href"] = b + "export.csv" + qs({"run": r["run_id"]})
        return ui.render(request, "runs.html", s, rows=rows, export_href=b + "export.csv")

    @router.get("/export.csv", name="ui_export")
    def export(request: Request, run: str = "", corpus: str = "", latest: str = "") -> Response:
        s = ui.reviewer(request)
        if s is None:
            return login_redirect(request)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        scope = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in (run or corpus or "all"))[:80]
        body = "".join(ui.review.iter_csv(run=run or None, corpus=corpus or None, latest_only=latest == "1"))
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="veracity-decisions-{scope}-{stamp}.csv"'},
        )

    # --- static files ---------------------------------------------------------------------------
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
