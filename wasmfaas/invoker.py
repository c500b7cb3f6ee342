"""One invocation, end to end below the API: request id and deadline, scheduling, and the result record.

`invoke_sync` runs in the calling thread (the synchronous API: a warm call costs a few microseconds on top of the
guest); `invoke` runs the guest on a worker thread for the async API -- or, for a function version its pool has
seen to be fast, on the event loop's thread under a short slice, moving to a thread only if the slice runs out
(pool.py, "Inline runs"). Both go through the same scheduler, so the concurrency limits hold across them.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from dataclasses import dataclass
from typing import Final

import msgspec

from .errors import InvalidParameterError, InvalidPayloadError, PayloadTooLargeError
from .guests.base import Request
from .pool import Pool, Run
from .results import InvocationResult, log_time
from .scheduler import Concurrency, Scheduler

__all__ = ["MAX_SYNC_PAYLOAD", "Invoker", "Target", "check_json_payload", "new_request_id"]

# Lambda's synchronous request limit (6 MB).
MAX_SYNC_PAYLOAD: Final = 6 * 1024 * 1024
_MIB: Final = 1024 * 1024
_REQUEST_ID: Final = re.compile(r"[\x21-\x7e]{1,36}")
# The errors of a runtime that exited, which Lambda words "RequestId: <id> Error: Runtime exited ...".
_EXITS: Final = frozenset({"Runtime.ExitError", "Runtime.OutOfMemory"})

# Request ids have a UUID's form: a random per-process prefix and a counter, unique and ~10x cheaper than uuid4().
_PREFIX: Final = os.urandom(10).hex()
_PREFIX_FMT: Final = f"{_PREFIX[:8]}-{_PREFIX[8:12]}-4{_PREFIX[13:16]}-a{_PREFIX[17:20]}-"
_COUNTER = itertools.count(int.from_bytes(os.urandom(3), "big") << 24)


def new_request_id() -> str:
    return f"{_PREFIX_FMT}{next(_COUNTER) & 0xFFFFFFFFFFFF:012x}"


def check_json_payload(payload: bytes) -> None:
    """Raise `InvalidPayloadError` unless `payload` is empty or one JSON value in UTF-8: what a Python or
    JavaScript function takes, and what Lambda's Invoke checks before the function runs (validated without building
    it: ~1 ms a MB)."""
    if not payload:
        return
    try:
        msgspec.json.decode(payload, type=msgspec.Raw)
        if not payload.isascii():
            payload.decode()  # Raw does not look inside strings
    except RecursionError:
        return  # nested past Python's recursion limit: the runtime's own parser judges it (Runtime.UnmarshalError)
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        if isinstance(e, msgspec.DecodeError) and _json_with_lone_surrogates(payload):
            return
        raise InvalidPayloadError(
            f"Could not parse request body into json: Could not parse payload into json: {e}"
        ) from None


def _json_with_lone_surrogates(payload: bytes) -> bool:
    """Whether `payload` is JSON after all: msgspec refuses an escaped lone surrogate ("\\ud83d", which JSON allows
    and JSON.stringify writes for a string cut inside a pair), both runtimes' parsers take it. Python's parser, on
    the rare payload msgspec refused, with NaN and Infinity refused as Lambda's parser refuses them."""
    if b"\\u" not in payload:
        return False
    try:
        json.loads(payload.decode(), parse_constant=_not_json)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return False
    return True


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")


@dataclass(frozen=True, slots=True, eq=False)
class Target:
    """What an invocation runs on: a function version's pool, its limits and its identity."""

    function_name: str
    version: str
    pool: Pool
    concurrency: Concurrency
    memory_mb: int
    timeout: float
    fuel: int | None
    node_errors: bool = False  # error bodies as Lambda's Node.js runtime writes them (FunctionError.to_payload)
    json_payloads: bool = False  # a Python or JavaScript function: payloads must be JSON (check_json_payload)


class Invoker:
    """`inline`: let the async path run fast functions on the event loop's thread (pool.py, "Inline runs")."""

    def __init__(self, scheduler: Scheduler, *, inline: bool = True) -> None:
        self.scheduler = scheduler
        self.inline = inline

    def invoke_sync(
        self, target: Target, payload: bytes, request_id: str | None = None, qualifier: str | None = None
    ) -> InvocationResult:
        request = self._request(target, payload, request_id, qualifier)
        pool = target.pool
        run = self.scheduler.run_sync(target.concurrency, lambda: pool.run(request))
        return self._result(target, request, run)

    async def invoke(
        self, target: Target, payload: bytes, request_id: str | None = None, qualifier: str | None = None
    ) -> InvocationResult:
        request = self._request(target, payload, request_id, qualifier)
        pool = target.pool
        if not (self.inline and pool.inline_ready):
            run = await self.scheduler.run(target.concurrency, lambda: pool.run(request))
            return self._result(target, request, run)
        scheduler, slot = self.scheduler, target.concurrency
        scheduler.acquire(slot)
        try:
            inline = pool.run_inline(request)
        except BaseException:
            scheduler.release(slot)
            raise
        if inline is not None and not inline.outcome.preempted:
            scheduler.release(slot)
            return self._result(target, request, inline)
        # No warm environment, or the slice ran out: on a thread, keeping the slot. The run gets the whole timeout,
        # so a preempted invocation may end up to one slice (<= 20 ms) past it; its Duration counts the slice too.
        spent = inline.duration_ms if inline is not None else 0.0
        run = await scheduler.run(slot, lambda: pool.run(request), admitted=True)
        run.duration_ms += spent
        if inline is not None and inline.outcome.init_log:  # the init of the stopped attempt's environment
            run.outcome.init_log = inline.outcome.init_log + run.outcome.init_log
        return self._result(target, request, run)

    @staticmethod
    def _request(target: Target, payload: bytes, request_id: str | None, qualifier: str | None) -> Request:
        if len(payload) > MAX_SYNC_PAYLOAD:
            raise PayloadTooLargeError(
                f"Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the invoke operation ({len(payload)})"
            )
        if target.json_payloads:
            check_json_payload(payload)
        if request_id is None:
            request_id = new_request_id()
        elif not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
            # It goes into the guest's 36-byte header field and into every log line of the invocation.
            raise InvalidParameterError("request_id", f"must be 1-36 printable ASCII characters, got {request_id!r}")
        # The deadline is set when the handler starts (Pool.run): Lambda's timeout counts from there.
        return Request(request_id, payload, 0, target.timeout, qualifier=qualifier)

    @staticmethod
    def _result(target: Target, request: Request, run: Run) -> InvocationResult:
        outcome = run.outcome
        error = outcome.error
        log = outcome.log
        payload = outcome.payload
        if run.rerun_fresh:
            # The first attempt's log is dropped, as a stopped inline attempt's is; this line says it happened.
            stamp = log_time()
            note = (
                f"{stamp} {request.request_id} [WARN] Runtime.OutOfMemory in a warm environment: "
                "ran again in a fresh environment\n"
            )
            log = note.encode() + log
        if error is not None:
            exited = error.error_type in _EXITS and error.error_message.startswith("Runtime exited")
            if exited:  # Lambda's words for a runtime that exited: "RequestId: <id> Error: Runtime exited ..."
                error = msgspec.structs.replace(
                    error, error_message=f"RequestId: {request.request_id} Error: {error.error_message}"
                )
            payload = error.to_payload(request.request_id if not error.handled else None, node=target.node_errors)
            if not error.handled and not outcome.error_logged:
                # Lambda writes the platform's view of a crash into the log stream too.
                stamp = log_time()
                if log and not log.endswith(b"\n"):
                    log += b"\n"
                if exited:
                    line = f"{error.error_message}\n{error.error_type}"  # as Lambda logs it
                elif error.error_type == "Sandbox.Timedout":
                    line = f"{stamp} {request.request_id} {error.error_message}"
                else:
                    line = f"{stamp} {request.request_id} [ERROR] {error.error_type}: {error.error_message}"
                if error.stack_trace:  # a trap's wasm frames, as a runtime logs a traceback
                    line += "\nwasm backtrace:\n" + "\n".join(f"    at {frame}" for frame in error.stack_trace)
                log += line.encode() + b"\n"
        return InvocationResult(
            request_id=request.request_id,
            function_name=target.function_name,
            executed_version=target.version,
            payload=payload,
            function_error=error,
            cold_start=run.cold_start,
            duration_ms=run.duration_ms,
            init_duration_ms=run.init_duration_ms,
            memory_size_mb=target.memory_mb,
            max_memory_used_mb=math.ceil(outcome.memory_bytes / _MIB),
            fuel_consumed=outcome.fuel_consumed,
            guest_log=log,
            init_log=outcome.init_log,
        )
