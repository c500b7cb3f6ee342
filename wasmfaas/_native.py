"""Direct calls into wasmtime's C API for the invoke path, and the one place that reaches under wasmtime-py.

wasmtime-py's wrappers convert every argument through ctypes `argtypes` and re-read types on each call; on a warm
invocation that is most of the cost (`Func.__call__` 7-25 µs). These prototypes take prebuilt `c_void_p` handles
and skip the conversion: ~0.35 µs a call instead of ~0.7. They are only valid while the store they point into is
alive; `Handles` is owned by exactly one environment, which drops it with its store.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from ctypes import POINTER, byref, c_size_t, c_uint64, c_void_p
from typing import Any, Final

import wasmtime
from wasmtime import _bindings
from wasmtime import _ffi as ffi

__all__ = [
    "Handles",
    "StoreLimits",
    "WasiRecipe",
    "WasmCall",
    "caller_context",
    "caller_export_get",
    "context_of",
    "get_export",
    "get_exports",
    "instantiate",
    "is_func",
    "is_memory",
    "memory_data",
    "memory_data_size",
    "memory_view",
    "set_deadline",
    "trap_new_code",
]

# Two handles on the same library. Calls that can run wasm (or block) go through `_lib`, which releases the GIL for
# the call's length. The accessors (deadline, fuel, memory size) take nanoseconds and go through `_held`, which keeps
# the GIL: releasing it costs little, but getting it back costs up to the interpreter's switch interval (5 ms) while
# another thread runs Python -- on a busy server that wait dominated the invoke path.
_lib: Final = ctypes.CDLL(_bindings.dll._name)  # type: ignore[attr-defined]
_held: Final = ctypes.PyDLL(_bindings.dll._name)  # type: ignore[attr-defined]


def _proto(name: str, restype: Any, lib: ctypes.CDLL = _held) -> Any:
    func = getattr(lib, name)
    func.argtypes = None  # arguments are always c_void_p / c_uint64 instances, never bare Python ints
    func.restype = restype
    return func


_set_epoch_deadline: Final = _proto("wasmtime_context_set_epoch_deadline", None)
_memory_data_size: Final = _proto("wasmtime_memory_data_size", c_size_t)
_memory_data: Final = _proto("wasmtime_memory_data", c_void_p)
_export_get: Final = _proto("wasmtime_instance_export_get", ctypes.c_bool)
_pre_instantiate: Final = _proto("wasmtime_instance_pre_instantiate", c_void_p, _lib)
_store_limiter: Final = _proto("wasmtime_store_limiter", None)
_wasi_new: Final = _proto("wasi_config_new", c_void_p)
_wasi_delete: Final = _proto("wasi_config_delete", None)
_wasi_argv: Final = _proto("wasi_config_set_argv", ctypes.c_bool)
_wasi_env: Final = _proto("wasi_config_set_env", ctypes.c_bool)
_wasi_stdout: Final = _proto("wasi_config_set_stdout_file", ctypes.c_bool, _lib)  # opens files
_wasi_stderr: Final = _proto("wasi_config_set_stderr_file", ctypes.c_bool, _lib)  # opens files
_wasi_stdin_bytes: Final = _proto("wasi_config_set_stdin_bytes", None)
_wasi_preopen: Final = _proto("wasi_config_preopen_dir", ctypes.c_bool, _lib)  # opens the directory
_set_wasi: Final = _proto("wasmtime_context_set_wasi", c_void_p, _lib)  # opens files
_call_unchecked: Final = _proto("wasmtime_func_call_unchecked", c_void_p, _lib)
_set_fuel: Final = _proto("wasmtime_context_set_fuel", c_void_p)
# For host functions (guests/wasi.py), which run with the GIL held: none of these may give it up mid-call.
caller_context: Final = _proto("wasmtime_caller_context", c_void_p)
caller_export_get: Final = _proto("wasmtime_caller_export_get", ctypes.c_bool)
trap_new_code: Final = _proto("wasmtime_trap_new_code", c_void_p)
_get_fuel: Final = _proto("wasmtime_context_get_fuel", c_void_p)


def context_of(store: wasmtime.Store) -> c_void_p:
    """The store's context pointer, for the calls below (valid while the store lives)."""
    return c_void_p(ctypes.cast(store._context(), c_void_p).value)


def get_export(store: wasmtime.Store, instance: wasmtime.Instance, name: str) -> Any:
    """One export by name as a raw `wasmtime_extern_t` (None if absent); cheaper than `Instance.exports`."""
    return get_exports(context_of(store), instance, (name.encode(),))[0]


def get_exports(ctx: c_void_p, instance: wasmtime.Instance, names: tuple[bytes, ...]) -> list[Any]:
    """Several exports by (encoded) name, as raw `wasmtime_extern_t`s or None."""
    found: list[Any] = []
    instance_ref = byref(instance._instance)
    for raw in names:
        item = ffi.wasmtime_extern_t()
        found.append(item if _export_get(ctx, instance_ref, raw, c_size_t(len(raw)), byref(item)) else None)
    return found


def instantiate(
    store: wasmtime.Store, instance_pre: wasmtime.InstancePre, ctx: c_void_p | None = None
) -> wasmtime.Instance:
    """`InstancePre.instantiate` without the wrapper's type checks; raises wasmtime.Trap / WasmtimeError."""
    instance = ffi.wasmtime_instance_t()
    trap = c_void_p()
    ctx = ctx or context_of(store)
    pre = c_void_p(ctypes.cast(instance_pre.ptr(), c_void_p).value)
    error = _error(_pre_instantiate(pre, ctx, byref(instance), byref(trap)))
    if error is not None:
        raise error
    if trap.value:
        raise wasmtime.Trap._from_ptr(ctypes.cast(trap.value, POINTER(ffi.wasm_trap_t)))
    return wasmtime.Instance._from_raw(instance)


class StoreLimits:
    """`Store.set_limits(...)`'s values, made into C values once: each memory's and each table's size, and how many
    instances, tables and memories a store may hold (wasmtime's limits are per memory and per table: the counts
    bound the whole). `apply` is on every cold start's path."""

    def __init__(self, memory_size: int, table_elements: int, instances: int, tables: int, memories: int) -> None:
        self._args = tuple(ctypes.c_int64(n) for n in (memory_size, table_elements, instances, tables, memories))

    def apply(self, store: wasmtime.Store) -> None:
        _store_limiter(c_void_p(ctypes.cast(store.ptr(), c_void_p).value), *self._args)


def set_deadline(ctx: c_void_p, ticks: int) -> None:
    _set_epoch_deadline(ctx, c_uint64(ticks))


def is_func(item: Any) -> bool:
    return item is not None and item.kind == ffi.WASMTIME_EXTERN_FUNC.value


def is_memory(item: Any) -> bool:
    return item is not None and item.kind == ffi.WASMTIME_EXTERN_MEMORY.value


class WasiRecipe:
    """A WASI context's argv and environment, encoded once per function version and applied to each new store.

    Building a `wasmtime.WasiConfig` re-encodes every variable on each store (~12 µs); this keeps the C arrays.
    """

    __slots__ = ("_argv", "_argv_n", "_env_n", "_keep", "_names", "_values")

    def __init__(self, argv: list[str], env: list[tuple[str, str]]) -> None:
        self._keep: list[Any] = []
        self._argv, self._argv_n = self._array([a.encode() for a in argv]), len(argv)
        self._names = self._array([k.encode() for k, _ in env])
        self._values = self._array([v.encode() for _, v in env])
        self._env_n = len(env)

    def _array(self, items: list[bytes]) -> Any:
        buffers = [ctypes.create_string_buffer(item) for item in items]
        array = (ctypes.POINTER(ctypes.c_char) * max(len(items), 1))()
        for i, buf in enumerate(buffers):
            array[i] = ctypes.cast(buf, ctypes.POINTER(ctypes.c_char))
        self._keep.append(buffers)
        return ctypes.cast(array, ctypes.POINTER(ctypes.POINTER(ctypes.c_char)))

    def apply(
        self,
        store: wasmtime.Store,
        stdout: bytes | None,
        stderr: bytes | None,
        stdin: bytes | None = None,
        preopens: Sequence[tuple[bytes, bytes, bool]] = (),
    ) -> None:
        """Give `store` a WASI context: this argv and environment, stdout/stderr opened by path (None: wasmtime's
        sink, for core modules whose writes guests.wasi takes), the `preopens` -- (host directory, guest path,
        writable) -- and nothing else."""
        config = c_void_p(_wasi_new())
        try:
            ok = (
                _wasi_argv(config, c_size_t(self._argv_n), self._argv)
                and _wasi_env(config, c_size_t(self._env_n), self._names, self._values)
                and (stdout is None or _wasi_stdout(config, stdout))
                and (stderr is None or _wasi_stderr(config, stderr))
                and all(
                    _wasi_preopen(config, host, guest, ctypes.c_bool(writable)) for host, guest, writable in preopens
                )
            )
            if not ok:
                raise wasmtime.WasmtimeError("failed to configure the WASI context")
            if stdin is not None:
                vec = ffi.wasm_byte_vec_t()
                ffi.wasm_byte_vec_new(byref(vec), len(stdin), (ctypes.c_uint8 * len(stdin)).from_buffer_copy(stdin))
                _wasi_stdin_bytes(config, byref(vec))  # takes ownership of the vector's bytes
        except BaseException:
            _wasi_delete(config)
            raise
        error = _error(_set_wasi(context_of(store), config))  # takes ownership of config
        if error is not None:
            raise error


def _error(ptr: int | None) -> Exception | None:
    if not ptr:
        return None
    return wasmtime.WasmtimeError._from_ptr(ctypes.cast(ptr, POINTER(ffi.wasmtime_error_t)))


class Handles:
    """A store's context and one memory, as raw pointers for the calls above."""

    __slots__ = ("_fuel", "_keep", "ctx", "memory")

    def __init__(self, store: wasmtime.Store, memory: Any = None, ctx: c_void_p | None = None) -> None:
        # The raw pointers below point into these objects: keep them alive as long as the handles.
        self._keep = (store, memory)
        self.ctx = ctx or context_of(store)
        self.memory = c_void_p(ctypes.addressof(memory.of.memory)) if memory is not None else None
        self._fuel = c_uint64(0)

    def memory_base(self) -> int:
        base: int | None = _memory_data(self.ctx, self.memory)
        return base or 0

    def memory_size(self) -> int:
        size: int = _memory_data_size(self.ctx, self.memory)
        return size

    def set_deadline(self, ticks: c_uint64) -> None:
        _set_epoch_deadline(self.ctx, ticks)

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
    `args[0].i32` after the call. (Packing them with struct into a memoryview of the buffer is ~0.15 µs faster a
    call, but making the view costs ~0.8 µs a cold start.)
    """

    __slots__ = ("_ctx", "_func", "_keep", "_n", "_trap", "_trap_ref", "args")

    def __init__(self, handles: Handles, func: Any, nargs: int, nresults: int) -> None:
        n = max(nargs, nresults, 1)
        self._n = c_size_t(max(nargs, nresults))
        self.args = (ffi.wasmtime_val_raw_t * n)()
        self._ctx = handles.ctx
        self._func = c_void_p(ctypes.addressof(func.of.func))
        self._trap = c_void_p()
        self._trap_ref = byref(self._trap)
        # Keep the extern (the func struct the pointer points at) and the handles (the store) alive.
        self._keep = (func, handles)

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


def memory_data(ctx: c_void_p, memory: c_void_p) -> int:
    """The base address of a memory (raw context and `wasmtime_memory_t` pointers)."""
    base: int | None = _memory_data(ctx, memory)
    return base or 0


def memory_data_size(ctx: c_void_p, memory: c_void_p) -> int:
    size: int = _memory_data_size(ctx, memory)
    return size


def memory_view(base: int, size: int) -> memoryview:
    """A writable view of `size` bytes of linear memory at `base`.

    Valid while the memory is alive and at least `size` long: memories never shrink, and the engine is configured
    with `memory_may_move = False`, so the base never changes. Recreate it when the memory grows.
    """
    return memoryview((ctypes.c_char * size).from_address(base)).cast("B")
