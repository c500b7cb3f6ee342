"""Worker threads for the async API: wasm runs here, off the event loop, with a cheap hand-off.

`anyio.to_thread.run_sync` costs ~60 µs a round trip here (a task, a cancel scope and a blocking portal call per
job); a warm invocation is ~9 µs, so the hand-off would dominate. This pool keeps one thread per concurrent job
(at most the account's concurrency limit), hands jobs over through a `SimpleQueue` and wakes the waiting task with the
event loop's own thread-safe "run soon" (asyncio's `call_soon_threadsafe`, trio's `run_sync_soon`, reached through
anyio's public `EventLoopToken.native_token`): ~20 µs a round trip.

Threads may run at a lower priority than the event loop's (`nice`; `Platform(worker_nice=)` says why and at what
cost).

Cancelling the waiting task does not stop the job: wasm cannot be interrupted from outside except by its deadline,
so the job finishes on its thread and releases what it holds there.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio
import anyio.lowlevel

__all__ = ["WorkerPool"]

T = TypeVar("T")


class _Job(Generic[T]):
    __slots__ = ("after", "done", "error", "func", "future", "notify", "value")

    def __init__(self, func: Callable[[], T], after: Callable[[], None] | None) -> None:
        self.func = func
        self.after = after
        self.value: T | None = None
        self.error: BaseException | None = None
        # asyncio: a bare future, set through the loop's call_soon_threadsafe (no anyio Event, no token lookup).
        # Other backends: an anyio Event, set through the backend's own thread-safe "run soon".
        self.future: asyncio.Future[None] | None = None
        self.done: anyio.Event | None = None
        self.notify: Callable[[], Any]


def _set_future(future: asyncio.Future[None]) -> None:
    if not future.done():  # cancelled: the caller stopped waiting
        future.set_result(None)


def _run_soon() -> Callable[[Callable[[], None]], Any]:
    native = anyio.lowlevel.current_token().native_token
    run_soon = getattr(native, "call_soon_threadsafe", None) or getattr(native, "run_sync_soon", None)
    if run_soon is None:  # an unknown backend: anyio's generic (slower) route
        token = anyio.lowlevel.current_token()

        def run_soon(callback: Callable[[], None]) -> None:
            anyio.from_thread.run_sync(callback, token=token)

    return run_soon


class WorkerPool:
    """Runs blocking jobs on threads of their own, reused when idle.

    It starts a thread whenever none is idle, so the caller bounds the threads by bounding concurrent jobs (the
    scheduler admits at most `max_threads`, the account's concurrency limit). A thread idle for `idle_s` ends: a
    burst of a thousand invocations had left a thousand threads (and their stacks) for the process's lifetime.
    """

    def __init__(
        self, max_threads: int, name: str = "wasmfaas-worker", *, idle_s: float = 60.0, nice: int = 0
    ) -> None:
        self.max_threads = max_threads
        self._name = name
        self._nice = nice
        self._idle_s = idle_s
        self._numbers = itertools.count()
        self._queue: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._threads: list[threading.Thread] = []

    async def run(self, func: Callable[[], T]) -> T:
        """Run `func` on a worker thread and return its result (or raise its exception)."""
        return await self.result(self.start(func))

    def start(self, func: Callable[[], T], after: Callable[[], None] | None = None) -> _Job[T]:
        """Queue `func` (call from the event loop thread); once this returns, `func` will run. `after` runs on the
        thread once `func` has ended and the thread counts as idle again, before the caller is woken: releasing
        there what bounds the concurrent jobs never lets the next job find no idle thread and start another."""
        job: _Job[T] = _Job(func, after)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio)
            loop = None
        if loop is not None:
            future = job.future = loop.create_future()
            call_soon_threadsafe = loop.call_soon_threadsafe
            job.notify = lambda: call_soon_threadsafe(_set_future, future)
        else:
            done = job.done = anyio.Event()
            run_soon = _run_soon()
            job.notify = lambda: run_soon(done.set)
        self._submit(job)
        return job

    @staticmethod
    async def result(job: _Job[T]) -> T:
        if job.future is not None:
            await job.future
        else:
            assert job.done is not None
            await job.done.wait()
        if job.error is not None:
            raise job.error
        return job.value  # type: ignore[return-value]

    def _submit(self, job: _Job[Any]) -> None:
        # Every job gets a thread of its own: it takes an idle one, or starts one. Callers bound the number of
        # concurrent jobs (the scheduler's limits), so jobs never wait in the queue behind a busy thread.
        with self._lock:
            if self._idle:
                self._idle -= 1
            else:
                thread = threading.Thread(target=self._work, name=f"{self._name}-{next(self._numbers)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        self._queue.put(job)

    def _work(self) -> None:
        if self._nice:
            # Linux: a thread's own nice value (a new thread starts with its creator's, the event loop's).
            with contextlib.suppress(OSError, AttributeError):
                tid = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + self._nice, 19))
        while True:
            try:
                job = self._queue.get(timeout=self._idle_s)
            except queue.Empty:
                with self._lock:
                    # Every idle thread waits on the queue, and a job taken by `_submit` is already off the idle
                    # count: while the count is above zero, one waiting thread is spare, and this one may end.
                    if self._idle:
                        self._idle -= 1
                        with contextlib.suppress(ValueError):  # not there if the pool closed meanwhile
                            self._threads.remove(threading.current_thread())
                        return
                continue
            if job is None:
                return
            try:
                job.value = job.func()
            except BaseException as e:  # delivered to the awaiting task
                job.error = e
            with self._lock:
                self._idle += 1
            try:
                if job.after is not None:
                    job.after()
            finally:
                # RuntimeError: the event loop closed while the job ran, so nobody is waiting for it any more.
                with contextlib.suppress(RuntimeError):
                    job.notify()

    def close(self) -> None:
        """Stop the idle threads (jobs in flight finish first)."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
