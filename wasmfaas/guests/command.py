"""Guest kind 1: a WASI preview 1 command. The event is stdin, the response stdout, stderr the logs.

A command runs once, so every invocation instantiates it afresh (a cold start each time) from the cached compiled
module and its pre-linked `InstancePre`; the environment object only carries that recipe and is never kept warm.
"""

from __future__ import annotations

import time
from typing import Final

import wasmtime

from .._native import Handles, WasmCall, get_export, instantiate, is_memory
from ..results import FunctionError
from .base import (
    Environment,
    EnvironmentSpec,
    Outcome,
    Request,
    classify_failure,
    new_store,
    stopped,
    was_preempted,
)
from .reactor import MAX_RESPONSE_BYTES
from .wasi import GuestIO, bind

__all__ = ["CommandEnvironment"]

_STDOUT_CAP: Final = MAX_RESPONSE_BYTES + 1


class CommandEnvironment(Environment):
    kind = "command"

    def __init__(self, spec: EnvironmentSpec) -> None:
        self.spec = spec
        self.init_duration_ms = 0.0
        self.last_used = time.monotonic()
        self.memory_bytes = 0

    def invoke(self, request: Request) -> Outcome:
        spec = self.spec
        start = time.perf_counter()
        io = GuestIO(stdout_cap=_STDOUT_CAP, stop=spec.engine.closing)
        store = new_store(spec, stdin=request.payload)
        io.monotonic_origin = time.monotonic_ns()
        io.deadline = time.monotonic() + request.timeout
        io.inline = request.slice_ticks != 0
        bind(io)
        try:
            return self._run(store, io, request, start)
        finally:
            bind(None)  # the thread would otherwise keep the response buffer alive until its next invocation

    def _run(self, store: wasmtime.Store, io: GuestIO, request: Request, start: float) -> Outcome:
        spec = self.spec
        store.set_epoch_deadline(
            (request.slice_ticks or spec.engine.deadline_ticks(request.timeout)) + spec.engine.lag()
        )
        if spec.fuel is not None:
            store.set_fuel(spec.fuel)
        try:
            instance = instantiate(store, spec.code.instance_pre)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as e:  # a start function's trap is a Trap
            if was_preempted(e, request):
                return stopped()
            io.stdout_to_log()  # what a start function printed
            return self._outcome(classify_failure(e, spec, 0, request.timeout), io, b"")
        memory = get_export(store, instance, "memory")
        native = Handles(store, memory if is_memory(memory) else None)
        self.init_duration_ms = (time.perf_counter() - start) * 1000.0
        failure = WasmCall(native, get_export(store, instance, "_start"), 0, 0)()
        if native.memory is not None:
            self.memory_bytes = native.memory_size()
        fuel = spec.fuel - store.get_fuel() if spec.fuel is not None else None
        if failure is not None and was_preempted(failure, request):
            # Nothing of the stopped attempt is kept: the invocation runs again (pool.py, "Inline runs").
            return stopped()
        error: FunctionError | None = None
        if failure is not None and not (isinstance(failure, wasmtime.ExitTrap) and failure.code == 0):
            error = classify_failure(failure, spec, self.memory_bytes, request.timeout)
        assert io.stdout is not None
        response = bytes(io.stdout)
        if error is not None:
            io.stdout_to_log()  # not a response: what it printed before it failed is the log's
        elif len(response) > MAX_RESPONSE_BYTES:
            error = FunctionError(
                error_type="Function.ResponseSizeTooLarge",
                error_message=f"Response payload size exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes).",
            )
        outcome = self._outcome(error, io, response if error is None else b"")
        outcome.fuel_consumed = fuel
        return outcome

    def _outcome(self, error: FunctionError | None, io: GuestIO, payload: bytes) -> Outcome:
        # Every invocation is a fresh instance: nothing to keep warm.
        return Outcome(payload=payload, error=error, discard=True, log=io.take_log(), memory_bytes=self.memory_bytes)

    def close(self) -> None:
        pass
