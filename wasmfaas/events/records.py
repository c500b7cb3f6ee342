"""The records of asynchronous invocation: a queued event, Lambda's invocation record, and a dead letter.

`QueuedEvent` is what the queue holds (stored as MessagePack: the payload is raw bytes). `InvocationRecord` is what
a destination function receives, field for field as Lambda sends it. `DeadLetter` is an event that failed for good
and had nowhere else to go (stored as JSON, which keeps the record's raw JSON payloads as they are).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import msgspec

__all__ = [
    "AttemptResult",
    "DeadLetter",
    "InvocationRecord",
    "QueuedEvent",
    "RequestContext",
    "ResponseContext",
    "json_or_string",
    "lambda_timestamp",
]

RECORD_VERSION: Final = "1.0"


class AttemptResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the last invocation of an event returned; kept across retries for the final invocation record."""

    executed_version: str
    payload: bytes
    function_error: str | None = None  # "Handled" / "Unhandled"
    error: str | None = None  # "<errorType>: <errorMessage>", for dead-letter reasons


class QueuedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One asynchronous invocation waiting in the queue (or leased to a worker).

    `id` is the request id `submit` returned. `attempts` counts the invocations that ran (Lambda's
    approximateInvokeCount); `throttles` counts refusals by a concurrency limit, which do not use up retries.
    `hops` is the length of the destination chain that produced this event (a guard against endless loops).
    `delivery` is set by `claim`: how many times the event has been claimed; it is the lease's token, so a worker
    whose lease expired and was taken over cannot ack or retry the event any more.
    """

    id: str
    function_name: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float
    attempts: int = 0
    throttles: int = 0
    hops: int = 0
    last_result: AttemptResult | None = None
    delivery: int = 0


class RequestContext(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    request_id: str
    function_arn: str
    condition: str  # "Success" | "RetriesExhausted" | "EventAgeExceeded"
    approximate_invoke_count: int


class ResponseContext(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    status_code: int
    executed_version: str
    function_error: str | None = None


class InvocationRecord(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Lambda's invocation record, sent to a destination; payloads are embedded as raw JSON.

    The response fields are absent when the event never ran (it aged out while throttled); both payloads are, as
    Lambda drops them, when the record would be over what its destination can take.
    """

    version: str
    timestamp: str
    request_context: RequestContext
    request_payload: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    response_context: ResponseContext | None = None
    response_payload: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """An event that failed for good with no OnFailure destination to take it (or whose destination was gone).

    `condition` is the record's condition, or why no record could be delivered: "RetriesExhausted",
    "EventAgeExceeded", "DestinationNotFound", "FunctionNotFound", "RequestTooLarge", "InvalidRequestContent" (a
    payload that is not JSON, queued for a function whose code became Python or JavaScript), "RecursiveInvocation".
    `reason` says it in words. `payload` is the event as submitted; `replay` enqueues it again.
    """

    id: str
    request_id: str
    function_name: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float
    failed_at: float
    condition: str
    reason: str
    attempts: int
    record: InvocationRecord | None = None


def json_or_string(data: bytes) -> msgspec.Raw:
    """`data` as raw JSON when it is JSON, else as a JSON string (what a record can carry); empty is null."""
    if not data:
        return msgspec.Raw(b"null")
    try:
        data.decode()  # Raw takes strings as they are: invalid UTF-8 would make the record invalid JSON
        return msgspec.json.decode(data, type=msgspec.Raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return msgspec.Raw(msgspec.json.encode(data.decode("utf-8", "replace")))


def lambda_timestamp(t: float) -> str:
    """Lambda's record timestamp: ISO 8601 UTC with milliseconds, `2019-11-14T18:16:05.568Z`."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
