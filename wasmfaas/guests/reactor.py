"""Guest kind 2: a core module with the wasmfaas reactor ABI (docs/abi.md), reused across invocations.

A warm invocation is one call into the guest: the request header and event are copied straight into the guest's
request region (obtained once from `wasmfaas_buffer` and reused while large enough), `wasmfaas_handle` runs, and the
response is copied out of linear memory.
"""

from __future__ import annotations

import struct
import time
from ctypes import c_uint64
from typing import Final

import msgspec
import wasmtime

from .._native import Handles, WasmCall, context_of, get_exports, instantiate, memory_view, set_deadline
from ..results import FunctionError
from .base import (
    UNMETERED_FUEL,
    Environment,
    EnvironmentSpec,
    InitError,
    Outcome,
    Request,
    classify_failure,
    new_store,
    stopped,
    was_preempted,
)
from .wasi import GuestIO, bind

__all__ = ["HEADER_SIZE", "INIT_TIMEOUT_S", "MAX_RESPONSE_BYTES", "ReactorEnvironment"]

ABI_VERSION: Final = 1
HEADER_SIZE: Final = 64
# Lambda's init phase gets 10 s of its own, whatever the function's timeout.
INIT_TIMEOUT_S: Final = 10.0
# Lambda's synchronous response limit: 6 MiB and 100 bytes, as its error message says ("... (6291556 bytes)").
MAX_RESPONSE_BYTES: Final = 6 * 1024 * 1024 + 100
_HEADER: Final = struct.Struct("<IIQ36s12x")
_NO_SLICE: Final = c_uint64(0)  # never set as a deadline: replaced by the first inline slice's ticks
_RESULT: Final = struct.Struct("<III")
_EXPORTS: Final = (b"memory", b"wasmfaas_buffer", b"wasmfaas_handle", b"_initialize")
STATUS_OK: Final = 0
STATUS_ERROR: Final = 1
# The guest's runtime failed (an SDK's allocation, say): the error it names is Unhandled, and the environment goes.
STATUS_FAILED: Final = 2


class _ErrorBody(msgspec.Struct):
    errorType: str = "Error"
    errorMessage: str = ""
    stackTrace: list[str] = msgspec.field(default_factory=list)


def _error_body(data: bytes) -> _ErrorBody:
    try:
        return msgspec.json.decode(data, type=_ErrorBody)
    except UnicodeDecodeError:  # invalid UTF-8 in a string: what the guest meant, its bad bytes as U+FFFD
        return _error_body(data.decode("utf-8", "replace").encode())
    except msgspec.DecodeError:
        return _ErrorBody(errorType="Error", errorMessage=data.decode("utf-8", "replace"))


class ReactorEnvironment(Environment):
    kind = "reactor"

    def __init__(self, spec: EnvironmentSpec) -> None:
        start = time.perf_counter()
        self.spec = spec
        self.io = GuestIO(stop=spec.engine.closing)
        self.store: wasmtime.Store | None = None
        self.memory_bytes = 0
        try:
            self._instantiate()
        except BaseException:
            self.close()
            raise
        self.last_used = time.monotonic()
        self.init_duration_ms = (time.perf_counter() - start) * 1000.0

    def _instantiate(self) -> None:
        spec = self.spec
        store = self.store = new_store(spec)
        io = self.io
        io.monotonic_origin = time.monotonic_ns()
        io.deadline = time.monotonic() + INIT_TIMEOUT_S
        bind(io)
        ctx = context_of(store)
        if spec.fuel is not None:
            store.set_fuel(UNMETERED_FUEL)  # init has its own timeout, not the invocations' budget
        set_deadline(ctx, spec.engine.deadline_ticks(INIT_TIMEOUT_S))
        try:
            instance = instantiate(store, spec.code.instance_pre, ctx)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:  # a start function's trap is a Trap
            error = classify_failure(e, spec, 0, INIT_TIMEOUT_S)
            raise InitError(_as_init_error(error), self.io.take_log()) from None
        memory, buffer, handle, init = get_exports(ctx, instance, _EXPORTS)
        # Prebuilt native handles: the hot path calls the C API directly (see _native).
        native = self._native = Handles(store, memory, ctx)
        self._ticks = c_uint64(spec.engine.deadline_ticks(spec.timeout))
        self._slice_ticks = _NO_SLICE  # the last inline slice's (see pool.run_inline), made once
        self._base = native.memory_base()
        self._buffer = WasmCall(native, buffer, 1, 1)
        self._handle = WasmCall(native, handle, 2, 1)
        self._region = 0
        self._region_size = 0
        if init is not None:
            failure = WasmCall(native, init, 0, 0)()
            if failure is not None:
                size = native.memory_size()
                error = classify_failure(failure, spec, size, INIT_TIMEOUT_S)
                raise InitError(_as_init_error(error), self.io.take_log(), memory_bytes=size)
        if io.log or io.dropped:  # (most inits write nothing: no call for them)
            self.init_log = io.take_log()
        self.memory_bytes = native.memory_size()
        self._view = memory_view(self._base, self.memory_bytes)

    def invoke(self, request: Request) -> Outcome:
        spec = self.spec
        native = self._native
        lag = spec.engine.lag()  # (mostly 0: the prebuilt deadlines then serve)
        if request.slice_ticks:
            if lag:
                native.set_deadline(c_uint64(request.slice_ticks + lag))
            else:
                if request.slice_ticks != self._slice_ticks.value:
                    self._slice_ticks = c_uint64(request.slice_ticks)
                native.set_deadline(self._slice_ticks)
        elif request.timeout == spec.timeout and not lag:
            native.set_deadline(self._ticks)
        else:
            native.set_deadline(c_uint64(spec.engine.deadline_ticks(request.timeout) + lag))
        if spec.fuel is not None:
            native.set_fuel(spec.fuel)
        io = self.io
        io.deadline = time.monotonic() + request.timeout
        io.inline = request.slice_ticks != 0
        bind(io)
        payload = request.payload
        length = len(payload)
        need = HEADER_SIZE + length
        if need > self._region_size:
            refused = self._reserve(need, request)
            if refused is not None:
                return refused
        region = self._region
        view = self._view
        _HEADER.pack_into(view, region, ABI_VERSION, HEADER_SIZE, request.deadline_ms, request.request_id.encode())
        view[region + HEADER_SIZE : region + need] = payload
        call = self._handle
        args = call.args
        args[0].i32 = region  # ctypes keeps the low 32 bits: a region above 2 GiB goes through as the guest's u32
        args[1].i32 = length
        failure = call()
        size = native.memory_size()
        if size > self.memory_bytes:
            self.memory_bytes = size
            self._view = memory_view(self._base, size)
        if failure is not None:
            return self._failed(failure, request)
        outcome = self._read_result(args[0].i32 & 0xFFFFFFFF, size)
        outcome.log = self.io.take_log()
        outcome.memory_bytes = size
        if spec.fuel is not None:
            outcome.fuel_consumed = spec.fuel - native.get_fuel()
        return outcome

    def _reserve(self, need: int, request: Request) -> Outcome | None:
        """Ask the guest for a request region of `need` bytes (only when the last one is too small)."""
        call = self._buffer
        call.args[0].i32 = need
        failure = call()
        if failure is not None:
            return self._failed(failure, request)
        region = call.args[0].i32 & 0xFFFFFFFF
        size = self._native.memory_size()
        if size > self.memory_bytes:
            self.memory_bytes = size
            self._view = memory_view(self._base, size)
        if region == 0 or region + need > size:
            error = FunctionError(
                error_type="Runtime.OutOfMemory" if region == 0 else "Runtime.InvalidResponse",
                error_message=f"wasmfaas_buffer({need}) returned {region}: the guest could not hold the request",
            )
            # The guest may have freed its last region in this call: never write into it again (and, as for any
            # out-of-memory failure, the environment goes).
            self._region = self._region_size = 0
            return Outcome(payload=b"", error=error, discard=True, log=self.io.take_log())
        self._region, self._region_size = region, need
        return None

    def _read_result(self, result: int, size: int) -> Outcome:
        if result + _RESULT.size > size:
            return self._invalid(f"the result record at {result} lies outside memory ({size} bytes)")
        status, ptr, length = _RESULT.unpack_from(self._view, result)
        if ptr + length > size:
            return self._invalid(f"the payload at {ptr} (+{length}) lies outside memory ({size} bytes)")
        if length > MAX_RESPONSE_BYTES:
            error = FunctionError(
                error_type="Function.ResponseSizeTooLarge",
                error_message=f"Response payload size ({length} bytes) exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes).",
            )
            return Outcome(payload=b"", error=error, discard=status == STATUS_FAILED)  # a failure's env goes anyway
        data = self._view[ptr : ptr + length].tobytes()
        if status == STATUS_OK:
            return Outcome(payload=data)
        if status == STATUS_ERROR:
            body = _error_body(data)
            error = FunctionError(
                error_type=body.errorType, error_message=body.errorMessage, stack_trace=body.stackTrace, handled=True
            )
            return Outcome(payload=b"", error=error)
        if status == STATUS_FAILED:
            body = _error_body(data)
            error = FunctionError(
                error_type=body.errorType, error_message=body.errorMessage, stack_trace=body.stackTrace
            )
            return Outcome(payload=b"", error=error, discard=True)
        return self._invalid(f"unknown result status {status}")

    def _invalid(self, why: str) -> Outcome:
        error = FunctionError(error_type="Runtime.InvalidResponse", error_message=f"The guest broke the ABI: {why}")
        return Outcome(payload=b"", error=error, discard=True)

    def _failed(self, failure: Exception, request: Request | None) -> Outcome:
        if was_preempted(failure, request):
            self.io.take_log()  # the attempt's own lines come again from the run that counts
            return stopped()
        timeout = request.timeout if request is not None else self.spec.timeout
        error = classify_failure(failure, self.spec, self.memory_bytes, timeout)
        outcome = Outcome(
            payload=b"", error=error, discard=True, log=self.io.take_log(), memory_bytes=self.memory_bytes
        )
        if request is not None and self.spec.fuel is not None:  # a crash used fuel too (all of it, when it ran out)
            outcome.fuel_consumed = self.spec.fuel - self._native.get_fuel()
        return outcome

    def close(self) -> None:
        # The view and native handles point into the store: drop them first, then the store.
        self._view = memoryview(b"")
        self._handle = self._buffer = self._native = None  # type: ignore[assignment]
        self.store = None


def _as_init_error(error: FunctionError) -> FunctionError:
    return FunctionError(
        error_type="Runtime.InitError" if error.error_type == "Runtime.Trap" else error.error_type,
        error_message=f"Init failed: {error.error_message}",
    )
