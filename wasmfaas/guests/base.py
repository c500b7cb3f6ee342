"""What every guest kind shares: the environment protocol, its inputs and outputs, and the wasmtime plumbing.

An `Environment` owns one wasmtime store (and its instance). It is used by one thread at a time: the pool hands it
out to one invocation, and only that invocation's worker thread touches it.
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import wasmtime

from .._native import StoreLimits, WasiRecipe
from ..config import MAX_MEMORY_MB
from ..engine import Engine
from ..errors import InvalidCodeError, InvalidParameterError
from ..logs import Capture
from ..modules import WASM_PAGE, CompiledCode, GuestKind, core_layout
from ..results import FunctionError

__all__ = [
    "Environment",
    "EnvironmentSpec",
    "InitError",
    "Outcome",
    "Request",
    "check_core_module",
    "classify_failure",
    "new_store",
    "sdk_init_failure",
    "shut_down",
    "stopped",
    "timed_out",
    "was_preempted",
]

MIB: Final = 1024 * 1024
# Tables hold 8 bytes an element; a cap keeps a hostile `table.grow` from eating host memory.
MAX_TABLE_ELEMENTS: Final = 1_000_000
# How many instances, tables and memories a store may hold: wasmtime caps each memory (at the function's memory
# size) and each table, so without a count a module of 16 memories had 16 times its memory. A core module has one
# instance and one memory; a component several (the language runtimes: up to 16 instances, 2 tables, 2 memories).
MODULE_LIMITS: Final = (1, 4, 1)
COMPONENT_LIMITS: Final = (64, 8, 4)
# Fuel for what runs outside an invocation (a function's init, the create-time instantiation check): the fuel budget
# is per invocation, as the timeout is, and init is bounded by its own timeout instead (a Python runtime's init
# takes billions of units: a budget sized for the handler made every cold start fail).
UNMETERED_FUEL: Final = 1 << 62


# The rest of what Lambda's environment holds, the same for every function (the runtime API's address is Lambda's
# own: nothing listens there, as nothing is reachable from a guest).
_LAMBDA_FIXED: Final = (
    ("LAMBDA_TASK_ROOT", "/var/task"),
    ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
    ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
)
_LAMBDA_DEFAULTS: Final = (
    ("LANG", "en_US.UTF-8"),
    ("TZ", ":UTC"),
    ("PATH", "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"),
)


@dataclass(frozen=True, eq=False)
class EnvironmentSpec:
    """Everything an environment of one function version is built from."""

    code: CompiledCode
    engine: Engine
    function_name: str
    version: str
    memory_mb: int
    timeout: float
    environment: dict[str, str]
    fuel: int | None = None
    handler: str = ""
    log_stream_name: str = ""
    # A language runtime's build (Python, JavaScript): its function-errors are exceptions the handler raised (the
    # runtime caught and logged them), which Lambda reports as Unhandled; the runtime stays usable, so the
    # environment is kept. Otherwise a function-error is one the guest chose to return: Handled.
    raised_errors: bool = False
    region: str = "us-east-1"
    account_id: str = "000000000000"
    # A language runtime's name (AWS_EXECUTION_ENV); "" for wasm code of the function's own.
    runtime: str = ""
    # Host directories a component sees read-only, as (host path, guest path): a Python function's package at
    # /var/task and the time-zone database, as on Lambda.
    read_only_mounts: tuple[tuple[str, str], ...] = ()
    # Where a component's environment makes its /tmp (None: the system's temporary directory), and its size.
    scratch_root: str | None = None
    ephemeral_storage_mb: int = 512
    # Events nested deeper than this are refused before the guest runs (0: not checked); see component._too_deep.
    max_event_depth: int = 0
    # Lambda's AWS_LAMBDA_INITIALIZATION_TYPE: "provisioned-concurrency" for environments made ahead of traffic.
    initialization_type: str = "on-demand"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    def wasi_env(self) -> list[tuple[str, str]]:
        """The guest's environment: the function's variables plus Lambda's standard ones, nothing of the host's."""
        pairs = list(self.environment.items())
        pairs += [
            ("AWS_REGION", self.region),
            ("AWS_DEFAULT_REGION", self.region),
            ("AWS_LAMBDA_FUNCTION_NAME", self.function_name),
            ("AWS_LAMBDA_FUNCTION_VERSION", self.version),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", str(self.memory_mb)),
            ("AWS_LAMBDA_LOG_GROUP_NAME", self.log_group_name),
            ("AWS_LAMBDA_LOG_STREAM_NAME", self.log_stream_name),
        ]
        if self.handler:
            pairs.append(("_HANDLER", self.handler))
        if self.runtime:  # Lambda names a managed runtime so ("AWS_Lambda_python3.12"); custom runtimes get none
            pairs.append(("AWS_EXECUTION_ENV", f"AWS_Lambda_{self.runtime}"))
        pairs += _LAMBDA_FIXED
        pairs.append(("AWS_LAMBDA_INITIALIZATION_TYPE", self.initialization_type))
        # Lambda's defaults for the variables a function may set itself.
        pairs += [(key, value) for key, value in _LAMBDA_DEFAULTS if key not in self.environment]
        return pairs

    @functools.cached_property
    def wasi(self) -> WasiRecipe:
        return WasiRecipe([self.function_name], self.wasi_env())

    @functools.cached_property
    def limits(self) -> StoreLimits:
        instances, tables, memories = COMPONENT_LIMITS if self.code.kind == GuestKind.COMPONENT else MODULE_LIMITS
        return StoreLimits(self.memory_mb * MIB, MAX_TABLE_ELEMENTS, instances, tables, memories)


@dataclass(slots=True)
class Request:
    request_id: str
    payload: bytes
    deadline_ms: int  # Unix time in ms
    timeout: float
    # Non-zero: run on the caller's event loop for at most this many epoch ticks (pool.run_inline); past them the
    # call is interrupted and the outcome is `preempted`, not a timeout, and the invocation runs again on a thread.
    slice_ticks: int = 0
    # The version or alias the caller named, if any: Lambda's context reports the ARN the function was invoked by.
    qualifier: str | None = None


@dataclass(slots=True)
class Outcome:
    """An invocation's result as the environment sees it; `discard` retires the environment."""

    payload: bytes
    error: FunctionError | None = None
    discard: bool = False
    log: bytes = b""
    # What the environment's init wrote, on its first invocation (Lambda logs it before START).
    init_log: bytes = b""
    fuel_consumed: int | None = None
    memory_bytes: int = 0
    # The guest has written the error into its log itself (a runtime's traceback): the platform adds no line of its
    # own for it.
    error_logged: bool = False
    # Interrupted at the end of its inline slice (Request.slice_ticks): nothing of it is reported, the environment
    # is thrown away, and the invocation runs again.
    preempted: bool = False


def stopped() -> Outcome:
    """The outcome of an attempt stopped at the end of its inline slice (see `was_preempted`)."""
    return Outcome(payload=b"", discard=True, preempted=True)


class Environment(ABC):
    """One execution environment: a store and its instance, with the function's limits."""

    kind: str
    # What the init wrote, until the first invocation takes it (the pool moves it into that outcome).
    init_log: bytes = b""
    init_duration_ms: float
    last_used: float
    memory_bytes: int

    @abstractmethod
    def invoke(self, request: Request) -> Outcome:
        """Run one invocation. Never raises for anything the guest does: a crash is an `Outcome` with an error."""

    @abstractmethod
    def close(self) -> None:
        """Release the store, the instance and the log pipe."""


def check_core_module(compiled: CompiledCode, code: bytes, memory_mb: int) -> None:
    """Refuse, at create or update, a core module that every cold start would refuse (more memories or tables than
    MODULE_LIMITS, a table that starts above MAX_TABLE_ELEMENTS, a memory that starts above `memory_mb`) or run
    wrongly (a command built with the reactor ABI)."""
    exports = {export.name for export in compiled.module.exports}
    if compiled.kind is GuestKind.REACTOR and "_start" in exports and "_initialize" not in exports:
        # A command-model build runs its C/C++ constructors in _start, which a reactor never calls: its static
        # initialisers would silently never run.
        raise InvalidCodeError(
            "the module exports wasmfaas_handle and _start but no _initialize: it was built as a WASI command, whose "
            "constructors (C++ static initialisers) run in _start, which a reactor never calls; build it as a "
            'reactor (zig cc -mexec-model=reactor, or toolchain.build_c(..., exec_model="reactor"))'
        )
    layout = core_layout(code)
    _, tables, memories = MODULE_LIMITS
    if len(layout.memory_minimums) > memories:
        raise InvalidCodeError(f"the module defines {len(layout.memory_minimums)} memories; a core module may have 1")
    if layout.tables > tables:
        raise InvalidCodeError(f"the module defines {layout.tables} tables; a core module may have at most {tables}")
    for minimum in layout.table_minimums:
        if minimum > MAX_TABLE_ELEMENTS:
            raise InvalidCodeError(
                f"the module's table starts at {minimum} elements; a table may have at most {MAX_TABLE_ELEMENTS}"
            )
    for minimum in layout.memory_minimums:
        if minimum > memory_mb * MIB:
            need = -(-minimum // MIB)
            what = f"the module's memory starts at {minimum // WASM_PAGE} pages of 64 KiB ({need} MB)"
            if need > MAX_MEMORY_MB:
                raise InvalidCodeError(f"{what}, more than any function may have ({MAX_MEMORY_MB} MB)")
            raise InvalidParameterError(
                "memory_mb", f"{what}, more than memory_mb ({memory_mb} MB): give it memory_mb >= {need}"
            )


class InitError(Exception):
    """The guest's init code failed: the cold start fails with this function error (`logged`: the guest's log
    already says so, see Outcome.error_logged)."""

    def __init__(
        self, error: FunctionError, log: bytes = b"", *, logged: bool = False, memory_bytes: int = 0
    ) -> None:
        super().__init__(error.error_message)
        self.error = error
        self.log = log
        self.logged = logged
        self.memory_bytes = memory_bytes  # the guest's memory when the init failed (Max Memory Used)


# What every guest SDK logs when init fails with an error value (docs/abi.md, "Init failures").
SDK_INIT_FAILED: Final = b"wasmfaas: init failed: "


def sdk_init_failure(init_log: bytes) -> FunctionError | None:
    """The error a guest SDK's init kept for the first invocation to report (the init itself returned), read from
    the line the SDKs log for it; None if the log has no such line. The ABI gives the host no other sign of it."""
    for line in init_log.splitlines():
        if line.startswith(SDK_INIT_FAILED):
            error_type, _, message = line[len(SDK_INIT_FAILED) :].decode("utf-8", "replace").partition(": ")
            return FunctionError(error_type=error_type, error_message=message)
    return None


def timed_out(timeout: float) -> FunctionError:
    """Lambda's timeout error."""
    return FunctionError(error_type="Sandbox.Timedout", error_message=f"Task timed out after {timeout:.2f} seconds")


def new_store(
    spec: EnvironmentSpec,
    capture: Capture | None = None,
    *,
    stdin: bytes | None = None,
    preopens: Sequence[tuple[bytes, bytes, bool]] = (),
) -> wasmtime.Store:
    """A store with the function's memory cap and a WASI context that exposes nothing of the host but `preopens`
    ((host directory, guest path, writable): a component's /var/task and /tmp).

    `capture` takes stdout and stderr (components); without it they are left to guests.wasi (core modules).
    """
    store = wasmtime.Store(spec.engine.wasm)
    path = capture.path_bytes if capture is not None else None
    spec.wasi.apply(store, path, path, stdin, preopens)
    spec.limits.apply(store)
    return store


def classify_failure(failure: Exception, spec: EnvironmentSpec, memory_bytes: int, timeout: float) -> FunctionError:
    """Name a trap or error in Lambda's terms (docs/abi.md, "Errors")."""
    if isinstance(failure, wasmtime.ExitTrap):
        return FunctionError(
            error_type="Runtime.ExitError", error_message=f"Runtime exited with error: exit status {failure.code}"
        )
    code = failure.trap_code if isinstance(failure, wasmtime.Trap) else None
    message = _trap_message(failure)
    if code is None:  # components report traps as plain errors: name them from wasmtime's message
        code = _code_from_message(message)
    if "invalid exit status" in message:  # WASI refuses exit statuses >= 126 with a plain error, not an ExitTrap
        return FunctionError(error_type="Runtime.ExitError", error_message=f"Runtime exited with error: {message}")
    if code is wasmtime.TrapCode.INTERRUPT:
        return shut_down() if spec.engine.closing.is_set() else timed_out(timeout)
    trace = _backtrace(failure)
    if code is wasmtime.TrapCode.STACK_OVERFLOW:
        return FunctionError(
            error_type="Runtime.StackOverflow", error_message=f"Stack overflow: {message}", stack_trace=trace
        )
    if code is wasmtime.TrapCode.OUT_OF_FUEL:
        return FunctionError(
            error_type="Runtime.FuelExhausted",
            error_message=f"The invocation used its whole fuel budget of {spec.fuel}",
        )
    # The store's limiter refuses memory.grow past the cap and the guest then fails in its own way (usually a trap
    # after malloc returns NULL); wasmtime's C API cannot tell us a grow was refused. A failure with memory within
    # 1/16 of the cap (a refused grow of up to that size) is taken as the cap's doing, as Lambda does near its limit.
    cap = spec.memory_mb * MIB
    if memory_bytes > cap - max(cap // 16, MIB):
        return FunctionError(
            error_type="Runtime.OutOfMemory",
            error_message=f"Runtime exited with error: out of memory (limit {spec.memory_mb} MB): {message}",
            stack_trace=trace,
        )
    return FunctionError(error_type="Runtime.Trap", error_message=message, stack_trace=trace)


def _backtrace(failure: Exception) -> list[str]:
    """The wasm frames of a trap, innermost first, as wasmtime prints them (`func (0x1a2b)`: a function's name
    when the module kept its name section, its code offset always), at most `_FRAMES_KEPT` of them. wasmtime names
    each frame `module!function`; the module's name is dropped: `<unknown>`, or whatever name the build left in the
    name section (a compiler's temporary output file, `.c39cc….wasm`), which tells the user nothing."""
    frames = [f"{name.partition('!')[2] or name} ({offset})" for offset, name in _FRAME.findall(str(failure))]
    if len(frames) > _FRAMES_KEPT:
        frames[_FRAMES_KEPT:] = [f"... {len(frames) - _FRAMES_KEPT} more frames"]
    return frames


def shut_down() -> FunctionError:
    """The outcome of an invocation the platform stopped as it shut down (not a timeout: its time was not up)."""
    return FunctionError(
        error_type="Sandbox.Shutdown",
        error_message="The platform shut down during the invocation, which was stopped before it ended",
    )


def was_preempted(failure: Exception, request: Request | None) -> bool:
    """Whether `failure` is the end of an inline slice: an epoch interrupt of a call that ran with one.

    Slices are shorter than any timeout (at least 1 s), so an interrupt during a sliced call is always the slice's.
    """
    if request is None or not request.slice_ticks:
        return False
    code = failure.trap_code if isinstance(failure, wasmtime.Trap) else _code_from_message(str(failure))
    return code is wasmtime.TrapCode.INTERRUPT


_MESSAGE_CODES: Final = (
    ("wasm trap: interrupt", wasmtime.TrapCode.INTERRUPT),
    ("all fuel consumed", wasmtime.TrapCode.OUT_OF_FUEL),
    ("call stack exhausted", wasmtime.TrapCode.STACK_OVERFLOW),
)


def _code_from_message(message: str) -> wasmtime.TrapCode | None:
    for text, code in _MESSAGE_CODES:
        if text in message:
            return code
    return None


_CAUSE_NUMBER: Final = re.compile(r"^\d+: ")
# A frame of wasmtime's "wasm backtrace:" ("  3:   0x1a2b - module!function"), and how many are kept.
_FRAME: Final = re.compile(r"^\s*\d+:\s+(0x[0-9a-f]+) - (.+?)\s*$", re.MULTILINE)
_FRAMES_KEPT: Final = 32


def _trap_message(failure: Exception) -> str:
    # wasmtime puts the cause last ("wasm trap: ..."), after the backtrace; a chain of causes is numbered ("1: ").
    lines = [_CAUSE_NUMBER.sub("", line.strip()) for line in str(failure).splitlines() if line.strip()]
    for line in lines:
        if line.startswith("wasm trap:"):
            return line
    return lines[-1] if lines else type(failure).__name__
