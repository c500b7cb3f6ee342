"""Asynchronous invocation: the durable event queue, EventInvokeConfig, destinations and dead letters."""

from __future__ import annotations

from .async_invoker import (
    DEAD_LETTER_RETENTION_S,
    MAX_ASYNC_PAYLOAD,
    MAX_DESTINATION_HOPS,
    AsyncInvoker,
    InvokeFunction,
)
from .invoke_config import (
    Destination,
    DestinationConfig,
    EventInvokeConfig,
    EventInvokeConfigNotFoundError,
    FunctionEventInvokeConfig,
    StoredInvokeConfig,
    function_arn,
    parse_destination,
)
from .queue import DeadLetterNotFoundError, EventQueue, InvokeConfigStore, SqliteEventQueue
from .records import AttemptResult, DeadLetter, InvocationRecord, QueuedEvent, RequestContext, ResponseContext

__all__ = [
    "DEAD_LETTER_RETENTION_S",
    "MAX_ASYNC_PAYLOAD",
    "MAX_DESTINATION_HOPS",
    "AsyncInvoker",
    "AttemptResult",
    "DeadLetter",
    "DeadLetterNotFoundError",
    "Destination",
    "DestinationConfig",
    "EventInvokeConfig",
    "EventInvokeConfigNotFoundError",
    "EventQueue",
    "FunctionEventInvokeConfig",
    "InvocationRecord",
    "InvokeConfigStore",
    "InvokeFunction",
    "QueuedEvent",
    "RequestContext",
    "ResponseContext",
    "SqliteEventQueue",
    "StoredInvokeConfig",
    "function_arn",
    "parse_destination",
]
