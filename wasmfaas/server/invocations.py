"""Every invocation the server makes -- Invoke, function URLs, and Event invocations -- goes through here, so the
metrics, the log book and the response size limit apply the same way to each.
"""

from __future__ import annotations

from typing import Final

import msgspec

from ..errors import FunctionNotFoundError, TooManyRequestsError
from ..invoker import MAX_SYNC_PAYLOAD
from ..platform import Platform
from ..results import FunctionError, InvocationResult
from .logbook import LogBook
from .metrics import Metrics

__all__ = ["MAX_RESPONSE_PAYLOAD", "InvocationRunner"]

# Lambda's response limit: a bigger response becomes an Unhandled function error, as on AWS.
MAX_RESPONSE_PAYLOAD: Final = MAX_SYNC_PAYLOAD
_TOO_LARGE: Final = FunctionError(
    error_type="Function.ResponseSizeTooLarge",
    error_message=f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_PAYLOAD} bytes).",
)


class InvocationRunner:
    def __init__(self, platform: Platform, metrics: Metrics, logbook: LogBook) -> None:
        self.platform = platform
        self.metrics = metrics
        self.logbook = logbook

    async def invoke(self, name: str, qualifier: str | None, payload: bytes) -> InvocationResult:
        """Invoke synchronously; raises the platform's errors (not found, throttled, payload too large)."""
        metrics = self.metrics.function(name)
        metrics.concurrent += 1
        try:
            result = await self.platform.invoke(name, payload, qualifier=qualifier)
        except TooManyRequestsError as e:
            self.metrics.throttled(name, e.reason)
            raise
        except FunctionNotFoundError:
            self.metrics.forget(name)  # its series were made just now, for a function that is not there
            raise
        finally:
            metrics.concurrent -= 1
        if len(result.payload) > MAX_RESPONSE_PAYLOAD:
            result = msgspec.structs.replace(
                result, payload=_TOO_LARGE.to_payload(result.request_id), function_error=_TOO_LARGE
            )
        metrics.record(result)
        self.logbook.add(result)
        return result
