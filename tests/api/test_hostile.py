"""Hostile and careless use of the API (issue 14): each defect found by probing has a test here."""

from __future__ import annotations

import time

import pytest
from api_support import ANSWER, KEY_A, h, make_settings, wait_job
from fastapi.testclient import TestClient

from api.app import create_app
from pipeline.store import uploads as docs


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("hostile") / "home")
    with TestClient(create_app(settings)) as client:
        yield client, settings


def upload(client, name: str, text: str, corpus: str = "sample") -> dict:
    r = client.post(
        f"/v1/corpora/{corpus}/documents",
        headers=h(KEY_A),
        files=[("files", (name, text.encode(), "text/plain"))],
    )
    assert r.status_code == 202, r.text
    return wait_job(client, r.json()["id"], KEY_A)


def test_non_latin1_file_names_are_kept(env):
    client, settings = env
    for name, stored in (
        ("合同.txt", "合同.txt"),
        ("договор.txt", "договор.txt"),
        ("café.txt", "café.txt"),
        ("price€.txt", "price.txt"),
    ):
        job = upload(client, name, f"The contract {stored} sets a fee of ten dollars.")
        assert job["status"] == "succeeded" and job["files"] == [stored], job
    assert {"合同.txt", "договор.txt", "café.txt"} <= set(docs.uploaded_files("sample", settings))
    # RFC 5987 names too
    body = (
        b"--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename*=UTF-8''%E5%90%88%E5%90%8C2.txt"
        b"\r\nContent-Type: text/plain\r\n\r\nA second contract.\r\n--XyZ--\r\n"
    )
    r = client.post(
        "/v1/corpora/sample/documents",
        headers=h(KEY_A) | {"content-type": "multipart/form-data; boundary=XyZ"},
        content=body,
    )
    assert r.status_code == 202, r.text
    assert wait_job(client, r.json()["id"], KEY_A)["files"] == ["合同2.txt"]


def test_names_that_clean_alike_never_overwrite(env):
    client, settings = env
    first = upload(client, "a b.txt", "First document: the fee is one dollar.")
    assert first["files"] == ["a_b.txt"] and first["renamed"] == {}
    second = upload(client, "a_b.txt", "Second document: the fee is two dollars.")
    assert second["status"] == "succeeded" and second["files"] == ["a_b-2.txt"]
    assert second["renamed"] == {"a_b.txt": "a_b-2.txt"}
    up = docs.uploads_dir(settings, "sample")
    assert "one dollar" in (up / "a_b.txt").read_text() and "two dollars" in (up / "a_b-2.txt").read_text()
    # the same client name again is an update of its own document, not a third one
    again = upload(client, "a b.txt", "First document, revised: the fee is three dollars.")
    assert again["files"] == ["a_b.txt"] and again["renamed"] == {}
    assert "three dollars" in (up / "a_b.txt").read_text() and "two dollars" in (up / "a_b-2.txt").read_text()


def test_lone_surrogates_are_a_422_naming_the_field(env):
    client, _ = env
    cases = (
        ('{"answer": "The fee is \\ud800 ten dollars.", "corpus": "sample"}', "answer"),
        ('{"answer": "The fee is ten dollars.", "question": "\\udfff?", "corpus": "sample"}', "question"),
        ('{"answer": "The fee is ten dollars.", "contexts": ["ok", "bad \\ud800"]}', "contexts"),
        ('{"answer": "The fee is ten dollars.", "corpus": "sample", "doc_ids": ["\\ud800"]}', "doc_ids"),
    )
    for body, field in cases:
        r = client.post("/v1/verify", headers=h(KEY_A) | {"content-type": "application/json"}, content=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == field and "surrogate" in r.json()["error"]["message"]
    batch = '{"items": [{"answer": "Fine.", "corpus": "sample"}, {"answer": "\\ud800", "corpus": "sample"}]}'
    r = client.post(
        "/v1/verify/batch", headers=h(KEY_A) | {"content-type": "application/json"}, content=batch
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "items[1].answer", r.text


def test_engine_failure_does_not_leak_its_text(tmp_path):
    class Broken:
        def verify(self, *a, **k):
            raise OSError("[Errno 2] No such file: '/srv/secret/home/indexes/x.npy'")

    settings = make_settings(tmp_path / "home", serve_corpora=[])
    with TestClient(create_app(settings, engine=Broken())) as client:
        r = client.post("/v1/verify", headers=h(KEY_A), json={"answer": "A fee.", "contexts": ["A fee."]})
    assert r.status_code == 503 and r.json()["error"]["code"] == "engine_error"
    assert "/srv" not in r.text and "Errno" not in r.text


def test_auth_off_serves_only_loopback_hosts_and_same_origin(tmp_path):
    settings = make_settings(tmp_path / "home", api_keys={}, auth_disabled=True, serve_corpora=[])
    app = create_app(settings, engine_factory=lambda s: None)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/v1/corpora").status_code == 200
        assert client.get("/v1/corpora", headers={"host": "localhost:8000"}).status_code == 200
        assert client.get("/v1/corpora", headers={"host": "[::1]:8000"}).status_code == 200
        same = {"origin": "http://127.0.0.1:8000"}
        assert client.get("/v1/corpora", headers=same).status_code == 200
        # DNS rebinding: the attacker's name resolves to 127.0.0.1, the Host header still says it
        r = client.get("/v1/corpora", headers={"host": "evil.example:8000"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden_origin"
        # a page on another site posting a simple multipart form
        for origin in ("http://evil.example", "null", "http://127.0.0.1:9999"):
            r = client.post(
                "/v1/corpora/planted/documents",
                headers={"origin": origin},
                files=[("files", ("x.txt", b"Planted text.", "text/plain"))],
            )
            assert r.status_code == 403, origin
        assert not (settings.home / "uploads" / "planted").exists()
    keyed = create_app(make_settings(tmp_path / "keyed", serve_corpora=[]), engine_factory=lambda s: None)
    with TestClient(keyed) as client:  # with keys, the key is the protection; any Host is served
        assert client.get("/v1/corpora", headers=h(KEY_A) | {"host": "api.example.com"}).status_code == 200


def test_batch_items_each_get_their_own_time_budget(env, tmp_path):
    client, _ = env
    real = client.app.state.veracity.engine

    class Slow:  # every item takes 0.8 s; a SLOW item uses up its whole budget before scoring
        def __getattr__(self, name):
            return getattr(real, name)

        def verify(self, answer, **kw):
            time.sleep(0.8)
            if answer.startswith("SLOW"):
                kw["timeout_s"] = 1e-6
            return real.verify(answer, **kw)

    settings = make_settings(tmp_path / "home", verify_concurrency=1, request_timeout_s=1.5, serve_corpora=[])
    items = [{"answer": ANSWER, "corpus": "sample"} for _ in range(3)]
    items.insert(1, {"answer": "SLOW. " + ANSWER, "corpus": "sample"})
    with TestClient(create_app(settings, engine=Slow())) as slow_client:
        r = slow_client.post("/v1/verify/batch", headers=h(KEY_A), json={"items": items})
    assert r.status_code == 200, r.text  # serialised, the last item waits 2.4 s > 1.5 s
    results = r.json()["results"]
    assert len(results) == 4
    assert {s["verdict"] for s in results[1]["sentences"]} == {"not_a_claim", "unchecked"}
    for i in (0, 2, 3):
        assert "unchecked" not in {s["verdict"] for s in results[i]["sentences"]}, results[i]


def test_one_corpus_slow_job_does_not_hold_up_another(tmp_path, monkeypatch):
    import threading

    from api.config import ApiSettings
    from api.jobs import JobManager

    release = threading.Event()
    real_accept = docs.accept_staged

    def accept(corpus, settings, staged, domain=None):
        if corpus == "slow":
            release.wait(30)
        return real_accept(corpus, settings, staged, domain)

    monkeypatch.setattr(docs, "accept_staged", accept)
    monkeypatch.setattr(docs, "reindex", lambda *a, **k: type("R", (), {"failures": [], "to_dict": dict})())
    settings = ApiSettings(home=tmp_path / "home", corpora_dir=tmp_path / "corpora")
    jobs = JobManager(settings, settings.index_workers)

    def stage(corpus: str, name: str):
        batch = docs.new_batch_id()
        w = docs.UploadWriter(settings, corpus, name, 10_000, batch)
        w.write(b"One line of text.")
        return [w.commit()], batch

    try:
        slow = jobs.submit_upload("slow", *stage("slow", "big.txt"))
        slow2 = jobs.submit_upload("slow", *stage("slow", "big2.txt"))
        quick = jobs.submit_upload("quick", *stage("quick", "one.txt"))
        deadline = time.monotonic() + 20
        while jobs.get(quick["id"])["status"] != "succeeded":
            assert time.monotonic() < deadline, "the quick corpus waited for the slow one"
            time.sleep(0.05)
        assert jobs.get(slow["id"])["status"] == "running" and jobs.get(slow2["id"])["status"] == "queued"
        release.set()
        while jobs.get(slow2["id"])["status"] != "succeeded":
            assert time.monotonic() < deadline + 20
            time.sleep(0.05)
    finally:
        release.set()
        jobs.shutdown()


def test_pdf_pages_and_text_are_capped_per_file(tmp_path):
    import io

    from api_support import make_pdf
    from pypdf import PdfReader, PdfWriter

    page = PdfReader(io.BytesIO(make_pdf(["The fee is ten dollars per page."]))).pages[0]
    writer = PdfWriter()
    for _ in range(60):
        writer.add_page(page)
    buf = io.BytesIO()
    writer.write(buf)
    settings = make_settings(tmp_path / "home", serve_corpora=[], max_file_pages=50, max_file_chars=1_000)
    with TestClient(create_app(settings, engine_factory=lambda s: None)) as client:
        r = client.post(
            "/v1/corpora/sample/documents",
            headers=h(KEY_A),
            files=[
                ("files", ("repeat.pdf", buf.getvalue(), "application/pdf")),
                ("files", ("long.txt", b"Word. " * 400, "text/plain")),
                ("files", ("fine.txt", b"A short and fine document.", "text/plain")),
            ],
        )
        job = wait_job(client, r.json()["id"], KEY_A)
    errors = {f["file"]: f["error"] for f in job["failures"]}
    assert "60 pages; the limit is 50" in errors["repeat.pdf"], errors
    assert "2400 characters of text; the limit is 1000" in errors["long.txt"], errors
    assert job["files"] == ["fine.txt"] and job["status"] == "succeeded"


def test_start_up_rolls_back_an_interrupted_upload(tmp_path):
    import json
    import subprocess
    import sys

    settings = make_settings(tmp_path / "home", serve_corpora=[])
    up = docs.uploads_dir(settings, "sample")
    up.mkdir(parents=True)
    (up / "orphan.txt").write_text("An orphan: the fee is one million dollars.")
    staged = settings.home / "uploads" / docs.INCOMING / "sample" / ("0" * 32)
    staged.mkdir(parents=True)
    (staged / "half.txt").write_text("Half written")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    job_id = "ab" * 16
    (settings.home / "jobs").mkdir()
    (settings.home / "jobs" / f"{job_id}.json").write_text(
        json.dumps(
            {
                "id": job_id,
                "kind": "upload",
                "corpus": "sample",
                "status": "running",
                "files": ["orphan.txt"],
                "removed": [],
                "progress": {},
                "failures": [],
                "error": None,
                "result": None,
                "created": "",
                "started": "",
                "finished": None,
                "pid": int(dead.stdout),
            }
        )
    )
    with TestClient(create_app(settings, engine_factory=lambda s: None)) as client:
        job = client.get(f"/v1/jobs/{job_id}", headers=h(KEY_A)).json()
        assert job["status"] == "failed" and "rolled back: removed orphan.txt" in job["error"], job
        assert not (up / "orphan.txt").exists() and not staged.exists()
        later = upload(client, "unrelated.txt", "An unrelated document.")
    assert later["result"]["added"] == ["unrelated.txt"], later["result"]


def test_docs_are_served_offline(env):
    client, _ = env
    r = client.get("/docs")
    assert r.status_code == 200 and "/v1/verify/batch" in r.text and "VerifyRequest" in r.text
    assert "<script" not in r.text and "cdn" not in r.text.lower() and "https://" not in r.text
    assert client.get("/redoc").status_code == 404


def test_overlong_document_id_is_not_found(env):
    client, _ = env
    r = client.delete("/v1/corpora/sample/documents/" + "a" * 2000, headers=h(KEY_A))
    assert r.status_code == 404 and r.json()["error"]["code"] == "document_not_found", r.text
