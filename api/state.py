"""What the routes share, one per app: settings, API keys, the engine, indexing jobs and metrics.

Models and default indexes load in the lifespan (`load`); what fails is reported by /readyz, which
retries it. The engine is created by a factory so tests can hand in a loaded or a failing one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from api.auth import KeyStore
from api.config import ApiSettings
from api.jobs import JobManager
from api.metrics import Metrics
from pipeline.store.corpora import list_corpora

if TYPE_CHECKING:  # the engine module pulls in numpy and the model code; the factory imports it
    from pipeline.verification.engine import Engine

log = logging.getLogger("veracity.api")

EngineFactory = Callable[[ApiSettings], "Engine"]


def default_engine(settings: ApiSettings) -> Engine:
    from pipeline.verification.engine import Engine

    return Engine(settings)


class AppState:
    """Settings, keys, the engine (None until loaded), jobs, metrics and the verification limits."""

    def __init__(self, settings: ApiSettings, engine: Engine | None, engine_factory: EngineFactory) -> None:
        self.settings = settings
        self.keys = KeyStore(settings.key_policies(), disabled=settings.auth_disabled is True)
        self.engine = engine
        self.engine_factory = engine_factory
        self.engine_error: str | None = None
        self.corpus_problems: dict[str, str] = {}
        self.loaded_corpora: set[str] = set()
        self.metrics = Metrics(lambda: list_corpora(settings))
        self.jobs = JobManager(settings, settings.index_workers, on_finished=self._job_finished)
        self.limiter = anyio.CapacityLimiter(max(1, settings.verify_concurrency))
        self.pending = 0  # verifications running or waiting for a worker
        self._load_lock = threading.Lock()
        self._last_load = 0.0
        self._last_engine_try = 0.0

    def load(self, force: bool = True) -> None:
        """Load the models and open the default corpora; what fails is reported by /readyz (and
        retried by it: corpora at most every 5 s, the models at most every 60 s)."""
        with self._load_lock:
            now = time.monotonic()
            if not force and now - self._last_load < 5:
                return
            self._last_load = now
            if self.engine is None:
                if not force and now - self._last_engine_try < 60:
                    return
                self._last_engine_try = now
                t0 = time.perf_counter()
                try:
                    self.engine = self.engine_factory(self.settings)
                    self.engine_error = None
                    log.info("models loaded in %.1f s", time.perf_counter() - t0)
                except Exception as exc:  # noqa: BLE001 - reported by /readyz and as 503
                    self.engine_error = f"{type(exc).__name__}: {exc}"
                    log.exception("cannot load the verification models")
                    return
                self._warm_up(self.engine)
            for name in self.settings.serve_corpora:
                if name in self.loaded_corpora:
                    continue
                try:
                    retriever, _ = self.engine.retriever(name)
                    _ = retriever.index.bm25  # loaded lazily otherwise: on the first request
                    self.loaded_corpora.add(name)
                    self.corpus_problems.pop(name, None)
                    log.info("corpus %s loaded (%s)", name, retriever.index.manifest.version)
                except Exception as exc:  # noqa: BLE001
                    self.corpus_problems[name] = str(exc)
                    log.error("corpus %s not loaded: %s", name, exc)

    @staticmethod
    def _warm_up(engine: Engine) -> None:
        try:
            engine.verify(
                "The notice period is ninety days.",
                contexts=["The notice period is ninety (90) days."],
                timeout_s=30,
            )
        except Exception:  # noqa: BLE001 - a warm-up failure shows up on the first real request
            log.exception("warm-up verification failed")

    def ready(self) -> bool:
        return self.engine is not None and all(n in self.loaded_corpora for n in self.settings.serve_corpora)

    def _job_finished(self, job: dict) -> None:
        self.metrics.jobs.labels(job["kind"], job["status"]).inc()
        if self.engine is not None and job["status"] == "succeeded":
            try:  # open the new version now rather than on the next request
                retriever, _ = self.engine.retriever(job["corpus"])
                _ = retriever.index.bm25
            except Exception:  # noqa: BLE001
                log.exception("cannot open corpus %s after job %s", job["corpus"], job["id"])
