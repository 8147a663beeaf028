"""Schemathesis against the OpenAPI schema of a real server: /v1/verify and the GET routes, with an API key,
at most 20 generated cases per operation; no 5xx and responses that match the schema."""

from __future__ import annotations

import pytest
import schemathesis
from api_support import KEY_ADMIN, KEYS, ThreadedServer, make_settings
from hypothesis import HealthCheck, settings


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from api.app import create_app

    app_settings = make_settings(tmp_path_factory.mktemp("schema") / "home", **LIMITS)
    with ThreadedServer(create_app(app_settings)) as srv:
        yield srv


LIMITS = {"max_answer_chars": 2_000, "max_contexts": 4}  # the server below uses the same


def _schema():
    """The OpenAPI document of the app (building the app loads nothing); calls go to the real server."""
    from api.app import create_app
    from api.config import ApiSettings

    spec = create_app(
        ApiSettings(
            api_keys=KEYS,
            auth_disabled=False,
            max_answer_chars=LIMITS["max_answer_chars"],
            max_contexts=LIMITS["max_contexts"],
        )
    ).openapi()
    # over a size limit (maxLength, maxItems) the API answers 413, as documented
    config = schemathesis.Config.from_dict(
        {
            "phases": {"coverage": {"enabled": False}},
            "checks": {
                "negative_data_rejection": {
                    "expected-statuses": ["400", "401", "403", "404", "405", "409", "413", "415", "422"]
                },
                "positive_data_acceptance": {"expected-statuses": ["2xx", "401", "403", "404", "409", "413"]},
            },
        }
    )
    # /v1/verify and every GET route; uploads, deletes and batches are covered by test_api.py
    return (
        schemathesis.openapi.from_dict(spec, config=config)
        .exclude(method="DELETE")
        .exclude(path="/v1/verify/batch")
        .exclude(path="/v1/corpora/{name}/documents")
    )


schema = _schema()
CALLS: dict[str, int] = {}


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_openapi_conformance(case, server):
    CALLS[case.method + " " + case.path] = CALLS.get(case.method + " " + case.path, 0) + 1
    response = case.call(base_url=server.url, headers={"X-API-Key": KEY_ADMIN}, timeout=60)
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:500])
    case.validate_response(response)


def test_zz_print_calls():
    print(CALLS)
