"""wasmfaas.workers: a thread per concurrent job, reused while busy, retired when idle."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from wasmfaas import Platform
from wasmfaas.workers import WorkerPool

pytestmark = pytest.mark.anyio


def _alive(pool_name: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith(f"{pool_name}-"))


async def test_a_burst_s_threads_are_reused_then_retire() -> None:
    pool = WorkerPool(100, name="burst-pool", idle_s=0.3)
    gate = threading.Event()
    results: list[int] = []

    async def job(n: int) -> None:
        results.append(await pool.run(lambda: gate.wait(5) and n))

    try:
        async with anyio.create_task_group() as tg:
            for n in range(20):
                tg.start_soon(job, n)
            with anyio.fail_after(5):
                while _alive("burst-pool") < 20:
                    await anyio.sleep(0.01)
            gate.set()
        assert sorted(results) == list(range(20))
        assert await pool.run(lambda: 7) == 7  # an idle thread takes it: no new one
        assert _alive("burst-pool") == 20
        with anyio.fail_after(5):  # idle past idle_s: they end
            while _alive("burst-pool"):
                await anyio.sleep(0.05)
        assert await pool.run(lambda: 8) == 8  # and a new job starts a thread again
    finally:
        pool.close()


async def test_jobs_arriving_as_threads_retire_are_never_lost() -> None:
    pool = WorkerPool(10, name="race-pool", idle_s=0.01)
    try:
        for n in range(200):  # each job lands about when the last one's thread gives up waiting
            assert await pool.run(lambda n=n: n) == n
            time.sleep(0.01 if n % 2 else 0.0)
    finally:
        pool.close()


async def test_threads_run_nicer_than_the_event_loop() -> None:
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    if own > 14:
        pytest.skip("the test runs too nice already")
    nice, plain = WorkerPool(2, name="nice-pool", nice=5), WorkerPool(2, name="plain-pool")
    try:
        assert await nice.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())) == own + 5
        assert await plain.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())) == own
    finally:
        nice.close()
        plain.close()


@pytest.mark.parametrize("worker_nice", [0, 10])
async def test_a_platform_runs_invocations_on_threads_as_nice_as_it_is_told(
    tmp_path: Path, guest: Callable[[str], bytes], worker_nice: int
) -> None:
    # CPU-bound functions on many threads had crowded the event loop out (it reads every request); nicer threads
    # leave it its share, at a cost against other processes, so it is the operator's choice.
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    want = min(own + worker_nice, 19)
    earlier = set(threading.enumerate())  # (another platform's idle threads may still be ending)
    async with Platform(data_dir=tmp_path, worker_nice=worker_nice) as platform:
        await platform.create_function("sleep", guest("sleep"))
        async with anyio.create_task_group() as tg:
            tg.start_soon(platform.invoke, "sleep", b"300")
            with anyio.fail_after(5):  # a new thread takes its niceness as it starts
                while {
                    os.getpriority(os.PRIO_PROCESS, t.native_id or 0)
                    for t in threading.enumerate()
                    if t.name.startswith("wasmfaas-worker-") and t not in earlier
                } != {want}:
                    await anyio.sleep(0.01)
