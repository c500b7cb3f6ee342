"""Direct calls into wasmtime's C API for the invoke path, and the one place that reaches under wasmtime-py.

wasmtime-py's wrappers convert every argument through ctypes `argtypes` and re-read types on each call; on a warm
invocation that is most of the cost (`Func.__call__` 7-25 µs). These prototypes take prebuilt `c_void_p` handles
and skip the conversion: ~0.35 µs a call instead of ~0.7. They are only valid while the store they point into is
alive; `Handles` is owned by exactly one environment, which drops it with its store.
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, byref, c_size_t, c_uint64, c_void_p
from typing import Any, Final

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime._bindings import dll as _dll
from wasmtime._extern import wrap_extern

__all__ = ["Handles", "WasmCall", "get_export", "memory_base", "memory_view"]

_lib: Final = ctypes.CDLL(_dll._name)


def _proto(name: str, restype: Any) -> Any:
    func = getattr(_lib, name)
    func.argtypes = None  # arguments are always c_void_p / c_uint64 instances, never bare Python ints
    func.restype = restype
    return func


_set_epoch_deadline: Final = _proto("wasmtime_context_set_epoch_deadline", None)
_memory_data_size: Final = _proto("wasmtime_memory_data_size", c_size_t)
_call_unchecked: Final = _proto("wasmtime_func_call_unchecked", c_void_p)
_set_fuel: Final = _proto("wasmtime_context_set_fuel", c_void_p)
_get_fuel: Final = _proto("wasmtime_context_get_fuel", c_void_p)


def get_export(store: wasmtime.Store, instance: wasmtime.Instance, name: str) -> Any:
    """One export by name (`Instance.exports` wraps every export of the module first)."""
    raw = name.encode()
    item = ffi.wasmtime_extern_t()
    if not ffi.wasmtime_instance_export_get(store._context(), byref(instance._instance), raw, len(raw), byref(item)):
        return None
    return wrap_extern(item)


def _error(ptr: int | None) -> Exception | None:
    if not ptr:
        return None
    return wasmtime.WasmtimeError._from_ptr(ctypes.cast(ptr, POINTER(ffi.wasmtime_error_t)))


class Handles:
    """A store's context and one memory, as raw pointers for the calls above."""

    __slots__ = ("_fuel", "_keep", "ctx", "memory")

    def __init__(self, store: wasmtime.Store, memory: wasmtime.Memory | None) -> None:
        # The raw pointers below point into these objects: keep them alive as long as the handles.
        self._keep = (store, memory)
        self.ctx = c_void_p(ctypes.cast(store._context(), c_void_p).value)
        self.memory = c_void_p(ctypes.addressof(memory._memory)) if memory is not None else None
        self._fuel = c_uint64(0)

    def set_deadline(self, ticks: c_uint64) -> None:
        _set_epoch_deadline(self.ctx, ticks)

    def memory_size(self) -> int:
        size: int = _memory_data_size(self.ctx, self.memory)
        return size

    def set_fuel(self, fuel: int) -> None:
        error = _error(_set_fuel(self.ctx, c_uint64(fuel)))
        if error is not None:
            raise error

    def get_fuel(self) -> int:
        error = _error(_get_fuel(self.ctx, byref(self._fuel)))
        if error is not None:
            raise error
        return self._fuel.value


class WasmCall:
    """A prebuilt call of one core-wasm export through `wasmtime_func_call_unchecked`.

    The argument buffer doubles as the result buffer, as the unchecked call defines: set `args[i].i32` and read
    `args[0].i32` after the call.
    """

    __slots__ = ("_ctx", "_func", "_keep", "_n", "_trap", "_trap_ref", "args")

    def __init__(self, handles: Handles, func: wasmtime.Func, nargs: int, nresults: int) -> None:
        n = max(nargs, nresults, 1)
        self._n = c_size_t(max(nargs, nresults))
        self.args = (ffi.wasmtime_val_raw_t * n)()
        self._ctx = handles.ctx
        self._func = c_void_p(ctypes.addressof(func._func))
        self._trap = c_void_p()
        self._trap_ref = byref(self._trap)
        # Keep the Func (and so its store reference) alive as long as the call.
        self._keep = func

    def __call__(self) -> Exception | None:
        """Run it: None on success, else a wasmtime.Trap or WasmtimeError (ExitTrap for `proc_exit`)."""
        error = _call_unchecked(self._ctx, self._func, self.args, self._n, self._trap_ref)
        if error:
            return _error(error)
        if self._trap.value:
            trap = wasmtime.Trap._from_ptr(ctypes.cast(self._trap.value, POINTER(ffi.wasm_trap_t)))
            self._trap.value = None
            return trap
        return None


def memory_view(base: int, size: int) -> memoryview:
    """A writable view of `size` bytes of linear memory at `base`.

    Valid while the memory is alive and at least `size` long: memories never shrink, and the engine is configured
    with `memory_may_move = False`, so the base never changes. Recreate it when the memory grows.
    """
    return memoryview((ctypes.c_char * size).from_address(base)).cast("B")


def memory_base(store: wasmtime.Store, memory: wasmtime.Memory) -> int:
    return ctypes.cast(memory.data_ptr(store), c_void_p).value or 0
