"""Shared set-up of the API and gateway tests (holds no tests): keys, a template home, a real server.

A VERACITY home with the sample corpus and a second small corpus `beta` is built once per process
and copied for each test module; models load once per process (get_embedder and the verifier are
cached), so each module's Engine is cheap.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path

from api.config import ApiSettings, KeyPolicy
from pipeline.settings import PROJECT_ROOT

KEY_A = "key-alpha-0123456789"  # reads and writes sample, may create alpha-new
KEY_B = "key-beta-0123456789"  # reads and writes beta only
KEY_RO = "key-readonly-012345"  # reads sample only
KEY_ADMIN = "key-admin-0123456789"  # everything
KEYS = {
    KEY_A: KeyPolicy(name="tenant-a", read=["sample"], write=["sample", "alpha-new"]),
    KEY_B: KeyPolicy(name="tenant-b", read=["beta"], write=["beta"]),
    KEY_RO: KeyPolicy(name="reader", read=["sample"]),
    KEY_ADMIN: KeyPolicy(name="admin", read=["*"], write=["*"]),
}

BETA_DOC = """BETA REFUND POLICY

1. Refunds. Beta Outfitters refunds unworn items returned within fourteen (14) days of delivery.
2. Shipping. Return shipping costs are paid by the customer unless the item is defective.
"""

# Answers used across modules: the sample corpus's Northwind MSA says 90 days' notice and 30-day invoices.
ANSWER = (
    "Customer may terminate for convenience with sixty (60) days' notice. "
    "Customer shall pay each undisputed invoice within thirty (30) days of receipt."
)


def h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


@lru_cache(maxsize=1)
def template_home() -> Path:
    """corpora/ with sample (copied from the project) and beta, both indexed; built once."""
    from pipeline.settings import Settings
    from pipeline.store.builder import index_corpus
    from pipeline.store.corpora import corpus_config

    home = Path(tempfile.mkdtemp(prefix="veracity-api-home-"))
    atexit.register(shutil.rmtree, home, True)
    corpora = home / "corpora"
    corpora.mkdir()
    shutil.copy(PROJECT_ROOT / "corpora" / "sample.toml", corpora / "sample.toml")
    shutil.copytree(PROJECT_ROOT / "corpora" / "sample", corpora / "sample")
    (corpora / "beta").mkdir()
    (corpora / "beta" / "refunds.txt").write_text(BETA_DOC)
    (corpora / "beta.toml").write_text('name = "beta"\ndomain = "retail"\npaths = ["beta"]\n')
    # defined but never indexed: verifying against it is an index failure (503)
    (corpora / "unbuilt.toml").write_text('name = "unbuilt"\ndomain = "general"\npaths = ["beta"]\n')
    settings = Settings(home=home, corpora_dir=corpora)
    for name in ("sample", "beta"):
        index_corpus(corpus_config(name, settings), settings)
    return home


def make_settings(dest: Path, **overrides) -> ApiSettings:
    """A private copy of the template home, and API settings for it (auth on, small limits)."""
    shutil.copytree(template_home(), dest, symlinks=True)
    values = dict(
        home=dest,
        corpora_dir=dest / "corpora",
        api_keys=KEYS,
        auth_disabled=False,
        max_answer_chars=2_000,
        max_batch=4,
        max_upload_bytes=200_000,
        max_body_bytes=300_000,
        max_contexts=4,
        serve_corpora=["sample"],
        request_timeout_s=60,
    )
    values.update(overrides)
    return ApiSettings(**values)


def make_pdf(lines: list[str]) -> bytes:
    """A small real one-page PDF (Helvetica text) that pypdf can extract."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    text = " T* ".join(f"({esc(line)}) Tj" for line in lines)
    stream = f"BT /F1 11 Tf 14 TL 72 740 Td {text} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedServer:
    """A real uvicorn serving `app` on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, app, settings=None) -> None:
        """`settings` (ApiSettings): run with the uvicorn options `veracity serve` would use."""
        import uvicorn

        from api.server import uvicorn_options

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        options = {"log_config": None, "access_log": False}
        if settings is not None:
            options = uvicorn_options(settings) | {"timeout_graceful_shutdown": 5}
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="on", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def wait_job(client, job_id: str, key: str, timeout: float = 120.0) -> dict:
    """Poll GET /v1/jobs/{id} through a TestClient until the job is finished."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/v1/jobs/{job_id}", headers=h(key))
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert time.monotonic() < deadline, f"job still {job['status']}"
        time.sleep(0.1)
