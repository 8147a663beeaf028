"""The queue of flagged sentences, one sentence with its answer and evidence, and the decision form."""

from __future__ import annotations

import math
from collections.abc import Callable

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.ui import evidence
from api.ui.pages import ReviewUI, SecureRoute, as_int, base, engine_of, login_redirect, qs
from api.ui.session import Session
from pipeline.review.accounts import ReviewError
from pipeline.review.trail import ALL, STATUS_FILTERS, QueueFilter
from pipeline.segments import cut

PAGE_SIZE = 50


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

    ordered = sorted(sentences, key=lambda s: (s.get("start_char") or 0, s["idx"]))
    if all(
        s.get("start_char") is not None
        and s.get("end_char") is not None
        and answer[s["start_char"] : s["end_char"]] == s["text"]
        for s in ordered
    ):
        pieces = cut(answer, ((s["start_char"], s["end_char"], s) for s in ordered))
        if sum(p.item is not None for p in pieces) == len(ordered):
            return [{"text": p.text} if p.item is None else piece(p.item) for p in pieces]
    # offsets do not fit the stored answer: show the sentences one after another
    out = []
    for s in sorted(sentences, key=lambda s: s["idx"]):
        out += [piece(s), {"text": " "}]
    return out


def queue_routes(ui: ReviewUI) -> APIRouter:
    """/queue, /items/{id} and /items/{id}/decide."""
    router = APIRouter(route_class=SecureRoute, include_in_schema=False)

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
            for st in STATUS_FILTERS
        ]
        status_links[-1] = (ALL, counts["total"], status_links[-1][2])
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
            statuses=("", *STATUS_FILTERS),
            export_href=b + "export.csv" + qs({"run": f.run, "corpus": f.corpus}),
        )

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
                    "where": evidence.where(c, found.document),
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
            position=rs.position(sentence_id, f) if sentence["flagged"] else None,
        )

    def reviewer_and_id(request: Request, sentence_id: str) -> tuple[Session, int] | Response:
        """The signed-in reviewer and the sentence id, else the page to show instead (sign-in, not found)."""
        s = ui.reviewer(request)
        if s is None:
            return login_redirect(request)
        sid = as_int(sentence_id)
        if sid is None:
            return ui.not_found(request, s, f"{sentence_id!r} is not a sentence id.")
        return s, sid

    @router.get("/items/{sentence_id}", name="ui_item")
    def item(request: Request, sentence_id: str, saved: str = "", advance: str = "") -> Response:
        found = reviewer_and_id(request, sentence_id)
        if isinstance(found, Response):
            return found
        s, sid = found
        return item_page(
            request,
            s,
            sid,
            QueueFilter.from_mapping(request.query_params),
            saved=as_int(saved),
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
        found = reviewer_and_id(request, sentence_id)
        if isinstance(found, Response):
            return found
        s, sid = found
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

    return router
