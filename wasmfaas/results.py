"""What an invocation returns: the payload or the function's error, the cold-start flag, measurements and logs.

The log text is framed as Lambda frames it (START / the guest's lines / END / REPORT) but only when asked for:
`InvocationResult.log` builds it from the fields, so the invoke path pays nothing for formatting.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import msgspec

__all__ = ["FunctionError", "InvocationResult", "log_time"]


def log_time() -> str:
    """Now, as the platform's own log lines begin (Lambda's "2024-01-15T10:00:00.000Z")."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class FunctionError(msgspec.Struct, frozen=True, kw_only=True):
    """A function error, as Lambda reports it: `Handled` when the guest reported it, `Unhandled` otherwise."""

    error_type: str
    error_message: str
    stack_trace: list[str] = msgspec.field(default_factory=list)
    handled: bool = False

    @property
    def kind(self) -> str:
        """The `X-Amz-Function-Error` header value."""
        return "Handled" if self.handled else "Unhandled"

    def to_payload(self, request_id: str | None = None, *, node: bool = False) -> bytes:
        """Lambda's error body: `{"errorMessage", "errorType", "requestId", "stackTrace"}`; `node`: as its Node.js
        runtime writes it, `{"errorType", "errorMessage", "trace"}`."""
        if node:
            return msgspec.json.encode(
                {"errorType": self.error_type, "errorMessage": self.error_message, "trace": self.stack_trace}
            )
        body: dict[str, Any] = {"errorMessage": self.error_message, "errorType": self.error_type}
        if request_id is not None:
            body["requestId"] = request_id
        body["stackTrace"] = self.stack_trace
        return msgspec.json.encode(body)


class InvocationResult(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one invocation.

    `payload` is the response bytes, or on a function error Lambda's error body (`function_error` says which).
    Durations are in milliseconds; `init_duration_ms` is set on cold starts only; `max_memory_used_mb` is the
    environment's linear-memory high-water mark; `fuel_consumed` is set when the function has a fuel budget.
    """

    request_id: str
    function_name: str
    executed_version: str
    payload: bytes
    function_error: FunctionError | None
    cold_start: bool
    duration_ms: float
    init_duration_ms: float | None
    memory_size_mb: int
    max_memory_used_mb: int
    fuel_consumed: int | None = None
    guest_log: bytes = b""
    init_log: bytes = b""  # what a cold start's init wrote (logged before START, as Lambda's INIT phase is)

    @property
    def ok(self) -> bool:
        return self.function_error is None

    @property
    def billed_duration_ms(self) -> int:
        """Lambda bills in whole milliseconds, rounded up (and at least 1)."""
        return max(1, math.ceil(self.duration_ms))

    def json(self) -> Any:
        """The payload decoded as JSON."""
        return msgspec.json.decode(self.payload)

    @property
    def log(self) -> str:
        """The invocation's log, framed as Lambda frames it."""
        rid = self.request_id
        text = self.guest_log.decode("utf-8", "replace")
        if text and not text.endswith("\n"):
            text += "\n"
        report = (
            f"REPORT RequestId: {rid}\tDuration: {self.duration_ms:.2f} ms"
            f"\tBilled Duration: {self.billed_duration_ms} ms\tMemory Size: {self.memory_size_mb} MB"
            f"\tMax Memory Used: {self.max_memory_used_mb} MB"
        )
        if self.init_duration_ms is not None:
            report += f"\tInit Duration: {self.init_duration_ms:.2f} ms"
        if self.fuel_consumed is not None:
            report += f"\tFuel Consumed: {self.fuel_consumed}"
        init = self.init_log.decode("utf-8", "replace")
        if init and not init.endswith("\n"):
            init += "\n"
        return (
            f"{init}START RequestId: {rid} Version: {self.executed_version}\n{text}END RequestId: {rid}\n{report}\n"
        )
