"""Concurrency: parallel invocations really run in parallel; over a limit the caller is throttled at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest

from wasmfaas import FunctionConfig, Platform, SyncPlatform, TooManyRequestsError
from wasmfaas.errors import InvalidParameterError
from wasmfaas.scheduler import Concurrency, Scheduler

pytestmark = pytest.mark.anyio


async def test_parallel_sleeps_take_about_one_sleep(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("sleep", guest("sleep"), config=FunctionConfig(provisioned_concurrency=8))
        results = []

        async def one() -> None:
            results.append(await platform.invoke("sleep", b"300"))

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(one)
        elapsed = time.perf_counter() - start
        assert all(r.ok and r.payload == b"slept" for r in results)
        assert all(r.duration_ms >= 300 for r in results)
        # Serially this takes 2.4 s; in parallel about one sleep.
        assert elapsed < 1.2, f"8 parallel 300 ms sleeps took {elapsed:.2f} s"


async def test_reserved_concurrency_throttles_at_once(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("sleep", guest("sleep"), config=FunctionConfig(reserved_concurrency=2))
        outcomes: list[object] = []

        async def one() -> None:
            try:
                outcomes.append(await platform.invoke("sleep", b"400"))
            except TooManyRequestsError as e:
                outcomes.append(e)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(one)
            await anyio.sleep(0.1)
            # While two run, a third is refused at once: no waiting for a slot.
            start = time.perf_counter()
            with pytest.raises(TooManyRequestsError) as info:
                await platform.invoke("sleep", b"1")
            assert time.perf_counter() - start < 0.3  # a queued call would wait for a 400 ms sleep to end
            assert info.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
        throttled = [o for o in outcomes if isinstance(o, TooManyRequestsError)]
        assert len(throttled) == 3 and len(outcomes) == 5
        assert (await platform.invoke("sleep", b"1")).ok  # slots come back


async def test_reserved_zero_disables_the_function(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("echo", guest("echo"), config=FunctionConfig(reserved_concurrency=0))
        with pytest.raises(TooManyRequestsError):
            await platform.invoke("echo", b"x")


async def test_account_limit_and_reservations(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    async with Platform(data_dir=tmp_path, account_concurrency=3, unreserved_minimum=1) as platform:
        await platform.create_function("reserved", guest("sleep"), config=FunctionConfig(reserved_concurrency=2))
        await platform.create_function("shared", guest("sleep"))
        outcomes: list[object] = []

        async def one(name: str) -> None:
            try:
                outcomes.append(await platform.invoke(name, b"300"))
            except TooManyRequestsError as e:
                outcomes.append(e.reason)

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(one, "shared")  # only 3 - 2 reserved = 1 unreserved slot
        assert sorted(map(str, outcomes)).count("ConcurrentInvocationLimitExceeded") == 2


def test_reservations_must_fit_the_account() -> None:
    scheduler = Scheduler(10, unreserved_minimum=0)
    scheduler.register("a", 6)
    with pytest.raises(InvalidParameterError, match=r"below its minimum value of \[0\]"):
        scheduler.register("b", 5)
    scheduler.register("b", 4)
    assert scheduler.unreserved_limit == 0


def test_reservations_leave_lambdas_unreserved_minimum() -> None:
    scheduler = Scheduler()  # Lambda's default account: 1000, of which 100 stay unreserved
    scheduler.register("a", 850)
    scheduler.register("b", 50)
    with pytest.raises(InvalidParameterError) as e:
        scheduler.register("c", 1)
    assert str(e.value).endswith(
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
        "below its minimum value of [100]."
    )
    scheduler.register("c", 0)  # reserving nothing (a disabled function) takes nothing
    scheduler.register("b", 40)  # lowering is always allowed
    scheduler.register("c", 10)
    assert scheduler.unreserved_limit == 100
    # An account limited to 100 or less keeps all of it unreserved, as Lambda's new accounts (10) do.
    small = Scheduler(10)
    with pytest.raises(InvalidParameterError, match=r"minimum value of \[10\]"):
        small.register("a", 1)
    small.register("a", 0)
    with pytest.raises(InvalidParameterError, match="unreserved_minimum"):
        Scheduler(10, unreserved_minimum=11)


def test_a_stored_reservation_is_restored_past_the_minimum() -> None:
    # Accepted once (say under a larger account limit): a restart takes it as it is rather than refusing to start.
    scheduler = Scheduler(100)
    slot = scheduler.register("a", 150, restoring=True)
    assert scheduler.unreserved_limit == 0
    other = scheduler.register("b", None)
    assert scheduler.refusal(other) is not None  # nothing is left for the unreserved functions
    assert scheduler.refusal(slot) is None
    scheduler.register("a", 20)  # lowering works
    assert scheduler.refusal(other) is None


def test_sync_invocations_share_the_limits() -> None:
    scheduler = Scheduler(5, unreserved_minimum=0)
    slot = scheduler.register("f", 1)
    gate = threading.Event()
    started = threading.Event()

    def job() -> None:
        started.set()
        gate.wait(5)

    worker = threading.Thread(target=scheduler.run_sync, args=(slot, job))
    worker.start()
    started.wait(5)
    with pytest.raises(TooManyRequestsError):
        scheduler.run_sync(slot, lambda: None)
    gate.set()
    worker.join()
    assert scheduler.run_sync(slot, lambda: 7) == 7
    assert isinstance(slot, Concurrency) and slot.in_flight == 0


def test_refusal_tells_without_taking_a_slot() -> None:
    scheduler = Scheduler(2, unreserved_minimum=0)
    reserved = scheduler.register("r", 1)
    shared = scheduler.register("s", None)
    assert scheduler.refusal(reserved) is None and scheduler.refusal(shared) is None
    scheduler.acquire(reserved)
    refused = scheduler.refusal(reserved)
    assert refused is not None and refused.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert reserved.in_flight == 1  # asking took nothing
    scheduler.acquire(shared)  # the one unreserved slot
    refused = scheduler.refusal(shared)
    assert refused is not None and refused.reason == "ConcurrentInvocationLimitExceeded"
    scheduler.release(shared)
    scheduler.release(reserved)
    assert scheduler.refusal(reserved) is None and scheduler.refusal(shared) is None


def test_a_reservation_can_change_while_invocations_run() -> None:
    scheduler = Scheduler(account_limit=4, unreserved_minimum=0)
    slot = scheduler.register("f", None)
    other = scheduler.register("g", None)
    scheduler.acquire(slot)
    scheduler.acquire(slot)  # two of f's in the shared pool
    scheduler.register("f", 0)  # the emergency stop: new invocations are refused, the running ones finish
    with pytest.raises(TooManyRequestsError):
        scheduler.acquire(slot)
    scheduler.release(slot)
    scheduler.release(slot)
    for _ in range(4):  # what f took from the shared pool has come back to it
        scheduler.acquire(other)
    with pytest.raises(TooManyRequestsError):
        scheduler.acquire(other)
    for _ in range(4):
        scheduler.release(other)
    scheduler.register("f", 2)
    scheduler.acquire(slot)  # admitted under the reservation
    scheduler.register("f", None)
    scheduler.release(slot)  # gives back nothing it did not take from the shared pool
    for _ in range(4):
        scheduler.acquire(other)
    with pytest.raises(TooManyRequestsError):
        scheduler.acquire(other)
    assert scheduler.in_flight() == 4
    for _ in range(4):
        scheduler.release(other)
    # A reservation removed while its invocations run: they join the shared pool, and the account stays bounded.
    scheduler.register("f", 1)
    scheduler.acquire(slot)
    scheduler.register("f", None)
    for _ in range(3):
        scheduler.acquire(other)
    with pytest.raises(TooManyRequestsError):
        scheduler.acquire(other)


@pytest.mark.parametrize("change", ["lowered", "deleted"])
def test_a_reservation_lowered_or_deleted_while_it_runs_keeps_the_account_bounded(change: str) -> None:
    scheduler = Scheduler(account_limit=10, unreserved_minimum=0)
    slot = scheduler.register("f", 10)
    other = scheduler.register("g", None)
    for _ in range(10):
        scheduler.acquire(slot)
    if change == "lowered":
        scheduler.register("f", 1)  # 9 of the 10 running now count against the shared pool
    else:
        scheduler.unregister("f")  # all 10 do
    with pytest.raises(TooManyRequestsError):
        scheduler.acquire(other)
    assert scheduler.in_flight() == 10
    for _ in range(10):
        scheduler.release(slot)
    assert scheduler.in_flight() == 0
    for _ in range(9 if change == "lowered" else 10):  # all given back
        scheduler.acquire(other)
    with pytest.raises(TooManyRequestsError):
        scheduler.acquire(other)


def test_a_reservation_raised_again_takes_its_running_invocations_back() -> None:
    # Lowered, then raised back (a configuration update whose deployment failed puts it back): the invocations the
    # lowered reservation moved to the shared pool come back under it, and the shared pool is whole again.
    scheduler = Scheduler(account_limit=20, unreserved_minimum=0)
    slot = scheduler.register("f", 10)
    other = scheduler.register("g", None)
    for _ in range(10):
        scheduler.acquire(slot)
    scheduler.register("f", 1)
    scheduler.register("f", 10, restoring=True)
    for _ in range(10):
        scheduler.acquire(other)
    with pytest.raises(TooManyRequestsError):
        scheduler.acquire(other)
    assert scheduler.in_flight() == 20


def test_provisioned_concurrency_is_set_aside_from_the_shared_pool() -> None:
    # Lambda: provisioned concurrency of a function without a reservation comes out of the unreserved pool, and
    # it is the function's own: the other functions cannot take it, and it can run all of it at any time.
    scheduler = Scheduler(20, unreserved_minimum=5)
    p = scheduler.register("p", None)
    a = scheduler.register("a", None)
    scheduler.check_provisioned("p", 15)  # leaves exactly the minimum
    with pytest.raises(InvalidParameterError, match="at most 15 without a reservation"):
        scheduler.check_provisioned("p", 16)
    scheduler.set_provisioned("p", 3)
    assert scheduler.unreserved_limit == 17
    for _ in range(17):  # a saturates what is shared
        scheduler.acquire(a)
    refused = scheduler.refusal(a)
    assert refused is not None and refused.reason == "ConcurrentInvocationLimitExceeded"
    for _ in range(3):  # p's provisioned slots are still its own
        scheduler.acquire(p)
    assert scheduler.refusal(p) is not None  # past them p shares the pool, which a has filled
    for _ in range(17):
        scheduler.release(a)
    scheduler.acquire(p)  # spill-over into the shared pool
    assert p.shared == 1
    for _ in range(16):
        scheduler.acquire(a)
    assert scheduler.refusal(a) is not None
    for _ in range(4):
        scheduler.release(p)
    assert (p.in_flight, p.shared, scheduler.in_flight()) == (0, 0, 16)
    # Lowered while it runs: what runs past it counts against the shared pool, which stays bounded.
    for _ in range(16):
        scheduler.release(a)
    for _ in range(3):
        scheduler.acquire(p)
    scheduler.set_provisioned("p", 1)
    assert scheduler.unreserved_limit == 19 and p.shared == 2
    for _ in range(17):
        scheduler.acquire(a)
    assert scheduler.refusal(a) is not None  # 17 + p's 2 fill the 19 shared


def test_a_reservation_takes_over_from_provisioned_concurrency() -> None:
    scheduler = Scheduler(20, unreserved_minimum=5)
    scheduler.register("p", None)
    scheduler.set_provisioned("p", 10)
    assert scheduler.unreserved_limit == 10
    scheduler.register("p", 12)  # provisioned within the reservation: the reservation is what is set aside
    assert scheduler.unreserved_limit == 8
    scheduler.check_provisioned("x", 3)
    with pytest.raises(InvalidParameterError, match="at most 3"):
        scheduler.check_provisioned("x", 4)
    scheduler.register("p", None)  # back to its 10 provisioned
    assert scheduler.unreserved_limit == 10
    scheduler.unregister("p")
    assert scheduler.unreserved_limit == 20


async def test_reserved_concurrency_changes_while_the_function_runs(
    tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("sleep", guest("sleep"))
        results = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: _collect(results, platform.invoke("sleep", b"300")))
            while platform.concurrency_in_flight("sleep") == 0:
                await anyio.sleep(0.01)
            await platform.update_function_configuration("sleep", reserved_concurrency=0)
            with pytest.raises(TooManyRequestsError):
                await platform.invoke("sleep", b"0")
        assert results[0].ok  # the invocation already running finished
        await platform.update_function_configuration("sleep", reserved_concurrency=None)
        assert (await platform.invoke("sleep", b"0")).ok


def test_a_reservation_change_keeps_the_warm_environments(
    platform: SyncPlatform, guest: Callable[[str], bytes]
) -> None:
    platform.create_function("fn", guest("counter"))
    assert platform.invoke("fn", b"").json()["count"] == 1
    revision = platform.get_function("fn").revision
    platform.put_function_concurrency("fn", 5)  # Lambda's PutFunctionConcurrency: not a configuration change
    info = platform.get_function("fn")
    assert (info.config.reserved_concurrency, info.revision) == (5, revision)
    result = platform.invoke("fn", b"")
    assert (result.json()["count"], result.cold_start) == (2, False)
    platform.update_function_configuration("fn", reserved_concurrency=None)  # a configuration update: revised
    assert platform.get_function("fn").revision == revision + 1
    assert platform.invoke("fn", b"").json()["count"] == 3
    with pytest.raises(InvalidParameterError, match="reserved_concurrency"):
        platform.put_function_concurrency("fn", -1)
    platform.put_function_concurrency("fn", 0)
    with pytest.raises(TooManyRequestsError):
        platform.invoke("fn", b"")
    platform.update_function_configuration("fn", timeout=5)  # anything else deploys anew
    platform.put_function_concurrency("fn", None)
    assert platform.invoke("fn", b"").cold_start


async def _collect(into: list[object], invocation: Awaitable[object]) -> None:
    into.append(await invocation)


def test_a_platform_restores_its_reservations_under_a_smaller_account(
    tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        platform.create_function("fn", guest("echo"), config=FunctionConfig(reserved_concurrency=500))
    with SyncPlatform(data_dir=tmp_path, persistent=True, account_concurrency=100) as platform:
        assert platform.get_function("fn").config.reserved_concurrency == 500
        assert platform.invoke("fn", b"x").ok
        with pytest.raises(InvalidParameterError, match=r"minimum value of \[100\]"):
            platform.create_function("other", guest("echo"), config=FunctionConfig(reserved_concurrency=1))


async def test_worker_threads_stay_within_the_account_limit() -> None:
    # A slot is given back only once its thread counts as idle: else the next admitted job could find no idle
    # thread and start one more, past the bound the account's limit sets.
    scheduler = Scheduler(account_limit=2, unreserved_minimum=0)
    slot = scheduler.register("f", None)
    try:
        for _ in range(300):
            async with anyio.create_task_group() as tg:
                for _ in range(2):
                    tg.start_soon(scheduler.run, slot, lambda: None)
        assert len(scheduler._workers._threads) <= 2
        assert scheduler.in_flight() == 0
    finally:
        scheduler.close()
