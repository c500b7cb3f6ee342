"""Event (asynchronous) invocations: the `AsyncInvoker` interface and its in-memory fallback.

Invoke with `X-Amz-Invocation-Type: Event` hands the payload to an `AsyncInvoker` and answers 202 at once. The
server builds its invoker from an `AsyncInvokerFactory` when it starts: a durable queue plugs in there. Until one
does, `InMemoryAsyncInvoker` runs each event as a task in its own task group, with Lambda's retry rules:

- a function error is retried `max_retry_attempts` times (Lambda's default 2), after `retry_delays` (1 and 2 min);
- a throttle is retried with exponential backoff (1 s doubling to 5 min) until the event is `max_event_age` old;
- a function deleted meanwhile drops the event.

It is NOT durable: events waiting for a retry are lost if the process stops. At shutdown it stops taking events,
lets the attempts that are running finish (drain; at most `drain_timeout` seconds if set), and drops the ones
waiting for a retry, logging how many.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Final, Protocol, Self

import anyio
import anyio.abc

from ..errors import FunctionNotFoundError, TooManyRequestsError
from ..invoker import new_request_id
from ..platform import Platform
from ..results import InvocationResult

__all__ = [
    "MAX_ASYNC_PAYLOAD",
    "AsyncInvoker",
    "AsyncInvokerFactory",
    "InMemoryAsyncInvoker",
    "InvokeFunction",
]

logger = logging.getLogger("wasmfaas.server")

# Lambda's limit for an Event payload (1 MB since 2025).
MAX_ASYNC_PAYLOAD: Final = 1024 * 1024

InvokeFunction = Callable[[str, str | None, bytes], Awaitable[InvocationResult]]


class AsyncInvoker(Protocol):
    async def submit(self, function_name: str, qualifier: str | None, payload: bytes) -> str:
        """Accept an event for later invocation; return its request id. Raises TooManyRequestsError when full."""
        ...


# Called once at server start with the platform and the server's invoke function (which records metrics and
# logs); the context manager's exit must drain or persist what it holds.
AsyncInvokerFactory = Callable[[Platform, InvokeFunction], AbstractAsyncContextManager[AsyncInvoker]]


class InMemoryAsyncInvoker:
    """The fallback AsyncInvoker: events run in this process, retried as Lambda retries; not durable."""

    def __init__(
        self,
        invoke: InvokeFunction,
        *,
        max_pending: int = 10_000,
        max_retry_attempts: int = 2,
        retry_delays: tuple[float, ...] = (60.0, 120.0),
        throttle_backoff: tuple[float, float] = (1.0, 300.0),
        max_event_age: float = 6 * 3600.0,
        drain_timeout: float | None = None,
    ) -> None:
        self._invoke = invoke
        self.max_pending = max_pending
        self.max_retry_attempts = max_retry_attempts
        self.retry_delays = retry_delays
        self.throttle_backoff = throttle_backoff
        self.max_event_age = max_event_age
        self.drain_timeout = drain_timeout
        self.pending = 0  # accepted and not finished
        self.running = 0  # attempts running now
        self.dropped = 0  # given up (retries exhausted, too old, function gone, shutdown)
        self._closing = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        self._tg = await anyio.create_task_group().__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        tg, self._tg = self._tg, None
        self._closing.set()
        waiting = self.pending - self.running
        if waiting:
            logger.warning("dropping %d event(s) waiting for a retry: the in-memory queue is not durable", waiting)
        if self.running:
            logger.info("draining %d running event invocation(s)", self.running)
        if tg is None:
            return
        if self.drain_timeout is not None:
            with anyio.move_on_after(self.drain_timeout):
                while self.running:
                    await anyio.sleep(0.05)
            if self.running:
                logger.warning(
                    "cancelling %d event invocation(s) still running after the drain timeout", self.running
                )
            tg.cancel_scope.cancel()
        await tg.__aexit__(None, None, None)

    async def submit(self, function_name: str, qualifier: str | None, payload: bytes) -> str:
        if self._tg is None or self._closing.is_set():
            raise RuntimeError("the async invoker is not running")
        if self.pending >= self.max_pending:
            raise TooManyRequestsError(
                f"Rate Exceeded: {self.max_pending} events are queued", "FunctionInvocationRateLimitExceeded"
            )
        request_id = new_request_id()
        self.pending += 1
        self._tg.start_soon(self._run, function_name, qualifier, payload, request_id)
        return request_id

    async def _run(self, name: str, qualifier: str | None, payload: bytes, request_id: str) -> None:
        try:
            await self._deliver(name, qualifier, payload, request_id)
        finally:
            self.pending -= 1

    async def _deliver(self, name: str, qualifier: str | None, payload: bytes, request_id: str) -> None:
        accepted = time.monotonic()
        failures = 0
        backoff = self.throttle_backoff[0]
        while not self._closing.is_set():
            self.running += 1
            try:
                result = await self._invoke(name, qualifier, payload)
            except TooManyRequestsError:
                delay, backoff = backoff, min(backoff * 2, self.throttle_backoff[1])
                if time.monotonic() - accepted + delay > self.max_event_age:
                    return self._drop(request_id, name, "it stayed throttled past its maximum age")
                await self._wait(delay)
                continue
            except FunctionNotFoundError:
                return self._drop(request_id, name, "the function no longer exists")
            except Exception:
                # Not the function's fault: log it and drop the event rather than retry a platform bug forever.
                logger.exception("event %s for %s failed in the platform", request_id, name)
                return self._drop(request_id, name, "the platform failed")
            finally:
                self.running -= 1
            if result.ok:
                return None
            failures += 1
            if failures > self.max_retry_attempts:
                return self._drop(request_id, name, f"it failed {failures} times ({result.function_error})")
            delays = self.retry_delays
            await self._wait(delays[min(failures - 1, len(delays) - 1)] if delays else 0.0)
        return self._drop(request_id, name, "the server shut down before its retry")

    async def _wait(self, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            await self._closing.wait()

    def _drop(self, request_id: str, name: str, why: str) -> None:
        self.dropped += 1
        logger.warning("dropped event %s for %s: %s", request_id, name, why)

