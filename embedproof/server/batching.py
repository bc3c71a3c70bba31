"""Dynamic batching: concurrent requests are gathered into one model call on one inference thread.

The serving pattern of text-embeddings-inference and Infinity: a single worker thread owns the model, a bounded
queue feeds it, and each batch holds the jobs that can share one call (same `key`, e.g. the same recipe), up to a
number of texts and a token budget. The worker waits at most `max_wait_ms` for more jobs, and only while requests
are arriving together (the previous batch held more than one job, or several are queued): a lone client is never
delayed, while concurrent ones share a forward pass and one matrix product for the search. Jobs are answered through
asyncio futures resolved from the worker with `call_soon_threadsafe`, so the event loop never blocks and no thread
pool competes with the model for the cores. A full queue refuses new work at once (`QueueFull`, with a retry
estimate); a job whose client went away is dropped before its batch runs.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from embedproof.errors import EmbedproofError, InvalidInputError

# run(key, items) -> one result per item, in order; it runs on the worker thread
RunBatch = Callable[[Hashable, list[Any]], list[Any]]


class QueueFull(EmbedproofError):
    """The worker's queue holds `max_queue` jobs; `retry_after_s` estimates when there will be room."""

    def __init__(self, queued: int, retry_after_s: int):
        super().__init__(f"server busy: {queued} requests queued; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class InvalidBatchOption(InvalidInputError):
    """A `BatchOptions` field out of range; `field` names it, so the CLI can name its own flag instead."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


class ClientGone(Exception):
    """The client disconnected before its job ran; nobody is waiting for an answer."""


@dataclass(frozen=True)
class BatchOptions:
    """Limits of one batch and of the queue, and the compute threads (torch, BLAS) of the inference thread."""

    max_batch: int = 128  # texts per model call (a single larger request still runs, alone)
    max_tokens: int = 16_384  # whitespace-separated words per call, a cheap stand-in for tokens
    max_wait_ms: float = 2.0
    max_queue: int = 256  # jobs; request bodies are bounded, so this bounds the memory queued work can hold
    threads: int | None = None  # None: one core fewer than this process may use (that one parses HTTP), at least 1

    def __post_init__(self):
        for name in ("max_batch", "max_tokens", "max_queue", "threads"):
            value = getattr(self, name)
            if value is None and name == "threads":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidBatchOption(name, f"must be a whole number of at least 1, got {value!r}")
        # NaN would pass a `< 0` test and then make every batching deadline wait forever
        if (
            isinstance(self.max_wait_ms, bool)
            or not isinstance(self.max_wait_ms, (int, float))
            or not math.isfinite(self.max_wait_ms)
            or self.max_wait_ms < 0
        ):
            raise InvalidBatchOption("max_wait_ms", f"must be a finite number of at least 0, got {self.max_wait_ms!r}")


@dataclass
class BatchInfo:
    """What the batch that answered a job looked like: for response headers and the load benchmark."""

    size: int
    queue_ms: float
    compute_ms: float


@dataclass(eq=False)
class Job:
    key: Hashable
    item: Any
    texts: int
    tokens: int
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    enqueued: float = field(default_factory=time.perf_counter)
    cancelled: bool = False

    def cancel(self) -> None:
        """Mark the job dead; the worker skips it, and an awaiting caller gets `ClientGone`."""
        self.cancelled = True
        self.loop.call_soon_threadsafe(_settle, self.future, None, ClientGone())


def _settle_all(settled: list[tuple[asyncio.Future, Any, BaseException | None]]) -> None:
    for future, result, error in settled:
        _settle(future, result, error)


def default_threads() -> int:
    """Compute threads for the inference thread: all usable cores but one, which the event loop needs for HTTP."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - 1)


def limit_threads(threads: int) -> None:
    """Use `threads` compute threads in torch (this thread's OpenMP team) and in numpy's BLAS.

    More threads than free cores is the costly case: OpenMP and OpenBLAS threads spin at every barrier, and a spinning
    thread that loses its core to another process stalls the whole team (docs/serving.md).
    """
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # numpy's BLAS keeps its own count
        return
    threadpool_limits(threads)


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if not future.done():
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class BatchWorker:
    """One thread that runs queued jobs in batches of equal `key`; see the module docstring."""

    def __init__(self, run: RunBatch, options: BatchOptions | None = None, name: str = "embedproof-batcher"):
        options = options or BatchOptions()
        self.run, self.threads = run, options.threads or default_threads()
        self.max_batch, self.max_tokens, self.max_queue = options.max_batch, options.max_tokens, options.max_queue
        self.max_wait = options.max_wait_ms / 1000
        self.stats = {"batches": 0, "jobs": 0, "cancelled": 0, "refused": 0, "largest_batch": 0}
        self._pending: deque[Job] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._last_size = 0
        self._seconds_per_job = 0.01  # moving average, for Retry-After
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def queued(self) -> int:
        return len(self._pending)

    def submit(self, key: Hashable, item: Any, texts: int = 1, tokens: int = 1) -> Job:
        """Queue one job from the event loop; await `job.future` for `(result, BatchInfo)`. Raises `QueueFull`."""
        loop = asyncio.get_running_loop()
        job = Job(key, item, texts, tokens, loop.create_future(), loop)
        with self._cond:
            if self._closing:
                raise QueueFull(len(self._pending), 1)
            if len(self._pending) >= self.max_queue:
                self.stats["refused"] += 1
                raise QueueFull(len(self._pending), max(1, math.ceil(len(self._pending) * self._seconds_per_job)))
            self._pending.append(job)
            self._cond.notify()
        return job

    def close(self, timeout: float = 10.0) -> None:
        """Finish the queued jobs, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)

    def _loop(self) -> None:
        limit_threads(self.threads)  # on the thread that runs the model: OpenMP's count is per thread
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            started = time.perf_counter()
            try:
                results = self.run(batch[0].key, [job.item for job in batch])
                error = None if len(results) == len(batch) else RuntimeError(f"{len(results)} answers for {len(batch)}")
            except Exception as exc:  # every waiting request must hear about it, and the worker must go on
                results, error = [None] * len(batch), exc
            done = time.perf_counter()
            compute_ms = 1000 * (done - started)
            self._seconds_per_job = 0.8 * self._seconds_per_job + 0.2 * (done - started) / len(batch)
            self.stats["batches"] += 1
            self.stats["jobs"] += len(batch)
            self.stats["largest_batch"] = max(self.stats["largest_batch"], len(batch))
            # One wake-up per event loop for the whole batch: each call_soon_threadsafe writes to the loop's pipe,
            # and the woken loop takes the GIL while this thread waits to get it back.
            answers: dict[asyncio.AbstractEventLoop, list] = {}
            for job, result in zip(batch, results):
                info = BatchInfo(len(batch), 1000 * (started - job.enqueued), compute_ms)
                answers.setdefault(job.loop, []).append((job.future, (result, info), error))
            for loop, settled in answers.items():
                try:
                    loop.call_soon_threadsafe(_settle_all, settled)
                except RuntimeError:  # that event loop has closed: nobody is waiting
                    pass

    def _next_batch(self) -> list[Job] | None:
        """Block until a job is queued, gather its batch (waiting at most `max_wait` while others arrive), take it."""
        with self._cond:
            while True:
                self._drop_cancelled()
                if not self._pending:
                    if self._closing:
                        return None
                    self._cond.wait()
                    continue
                first = self._pending[0]
                if self._last_size > 1 or len(self._pending) > 1:
                    deadline = first.enqueued + self.max_wait
                    while not self._full(first.key) and not self._closing:
                        left = deadline - time.perf_counter()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                batch, kept, texts, tokens = [], deque(), 0, 0
                for job in self._pending:
                    if job.cancelled:
                        self.stats["cancelled"] += 1
                    elif job.key == first.key and (
                        not batch or (texts + job.texts <= self.max_batch and tokens + job.tokens <= self.max_tokens)
                    ):
                        batch.append(job)
                        texts, tokens = texts + job.texts, tokens + job.tokens
                    else:
                        kept.append(job)
                self._pending = kept
                if batch:  # empty when every gathered job was cancelled while we waited
                    self._last_size = len(batch)
                    return batch

    def _full(self, key: Hashable) -> bool:
        texts = tokens = 0
        for job in self._pending:
            if job.key == key and not job.cancelled:
                texts, tokens = texts + job.texts, tokens + job.tokens
                if texts >= self.max_batch or tokens >= self.max_tokens:
                    return True
        return False

    def _drop_cancelled(self) -> None:
        if any(job.cancelled for job in self._pending):
            kept = deque(job for job in self._pending if not job.cancelled)
            self.stats["cancelled"] += len(self._pending) - len(kept)
            self._pending = kept


async def wait_for(job: Job, disconnected: Callable[[], Any] | None = None) -> tuple[Any, BatchInfo]:
    """Await a job's answer; if `disconnected()` (an awaitable that returns when the client leaves) finishes first,
    the job is cancelled and `ClientGone` is raised."""
    if disconnected is None:
        return await job.future
    watcher = asyncio.ensure_future(disconnected())
    watcher.add_done_callback(lambda w: job.cancel() if not w.cancelled() and not job.future.done() else None)
    try:
        return await job.future
    finally:
        watcher.cancel()
