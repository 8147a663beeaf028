"""The error responses routes document in the OpenAPI schema, with example bodies."""

from __future__ import annotations

from api.models import ErrorBody, error_example


def error_responses(status: int, description: str, *examples: tuple[str, str, str | None]) -> dict:
    """`responses=` entry for `status`: the ErrorBody model and one example per (code, message, field)."""
    ex = {code: {"value": error_example(code, msg, field)} for code, msg, field in examples}
    return {
        status: {
            "model": ErrorBody,
            "description": description,
            "content": {"application/json": {"examples": ex}},
        }
    }


AUTH_ERRORS = error_responses(
    401, "Missing or unknown API key", ("unauthorized", "missing or unknown API key (X-API-Key)", None)
)
CORPUS_404 = error_responses(
    404, "Unknown corpus, or one this key may not read", ("corpus_not_found", "no corpus 'acme'", "corpus")
)
UNAVAILABLE = error_responses(
    503,
    "Models or the index could not be loaded; sentences are never reported as supported",
    ("index_unavailable", "corpus 'sample' has no index; build it with `veracity index sample`", None),
    ("models_unavailable", "the verification models are not loaded", None),
    ("overloaded", "too many verifications waiting; retry shortly", None),
)
