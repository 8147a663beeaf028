"""Prometheus metrics, in a registry per app (several apps can live in one test process)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("veracity.api")

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0)


class _IndexCollector(Collector):
    """Index sizes, read from the live manifests at scrape time."""

    def __init__(self, corpora: Callable[[], Iterable[dict]]) -> None:
        self._corpora = corpora

    def collect(self):
        docs = GaugeMetricFamily("veracity_index_documents", "Documents in the live index", labels=["corpus"])
        chunks = GaugeMetricFamily("veracity_index_chunks", "Chunks in the live index", labels=["corpus"])
        try:
            rows = list(self._corpora())
        except Exception:  # noqa: BLE001 - a scrape must not fail because one manifest is unreadable
            log.exception("index metrics failed")
            rows = []
        for r in rows:
            if r.get("indexed"):
                docs.add_metric([r["name"]], float(r.get("documents", 0)))
                chunks.add_metric([r["name"]], float(r.get("chunks", 0)))
        yield docs
        yield chunks


class Metrics:
    def __init__(self, corpora: Callable[[], Iterable[dict]]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "veracity_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "veracity_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.verdicts = Counter(
            "veracity_verdicts", "Sentence verdicts returned", ["verdict"], registry=self.registry
        )
        self.verify_inflight = Gauge(
            "veracity_verify_inflight", "Verifications running or waiting", registry=self.registry
        )
        self.jobs = Counter(
            "veracity_index_jobs",
            "Indexing jobs finished by kind and status",
            ["kind", "status"],
            registry=self.registry,
        )
        self.registry.register(_IndexCollector(corpora))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def count_verdicts(self, counts: dict[str, int]) -> None:
        for verdict, n in counts.items():
            if n:
                self.verdicts.labels(verdict).inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)
