"""Side-by-side model calls: small inputs run one per call on single-threaded sessions, in parallel.

An answer's sentences and its (evidence, sentence) pairs are short. One input per call wastes no
padding and makes each result independent of the other inputs; two such calls side by side on
single-threaded sessions beat one two-threaded session, whose threads meet at a barrier after every
small matrix product (bench/bench_verifier.py: the judge scores 137 pairs/s of ~128 tokens against 74
on one two-threaded session; an answer's query embedding takes about a quarter less time; results are
bit-identical to one call per input)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Lanes:
    """`n` worker threads (started on first use) that run single-threaded model calls side by side."""

    def __init__(self, n: int, name: str) -> None:
        self.n = max(1, n)
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0  # the process that started the pool: a forked child starts its own
        self._lock = threading.Lock()

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """fn over items, in order; in the calling thread when one lane or one item is enough."""
        if self.n == 1 or len(items) < 2:
            return [fn(x) for x in items]
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.n, thread_name_prefix=self._name)
                self._pid = os.getpid()
        return list(self._pool.map(fn, items))
