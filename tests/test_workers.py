"""wasmfaas.workers: a thread per concurrent job, reused while busy, retired when idle."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

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
