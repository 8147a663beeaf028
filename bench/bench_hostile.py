"""Bounded hostile-input probe of the REST API and the review UI (issue 14).

Runs a real server on loopback (the test home: corpora `sample` and `beta`), throws malformed,
oversized, concurrent and adversarial requests at every route, then checks that the server is still
up, that no request got a 5xx, and that every index loads with exactly the documents it should have
(its defined documents plus the uploads its jobs accepted, less the ones deleted).

    python bench/bench_hostile.py [--rounds 2]

Prints one JSON object: requests, requests per kind, 5xx (with the first few), lost and unexpected
documents per corpus; exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from api_support import KEY_A, KEY_ADMIN, KEY_B, KEY_RO, ThreadedServer, h, make_pdf, make_settings  # noqa: E402

from pipeline.models.offline import stay_offline  # noqa: E402

ANSWER = "Customer may terminate for convenience with sixty (60) days' notice."


class Probe:
    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=120)
        self.kinds: Counter[str] = Counter()
        self.server_errors: list[str] = []
        self.jobs: list[tuple[str, str]] = []  # (job id, key)

    def send(self, kind: str, method: str, path: str, **kw) -> httpx.Response | None:
        self.kinds[kind] += 1
        try:
            r = self.client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.server_errors.append(f"{kind} {method} {path[:80]}: no response ({type(exc).__name__})")
            return None
        if r.status_code >= 500:
            self.server_errors.append(f"{kind} {method} {path[:80]}: {r.status_code} {r.text[:200]}")
        if r.status_code == 202 and path.endswith("/documents"):
            self.jobs.append((r.json()["id"], kw.get("headers", {}).get("X-API-Key", KEY_ADMIN)))
        return r

    def wait_jobs(self) -> list[dict]:
        done = []
        for job_id, key in self.jobs:
            for _ in range(1200):
                r = self.client.get(f"/v1/jobs/{job_id}", headers=h(key))
                if r.json().get("status") in ("succeeded", "failed"):
                    done.append(r.json())
                    break
                time.sleep(0.1)
        self.jobs = []
        return done


def verify_attacks(p: Probe) -> None:
    json_h = h(KEY_A) | {"content-type": "application/json"}
    for body in (b"{", b"[]", b"null", b'{"answer": 5, "corpus": "sample"}', b"\xff\xfe", b'{"answer": "x"}'):
        p.send("malformed_json", "POST", "/v1/verify", headers=json_h, content=body)
    for field in ("answer", "question"):
        body = {"answer": "The fee is ten dollars.", "corpus": "sample", field: "bad \ud800 text"}
        p.send("lone_surrogates", "POST", "/v1/verify", headers=json_h, content=json.dumps(body).encode())
    p.send(
        "lone_surrogates",
        "POST",
        "/v1/verify",
        headers=json_h,
        content=b'{"answer": "Fee.", "contexts": ["\\udfff"]}',
    )
    p.send(
        "oversized", "POST", "/v1/verify", headers=h(KEY_A), json={"answer": "A. " * 5000, "corpus": "sample"}
    )
    p.send("oversized", "POST", "/v1/verify", headers=json_h, content=b"{" + b" " * 400_000 + b"}")
    p.send(
        "oversized",
        "POST",
        "/v1/verify/batch",
        headers=h(KEY_A),
        json={"items": [{"answer": ANSWER, "corpus": "sample"}] * 50},
    )
    p.send(
        "oversized",
        "POST",
        "/v1/verify",
        headers=h(KEY_A),
        json={"answer": ANSWER, "contexts": ["x" * 10] * 100},
    )
    for corpus in ("beta", "../sample", "sample\x00", "a" * 200, "unbuilt"):
        p.send(
            "tenant_and_names",
            "POST",
            "/v1/verify",
            headers=h(KEY_A),
            json={"answer": ANSWER, "corpus": corpus},
        )
    p.send("no_key", "POST", "/v1/verify", json={"answer": ANSWER, "corpus": "sample"})
    p.send(
        "adversarial_text",
        "POST",
        "/v1/verify",
        headers=h(KEY_A),
        json={"answer": "<script>alert(1)</script> 合同 ‮ \u200b" * 20, "corpus": "sample"},
    )
    p.send(
        "verify_ok",
        "POST",
        "/v1/verify/batch",
        headers=h(KEY_A),
        json={"items": [{"answer": ANSWER * 8, "corpus": "sample"}] * 4},
    )


def upload_attacks(p: Probe, tag: str) -> None:
    def up(kind: str, key: str, corpus: str, files: list, **kw) -> None:
        p.send(kind, "POST", f"/v1/corpora/{corpus}/documents", headers=h(key), files=files, **kw)

    for name in (
        "合同.txt",
        "price€.txt",
        "договор.txt",
        "café.txt",
        "../../etc/passwd.txt",
        ".hidden.txt",
        "CON.txt",
        "a\x00b.txt",
        "x" * 400 + ".txt",
        "rtl\u202etxt.md",
    ):
        up(
            "unicode_and_odd_names",
            KEY_A,
            "sample",
            [("files", (f"{tag}{name}", f"Text of {name}.".encode(), "text/plain"))],
        )
    up("colliding_names", KEY_A, "sample", [("files", (f"{tag}a b.txt", b"First.", "text/plain"))])
    up("colliding_names", KEY_A, "sample", [("files", (f"{tag}a_b.txt", b"Second.", "text/plain"))])
    up("bad_files", KEY_A, "sample", [("files", ("x.docx", b"PK", "application/octet-stream"))])
    up("bad_files", KEY_A, "sample", [("files", ("broken.pdf", b"%PDF-1.4 garbage", "application/pdf"))])
    up("bad_files", KEY_A, "sample", [("files", ("empty.txt", b"", "text/plain"))])
    up("oversized", KEY_A, "sample", [("files", ("big.txt", b"x" * 300_000, "text/plain"))])
    up("tenant_and_names", KEY_B, "sample", [("files", ("t.txt", b"Tenant B text.", "text/plain"))])
    up("tenant_and_names", KEY_RO, "sample", [("files", ("t.txt", b"Read only.", "text/plain"))])
    for content_type, body in (("multipart/form-data; boundary=zz", b"--zz\r\ngarbage"), ("text/plain", b"hello")):
        p.send(
            "bad_multipart",
            "POST",
            "/v1/corpora/sample/documents",
            headers=h(KEY_A) | {"content-type": content_type},
            content=body,
        )
    up(
        "pdf",
        KEY_A,
        "sample",
        [("files", (f"{tag}fee.pdf", make_pdf(["The fee is ten dollars."]), "application/pdf"))],
    )
    # concurrent uploads to two tenants while verifications run
    with ThreadPoolExecutor(8) as pool:
        for i in range(6):
            pool.submit(
                up,
                "concurrent",
                KEY_B,
                "beta",
                [("files", (f"{tag}c{i}.txt", f"Refund note {i}.".encode(), "text/plain"))],
            )
            pool.submit(
                p.send,
                "concurrent",
                "POST",
                "/v1/verify",
                headers=h(KEY_A),
                json={"answer": ANSWER, "corpus": "sample"},
            )


def other_attacks(p: Probe) -> None:
    for doc in ("../../corpora/sample.toml", "northwind-msa.md", "nope.txt", "%2e%2e%2fx", "a" * 2000):
        p.send("deletes", "DELETE", f"/v1/corpora/sample/documents/{doc}", headers=h(KEY_A))
    for job in ("x", "../../etc/passwd", "0" * 32, "g" * 32):
        p.send("jobs", "GET", f"/v1/jobs/{job}", headers=h(KEY_A))
    for path in (
        "/v1/corpora",
        "/v1/corpora/sample",
        "/v1/corpora/beta",
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/openapi.json",
        "/nope",
        "/v1/verify",
    ):
        p.send("routes", "GET", path, headers=h(KEY_A))
    for path in (
        "/ui/items/99999999999999999999999",
        "/ui/items/-1",
        "/ui/docs/sample/..%2f..%2fx",
        "/ui/login?next=//evil.example",
        "/ui/static/..%2Fsession.py",
        "/ui/export.csv",
    ):
        p.send("ui", "GET", path)
    p.send("ui", "POST", "/ui/login", data={"name": "x", "password": "y", "csrf": "z"})
    p.send("ui", "POST", "/ui/logout", data={"csrf": "z"})


def expected_docs(settings, corpus: str) -> set[str]:
    from pipeline.store import uploads as docs

    return docs.defined_files(corpus, settings) | set(docs.uploaded_files(corpus, settings))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    stay_offline()
    from api.app import create_app
    from pipeline.store.corpora import open_index

    settings = make_settings(Path(tempfile.mkdtemp(prefix="veracity-hostile-")) / "home")
    t0 = time.perf_counter()
    with ThreadedServer(create_app(settings), settings) as srv:
        p = Probe(srv.url)
        for r in range(args.rounds):
            verify_attacks(p)
            upload_attacks(p, f"r{r}-")
            other_attacks(p)
        jobs = p.wait_jobs()
        up = p.client.get("/healthz").status_code == 200
    lost, unexpected = {}, {}
    for corpus in ("sample", "beta"):
        indexed = {d.rsplit("#", 1)[0] for d in open_index(corpus, settings).manifest.documents}
        want = expected_docs(settings, corpus)
        lost[corpus] = sorted(want - indexed)
        unexpected[corpus] = sorted(indexed - want)
    report = {
        "requests": sum(p.kinds.values()),
        "kinds": dict(sorted(p.kinds.items())),
        "server_errors_5xx": len(p.server_errors),
        "first_5xx": p.server_errors[:5],
        "jobs": dict(Counter(j["status"] for j in jobs)),
        "server_up": up,
        "lost_documents": lost,
        "unexpected_documents": unexpected,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))
    ok = up and not p.server_errors and not any(lost.values()) and not any(unexpected.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
