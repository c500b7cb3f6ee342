"""Every invocation the server makes -- Invoke, function URLs, and Event invocations -- goes through here, so the
metrics, the log store and the response size limit apply the same way to each.
"""

from __future__ import annotations

import contextlib
from typing import Final

import msgspec

from ..errors import FunctionNotFoundError, PlatformClosedError, TooManyRequestsError
from ..guests.reactor import MAX_RESPONSE_BYTES
from ..logstore import LogStore
from ..platform import Platform
from ..results import FunctionError, InvocationResult
from .metrics import FunctionMetrics, Metrics

__all__ = ["MAX_RESPONSE_PAYLOAD", "InvocationRunner"]

# Lambda's response limit: a bigger response becomes an Unhandled function error, as on AWS.
MAX_RESPONSE_PAYLOAD: Final = MAX_RESPONSE_BYTES
_TOO_LARGE: Final = FunctionError(
    error_type="Function.ResponseSizeTooLarge",
    error_message=f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_PAYLOAD} bytes).",
)


class InvocationRunner:
    def __init__(self, platform: Platform, metrics: Metrics, logs: LogStore) -> None:
        self.platform = platform
        self.metrics = metrics
        self.logs = logs

    async def invoke(
        self, name: str, qualifier: str | None, payload: bytes, *, request_id: str | None = None
    ) -> InvocationResult:
        """Invoke synchronously; raises the platform's errors (not found, throttled, payload too large)."""
        result, metrics = await self._run(name, qualifier, payload, request_id)
        if metrics is not None:
            with contextlib.suppress(PlatformClosedError):  # the log store closed first: shutting down
                if not self.logs.append(result):
                    metrics.logs_dropped += 1
        return result

    async def _run(
        self, name: str, qualifier: str | None, payload: bytes, request_id: str | None
    ) -> tuple[InvocationResult, FunctionMetrics | None]:
        """The invocation, counted; and the function's metrics, or None if its log is not to be kept."""
        metrics = self.metrics.function(name)
        metrics.concurrent += 1
        incarnation = self.platform.incarnation(name)
        try:
            result = await self.platform.invoke(name, payload, qualifier=qualifier, request_id=request_id)
        except TooManyRequestsError as e:
            self.metrics.throttled(name, e.reason)
            raise
        except FunctionNotFoundError:
            if not self.platform.has_function(name):  # its series were made just now, for no function
                self.metrics.forget(name)  # (a missing version or alias of one that is keeps its counts)
            raise
        finally:
            metrics.concurrent -= 1
        if len(result.payload) > MAX_RESPONSE_PAYLOAD:
            result = msgspec.structs.replace(
                result, payload=_TOO_LARGE.to_payload(result.request_id), function_error=_TOO_LARGE
            )
        if self.platform.incarnation(name) != incarnation:
            return result, None  # deleted while it ran: its counts and logs went with it (a new function may have it)
        metrics.record(result)
        return result, metrics

    def refusal(self, name: str) -> TooManyRequestsError | None:
        """The throttle an invocation of `name` would get now (counted as one), or None; the check at the door that
        lets a flood of over-the-limit requests be answered without reading them (see invoke.py)."""
        refused = self.platform.refusal(name)
        if refused is not None:
            self.metrics.throttled(name, refused.reason)
        return refused

    async def invoke_event(
        self, name: str, qualifier: str | None, payload: bytes, /, *, request_id: str
    ) -> InvocationResult:
        """One attempt of an Event invocation (the AsyncInvoker's invoke function), under the event's request id.

        It returns once the attempt's log is committed, so the event is acknowledged only after its log is stored:
        a crash between the two runs the event again (at least once) but never loses the log of a finished one. (If
        the log writer is behind, the attempt waits for it rather than drop the log; a log the store cannot write --
        a full disk -- is logged as dropped, and the event goes on: running it again would not write it either.)
        """
        result, metrics = await self._run(name, qualifier, payload, request_id)
        if metrics is not None:
            with contextlib.suppress(PlatformClosedError):
                await self.logs.put(result)
            await self.logs.flush()
        return result
