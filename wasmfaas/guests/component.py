"""Guest kind 3: a component implementing a world of wit/wasmfaas.wit: `wasmfaas:function/text-handler` (event and
response as strings) or `wasmfaas:function/handler` (as `list<u8>`), told apart by the type of `handle`.

`init` runs once per environment (the cold start), `handle(context, event)` once per invocation; the environment
is reused while invocations end normally. Wasmtime-py lowers `list<u8>` one element at a time through Python
(~1 µs a byte) and re-reads the function's type on every call, so this module lowers the call itself: the context
record is lowered once per environment into a template that each call clones and patches (request id, deadline);
a string crosses as one copy, bytes as one strided copy of the C value array.

Limits of wasmtime-py 50's component API, documented rather than hidden: a component's linear memory cannot be
read from the host, so `Max Memory Used` is not measured (reported as 0); a trap leaves no trap code, so errors are
named from wasmtime's message. Wasmtime lifts a `list<u8>` result into one value per byte and refuses more than
~2.6 MB of them (its hostcall budget), so the bytes world's responses are limited to that, and each megabyte costs
~0.1 s either way; the text world's strings cross whole (6 MB in ~10 ms), up to Lambda's 6 MB.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import tempfile
import threading
import time
import weakref
from ctypes import byref, pointer
from typing import Any, Final

import msgspec
import wasmtime
import wasmtime.component
from wasmtime import _ffi as ffi
from wasmtime.component import Record

from ..engine import Engine
from ..errors import InvalidCodeError
from ..logs import Capture
from ..modules import CompiledCode
from ..results import FunctionError, log_time
from .base import (
    MIB,
    UNMETERED_FUEL,
    Environment,
    EnvironmentSpec,
    InitError,
    Outcome,
    Request,
    classify_failure,
    new_store,
    timed_out,
)
from .reactor import INIT_TIMEOUT_S, MAX_RESPONSE_BYTES

__all__ = ["ComponentEnvironment", "prepare_component"]

CONTEXT_FIELDS: Final = (
    "request-id",
    "function-name",
    "function-version",
    "invoked-function-arn",
    "memory-limit-mb",
    "log-group-name",
    "log-stream-name",
    "deadline-ms",
)
_VAL_SIZE: Final = ctypes.sizeof(ffi.wasmtime_component_val_t)
_KIND_OFFSET: Final = ffi.wasmtime_component_val_t.kind.offset
_OF_OFFSET: Final = ffi.wasmtime_component_val_t.of.offset
_U8: Final = ffi.WASMTIME_COMPONENT_U8.value
_LIST: Final = ffi.WASMTIME_COMPONENT_LIST.value
_RESULT: Final = ffi.WASMTIME_COMPONENT_RESULT.value
_STRING: Final = ffi.WASMTIME_COMPONENT_STRING.value

# One linker per engine, gone with it (a platform's engines go when it is closed and dropped).
_linkers: weakref.WeakKeyDictionary[Engine, wasmtime.component.Linker] = weakref.WeakKeyDictionary()
_linkers_lock: Final = threading.Lock()


def _linker(engine: Engine) -> wasmtime.component.Linker:
    with _linkers_lock:
        linker = _linkers.get(engine)
        if linker is None:
            linker = _linkers[engine] = wasmtime.component.Linker(engine.wasm)
            linker.add_wasip2()
        return linker


def prepare_component(engine: Engine, compiled: CompiledCode) -> None:
    """Check at create time that the component implements the world and that its imports can be satisfied."""
    component = compiled.module
    missing = [name for name in ("init", "handle") if component.get_export_index(name) is None]
    if missing:
        raise InvalidCodeError(
            f"the component does not export {' and '.join(missing)}: it must implement a world of "
            "wit/wasmfaas.wit (wasmfaas:function/text-handler or wasmfaas:function/handler)"
        )
    store = wasmtime.Store(engine.wasm)
    store.set_wasi(wasmtime.WasiConfig())
    store.set_epoch_deadline(engine.deadline_ticks(INIT_TIMEOUT_S))
    if engine.settings.fuel:  # a store starts with none: the instantiation's start code would trap at once
        store.set_fuel(UNMETERED_FUEL)
    try:
        instance = _linker(engine).instantiate(store, component)
    except (wasmtime.WasmtimeError, wasmtime.Trap) as e:  # a start function's trap is a Trap
        raise InvalidCodeError(f"the component cannot be instantiated: {_last_line(e)}") from None
    handle = instance.get_func(store, "handle")
    init = instance.get_func(store, "init")
    assert handle is not None and init is not None
    handle_type = handle.type(store)
    handle_params = handle_type.params
    context_type: Any = handle_params[0][1] if handle_params else None
    fields = [name for name, _ in getattr(context_type, "fields", [])]
    result_type: Any = handle_type.result
    if (
        len(handle_params) != 2
        or tuple(fields) != CONTEXT_FIELDS
        or init.type(store).params
        or _payload_kind(handle_params[1][1]) is None
        or not isinstance(result_type, wasmtime.component.ResultType)
        or _payload_kind(result_type.ok) != _payload_kind(handle_params[1][1])
    ):
        raise InvalidCodeError(
            "the component's init/handle do not have the types of a world of wit/wasmfaas.wit "
            "(text-handler: string in and out; handler: list<u8> in and out)"
        )


def _payload_kind(value_type: Any) -> str | None:
    """`"text"` for `string`, `"bytes"` for `list<u8>`, None for any other type."""
    if isinstance(value_type, wasmtime.component.String):
        return "text"
    if isinstance(value_type, wasmtime.component.ListType) and isinstance(value_type.element, wasmtime.component.U8):
        return "bytes"
    return None


class ComponentEnvironment(Environment):
    kind = "component"

    def __init__(self, spec: EnvironmentSpec) -> None:
        start = time.perf_counter()
        self.spec = spec
        self.capture = Capture.acquire()
        self.store: wasmtime.Store | None = None
        self.memory_bytes = 0
        self._template: Any = None
        self._scratch: str | None = None
        try:
            self._instantiate()
        except BaseException:
            self.close()
            raise
        self.last_used = time.monotonic()
        self.init_duration_ms = (time.perf_counter() - start) * 1000.0

    def _instantiate(self) -> None:
        spec = self.spec
        # Lambda's file system: a /tmp of the environment's own, kept across its warm invocations and removed with
        # it, and the spec's read-only mounts (a Python function's package at /var/task, the time-zone database).
        self._scratch = tempfile.mkdtemp(prefix="tmp-", dir=spec.scratch_root)
        preopens = [(self._scratch.encode(), b"/tmp", True)]
        preopens += [(host.encode(), guest.encode(), False) for host, guest in spec.read_only_mounts]
        store = self.store = new_store(spec, self.capture, preopens=preopens)
        if spec.fuel is not None:
            store.set_fuel(UNMETERED_FUEL)  # init has its own timeout, not the invocations' budget
        store.set_epoch_deadline(spec.engine.deadline_ticks(INIT_TIMEOUT_S))
        try:
            instance = _linker(spec.engine).instantiate(store, spec.code.module)
            init = instance.get_func(store, "init")
            handle = instance.get_func(store, "handle")
            assert init is not None and handle is not None
            failure = init(store)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:  # a start function's trap is a Trap
            error = classify_failure(e, spec, 0, INIT_TIMEOUT_S)
            raise InitError(_init_error(error, spec), self.capture.take()) from None
        if failure is not None:
            error = _init_error(_function_error(failure, handled=False), spec)
            raise InitError(error, self.capture.take(), logged=spec.raised_errors)
        self.init_log = self.capture.take()
        self._handle: wasmtime.component.Func | None = handle
        self._func_ref = byref(handle._func)
        func_type = handle.type(store)
        (_, context_type), (_, event_type) = func_type.params
        self._text = _payload_kind(event_type) == "text"
        self._result_type: Any = func_type.result
        # The context's fixed fields lowered once; each call clones this and patches request id and deadline (and
        # the invoked ARN when a qualifier was named). The indices below follow this order.
        record = Record()
        for name, value in (
            ("request-id", ""),
            ("function-name", spec.function_name),
            ("function-version", spec.version),
            ("invoked-function-arn", spec.invoked_function_arn),
            ("memory-limit-mb", spec.memory_mb),
            ("log-group-name", spec.log_group_name),
            ("log-stream-name", spec.log_stream_name),
            ("deadline-ms", 0),
        ):
            setattr(record, name, value)
        self._template = ffi.wasmtime_component_val_t()
        context_type.convert_to_c(store, record, pointer(self._template))
        self._ctx = store._context()

    def invoke(self, request: Request) -> Outcome:
        spec = self.spec
        store = self.store
        assert store is not None, "invoke on a closed environment"
        if self._text and not request.payload.isascii():
            try:
                request.payload.decode()
            except UnicodeDecodeError as e:
                return _not_text(e)
        if spec.max_event_depth and _nested_past(request.payload, spec.max_event_depth):
            return _too_deep(spec.max_event_depth)
        # Until the invocation's deadline, not a whole timeout from now: a run again in a fresh environment
        # (`Pool.run`) has only what the first attempt left.
        left = request.deadline_ms / 1000.0 - time.time()
        store.set_epoch_deadline(spec.engine.deadline_ticks(min(max(left, 0.0), request.timeout)) + spec.engine.lag())
        if spec.fuel is not None:
            store.set_fuel(spec.fuel)
        params = (ffi.wasmtime_component_val_t * 2)()
        result = ffi.wasmtime_component_val_t()
        lowered = 0
        try:
            ffi.wasmtime_component_val_clone(byref(self._template), byref(params[0]))
            lowered = 1
            fields = params[0].of.record.data
            request_id = fields[0].val
            ffi.wasm_byte_vec_delete(byref(request_id.of.string))
            request_id.of.string = ffi.str_to_capi(request.request_id)
            fields[7].val.of.u64 = request.deadline_ms
            if request.qualifier:  # invoked through a version or alias: the ARN names it, as Lambda's does
                arn = fields[3].val
                ffi.wasm_byte_vec_delete(byref(arn.of.string))
                arn.of.string = ffi.str_to_capi(f"{spec.invoked_function_arn}:{request.qualifier}")
            (_lower_text if self._text else _lower_bytes)(request.payload, params[1])
            lowered = 2
            error = ffi.wasmtime_component_func_call(self._func_ref, self._ctx, params, 2, byref(result), 1)
        finally:
            for i in range(lowered):
                ffi.wasmtime_component_val_delete(byref(params[i]))
        if error:
            failure = wasmtime.WasmtimeError._from_ptr(error)
            outcome = self._failed(classify_failure(failure, spec, 0, request.timeout))
            if spec.fuel is not None:  # a crash used fuel too (all of it, when it ran out)
                outcome.fuel_consumed = spec.fuel - store.get_fuel()
            return outcome
        outcome = self._lift(result, request)
        outcome.log = self.capture.take()
        if spec.fuel is not None:
            outcome.fuel_consumed = spec.fuel - store.get_fuel()
        if self._scratch is not None:
            held = _tree_bytes(self._scratch)
            limit = _storage_limit(spec)
            if held > limit:
                # WASI has no quota to refuse the write with: the environment goes, and its /tmp with it.
                outcome.discard = True
                stamp = log_time()
                outcome.log += (
                    f"{stamp} {request.request_id} [WARN] /tmp holds {held // MIB} MB, past Lambda's "
                    f"{limit // MIB} MB of ephemeral storage: the environment is replaced\n"
                ).encode()
        return outcome

    def _lift(self, result: Any, request: Request) -> Outcome:
        """The call's outcome from its result value, which it deletes (the caller adds the log)."""
        try:
            return self._outcome(result, request)
        finally:
            # Once, on the outer value: that also frees the box its ok or error value is held in.
            ffi.wasmtime_component_val_delete(byref(result))

    def _outcome(self, result: Any, request: Request) -> Outcome:
        if result.kind != _RESULT:
            error = FunctionError(error_type="Runtime.InvalidResponse", error_message="not a result")
            return Outcome(payload=b"", error=error, discard=True)
        if not result.of.result.is_ok:
            # The error record: rare, the generic path is fine. It deletes the record's contents (leaving a bool in
            # the box), so deleting the outer value afterwards frees only the box.
            body = self._result_type.convert_from_c(result)
            raised = self.spec.raised_errors
            error = _function_error(body, handled=not raised)
            if raised and error.error_type == "Sandbox.Timedout":
                # The runtime's own deadline timer ended a handler waiting on a promise that never settled: a
                # timeout as the host's would be (Lambda's message and log line, a fresh environment next).
                return Outcome(payload=b"", error=timed_out(request.timeout), discard=True)
            # The runtime is done, or cannot say what went wrong (SpiderMonkey out of memory in a microtask flood
            # throws nothing it can describe, and the next call trapped on it): start afresh.
            if error.error_type in ("Runtime.OutOfMemory", "Runtime.ExitError", "Runtime.UnknownError"):
                error = msgspec.structs.replace(error, handled=False)
                return Outcome(payload=b"", error=error, discard=True, error_logged=raised)
            return Outcome(payload=b"", error=error, error_logged=raised)
        inner = result.of.result.val.contents
        data = b""
        if inner.kind == _STRING:
            data = ctypes.string_at(inner.of.string.data, inner.of.string.size)
        elif inner.kind == _LIST:
            size = inner.of.list.size
            if size:
                data = ctypes.string_at(inner.of.list.data, size * _VAL_SIZE)[_OF_OFFSET::_VAL_SIZE]
        if len(data) > MAX_RESPONSE_BYTES:
            error = FunctionError(
                error_type="Function.ResponseSizeTooLarge",
                error_message=f"Response payload size ({len(data)} bytes) exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes).",
            )
            return Outcome(payload=b"", error=error)
        return Outcome(payload=data)

    def _failed(self, error: FunctionError) -> Outcome:
        # A trap leaves a component instance unusable ("cannot enter component instance"): always discard it.
        return Outcome(payload=b"", error=error, discard=True, log=self.capture.take())

    def close(self) -> None:
        scratch, self._scratch = self._scratch, None
        if scratch is not None:
            _remove_soon(scratch)
        if self._template is not None:
            ffi.wasmtime_component_val_delete(byref(self._template))
            self._template = None
        self._handle = None
        self.store = None
        self.capture.release()


def _lower_bytes(data: bytes, out: Any) -> None:
    """Lower bytes as a `list<u8>` value: one strided copy instead of a Python loop over the bytes."""
    n = len(data)
    raw = ffi.wasmtime_component_vallist_t()
    if n:
        buffer = bytearray(n * _VAL_SIZE)
        buffer[_KIND_OFFSET::_VAL_SIZE] = bytes([_U8]) * n
        buffer[_OF_OFFSET::_VAL_SIZE] = data
        ffi.wasmtime_component_vallist_new(byref(raw), n, (ffi.wasmtime_component_val_t * n).from_buffer(buffer))
    else:
        ffi.wasmtime_component_vallist_new_empty(byref(raw))
    out.kind = _LIST
    out.of.list = raw


def _lower_text(data: bytes, out: Any) -> None:
    """Lower UTF-8 bytes (checked by the caller) as a `string` value: one copy."""
    n = len(data)
    vec = ffi.wasm_byte_vec_t()
    ffi.wasm_byte_vec_new_uninitialized(byref(vec), n)
    if n:
        ctypes.memmove(vec.data, data, n)
    out.kind = _STRING
    out.of.string = vec


# A JSON string (escapes included) or a bracket: what an event's nesting depth is read from.
_NESTING_TOKENS: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _nested_past(payload: bytes, limit: int) -> bool:
    """Whether a JSON event opens more than `limit` arrays and objects inside one another. Counted here, natively
    (a guest's own count cost its Python a millisecond a megabyte), in full only for an event with that many."""
    if len(payload) <= limit or payload.count(b"[") + payload.count(b"{") <= limit:  # the usual event: no scan
        return False
    depth = 0
    for token in _NESTING_TOKENS.finditer(payload):
        mark = token.group()
        if mark in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif mark in (b"]", b"}"):
            depth -= 1
    return False


def _too_deep(limit: int) -> Outcome:
    # Python's json decoder recurses a level at a time, and the runtime's Python does not stop it at its recursion
    # limit: an event nested a few thousand deep overflowed the wasm stack, so any caller could crash an
    # environment. Lambda's Python refuses one past its limit (a RecursionError) as Runtime.UnmarshalError: so here.
    return _unmarshal_error(f"maximum recursion depth exceeded (nested more than {limit} deep)")


def _not_text(e: UnicodeDecodeError) -> Outcome:
    # The text world's event is a string: bytes that are not UTF-8 cannot be one.
    return _unmarshal_error(f"the event is not UTF-8 text ({e.reason} at byte {e.start})")


def _unmarshal_error(reason: str) -> Outcome:
    """An event refused before the guest runs, with the error Lambda's runtimes give an event they cannot parse;
    the environment is untouched."""
    error = FunctionError(
        error_type="Runtime.UnmarshalError", error_message=f"Unable to unmarshal input: {reason}", handled=False
    )
    return Outcome(payload=b"", error=error)


def _function_error(body: Any, *, handled: bool) -> FunctionError:
    def field(name: str, default: Any) -> Any:
        return getattr(body, name, default)

    stack = field("stack-trace", [])
    return FunctionError(
        error_type=str(field("error-type", "Error")),
        error_message=str(field("error-message", "")),
        stack_trace=[str(line) for line in stack] if isinstance(stack, list) else [],
        handled=handled,
    )


def _init_error(error: FunctionError, spec: EnvironmentSpec) -> FunctionError:
    """An init failure as the invocation reports it: a language runtime's in Lambda's words (its runtime's own
    message, "Unable to import module 'app': ..."); a component of the user's own marked as its init's."""
    return FunctionError(
        error_type="Runtime.InitError" if error.error_type == "Runtime.Trap" else error.error_type,
        error_message=error.error_message if spec.raised_errors else f"Init failed: {error.error_message}",
        stack_trace=error.stack_trace,
    )


def _last_line(e: Exception) -> str:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[-1] if lines else type(e).__name__


def _storage_limit(spec: EnvironmentSpec) -> int:
    """The bytes a component's /tmp may hold (the function's EphemeralStorage): checked after each invocation, as
    WASI cannot refuse a write past it."""
    return spec.ephemeral_storage_mb * MIB


# An entry is charged at least what ext4 gives each inode (one per 16 KiB by default): Lambda's 512 MB /tmp holds
# ~32k files, and directories or empty files, which hold no data, would otherwise fill the host's inodes unbounded.
_ENTRY_BYTES: Final = 16384


def _tree_bytes(root: str) -> int:
    """The disk held under `root`: each entry's allocated blocks or size, at least _ENTRY_BYTES (an empty /tmp, the
    usual case, is one directory read: ~3 µs)."""
    total = 0
    pending = [root]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    # Its blocks (a directory of many names holds some) or its size, whichever is more: a file
                    # system may report blocks late (ZFS) or not at all (some FUSE mounts).
                    info = entry.stat(follow_symlinks=False)
                    total += max(info.st_blocks * 512, info.st_size, _ENTRY_BYTES)
        except OSError:  # removed meanwhile
            continue
    return total


def _remove_soon(path: str) -> None:
    """Remove an environment's /tmp: an empty one at once, a full one on a thread of its own (closing happens on
    the event loop's thread too, which a large tree would hold up)."""
    try:
        os.rmdir(path)
    except OSError:
        threading.Thread(target=shutil.rmtree, args=(path, True), name="wasmfaas-tmp-removal", daemon=True).start()
