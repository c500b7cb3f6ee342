"""Idle environments: newest reused first, reaped after the TTL, bounded, and provisioned ahead of traffic."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
import wasmtime

from wasmfaas import FunctionConfig, Platform, SyncPlatform, pool
from wasmfaas.guests import wasi
from wasmfaas.guests.base import Outcome, Request
from wasmfaas.guests.reactor import ReactorEnvironment
from wasmfaas.pool import INLINE_FORGIVE_S, INLINE_SLICE_TICKS, INLINE_WARMUP, INLINE_WINDOW


@pytest.fixture
def fast_reaping(tmp_path: Path) -> SyncPlatform:
    return SyncPlatform(data_dir=tmp_path, idle_ttl=0.2, maintenance_interval=0.05, max_idle=2)


def test_most_recent_environment_is_reused(platform: SyncPlatform, deploy: Callable[..., str]) -> None:
    name = deploy("counter")
    envs = [platform.invoke(name) for _ in range(2)]
    assert envs[1].json()["count"] == 2
    assert platform.pool_stats(name).idle == 1 and platform.pool_stats(name).created == 1


def test_idle_environments_are_reaped_and_bounded(fast_reaping: SyncPlatform, guest: Callable[[str], bytes]) -> None:
    with fast_reaping as platform:
        platform.create_function("sleep", guest("sleep"), config=FunctionConfig(provisioned_concurrency=0))
        import threading

        threads = [threading.Thread(target=platform.invoke, args=("sleep", b"200")) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = platform.pool_stats("sleep")
        assert stats.created == 4 and stats.idle <= 2  # max_idle keeps two, the others closed
        deadline = time.monotonic() + 5
        while platform.pool_stats("sleep").idle and time.monotonic() < deadline:
            time.sleep(0.05)
        assert platform.pool_stats("sleep").idle == 0
        assert platform.pool_stats("sleep").reaped >= 1
        assert platform.invoke("sleep", b"0").cold_start


def test_provisioned_environments_are_ready_and_kept(
    fast_reaping: SyncPlatform, guest: Callable[[str], bytes]
) -> None:
    with fast_reaping as platform:
        platform.create_function("counter", guest("counter"), config=FunctionConfig(provisioned_concurrency=2))
        assert platform.pool_stats("counter").idle == 2
        time.sleep(0.5)  # past the idle TTL: the provisioned floor is not reaped
        assert platform.pool_stats("counter").idle == 2
        result = platform.invoke("counter")
        assert not result.cold_start and result.json() == {"init": 1, "count": 1}
        platform.update_function_configuration("counter", provisioned_concurrency=0)
        time.sleep(0.5)
        assert platform.pool_stats("counter").idle == 0


# -- inline runs: a function version shown to be fast runs on the event loop's thread (pool.py, "Inline runs") --


@pytest.mark.anyio
async def test_fast_functions_run_inline_and_keep_their_state(
    tmp_path: Path, guest: Callable[[str], bytes], steady_inline: None
) -> None:
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("counter", guest("counter"))
        counts = [(await platform.invoke("counter")).json()["count"] for _ in range(12)]
        # One environment throughout, whether a call ran on a worker thread or inline.
        assert counts == list(range(1, 13))
        stats = platform.pool_stats("counter")
        assert stats.created == 1 and stats.preempted == 0
        assert 12 - INLINE_WARMUP - 2 <= stats.inline <= 12 - INLINE_WARMUP  # a slow outlier may delay it


@pytest.mark.anyio
async def test_a_call_that_outlives_its_slice_runs_again_on_a_thread(
    tmp_path: Path, guest: Callable[[str], bytes], steady_inline: None
) -> None:
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("spin", guest("spin"))
        small = (await platform.invoke("spin", b"10")).payload
        for _ in range(INLINE_WARMUP + 2):
            assert (await platform.invoke("spin", b"10")).payload == small
        inline_before = platform.pool_stats("spin").inline
        assert inline_before >= 1
        # ~0.1 s of work: far past the slice. It is interrupted, its environment dropped, and it runs again in full.
        big = b"100000000"
        result = await platform.invoke("spin", big)
        stats = platform.pool_stats("spin")
        assert stats.preempted == 1 and stats.inline == inline_before + 1
        assert result.ok and result.cold_start  # the re-run needed a new environment
        assert result.duration_ms >= 10  # the slice's time counts too
        # The record is wiped: the next calls go to a thread until the function has shown itself fast again.
        again = await platform.invoke("spin", big)
        assert again.payload == result.payload and not again.cold_start
        assert platform.pool_stats("spin").inline == inline_before + 1


@pytest.mark.anyio
async def test_each_preemption_doubles_the_wait_before_running_inline_again(
    tmp_path: Path, guest: Callable[[str], bytes], steady_inline: None
) -> None:
    # A preemption costs the function its warm environment: one that is slow now and then must not lose it on
    # every slow call.
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("spin", guest("spin"))

        async def fast_calls_until_inline() -> int:
            for n in range(1, 100):
                before = platform.pool_stats("spin").inline
                await platform.invoke("spin", b"10")
                if platform.pool_stats("spin").inline > before:
                    return n - 1
            raise AssertionError("never ran inline again")

        assert await fast_calls_until_inline() == INLINE_WARMUP
        for preemptions, wait in ((1, INLINE_WINDOW), (2, 2 * INLINE_WINDOW), (3, 4 * INLINE_WINDOW)):
            assert (await platform.invoke("spin", b"100000000")).ok
            assert platform.pool_stats("spin").preempted == preemptions
            assert await fast_calls_until_inline() == wait
        # Two INLINE_FORGIVE_S without one forgive two of the three: the wait is as after the first two (it had
        # only grown, to 32,768 calls for every preemption after the twelfth, for the life of the process).
        spins = platform._functions["spin"].latest.target.pool
        spins._struck_at -= 2 * INLINE_FORGIVE_S
        assert (await platform.invoke("spin", b"100000000")).ok
        assert await fast_calls_until_inline() == 2 * INLINE_WINDOW


@pytest.mark.anyio
async def test_a_function_on_threads_while_the_gil_is_busy_runs_inline_again(
    tmp_path: Path, guest: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under load the event loop holds the GIL: a call on a worker thread waits for it, so its wall time says nothing
    # of the function. Judged by it, a function once on threads stayed there for as long as the load lasted.
    monkeypatch.setattr(pool, "INLINE_MAX_MS", 10.0)
    invoke = ReactorEnvironment.invoke

    def waiting_for_the_gil(self: ReactorEnvironment, request: Request) -> Outcome:
        outcome = invoke(self, request)
        if not request.slice_ticks:  # on a worker thread: wall time, as a wait for the GIL costs, but no CPU
            time.sleep(0.02)
        return outcome

    monkeypatch.setattr(ReactorEnvironment, "invoke", waiting_for_the_gil)
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("counter", guest("counter"))
        for _ in range(INLINE_WARMUP):
            started = time.perf_counter()
            assert (await platform.invoke("counter")).ok
            assert time.perf_counter() - started >= 0.02
        assert platform.pool_stats("counter").inline == 0
        await platform.invoke("counter")
        assert platform.pool_stats("counter").inline == 1


@pytest.mark.anyio
async def test_a_function_that_sleeps_stays_on_threads(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    # Asleep on a worker thread it uses no CPU, but inline its first sleep preempts it: judged by its CPU time, it
    # went inline, was preempted and lost its warm environment again and again.
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("poll", guest("poll"), config=FunctionConfig(timeout=5))
        for _ in range(3 * INLINE_WINDOW):
            assert (await platform.invoke("poll", b"1")).payload == b"slept"
        stats = platform.pool_stats("poll")
        assert (stats.inline, stats.preempted, stats.created) == (0, 0, 1)


@pytest.mark.anyio
async def test_an_inline_slice_allows_for_the_epoch_catching_up(
    tmp_path: Path, guest: Callable[[str], bytes], steady_inline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The epoch ticker, late for a core or the GIL, catches up by several ticks at once: landing inside a 2-tick
    # inline slice, that had preempted a call of a fraction of a millisecond (and thrown its environment away).
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("log", guest("log"))
        for _ in range(INLINE_WARMUP + 1):
            await platform.invoke("log")
        before = platform.pool_stats("log")
        assert before.inline >= 1
        engine = platform._caches[False].engine
        write = wasi._write
        caught_up = []

        def catching_up(*args: object) -> int:  # the ticker's catch-up, landing in the middle of the call
            if not caught_up:
                caught_up.append(True)
                for _ in range(INLINE_SLICE_TICKS + 1):
                    engine.wasm.increment_epoch()
            return write(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(engine, "lag", lambda: INLINE_SLICE_TICKS + 1)  # behind by as much
        monkeypatch.setattr(wasi, "_write", catching_up)
        result = await platform.invoke("log")
        after = platform.pool_stats("log")
        assert result.ok and not result.cold_start
        assert (after.inline, after.preempted, after.created) == (before.inline + 1, 0, 1)


@pytest.mark.anyio
async def test_inline_runs_can_be_turned_off(
    tmp_path: Path, guest: Callable[[str], bytes], steady_inline: None
) -> None:
    async with Platform(data_dir=tmp_path, inline=False) as platform:
        await platform.create_function("spin", guest("spin"))
        for _ in range(INLINE_WINDOW * 2):
            await platform.invoke("spin", b"10")
        slow = await platform.invoke("spin", b"100000000")
        assert not slow.cold_start  # run where it started: not stopped, the environment kept
        stats = platform.pool_stats("spin")
        assert (stats.inline, stats.preempted, stats.created) == (0, 0, 1)


@pytest.mark.anyio
async def test_provisioned_environments_never_run_inline(
    tmp_path: Path, guest: Callable[[str], bytes], steady_inline: None
) -> None:
    async with Platform(data_dir=tmp_path, maintenance_interval=60) as platform:
        await platform.create_function("counter", guest("counter"), publish=True)
        for _ in range(INLINE_WARMUP + 2):
            await platform.invoke("counter", qualifier="1")
        inline = platform.pool_stats("counter", "1").inline
        assert inline >= 1
        await platform.put_provisioned_concurrency("counter", "1", 1)
        counts = [(await platform.invoke("counter", qualifier="1")).json()["count"] for _ in range(INLINE_WINDOW * 2)]
        assert counts == list(range(INLINE_WARMUP + 3, INLINE_WARMUP + 3 + INLINE_WINDOW * 2))
        assert platform.pool_stats("counter", "1").inline == inline  # on threads: a preemption would cost the env
        await platform.delete_provisioned_concurrency("counter", "1")  # closes it: the next call is cold
        assert (await platform.invoke("counter", qualifier="1")).cold_start
        await platform.invoke("counter", qualifier="1")
        assert platform.pool_stats("counter", "1").inline == inline + 1


@pytest.mark.anyio
async def test_a_timeout_after_a_preemption_is_still_a_timeout(
    tmp_path: Path, guest: Callable[[str], bytes], steady_inline: None
) -> None:
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("loop", guest("loop"), config=FunctionConfig(timeout=1))
        for _ in range(INLINE_WARMUP + 2):
            assert (await platform.invoke("loop", b'"ok"')).payload == b"ok"
        result = await platform.invoke("loop", b'"loop"')
        assert result.function_error is not None
        assert result.function_error.error_type == "Sandbox.Timedout"
        assert result.function_error.error_message == "Task timed out after 1.00 seconds"
        assert platform.pool_stats("loop").preempted == 1
        assert (await platform.invoke("loop", b'"ok"')).payload == b"ok"


@pytest.mark.anyio
async def test_commands_run_inline_and_a_sleeping_one_moves_to_a_worker(
    tmp_path: Path, guest: Callable[[str], bytes], steady_inline: None
) -> None:
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("nap", guest("sleep_command"))
        for _ in range(INLINE_WARMUP + 3):
            result = await platform.invoke("nap", b"0")
            assert result.payload == b"slept" and result.log.count("stderr line") == 1
        before = platform.pool_stats("nap")
        assert before.inline >= 3 and before.preempted == 0
        result = await platform.invoke("nap", b"30")
        after = platform.pool_stats("nap")
        assert after.preempted == 1 and after.inline == before.inline + 1
        assert result.ok and result.payload == b"slept" and result.duration_ms >= 30
        assert result.log.count("stderr line") == 1  # the stopped attempt's output is not in the log


# Logs "INIT" in _initialize and "handled" per call; an event starting with "s" spins first (~0.1-0.5 s).
INIT_LOG_WAT = r"""
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 100) "INIT\n")
  (data (i32.const 200) "handled\n")
  (data (i32.const 2048) "ok")
  (func $log (param $at i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_initialize") (call $log (i32.const 100) (i32.const 5)))
  (func (export "wasmfaas_buffer") (param i32) (result i32) (i32.const 4096))
  (func (export "wasmfaas_handle") (param $request i32) (param $len i32) (result i32) (local $i i32)
    (if (i32.eq (i32.load8_u (i32.add (local.get $request) (i32.const 64))) (i32.const 115))
      (then (local.set $i (i32.const 400000000))
            (loop $spin (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $spin (local.get $i)))))
    (call $log (i32.const 200) (i32.const 8))
    (i32.store (i32.const 1024) (i32.const 0))
    (i32.store (i32.const 1028) (i32.const 2048))
    (i32.store (i32.const 1032) (i32.const 2))
    (i32.const 1024)))
"""


@pytest.mark.anyio
async def test_a_provisioned_environments_init_log_comes_with_its_first_invocation(
    tmp_path: Path, steady_inline: None
) -> None:
    async with Platform(data_dir=tmp_path, maintenance_interval=60) as platform:
        await platform.create_function("f", wasmtime.wat2wasm(INIT_LOG_WAT), publish=True)
        first = await platform.invoke("f", b"x", qualifier="1")
        # Before START, as Lambda logs its INIT phase: not among the handler's lines.
        assert first.init_log == b"INIT\n" and first.guest_log == b"handled\n"
        assert first.log.startswith("INIT\nSTART RequestId: ")
        logs = [first.init_log] + [
            (await platform.invoke("f", b"x", qualifier="1")).init_log for _ in range(INLINE_WARMUP + 1)
        ]
        assert platform.pool_stats("f", "1").inline >= 1
        # Two more environments, initialised now: their init lines wait for their first invocations.
        await platform.put_provisioned_concurrency("f", "1", 3)
        # Three slow calls at once, each in an environment of its own, on threads (the pool is provisioned: none is
        # stopped and run again, nothing is cold).
        results = []

        async def call() -> None:
            results.append(await platform.invoke("f", b"spin", qualifier="1"))

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(call)
        logs += [r.init_log for r in results]
        assert all(r.guest_log == b"handled\n" for r in results)
        stats = platform.pool_stats("f", "1")
        assert stats.preempted == 0 and not any(r.cold_start for r in results)
        assert sum(log.count(b"INIT\n") for log in logs) == stats.created == 3
