"""Failure behaviour: models or index unavailable (503), verifier errors and timeouts (`unchecked`, never
`supported`), concurrency without a global lock, and the auth configuration rules.

These apps share the process's loaded models (Engine objects are cheap once get_embedder and the
verifier are cached), so the extra TestClients here cost no model loads.
"""

from __future__ import annotations

import threading
import time

import pytest
from api_support import ANSWER, KEY_A, KEY_ADMIN, h, make_settings
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ConfigError


class BrokenScorer:
    name = "broken"

    def score(self, pairs):
        raise RuntimeError("verifier exploded")


class SlowEmbedder:
    """The real embedder after a sleep (outside its lock): makes requests slow but not CPU-bound."""

    def __init__(self, inner, delay: float) -> None:
        self.inner, self.delay = inner, delay
        self.dim, self.id = inner.dim, inner.id

    def encode(self, texts, batch_size: int = 64, progress: bool = False):
        time.sleep(self.delay)
        return self.inner.encode(texts, batch_size=batch_size)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("failures")


@pytest.fixture(scope="module")
def real_engine(home):
    from pipeline.verification.engine import Engine

    return Engine(make_settings(home / "engine"))


def _client(settings, **kw):
    # a loopback Host: with authentication off nothing else is served
    return TestClient(create_app(settings, **kw), base_url="http://127.0.0.1")


def test_models_unavailable(home):
    def factory(settings):
        raise RuntimeError("model file missing")

    with _client(make_settings(home / "nomodel"), engine_factory=factory) as client:
        assert client.get("/healthz").status_code == 200
        r = client.get("/readyz", headers=h(KEY_ADMIN))
        assert r.status_code == 503 and r.json()["models"] is False
        assert "model file missing" in r.json()["problems"][0]
        # without a key that may read everything, no details
        assert client.get("/readyz").json()["problems"] == ["details need a key that may read every corpus"]
        r = client.post("/v1/verify", headers=h(KEY_A), json={"answer": ANSWER, "corpus": "sample"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "models_unavailable"


def test_default_index_missing_not_ready(home, real_engine):
    from pipeline.verification.engine import Engine

    settings = make_settings(home / "unready", serve_corpora=["sample", "unbuilt"])
    engine = Engine(settings, scorer=real_engine.scorer, embedder=real_engine.embedder)
    with _client(settings, engine=engine) as client:
        r = client.get("/readyz", headers=h(KEY_ADMIN))
        assert r.status_code == 503
        assert r.json()["corpora_loaded"] == 1 and r.json()["corpora_expected"] == 2
        assert any("unbuilt" in p for p in r.json()["problems"])


def test_verifier_error_is_unchecked_never_supported(home, real_engine):
    from pipeline.verification.engine import Engine

    settings = make_settings(home / "broken")
    engine = Engine(settings, scorer=BrokenScorer(), embedder=real_engine.embedder)
    with _client(settings, engine=engine) as client:
        r = client.post(
            "/v1/verify",
            headers=h(KEY_A),
            json={
                "answer": ANSWER
                + " Customer shall pay each undisputed invoice within thirty (30) days of receipt.",
                "corpus": "sample",
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert all(s["verdict"] == "unchecked" for s in body["sentences"]), body["sentences"]
        assert "verifier model error" in body["sentences"][0]["reason"]
        assert body["summary"]["flagged"] is True and body["summary"]["counts"]["supported"] == 0


def test_engine_crash_is_503(home, real_engine):
    class Crashing:
        embedder = real_engine.embedder

        def retriever(self, name):
            return real_engine.retriever(name)

        def verify(self, *a, **kw):
            raise RuntimeError("segfault in the index")

    with _client(make_settings(home / "crash"), engine=Crashing()) as client:
        r = client.post("/v1/verify", headers=h(KEY_A), json={"answer": ANSWER, "corpus": "sample"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "engine_error"
        r = client.post(
            "/v1/verify/batch", headers=h(KEY_A), json={"items": [{"answer": ANSWER, "corpus": "sample"}]}
        )
        assert r.status_code == 503 and r.json()["error"]["code"] == "engine_error"


def test_timeout_makes_sentences_unchecked(home, real_engine):
    from pipeline.verification.engine import Engine

    settings = make_settings(home / "timeout", request_timeout_s=0.6)
    engine = Engine(settings, scorer=real_engine.scorer, embedder=SlowEmbedder(real_engine.embedder, 1.0))
    with _client(settings, engine=engine) as client:
        t0 = time.perf_counter()
        r = client.post("/v1/verify", headers=h(KEY_A), json={"answer": ANSWER, "corpus": "sample"})
        assert r.status_code == 200, r.text
        assert time.perf_counter() - t0 < 10
        sentences = r.json()["sentences"]
        assert all(s["verdict"] == "unchecked" for s in sentences)
        assert "timed out" in sentences[0]["reason"]


def test_concurrent_requests_overlap(home, real_engine):
    """Two slow verifications run at the same time, and /healthz answers meanwhile: no global lock."""
    from pipeline.verification.engine import Engine

    delay = 1.5
    settings = make_settings(home / "concurrent")
    engine = Engine(settings, scorer=real_engine.scorer, embedder=SlowEmbedder(real_engine.embedder, delay))
    with _client(settings, engine=engine) as client:
        results: list[int] = []

        def call():
            r = client.post("/v1/verify", headers=h(KEY_A), json={"answer": ANSWER, "corpus": "sample"})
            results.append(r.status_code)

        threads = [threading.Thread(target=call) for _ in range(2)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(0.3)
        th = time.perf_counter()
        assert client.get("/healthz").status_code == 200
        health_s = time.perf_counter() - th
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        assert results == [200, 200]
        assert health_s < delay / 2, health_s
        assert elapsed < 2 * delay - 0.2, elapsed  # serialised would take at least 2 x delay


def test_auth_disabled_app_and_config_errors(home, real_engine):
    from pipeline.verification.engine import Engine

    settings = make_settings(home / "noauth", api_keys={}, auth_disabled=True)
    engine = Engine(settings, scorer=real_engine.scorer, embedder=real_engine.embedder)
    with _client(settings, engine=engine) as client:
        assert {c["name"] for c in client.get("/v1/corpora").json()["corpora"]} >= {"sample", "beta"}
        assert client.get("/metrics").status_code == 200
    with pytest.raises(ConfigError, match="no API keys are configured"):
        create_app(make_settings(home / "nokeys", api_keys={}, auth_disabled=False), engine=engine)
    with pytest.raises(ConfigError, match="shorter than 8"):
        create_app(make_settings(home / "shortkey", api_keys={"abc": {"read": ["*"]}}), engine=engine)
