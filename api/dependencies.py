"""FastAPI dependencies of the routes: the app's shared state, the caller's key, corpus access checks."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import APIKeyHeader

from api.auth import HEADER, Principal
from api.errors import ApiError, corpus_not_found
from api.models import CORPUS_PATTERN
from api.state import AppState


def get_state(request: Request) -> AppState:
    """The AppState create_app put on the app."""
    return request.app.state.veracity


State = Annotated[AppState, Depends(get_state)]

api_key_header = APIKeyHeader(name=HEADER, auto_error=False, description="Your Veracity API key")


def principal(request: Request, key: Annotated[str | None, Security(api_key_header)] = None) -> Principal:
    """The caller's key (X-API-Key, or `Authorization: Bearer`); 401 when missing or unknown."""
    if key is None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
    p = get_state(request).keys.authenticate(key)
    if p is None:
        raise ApiError(
            401,
            "unauthorized",
            f"missing or unknown API key (send it in the {HEADER} header)",
            headers={"WWW-Authenticate": f'ApiKey header="{HEADER}"'},
        )
    request.state.key = p.key_id
    return p


Auth = Annotated[Principal, Depends(principal)]
CorpusName = Annotated[str, Path(pattern=CORPUS_PATTERN, description="Corpus name", examples=["sample"])]


def readable(p: Principal, name: str | None, field: str = "corpus") -> None:
    if name is not None and not p.can_read(name):
        raise corpus_not_found(name, field)


def writable(p: Principal, name: str) -> None:
    readable(p, name)
    if not p.can_write(name):
        raise ApiError(403, "forbidden", f"this API key may read but not change corpus {name!r}")
