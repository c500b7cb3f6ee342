"""The in-memory AsyncInvoker fallback: runs events, retries as Lambda does, drains at shutdown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest

from wasmfaas.errors import FunctionNotFoundError, TooManyRequestsError
from wasmfaas.results import FunctionError, InvocationResult
from wasmfaas.server.async_invoke import InMemoryAsyncInvoker

pytestmark = pytest.mark.anyio


def result(ok: bool = True) -> InvocationResult:
    error = None if ok else FunctionError(error_type="E", error_message="failed", handled=True)
    return InvocationResult(
        request_id="r",
        function_name="f",
        executed_version="$LATEST",
        payload=b"",
        function_error=error,
        cold_start=False,
        duration_ms=1.0,
        init_duration_ms=None,
        memory_size_mb=128,
        max_memory_used_mb=1,
    )


def scripted(
    *outcomes: object,
) -> tuple[Callable[[str, str | None, bytes], Awaitable[InvocationResult]], list[bytes]]:
    """An invoke function that returns (or raises) the given outcomes in turn, recording payloads."""
    calls: list[bytes] = []
    queue = list(outcomes)

    async def invoke(name: str, qualifier: str | None, payload: bytes) -> InvocationResult:
        calls.append(payload)
        outcome = queue.pop(0) if queue else result()
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, float):
            await anyio.sleep(outcome)
            return result()
        assert isinstance(outcome, InvocationResult)
        return outcome

    return invoke, calls


async def settle(invoker: InMemoryAsyncInvoker) -> None:
    with anyio.fail_after(5):
        while invoker.pending:
            await anyio.sleep(0.01)


async def test_an_event_runs_and_gets_a_request_id() -> None:
    invoke, calls = scripted()
    async with InMemoryAsyncInvoker(invoke) as invoker:
        request_id = await invoker.submit("f", None, b"hello")
        assert len(request_id) == 36
        await settle(invoker)
    assert calls == [b"hello"]


async def test_function_errors_are_retried_twice() -> None:
    invoke, calls = scripted(result(False), result(False), result(False), result())
    async with InMemoryAsyncInvoker(invoke, retry_delays=(0.01, 0.02)) as invoker:
        await invoker.submit("f", None, b"x")
        await settle(invoker)
    assert len(calls) == 3 and invoker.dropped == 1


async def test_a_retry_that_succeeds_is_not_dropped() -> None:
    invoke, calls = scripted(result(False), result())
    async with InMemoryAsyncInvoker(invoke, retry_delays=(0.01,)) as invoker:
        await invoker.submit("f", None, b"x")
        await settle(invoker)
    assert len(calls) == 2 and invoker.dropped == 0


async def test_throttles_back_off_until_admitted() -> None:
    throttle = TooManyRequestsError("busy", "ReservedFunctionConcurrentInvocationLimitExceeded")
    invoke, calls = scripted(throttle, throttle, throttle, result())
    async with InMemoryAsyncInvoker(invoke, throttle_backoff=(0.01, 0.02)) as invoker:
        await invoker.submit("f", None, b"x")
        await settle(invoker)
    assert len(calls) == 4 and invoker.dropped == 0


async def test_throttled_past_max_age_is_dropped() -> None:
    throttle = TooManyRequestsError("busy", "ConcurrentInvocationLimitExceeded")
    invoke, calls = scripted(*[throttle] * 100)
    async with InMemoryAsyncInvoker(invoke, throttle_backoff=(0.01, 0.01), max_event_age=0.05) as invoker:
        await invoker.submit("f", None, b"x")
        await settle(invoker)
    assert invoker.dropped == 1 and 1 <= len(calls) < 100


async def test_a_deleted_function_drops_the_event() -> None:
    invoke, calls = scripted(FunctionNotFoundError("gone"))
    async with InMemoryAsyncInvoker(invoke) as invoker:
        await invoker.submit("f", None, b"x")
        await settle(invoker)
    assert invoker.dropped == 1 and len(calls) == 1


async def test_a_full_queue_throttles_submit() -> None:
    invoke, _ = scripted(1.0, 1.0)
    async with InMemoryAsyncInvoker(invoke, max_pending=1, drain_timeout=0.01) as invoker:
        await invoker.submit("f", None, b"1")
        with pytest.raises(TooManyRequestsError) as e:
            await invoker.submit("f", None, b"2")
        assert e.value.reason == "FunctionInvocationRateLimitExceeded"


async def test_shutdown_drains_running_events_and_drops_waiting_ones() -> None:
    invoke, calls = scripted(0.2, result(False))
    invoker = InMemoryAsyncInvoker(invoke, retry_delays=(60.0,))
    async with invoker:
        await invoker.submit("f", None, b"running")
        await invoker.submit("f", None, b"will-wait")
        await anyio.sleep(0.05)
    # The running one finished (it was not cancelled), the one waiting 60 s for its retry was dropped at once.
    assert calls == [b"running", b"will-wait"]
    assert invoker.pending == 0 and invoker.dropped == 1
    with pytest.raises(RuntimeError):
        await invoker.submit("f", None, b"late")


async def test_drain_timeout_cancels_what_is_still_running() -> None:
    invoke, _ = scripted(10.0)
    with anyio.fail_after(3):
        async with InMemoryAsyncInvoker(invoke, drain_timeout=0.1) as invoker:
            await invoker.submit("f", None, b"slow")
            await anyio.sleep(0.02)
    assert invoker.pending == 0
