"""A cited document in full, with the citation marked: from a sentence's evidence or by corpus and id."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.ui import evidence
from api.ui.pages import ReviewUI, SecureRoute, as_int, base, engine_of, login_redirect
from api.ui.session import Session


def document_routes(ui: ReviewUI) -> APIRouter:
    """/items/{id}/evidence/{rank} and /docs/{corpus}/{doc_id}."""
    router = APIRouter(route_class=SecureRoute, include_in_schema=False)

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
            evidence.locate(doc.text, as_int(start), as_int(end), quote_text)
            if start is not None or quote_text
            else None
        )
        return ui.render(
            request,
            "document.html",
            s,
            doc=doc,
            corpus=corpus,
            segments=evidence.document_segments(doc, loc),
            loc=loc,
            # the place of the marked text as citations and search results give it
            place=doc.place(loc.start, loc.end) if loc else None,
            back=back,
            back_label=back_label,
            sections=doc.sections[:200],
        )

    @router.get("/items/{sentence_id}/evidence/{rank}", name="ui_evidence")
    def item_evidence(request: Request, sentence_id: str, rank: str) -> Response:
        s = ui.reviewer(request)
        if s is None:
            return login_redirect(request)
        sentence = ui.review.store.sentence(as_int(sentence_id, -1))
        r = as_int(rank, -1)
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

    return router
