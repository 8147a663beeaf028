"""Run an audit: stream transcripts, verify each assistant turn, store every result.

The parent process reads the transcripts, skips turns the run already holds, and keeps at most a
few turns per worker in flight (memory stays flat however large the input). Workers are spawned
processes that each build one Engine and verify turns; only the parent writes to the store (one
writer), one transaction per turn. With one worker the parent verifies in-process. Where the turns are
verified is `AuditRunner.verified`; pipeline.audit.ray_runner verifies them on Ray actors instead.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.audit.readers import Conversation, InputProblem, TurnTask, count_turns, read_transcripts
from pipeline.audit.store import AuditStore, RunStatus, TurnStatus
from pipeline.schema import VeracityError, VerificationResult
from pipeline.settings import Settings

IN_FLIGHT_PER_WORKER = 3
MAX_PRINTED_PROBLEMS = 20


class AuditError(VeracityError):
    """The audit cannot go on (the engine does not load, a worker died)."""


@dataclass
class AuditSummary:
    run_id: str
    resumed: bool
    conversations: int = 0  # read in this invocation
    turns_read: int = 0
    verified: int = 0  # verified in this invocation
    skipped: int = 0  # already done in an earlier invocation of the run
    errors: int = 0  # failed in this invocation (stored as 'error', retried on resume)
    flagged_turns: int = 0  # of the turns verified in this invocation
    flagged_sentences: int = 0
    problems: int = 0  # input problems found in this invocation
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


# --- verification (parent or worker) -------------------------------------------------------------


def verify_task(
    engine: Any, task: TurnTask, corpus: str, mode: str, cascade: bool | None = None
) -> tuple[str, Any, float]:
    """("ok", VerificationResult, ms) or ("error", message, ms); never raises for one bad turn.
    `cascade`: ask the LLM judge (None: the corpus's setting, else the server's)."""
    t0 = time.perf_counter()
    try:
        result = engine.verify(
            task.answer,
            corpus=task.corpus or corpus,
            question=task.question,
            doc_ids=task.doc_ids,
            mode=mode,
            cascade=cascade,
        )
        return "ok", result, (time.perf_counter() - t0) * 1000
    except VeracityError as exc:
        return "error", str(exc), (time.perf_counter() - t0) * 1000
    except Exception as exc:  # noqa: BLE001 - one broken turn must not stop the run; stored as an error
        return "error", f"internal error: {type(exc).__name__}: {exc}", (time.perf_counter() - t0) * 1000


_WORKER: dict[str, Any] = {}


def _watch_parent(parent_pid: int) -> None:
    """Exit when the parent is gone (killed with -9), so no worker is orphaned."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(3)


def threads_per_worker() -> int:
    """Model threads per verifying process: $VERACITY_AUDIT_THREADS, else 1. Batch throughput comes
    from --workers: one thread per process avoids the spin-waiting of intra-op threads on a busy
    machine, and one answer is too small a batch to gain from more."""
    return max(1, Settings().audit_threads)


def limit_threads(threads: int) -> None:
    """Set the model thread pools of this process before its models load: the embedder and the
    verifier read theirs from Settings (both backends, ONNX Runtime and torch), BLAS from the
    environment. Nothing is imported: a torch imported here would cost seconds on the ONNX path."""
    for var in (
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "VERACITY_VERIFIER_THREADS",
        "VERACITY_EMBEDDER_THREADS",
    ):
        os.environ.setdefault(var, str(threads))


def load_worker_engine(settings: Any, corpus: str, threads: int) -> None:
    """Build this worker process's one Engine (a pool process or a Ray actor). A failure is kept and
    reported with the first turn (`worker_verify`), which stops the run."""
    try:
        limit_threads(threads)
        from pipeline.verification.engine import Engine

        engine = Engine(settings)
        try:
            engine.retriever(corpus)  # open the default corpus once, before the first turn
        except VeracityError:
            pass  # reported per turn
        _WORKER["engine"] = engine
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which stops the run
        _WORKER["error"] = f"{type(exc).__name__}: {exc}"


def _init_worker(settings: Any, parent_pid: int, corpus: str, threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    load_worker_engine(settings, corpus, threads)


def worker_verify(
    task: TurnTask, corpus: str, mode: str, cascade: bool | None = None
) -> tuple[str, Any, float]:
    """Verify one turn with this worker's engine; ("fatal", why, 0) when the engine did not load."""
    if "engine" not in _WORKER:
        return "fatal", _WORKER.get("error", "engine not initialised"), 0.0
    return verify_task(_WORKER["engine"], task, corpus, mode, cascade)


def checked(outcome: tuple[str, Any, float]) -> tuple[str, Any, float]:
    """A worker's outcome, or AuditError when its engine could not be loaded (the run stops)."""
    if outcome[0] == "fatal":
        raise AuditError(f"cannot load the verification engine in a worker: {outcome[1]}")
    return outcome


# --- the run -------------------------------------------------------------------------------------


class AuditRunner:
    """One invocation of an audit run. `engine` (optional) is used in-process with workers=1;
    otherwise each worker builds its own Engine from `settings`."""

    def __init__(
        self,
        store: AuditStore,
        settings: Any,
        *,
        run_id: str,
        corpus: str,
        workers: int = 1,
        mode: str = "annotate",
        cascade: bool | None = None,
        engine: Any = None,
        progress: bool = False,
        on_problem: Callable[[InputProblem], None] | None = None,
    ) -> None:
        if workers < 1:
            raise AuditError("--workers must be at least 1")
        self.store = store
        self.settings = settings
        self.run_id = run_id
        self.corpus = corpus
        self.workers = workers
        self.mode = mode
        self.cascade = cascade
        self.engine = engine
        self.progress = progress
        self.on_problem = on_problem
        self.session = secrets.token_hex(8)
        self.summary = AuditSummary(run_id, resumed=False)

    # --- input ----------------------------------------------------------------------------------
    def _problem(self, p: InputProblem) -> None:
        self.store.add_problem(self.run_id, p.source, p.line, p.message)
        self.summary.problems += 1
        if self.on_problem:
            self.on_problem(p)

    def tasks(self, paths: Iterable[str | os.PathLike]) -> Iterator[TurnTask]:
        """The turns still to verify, streamed; problems and conversations are recorded on the way."""
        for item in read_transcripts(paths):
            if isinstance(item, InputProblem):
                self._problem(item)
                continue
            conv: Conversation = item
            earlier = self.store.register_conversation(
                self.run_id,
                conv.conversation_id,
                conv.source,
                conv.line,
                conv.metadata,
                n_turns=len(conv.turns),
                session=self.session,
            )
            if earlier is not None:
                self._problem(
                    InputProblem(
                        conv.source,
                        conv.line,
                        f"conversation id {conv.conversation_id!r} already read at "
                        f"{earlier[0]}:{earlier[1]}; skipped (ids must be unique, and the CSV "
                        "rows of a conversation consecutive)",
                    )
                )
                continue
            self.summary.conversations += 1
            self.summary.turns_read += len(conv.turns)
            done = self.store.done_turns(self.run_id, conv.conversation_id) if conv.turns else set()
            for task in conv.turns:
                if task.turn in done:
                    self.summary.skipped += 1
                    continue
                yield task

    # --- verification ---------------------------------------------------------------------------
    def options(self) -> dict:
        """How the run is executed, stored with it (runs.options)."""
        return {"workers": self.workers, "mode": self.mode, "cascade": self.cascade}

    def verified(self, tasks: Iterator[TurnTask]) -> Iterator[tuple[TurnTask, tuple[str, Any, float]]]:
        """(task, outcome) for every task, outcome as `verify_task` gives it; a subclass may run the
        turns elsewhere (pipeline.audit.ray_runner)."""
        return (self._in_process if self.workers == 1 else self._pool)(tasks)

    def _in_process(self, tasks: Iterator[TurnTask]) -> Iterator[tuple[TurnTask, tuple[str, Any, float]]]:
        engine = self.engine
        for task in tasks:
            if engine is None:
                engine = self.engine = self._build_engine()
            yield task, verify_task(engine, task, self.corpus, self.mode, self.cascade)

    def _build_engine(self) -> Any:
        limit_threads(threads_per_worker())
        from pipeline.verification.engine import Engine

        try:
            engine = Engine(self.settings)
        except VeracityError:
            raise
        except Exception as exc:
            raise AuditError(f"cannot load the verification engine: {type(exc).__name__}: {exc}") from exc
        return engine

    def _pool(self, tasks: Iterator[TurnTask]) -> Iterator[tuple[TurnTask, tuple[str, Any, float]]]:
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=mp.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.settings, os.getpid(), self.corpus, threads_per_worker()),
        )
        pending: dict[Future, TurnTask] = {}
        window = self.workers * IN_FLIGHT_PER_WORKER
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < window:
                    task = next(tasks, None)
                    if task is None:
                        exhausted = True
                        break
                    pending[pool.submit(worker_verify, task, self.corpus, self.mode, self.cascade)] = task
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=lambda f: (pending[f].source, pending[f].line, pending[f].turn)):
                    task = pending.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool as exc:
                        raise AuditError(
                            f"a worker process died ({exc}); re-run with --run-id {self.run_id} to resume"
                        ) from exc
                    yield task, checked(outcome)
        finally:
            pool.shutdown(wait=not pending, cancel_futures=True)

    # --- main loop ------------------------------------------------------------------------------
    def run(self, paths: Iterable[str | os.PathLike]) -> AuditSummary:
        paths = [str(p) for p in paths]
        t0 = time.perf_counter()
        self.summary.resumed = self.store.start_run(
            self.run_id,
            corpus=self.corpus,
            inputs=[str(Path(p).resolve()) for p in paths],
            options=self.options(),
        )
        bar = None
        if self.progress:
            from tqdm import tqdm

            total = max(0, count_turns(paths) - self.store.count_turns(self.run_id, TurnStatus.DONE))
            bar = tqdm(
                total=total, unit="turn", desc=f"audit {self.run_id}", dynamic_ncols=True, file=sys.stderr
            )
        previous_term = _install_sigterm()
        status = RunStatus.FAILED
        stream = None
        try:
            stream = self.verified(self.tasks(paths))
            first = True
            for task, (kind, payload, ms) in stream:
                self._record(task, kind, payload, ms)
                if bar is not None:
                    if first:  # the rate (and ETA) counts from the first result, not from model loading
                        bar.reset(total=bar.total)
                        first = False
                    bar.update(1)
                    bar.set_postfix(
                        flagged=self.summary.flagged_turns, errors=self.summary.errors, refresh=False
                    )
            status = RunStatus.FINISHED
        except KeyboardInterrupt:
            status = RunStatus.INTERRUPTED
            raise
        finally:
            if stream is not None:
                stream.close()  # stops the workers at once when the run ends early
            if bar is not None:
                bar.close()
            _restore_sigterm(previous_term)
            self.summary.seconds = time.perf_counter() - t0
            self.store.finish_run(self.run_id, status)
        return self.summary

    def _record(self, task: TurnTask, kind: str, payload: Any, ms: float) -> None:
        corpus = task.corpus or self.corpus
        if kind == "ok":
            result: VerificationResult = payload
            self.store.record_verification(
                self.run_id,
                task.source,
                task.conversation_id,
                task.turn,
                task.question,
                task.answer,
                corpus,
                result,
                doc_ids=task.doc_ids,
                line=task.line,
                verify_ms=ms,
            )
            self.summary.verified += 1
            flagged = sum(v.flagged for v in result.sentences)
            self.summary.flagged_sentences += flagged
            self.summary.flagged_turns += flagged > 0
        else:
            self.store.record_error(
                self.run_id,
                task.source,
                task.conversation_id,
                task.turn,
                task.question,
                task.answer,
                corpus,
                str(payload),
                doc_ids=task.doc_ids,
                line=task.line,
                verify_ms=ms,
            )
            self.summary.errors += 1


def _install_sigterm() -> tuple[bool, Any]:
    """SIGTERM stops the run like Ctrl-C (the run is marked interrupted; stored turns stay)."""
    if threading.current_thread() is not threading.main_thread():
        return False, None

    def handler(signum, frame):
        raise KeyboardInterrupt

    return True, signal.signal(signal.SIGTERM, handler)


def _restore_sigterm(previous: tuple[bool, Any]) -> None:
    installed, handler = previous
    if installed:
        signal.signal(signal.SIGTERM, handler if handler is not None else signal.SIG_DFL)
