"""Run an audit as Ray work: `veracity audit NAME TRANSCRIPTS... --ray [ADDRESS]`.

The driver (this process) reads the transcripts, records conversations and input problems and skips
finished turns exactly as the local runner does (`AuditRunner.tasks`). It cuts the turns into shards
of a few consecutive turns and sends them to `workers` Ray actors, each a worker process that loads
one Engine when it starts and verifies shard after shard. Workers only verify and return their
results; the driver stays the store's one writer and records each result under its key (run,
conversation, turn), where a turn already stored is never written again.

A worker that dies mid-shard loses nothing: Ray starts the actor again (the engine is loaded again)
and re-runs the shards it held; an actor that cannot be restarted any more is dropped and its shards
go to the others. Only a shard's returned results are recorded, once, so a retried or resumed shard
never counts a turn twice.

Without an address a local Ray is started for the run (one CPU per worker, no dashboard, a small
object store) and stopped after it; with one (`host:port`, `ray://host:port` or `auto`) the driver
joins that cluster, whose nodes must have Veracity installed and see the same index directory.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any

import ray
from ray.exceptions import ActorDiedError, RayActorError

from pipeline.audit.readers import TurnTask
from pipeline.audit.runner import (
    AuditError,
    AuditRunner,
    AuditSummary,
    checked,
    load_worker_engine,
    threads_per_worker,
    worker_verify,
)

LOCAL = "local"  # start a Ray instance for this run (Ray's own name for it)
SHARD_TURNS = 4  # small enough to balance and to redo cheaply, large enough to amortise a call
SHARDS_IN_FLIGHT_PER_WORKER = 2  # one running, one queued: a worker never waits for the driver
ACTOR_RESTARTS = 3  # times Ray restarts a dead worker before its shards go to the others
LOCAL_OBJECT_STORE_BYTES = 200 * 1024**2  # shards and results are small
_ADDRESS = re.compile(r"^(auto|(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5})$")


def check_address(address: str) -> str:
    """LOCAL, `auto`, `host:port` or `ray://host:port`; anything else is a clear error (a transcript
    path given right after `--ray` is taken for its address)."""
    if address == LOCAL or _ADDRESS.match(address):
        return address
    raise AuditError(
        f"--ray address {address!r} is not host:port, ray://host:port or auto (to start a local Ray, "
        "give --ray with no address after the transcripts)"
    )


@ray.remote(max_restarts=ACTOR_RESTARTS, max_task_retries=-1)
class AuditWorker:
    """One Ray worker process holding one Engine, loaded when the actor starts (and again if Ray
    restarts it)."""

    def __init__(self, settings: Any, corpus: str, threads: int) -> None:
        load_worker_engine(settings, corpus, threads)

    def verify(
        self, shard: list[TurnTask], corpus: str, mode: str, cascade: bool | None
    ) -> list[tuple[str, Any, float]]:
        return [worker_verify(task, corpus, mode, cascade) for task in shard]


@contextmanager
def ray_session(address: str, cpus: int) -> Iterator[None]:
    """Connected to Ray for the block: a process already connected stays so; LOCAL starts a Ray
    instance of `cpus` CPUs and stops it afterwards; an address joins that cluster and leaves it."""
    if ray.is_initialized():
        yield
        return
    try:
        if address == LOCAL:
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # offline: nothing to report to
            ray.init(
                address=LOCAL,
                num_cpus=cpus,
                include_dashboard=False,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                log_to_driver=False,
            )
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = "start a local Ray" if address == LOCAL else f"join the Ray cluster at {address}"
        raise AuditError(f"cannot {where}: {exc}") from exc
    try:
        yield
    finally:
        ray.shutdown()


def shards(tasks: Iterable[TurnTask], size: int = SHARD_TURNS) -> Iterator[list[TurnTask]]:
    """Consecutive turns, `size` at a time (a conversation's turns stay together where they fit)."""
    it = iter(tasks)
    while shard := list(islice(it, size)):
        yield shard


class RayAuditRunner(AuditRunner):
    """An AuditRunner whose turns are verified by Ray actors; reading, skipping, recording, progress
    and the summary are the local runner's."""

    def __init__(self, *args: Any, address: str = LOCAL, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address = check_address(address)
        self.threads = threads_per_worker()

    def options(self) -> dict:
        return super().options() | {"ray": self.address}

    def run(self, paths: Iterable[str | os.PathLike]) -> AuditSummary:
        # connect before the run installs its SIGTERM handler: ray.init replaces it with its own
        with ray_session(self.address, self.workers * self.threads):
            return super().run(paths)

    def verified(self, tasks: Iterator[TurnTask]) -> Iterator[tuple[TurnTask, tuple[str, Any, float]]]:
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < self.workers * self.threads:
            raise AuditError(
                f"the Ray cluster has {cpus:g} CPUs; --workers {self.workers} needs "
                f"{self.workers * self.threads} (one per worker and model thread)"
            )
        actors = [
            AuditWorker.options(num_cpus=self.threads).remote(self.settings, self.corpus, self.threads)
            for _ in range(self.workers)
        ]
        try:
            yield from self._dispatch(actors, shards(tasks))
        finally:
            for actor in actors:
                ray.kill(actor)

    def _dispatch(
        self, actors: list[Any], todo: Iterator[list[TurnTask]]
    ) -> Iterator[tuple[TurnTask, tuple[str, Any, float]]]:
        live = set(range(len(actors)))
        load = [0] * len(actors)
        again: deque[list[TurnTask]] = deque()  # shards of workers that are gone for good
        pending: dict[Any, tuple[int, list[TurnTask]]] = {}
        while True:
            while live:
                worker = min(live, key=load.__getitem__)
                if load[worker] >= SHARDS_IN_FLIGHT_PER_WORKER:
                    break
                shard = again.popleft() if again else next(todo, None)
                if shard is None:
                    break
                pending[actors[worker].verify.remote(shard, self.corpus, self.mode, self.cascade)] = (
                    worker,
                    shard,
                )
                load[worker] += 1
            if not pending:
                return
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            worker, shard = pending.pop(ref)
            load[worker] -= 1
            try:
                outcomes = ray.get(ref)
            except RayActorError as exc:
                if isinstance(exc, ActorDiedError):  # restarts used up: its shards go to the others
                    live.discard(worker)
                if not live:
                    raise AuditError(
                        f"every Ray worker died ({exc}); re-run with --run-id {self.run_id} to resume"
                    ) from exc
                again.append(shard)
                continue
            for task, outcome in zip(shard, outcomes, strict=True):
                yield task, checked(outcome)
