"""The inference thread's batching (embedproof/server/batching.py): grouping, limits, the queue bound, cancellation,
errors."""

import asyncio
import threading
import time

import pytest

from embedproof.errors import EmbedproofError
from embedproof.server.batching import BatchOptions, BatchWorker, ClientGone, QueueFull, wait_for


class Recorder:
    """A batch runner that answers `key:item`, records each batch, and can hold the worker on a gate job."""

    def __init__(self):
        self.batches: list[tuple[str, list]] = []
        self.gate_taken, self.release = threading.Event(), threading.Event()

    def __call__(self, key, items):
        if key == "gate":
            self.gate_taken.set()
            assert self.release.wait(10)
            return ["opened"]
        if key == "bad":
            raise EmbedproofError("this key cannot be answered")
        self.batches.append((key, list(items)))
        return [f"{key}:{item}" for item in items]


async def _hold(worker: BatchWorker, recorder: Recorder):
    """Occupy the worker with a gate job, so what is submitted next queues up."""
    gate = worker.submit("gate", "g")
    while not recorder.gate_taken.is_set():
        await asyncio.sleep(0.001)
    return gate


def test_queued_jobs_run_in_batches_of_equal_key_and_each_gets_its_own_answer():
    recorder = Recorder()
    worker = BatchWorker(recorder, BatchOptions(max_wait_ms=0))

    async def scenario():
        gate = await _hold(worker, recorder)
        jobs = [worker.submit(key, n) for n, key in enumerate("ABAAB")]
        recorder.release.set()
        await gate.future
        return [await job.future for job in jobs]

    answers = asyncio.run(scenario())
    assert [result for result, _ in answers] == ["A:0", "B:1", "A:2", "A:3", "B:4"]
    assert [info.size for _, info in answers] == [3, 2, 3, 3, 2]
    assert recorder.batches == [("A", [0, 2, 3]), ("B", [1, 4])]
    assert worker.stats["batches"] == 3 and worker.stats["largest_batch"] == 3
    worker.close()


def test_batches_respect_the_text_and_token_budgets():
    recorder = Recorder()
    worker = BatchWorker(recorder, BatchOptions(max_batch=4, max_tokens=10, max_wait_ms=0))

    async def scenario():
        gate = await _hold(worker, recorder)
        jobs = [worker.submit("A", "two texts", texts=2, tokens=2) for _ in range(3)]  # 4 texts fit, 6 do not
        jobs += [worker.submit("B", "long", tokens=6) for _ in range(2)]  # 12 tokens do not fit in 10
        jobs.append(worker.submit("C", "huge", texts=50, tokens=500))  # over both limits: runs, alone
        recorder.release.set()
        await gate.future
        for job in jobs:
            await job.future

    asyncio.run(scenario())
    assert [(key, len(items)) for key, items in recorder.batches] == [("A", 2), ("A", 1), ("B", 1), ("B", 1), ("C", 1)]
    worker.close()


def test_a_full_queue_refuses_at_once_with_a_retry_estimate():
    recorder = Recorder()
    worker = BatchWorker(recorder, BatchOptions(max_queue=2))

    async def scenario():
        gate = await _hold(worker, recorder)
        queued = [worker.submit("A", n) for n in range(2)]
        with pytest.raises(QueueFull) as refused:
            worker.submit("A", 99)
        recorder.release.set()
        await gate.future
        return refused.value, [await job.future for job in queued]

    refusal, answers = asyncio.run(scenario())
    assert refusal.retry_after_s >= 1 and "2 requests queued" in str(refusal)
    assert [result for result, _ in answers] == ["A:0", "A:1"] and worker.stats["refused"] == 1
    worker.close()


def test_cancelled_jobs_are_skipped_and_their_callers_told():
    recorder = Recorder()
    worker = BatchWorker(recorder)

    async def scenario():
        gate = await _hold(worker, recorder)
        gone, kept = worker.submit("A", "gone"), worker.submit("A", "kept")
        gone.cancel()
        with pytest.raises(ClientGone):
            await gone.future
        recorder.release.set()
        await gate.future
        return await kept.future

    result, info = asyncio.run(scenario())
    assert result == "A:kept" and info.size == 1
    assert recorder.batches == [("A", ["kept"])] and worker.stats["cancelled"] == 1
    worker.close()


def test_wait_for_cancels_the_job_when_the_client_disconnects():
    recorder = Recorder()
    worker = BatchWorker(recorder)

    async def scenario():
        gate = await _hold(worker, recorder)
        left = asyncio.Event()
        job = worker.submit("A", "late")
        asyncio.get_running_loop().call_later(0.02, left.set)
        with pytest.raises(ClientGone):
            await wait_for(job, left.wait)
        recorder.release.set()
        await gate.future
        answered = worker.submit("A", "next")
        return await wait_for(answered, asyncio.Event().wait)  # a client that stays: its watcher is cleaned up

    assert asyncio.run(scenario())[0] == "A:next"
    assert recorder.batches == [("A", ["next"])] and worker.stats["cancelled"] == 1
    worker.close()


def test_an_error_reaches_every_job_of_its_batch_and_the_worker_goes_on():
    recorder = Recorder()
    worker = BatchWorker(recorder)

    async def scenario():
        gate = await _hold(worker, recorder)
        bad = [worker.submit("bad", n) for n in range(2)]
        good = worker.submit("A", 1)
        recorder.release.set()
        await gate.future
        errors = []
        for job in bad:
            with pytest.raises(EmbedproofError) as raised:
                await job.future
            errors.append(raised.value)
        return errors, await good.future

    errors, (result, _) = asyncio.run(scenario())
    assert len(errors) == 2 and result == "A:1"
    worker.close()


def test_a_lone_request_is_not_held_back_by_the_batching_window():
    """The window applies only while requests arrive together: one client alone never waits for it."""
    worker = BatchWorker(lambda key, items: items, BatchOptions(max_wait_ms=500))

    async def one():
        began = time.perf_counter()
        result, info = await worker.submit("A", "x").future
        return time.perf_counter() - began, info

    for _ in range(3):
        seconds, info = asyncio.run(one())
        assert seconds < 0.25 and info.size == 1
    worker.close()


def test_options_are_checked_and_the_error_names_the_field():
    from embedproof.errors import InvalidInputError

    bad_values = (
        {"max_batch": 0},
        {"max_tokens": -5},
        {"max_queue": 0},
        {"max_wait_ms": -1},
        {"max_wait_ms": float("nan")},
        {"max_wait_ms": float("inf")},
        {"threads": 0},
        {"max_batch": 2.5},
    )
    for bad in bad_values:
        with pytest.raises(InvalidInputError, match=f"^{next(iter(bad))}: "):
            BatchOptions(**bad)
    assert BatchOptions(max_wait_ms=0, threads=1).max_wait_ms == 0
