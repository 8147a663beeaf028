"""Gateway traffic in the audit store, opt-in per API key, so its flagged sentences reach the review queue.

A completion made with a key whose gateway defaults say `store = true` becomes one turn of the audit
run "gateway" (kind 'api'): the answer as the upstream sent it, the question, the corpus, and every
sentence's verdict with its citations, written with the store's `record_verification`. Turns older
than `retention_days` are deleted when the gateway starts and, at most once an hour, when a turn is
written: only the gateway run's turns, never another run's. Reviewers' decisions on deleted
sentences stay in the append-only review trail. Writes go to one background thread, so a stream
never waits on SQLite; a failed write is logged (without text) and the completion is unaffected.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.config import ConfigError
from api.gateway.evidence import Evidence
from pipeline.audit.store import GATEWAY_RUN, AuditStore
from pipeline.schema import VerificationResult

log = logging.getLogger("veracity.gateway")

PRUNE_EVERY_S = 3600.0


class TrafficStore:
    """The audit store at `path`, written for storing keys; expired gateway turns pruned."""

    def __init__(self, path: Path, retention_days: float) -> None:
        self.store = AuditStore(path)
        run = self.store.run(GATEWAY_RUN)
        if run and run["kind"] != "api":  # never prune (or write into) an audit run of that name
            raise ConfigError(
                f"audit store {self.store.db.describe()}: run {GATEWAY_RUN!r} is an audit run, not gateway traffic"
            )
        self.retention = timedelta(days=retention_days)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="veracity-gateway-store")
        self._pruned_at = 0.0
        self.prune()

    def prune(self, now: datetime | None = None) -> int:
        """Delete the gateway turns verified more than `retention_days` before `now`; how many."""
        self._pruned_at = time.monotonic()
        n = self.store.delete_turns(GATEWAY_RUN, (now or datetime.now(UTC)) - self.retention)
        if n:
            log.info("gateway traffic: deleted %d stored completions past retention", n)
        return n

    def submit(
        self, key_id: str, request_id: str, ev: Evidence, result: VerificationResult, verify_ms: float
    ) -> Future:
        """Store one completion in the background; the future gives the turn id (None on failure)."""
        return self._writer.submit(self._write, key_id, request_id, ev, result, verify_ms)

    def _write(
        self, key_id: str, request_id: str, ev: Evidence, result: VerificationResult, verify_ms: float
    ) -> int | None:
        try:
            if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
                self.prune()
            return self.store.record_verification(
                GATEWAY_RUN,
                f"gateway key {key_id}",
                f"gateway-{request_id or uuid.uuid4().hex[:16]}",
                0,
                ev.question,
                result.answer,
                ev.corpus,
                result,
                doc_ids=ev.doc_ids,
                verify_ms=verify_ms,
            )
        except Exception as exc:  # noqa: BLE001 - storing is a side effect; the answer was already sent
            log.error("storing gateway traffic failed: %s", type(exc).__name__)
            return None

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self.store.close()
