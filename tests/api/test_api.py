"""The REST API through TestClient: every route, every error, tenant isolation, uploads and jobs."""

from __future__ import annotations

import json
import logging

import pytest
from api_support import (
    ANSWER,
    KEY_A,
    KEY_ADMIN,
    KEY_B,
    KEY_RO,
    h,
    make_settings,
    wait_job,
)
from fastapi.testclient import TestClient

from api.app import create_app
from api.errors import from_veracity_error
from pipeline.store.corpora import CorpusError, UnknownCorpus, corpus_config
from pipeline.verification.judges import JUDGES

VERDICTS = {"supported", "contradicted", "unsupported", "not_a_claim", "unchecked"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("api") / "home")
    app = create_app(settings)
    with TestClient(app) as client:
        yield client, settings


@pytest.fixture(scope="module")
def client(env):
    return env[0]


def err(r, status: int, code: str | None = None, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    if code:
        assert body["error"]["code"] == code, body
    if field:
        assert body["error"].get("field") == field, body
    return body["error"]


# --- operations --------------------------------------------------------------------------------


def test_health_ready_docs(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz", headers=h(KEY_ADMIN))
    assert r.status_code == 200 and r.json()["status"] == "ready" and r.json()["models"] is True
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            text = json.dumps(op) + json.dumps(spec["components"])
            assert "example" in text, (method, path)
    # every request body and every JSON response model of the API carries examples
    schemas = spec["components"]["schemas"]
    for name in (
        "VerifyRequest",
        "VerifyResponse",
        "BatchRequest",
        "BatchResponse",
        "CorpusInfo",
        "CorpusList",
        "JobInfo",
        "Health",
        "Readiness",
    ):
        assert schemas[name].get("examples"), name
    assert (
        "multipart/form-data"
        in spec["paths"]["/v1/corpora/{name}/documents"]["post"]["requestBody"]["content"]
    )
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"


def test_metrics(client):
    client.post("/v1/verify", json={"answer": ANSWER, "corpus": "sample"}, headers=h(KEY_A))
    err(client.get("/metrics"), 401, "unauthorized")
    err(client.get("/metrics", headers=h(KEY_A)), 403, "forbidden")
    r = client.get("/metrics", headers=h(KEY_ADMIN))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'veracity_http_requests_total{method="POST",route="/v1/verify",status="200"}' in text
    assert 'veracity_http_request_duration_seconds_bucket{le="0.5",method="POST",route="/v1/verify"}' in text
    assert "veracity_verdicts_total{verdict=" in text
    assert 'veracity_index_documents{corpus="sample"} 4.0' in text
    assert 'veracity_index_chunks{corpus="beta"}' in text


# --- verify ------------------------------------------------------------------------------------


def test_verify_corpus(client, caplog):
    with caplog.at_level(logging.INFO, logger="veracity.api.access"):
        r = client.post(
            "/v1/verify",
            headers=h(KEY_A),
            json={
                "answer": ANSWER,
                "question": "How can the customer end the Northwind agreement?",
                "corpus": "sample",
            },
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["sentences"]) == 2
    for s in body["sentences"]:
        assert ANSWER[s["start"] : s["end"]] == s["text"]
        assert s["verdict"] in VERDICTS and 0 <= s["confidence"] <= 1 and s["reason"]
    first = body["sentences"][0]
    assert first["verdict"] == "contradicted"  # 60 days vs the MSA's 90
    assert first["citations"][0]["doc_id"] == "northwind-msa.md"
    c = first["citations"][0]
    assert {"title", "page", "section", "start", "end", "quote"} <= set(c)
    summary = body["summary"]
    assert sum(summary["counts"].values()) == summary["n_sentences"] == 2 and summary["flagged"] is True
    assert body["versions"]["index"].startswith("sample/v-") and body["versions"]["embedder"]
    assert body["versions"]["verifier"]
    assert {"split", "retrieve", "check", "score", "total", "queue", "request"} <= set(body["timings_ms"])
    assert "[1✗]" in body["output"] and body["mode"] == "annotate" and body["corpus"] == "sample"
    assert body["request_id"] == r.headers["x-request-id"]
    # one JSON log line for the request, without the answer text
    lines = [json.loads(rec.getMessage()) for rec in caplog.records if rec.name == "veracity.api.access"]
    line = next(x for x in lines if x["request_id"] == body["request_id"])
    assert line["route"] == "/v1/verify" and line["status"] == 200 and line["latency_ms"] > 0
    assert line["corpus"] == "sample" and line["counts"]["contradicted"] == 1 and line["key"] == "tenant-a"
    assert "Customer" not in json.dumps(line)


def test_verify_contexts_and_modes(client):
    passage = "The Supplier warrants the goods for twelve (12) months from delivery."
    r = client.post(
        "/v1/verify",
        headers=h(KEY_A),
        json={
            "answer": "The Supplier warrants the goods for 24 months from delivery.",
            "contexts": [passage],
            "mode": "block",
            "language": "en",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["versions"]["index"] == "contexts" and body["language"] == "en"
    s = body["sentences"][0]
    assert s["verdict"] == "contradicted" and s["citations"][0]["doc_id"] == "context-1"
    assert body["summary"]["blocked"] is True and "withheld" in body["output"]
    r = client.post(
        "/v1/verify", headers=h(KEY_A), json={"answer": ANSWER, "corpus": "sample", "mode": "redact"}
    )
    assert r.status_code == 200 and "removed" in r.json()["output"] and "sixty" not in r.json()["output"]


def test_verify_scoped_to_doc(client):
    r = client.post(
        "/v1/verify",
        headers=h(KEY_A),
        json={"answer": ANSWER, "corpus": "sample", "doc_ids": ["helios-license.txt"]},
    )
    assert r.status_code == 200
    cited = {c["doc_id"] for s in r.json()["sentences"] for c in s["citations"]}
    assert cited <= {"helios-license.txt"}


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"answer": ANSWER, "corpus": "sample", "contexts": ["x"]}, "corpus"),
        ({"answer": ANSWER}, "corpus"),
        ({"answer": "", "corpus": "sample"}, "answer"),
        ({"answer": "   \n ", "corpus": "sample"}, "answer"),
        ({"corpus": "sample"}, "answer"),
        ({"answer": ANSWER, "corpus": "sample", "mode": "shout"}, "mode"),
        ({"answer": ANSWER, "corpus": "../etc"}, "corpus"),
        ({"answer": ANSWER, "contexts": []}, "contexts"),
        ({"answer": ANSWER, "corpus": "sample", "colour": "red"}, "colour"),
        ({"answer": 42, "corpus": "sample"}, "answer"),
    ],
)
def test_verify_invalid_body(client, payload, field):
    err(client.post("/v1/verify", headers=h(KEY_A), json=payload), 422, field=field)


def test_verify_malformed_json(client):
    r = client.post("/v1/verify", headers=h(KEY_A) | {"content-type": "application/json"}, content=b"{nope")
    err(r, 422, "invalid_json")
    err(client.post("/v1/verify", headers=h(KEY_A)), 422)


def test_verify_limits(client, env):
    settings = env[1]
    long = "The fee is ten dollars. " * (settings.max_answer_chars // 20)
    err(
        client.post("/v1/verify", headers=h(KEY_A), json={"answer": long, "corpus": "sample"}),
        413,
        "answer_too_large",
        "answer",
    )
    err(
        client.post("/v1/verify", headers=h(KEY_A), json={"answer": "A b c.", "contexts": ["x"] * 5}),
        413,
        "too_many_contexts",
        "contexts",
    )
    huge = {"answer": "A.", "corpus": "sample", "question": "q" * (settings.max_body_bytes + 10)}
    err(client.post("/v1/verify", headers=h(KEY_A), json=huge), 413, "payload_too_large")


def test_verify_auth_and_isolation(client):
    body = {"answer": ANSWER, "corpus": "sample"}
    err(client.post("/v1/verify", json=body), 401, "unauthorized")
    err(client.post("/v1/verify", json=body, headers=h("not-a-key-at-all")), 401, "unauthorized")
    assert (
        client.post("/v1/verify", json=body, headers={"Authorization": f"Bearer {KEY_A}"}).status_code == 200
    )
    # key B may not read sample: the same 404 as for a corpus that does not exist
    hidden = err(client.post("/v1/verify", json=body, headers=h(KEY_B)), 404, "corpus_not_found", "corpus")
    missing = err(
        client.post("/v1/verify", json=body | {"corpus": "nosuch"}, headers=h(KEY_ADMIN)),
        404,
        "corpus_not_found",
        "corpus",
    )
    assert hidden["message"].replace("sample", "X") == missing["message"].replace("nosuch", "X")
    err(client.post("/v1/verify", json=body | {"corpus": "beta"}, headers=h(KEY_A)), 404, "corpus_not_found")
    r = client.post(
        "/v1/verify",
        headers=h(KEY_B),
        json={
            "answer": "Beta Outfitters refunds unworn items returned within fourteen (14) days of delivery.",
            "corpus": "beta",
        },
    )
    assert r.status_code == 200 and r.json()["sentences"][0]["citations"][0]["doc_id"] == "refunds.txt"


def test_verify_index_failure_is_503(client):
    r = client.post("/v1/verify", headers=h(KEY_ADMIN), json={"answer": ANSWER, "corpus": "unbuilt"})
    e = err(r, 503, "index_unavailable")
    assert "veracity index unbuilt" in e["message"] and r.headers.get("retry-after")


# --- batch ---------------------------------------------------------------------------------------


def test_batch_in_order(client):
    items = [
        {"answer": ANSWER, "corpus": "sample"},
        {
            "answer": "The warranty lasts 12 months.",
            "contexts": ["Goods are warranted for twelve (12) months."],
        },
        {
            "answer": "Customer shall pay each undisputed invoice within thirty (30) days of receipt.",
            "corpus": "sample",
            "mode": "redact",
        },
    ]
    r = client.post("/v1/verify/batch", headers=h(KEY_A), json={"items": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [res["sentences"][0]["text"] for res in results] == [
        "Customer may terminate for convenience with sixty (60) days' notice.",
        "The warranty lasts 12 months.",
        "Customer shall pay each undisputed invoice within thirty (30) days of receipt.",
    ]
    assert [res["mode"] for res in results] == ["annotate", "annotate", "redact"]
    assert results[1]["versions"]["index"] == "contexts"


def test_batch_errors(client, env):
    one = {"answer": ANSWER, "corpus": "sample"}
    err(
        client.post("/v1/verify/batch", headers=h(KEY_A), json={"items": [one] * (env[1].max_batch + 1)}),
        413,
        "batch_too_large",
        "items",
    )
    err(client.post("/v1/verify/batch", headers=h(KEY_A), json={"items": []}), 422, field="items")
    err(
        client.post("/v1/verify/batch", headers=h(KEY_A), json={"items": [one, {"answer": "x"}]}),
        422,
        field="items[1].corpus",
    )
    err(
        client.post("/v1/verify/batch", headers=h(KEY_A), json={"items": [one, one | {"corpus": "beta"}]}),
        404,
        "corpus_not_found",
        "items[1].corpus",
    )
    err(
        client.post(
            "/v1/verify/batch", headers=h(KEY_A), json={"items": [one, one | {"answer": "x" * 3000}]}
        ),
        413,
        "answer_too_large",
        "items[1].answer",
    )


# --- corpora -------------------------------------------------------------------------------------


def test_corpora_listing_is_per_key(client):
    names = lambda key: [c["name"] for c in client.get("/v1/corpora", headers=h(key)).json()["corpora"]]  # noqa: E731
    assert names(KEY_A) == ["sample"]
    assert names(KEY_B) == ["beta"]
    assert {"sample", "beta", "unbuilt"} <= set(names(KEY_ADMIN))
    r = client.get("/v1/corpora/sample", headers=h(KEY_A))
    assert r.status_code == 200
    info = r.json()
    assert info["documents"] == 4 and info["chunks"] > 0 and info["indexed"] is True
    assert (
        info["model"].startswith("all-MiniLM-L6-v2") and info["updated"] and info["version"].startswith("v-")
    )
    err(client.get("/v1/corpora/beta", headers=h(KEY_A)), 404, "corpus_not_found")
    err(client.get("/v1/corpora/nosuch", headers=h(KEY_ADMIN)), 404, "corpus_not_found")
    err(client.get("/v1/corpora"), 401)
    err(client.get("/v1/corpora/bad name!", headers=h(KEY_ADMIN)), 422, field="name")


# --- uploads, jobs, deletes --------------------------------------------------------------------------

NDA = (
    "MUTUAL NONDISCLOSURE AGREEMENT\n\n1. Term. The Receiving Party shall keep Confidential Information "
    "secret for five (5) years after disclosure.\n2. Return. All materials shall be returned within ten (10) "
    "days of a written request.\n"
)


def test_upload_then_verify_cites_it(client, env):
    settings = env[1]
    r = client.post("/v1/verify", headers=h(KEY_A), json={"answer": ANSWER, "corpus": "sample"})
    before = r.json()["versions"]["index"]
    r = client.post(
        "/v1/corpora/sample/documents",
        headers=h(KEY_A),
        files=[("files", ("../../Acme NDA (final).txt", NDA.encode(), "text/plain"))],
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] in ("queued", "running", "succeeded") and job["files"] == ["Acme_NDA_final.txt"]
    # readers keep working while the new version is built, and never see a half-built one
    versions = set()
    while client.get(f"/v1/jobs/{job['id']}", headers=h(KEY_A)).json()["status"] in ("queued", "running"):
        r = client.post("/v1/verify", headers=h(KEY_A), json={"answer": ANSWER, "corpus": "sample"})
        assert r.status_code == 200, r.text
        versions.add(r.json()["versions"]["index"])
    done = wait_job(client, job["id"], KEY_A)
    assert done["status"] == "succeeded", done
    assert done["result"]["added"] == ["Acme_NDA_final.txt"] and done["failures"] == []
    assert done["progress"]["stage"] == "done" and done["progress"]["fraction"] == 1.0
    stored = settings.home / "uploads" / "sample" / "Acme_NDA_final.txt"
    assert stored.read_text() == NDA  # sanitised name, inside the corpus's uploads directory
    assert (
        not list(settings.home.glob("**/*evil*"))
        and not (settings.home.parent / "Acme_NDA_final.txt").exists()
    )
    info = client.get("/v1/corpora/sample", headers=h(KEY_A)).json()
    assert info["documents"] == 5 and info["uploaded_documents"] == 1
    r = client.post(
        "/v1/verify",
        headers=h(KEY_A),
        json={
            "answer": "The Receiving Party shall keep Confidential Information secret for three (3) years.",
            "corpus": "sample",
        },
    )
    s = r.json()["sentences"][0]
    assert s["verdict"] == "contradicted" and s["citations"][0]["doc_id"] == "Acme_NDA_final.txt"
    # during the build readers saw the old version, or the new one once it was swapped in whole
    after = r.json()["versions"]["index"]
    assert after != before and versions <= {before, after}
    # other tenants see neither the job nor the document
    err(client.get(f"/v1/jobs/{job['id']}", headers=h(KEY_B)), 404, "job_not_found")

    # delete it again: a job re-indexes without it
    err(client.delete("/v1/corpora/sample/documents/Acme_NDA_final.txt", headers=h(KEY_B)), 404)
    err(client.delete("/v1/corpora/sample/documents/Acme_NDA_final.txt", headers=h(KEY_RO)), 403, "forbidden")
    r = client.delete("/v1/corpora/sample/documents/Acme_NDA_final.txt", headers=h(KEY_A))
    assert r.status_code == 202, r.text
    assert r.json()["removed"] == ["Acme_NDA_final.txt"]
    done = wait_job(client, r.json()["id"], KEY_A)
    assert done["status"] == "succeeded" and done["result"]["removed"] == ["Acme_NDA_final.txt"]
    assert not stored.exists()
    assert client.get("/v1/corpora/sample", headers=h(KEY_A)).json()["documents"] == 4


def test_delete_errors(client):
    e = err(
        client.delete("/v1/corpora/sample/documents/northwind-msa.md", headers=h(KEY_A)),
        409,
        "document_not_deletable",
        "doc_id",
    )
    assert "definition" in e["message"]
    err(client.delete("/v1/corpora/sample/documents/calmora-otc.json%230", headers=h(KEY_A)), 409)
    err(
        client.delete("/v1/corpora/sample/documents/nothing.pdf", headers=h(KEY_A)), 404, "document_not_found"
    )
    err(client.delete("/v1/corpora/sample/documents/../../corpora/sample.toml", headers=h(KEY_A)), 404)
    err(client.delete("/v1/corpora/beta/documents/refunds.txt", headers=h(KEY_A)), 404, "corpus_not_found")
    err(client.delete("/v1/corpora/nosuch/documents/a.txt", headers=h(KEY_ADMIN)), 404, "corpus_not_found")


def test_upload_errors(client, env):
    settings = env[1]
    url = "/v1/corpora/sample/documents"
    err(
        client.post(url, headers=h(KEY_A), files=[("files", ("memo.pptx", b"PK..", "application/zip"))]),
        415,
        "unsupported_media_type",
        "files",
    )
    err(client.post(url, headers=h(KEY_A), files=[("files", ("noext", b"hello", "text/plain"))]), 415)
    big = b"word " * (settings.max_upload_bytes // 5 + 10)
    err(
        client.post(url, headers=h(KEY_A), files=[("files", ("big.txt", big, "text/plain"))]),
        413,
        "upload_too_large",
        "files",
    )
    err(client.post(url, headers=h(KEY_A), json={"files": []}), 415, "unsupported_media_type")
    err(
        client.post(
            url,
            headers=h(KEY_A),
            data={"domain": "contracts"},
            files=[("other", ("", b"", "application/octet-stream"))],
        ),
        422,
    )
    err(client.post(url, headers=h(KEY_RO), files=[("files", ("a.txt", b"Some text.", "text/plain"))]), 403)
    err(client.post(url, headers=h(KEY_B), files=[("files", ("a.txt", b"Some text.", "text/plain"))]), 404)
    err(
        client.post(
            "/v1/corpora/beta/documents",
            headers=h(KEY_A),
            files=[("files", ("a.txt", b"Some text.", "text/plain"))],
        ),
        404,
        "corpus_not_found",
    )
    err(client.post(url, files=[("files", ("a.txt", b"Some text.", "text/plain"))]), 401)
    # nothing half-written stays behind
    staged = list((settings.home / "uploads").glob(".incoming/*/*/*"))
    assert staged == [] and not (settings.home / "uploads" / "sample" / "big.txt").exists()


def test_upload_unreadable_file_fails_the_job(client):
    r = client.post(
        "/v1/corpora/sample/documents",
        headers=h(KEY_A),
        files=[("files", ("notes.xml", b"<notes><n>hello</n></notes>", "application/xml"))],
    )
    assert r.status_code == 202
    done = wait_job(client, r.json()["id"], KEY_A)
    assert done["status"] == "failed" and done["failures"][0]["file"] == "notes.xml"
    assert "SPL" in done["failures"][0]["error"]


def test_upload_creates_new_corpus(client, env):
    r = client.post(
        "/v1/corpora/alpha-new/documents",
        headers=h(KEY_A),
        data={"domain": "contracts"},
        files=[("files", ("nda.md", NDA.encode(), "text/markdown"))],
    )
    assert r.status_code == 202, r.text
    assert wait_job(client, r.json()["id"], KEY_A)["status"] == "succeeded"
    info = client.get("/v1/corpora/alpha-new", headers=h(KEY_A)).json()
    assert info["documents"] == 1 and info["domain"] in ("contracts", "general")
    assert "alpha-new" not in [
        c["name"] for c in client.get("/v1/corpora", headers=h(KEY_B)).json()["corpora"]
    ]
    err(client.get("/v1/corpora/alpha-new", headers=h(KEY_B)), 404)
    r = client.post(
        "/v1/verify",
        headers=h(KEY_A),
        json={
            "answer": "All materials shall be returned within ten (10) days of a written request.",
            "corpus": "alpha-new",
        },
    )
    assert r.status_code == 200 and r.json()["sentences"][0]["citations"][0]["doc_id"] == "nda.md"
    # B cannot create a corpus it has no write access to
    err(
        client.post(
            "/v1/corpora/beta-two/documents",
            headers=h(KEY_B),
            files=[("files", ("a.txt", b"Some text.", "text/plain"))],
        ),
        404,
    )


def test_jobs_unknown(client):
    err(client.get("/v1/jobs/" + "0" * 32, headers=h(KEY_ADMIN)), 404, "job_not_found")
    err(client.get("/v1/jobs/not-a-job", headers=h(KEY_ADMIN)), 404, "job_not_found")


def test_unknown_route_and_method(client):
    err(client.get("/v1/nothing"), 404, "not_found")
    err(client.put("/v1/verify", headers=h(KEY_A)), 405, "method_not_allowed")


# --- failed checks and judges ------------------------------------------------------------------


def test_verify_reports_failed_checks(client):
    r = client.post("/v1/verify", headers=h(KEY_A), json={"answer": ANSWER, "corpus": "sample"})
    assert r.status_code == 200, r.text
    contradicted, supported = r.json()["sentences"]
    assert contradicted["verdict"] == "contradicted" and "number" in contradicted["failed_checks"]  # 60 vs 90
    assert supported["verdict"] == "supported" and supported["failed_checks"] == []


def test_verify_names_the_judge(client):
    body = {"answer": ANSWER, "corpus": "sample", "judge": "lexical"}
    r = client.post("/v1/verify", headers=h(KEY_A), json=body)
    assert r.status_code == 200, r.text
    assert r.json()["versions"]["verifier"] == "lexical-overlap"
    r = client.post("/v1/verify/batch", headers=h(KEY_A), json={"items": [body]})
    assert r.status_code == 200 and r.json()["results"][0]["versions"]["verifier"] == "lexical-overlap"
    e = err(client.post("/v1/verify", headers=h(KEY_A), json=body | {"judge": "oracle"}), 422, field="judge")
    assert "oracle" in e["message"] and all(name in e["message"] for name in JUDGES), e
    err(
        client.post("/v1/verify/batch", headers=h(KEY_A), json={"items": [body, body | {"judge": "oracle"}]}),
        422,
        field="items[1].judge",
    )


def test_unknown_corpus_maps_by_type(env):
    with pytest.raises(UnknownCorpus) as unknown:
        corpus_config("nosuch", env[1])
    e = from_veracity_error(unknown.value)
    assert (e.status, e.code, e.field) == (404, "corpus_not_found", "corpus")
    e = from_veracity_error(CorpusError("corpus x: unknown setting"))
    assert (e.status, e.code, e.field) == (422, "invalid_corpus", "corpus")
