"""Two WASI preview 1 calls of our own for core modules: `fd_write` and `poll_oneoff`.

Wasmtime's WASI implements everything else; these two shadow its versions in the linker core modules are
instantiated from (modules.ModuleCache), because the invoke path needs them to behave differently:

- `fd_write` to stdout or stderr appends to the running environment's `GuestIO` buffers in memory. No pipe, no
  drainer thread, no system call per invocation to see whether the guest logged: a guest that writes nothing costs
  nothing, and a write never blocks, so no log volume can stall the host. A command's stdout (its response) lands
  in its own buffer. Past a buffer's cap the bytes are counted and dropped, and the write still reports success.
- `poll_oneoff` (what `sleep`, `nanosleep` and `poll` become in wasi-libc) sleeps on the host's clock but never past
  the invocation's deadline: there it traps with an epoch interrupt, so a sleeping guest times out like a spinning
  one (wasmtime's own version blocks the thread for the whole sleep, out of reach of epoch interruption). On an
  inline run (pool.py) any sleep traps at once the same way, so the invocation moves to a worker thread instead of
  blocking the event loop.

The state of the call in progress is per thread (`bind` before each call into a guest): one thread runs one store
at a time, and a host function runs on the thread that called into wasm. The callbacks go straight through
wasmtime's C API (`wasmtime_linker_define_func_unchecked`) and return traps as values, so no Python exception ever
crosses wasmtime-py's module-global error slot.

Components (the Python and JavaScript runtimes) use WASI preview 2 through `wasmtime.component` and keep
wasmtime's implementation and the pipe capture of logs.
"""

from __future__ import annotations

import ctypes
import struct
import threading
import time
from ctypes import POINTER, byref, c_size_t, c_void_p
from typing import Any, Final, cast

import wasmtime
from wasmtime import _ffi as ffi

from .._native import caller_context, caller_export_get, memory_data, memory_data_size, memory_view, trap_new_code
from ..logs import DEFAULT_LOG_CAP, dropped_note

__all__ = ["DEFAULT_LOG_CAP", "GuestIO", "bind", "define", "sleeps"]


_ERRNO_SUCCESS: Final = 0
_ERRNO_BADF: Final = 8
_ERRNO_FAULT: Final = 21
_ERRNO_INVAL: Final = 28
_ERRNO_IO: Final = 29
_ERRNO_NOTSUP: Final = 58

_IOVEC: Final = struct.Struct("<II")
_U32: Final = struct.Struct("<I")
_SUBSCRIPTION: Final = struct.Struct("<QB7xIxxxxQQH6x")  # userdata, tag, clock id | fd, timeout, precision, flags
_EVENT: Final = struct.Struct("<QHBxxxxxQH6x")  # userdata, errno, type, nbytes, flags
_CLOCK, _FD_READ, _FD_WRITE = 0, 1, 2
_REALTIME, _MONOTONIC = 0, 1
_ABSTIME: Final = 1
_STDIO: Final = (0, 1, 2)
_MEMORY: Final = ffi.WASMTIME_EXTERN_MEMORY.value
_MEMORY_NAME: Final = ctypes.create_string_buffer(b"memory")
_MEMORY_NAME_LEN: Final = c_size_t(6)
_INTERRUPT: Final = ctypes.c_uint8(ffi.wasmtime_trap_code_enum.WASMTIME_TRAP_CODE_INTERRUPT.value)
# Bounds on a call's array lengths, so that no call can keep the host busy for long: POSIX's IOV_MAX, and far more
# subscriptions than any poll() or sleep makes.
_IOV_MAX: Final = 1024
_MAX_SUBSCRIPTIONS: Final = 4096


class GuestIO:
    """One environment's side of the two calls: what its guest wrote, and the deadline of the call in progress."""

    __slots__ = (
        "deadline",
        "dropped",
        "inline",
        "log",
        "log_cap",
        "monotonic_origin",
        "stdout",
        "stdout_cap",
        "stdout_dropped",
        "stop",
    )

    def __init__(
        self, *, log_cap: int = DEFAULT_LOG_CAP, stdout_cap: int | None = None, stop: threading.Event | None = None
    ) -> None:
        self.log = bytearray()
        self.log_cap = log_cap
        self.dropped = 0
        # A command's stdout is its response; a reactor's stdout is part of its log.
        self.stdout: bytearray | None = bytearray() if stdout_cap is not None else None
        self.stdout_cap = stdout_cap or 0
        self.stdout_dropped = 0  # past the cap (which is one byte over the response limit: a too-large response)
        self.deadline = float("inf")  # time.monotonic() past which the guest has timed out
        self.inline = False  # the call runs on the event loop's thread: any sleep preempts it
        self.stop = stop  # set when the platform shuts down: a sleep ends there (an interrupt)
        # Wasmtime's monotonic clock counts from its WASI context's creation: the owner sets this right after making
        # the store, so an absolute sleep computed from it may end microseconds late, never early.
        self.monotonic_origin = time.monotonic_ns()

    def stdout_to_log(self) -> None:
        """Move a failed command's stdout, which is no response now, into its log after stderr's lines, marked as
        stdout and under the log's cap (what would pass it is counted as dropped)."""
        if self.stdout is None:
            return
        size = len(self.stdout) + self.stdout_dropped
        if size:
            if self.log and not self.log.endswith(b"\n"):
                self._log(b"\n")
            self._log(f"[wasmfaas: the command failed; its stdout ({size} bytes) follows]\n".encode())
            self._log(self.stdout)
            self.dropped += self.stdout_dropped
            if not self.stdout.endswith(b"\n"):
                self._log(b"\n")
        self.stdout.clear()
        self.stdout_dropped = 0

    def _log(self, data: bytes | bytearray) -> None:
        room = max(self.log_cap - len(self.log), 0)
        self.log += data[:room]
        self.dropped += max(len(data) - room, 0)

    def take_log(self) -> bytes:
        """Everything logged since the last take (plus a note of what the cap dropped)."""
        if not self.log and not self.dropped:
            return b""
        data = bytes(self.log)
        self.log.clear()
        if self.dropped:
            data += dropped_note(self.dropped, self.log_cap)
            self.dropped = 0
        return data


class _Local(threading.local):
    io: GuestIO | None = None
    sleeps = 0  # host sleeps on this thread so far


_local = _Local()


def bind(io: GuestIO | None) -> None:
    """Make `io` the state of this thread's calls into wasm, until the next bind."""
    _local.io = io


def _current() -> GuestIO | None:
    return _local.io


def sleeps() -> int:
    """How many times guests have slept on this thread (poll_oneoff's host sleeps): a call that slept waited, which
    its CPU time does not show."""
    return _local.sleeps


def _memory(caller: Any) -> memoryview | None:
    """The calling instance's exported memory as a writable view (None if it exports none).

    Reads and writes go through the view, not `ctypes.string_at` / `memmove`: those are foreign calls that would
    give up the GIL, and each hand-off back can cost the event loop's thread a wait.
    """
    item = ffi.wasmtime_extern_t()
    if not caller_export_get(caller, _MEMORY_NAME, _MEMORY_NAME_LEN, byref(item)):
        return None
    if cast(int, item.kind) != _MEMORY:  # a ctypes field reads as an int
        return None
    ctx = c_void_p(caller_context(caller))
    memory = c_void_p(ctypes.addressof(item.of.memory))
    return memory_view(memory_data(ctx, memory), memory_data_size(ctx, memory))


def _interrupt() -> int:
    """A trap the guest cannot catch, classified as a timeout (or, inline, as the end of the slice)."""
    trap: int | None = trap_new_code(_INTERRUPT)
    return trap or 0


def _fd_write(_env: Any, caller: Any, args: Any, _n: int) -> int:
    try:
        args[0].i32 = _write(caller, *(args[i].i32 & 0xFFFFFFFF for i in range(4)))
    except BaseException:  # never let an exception unwind through wasm: report an I/O error instead
        args[0].i32 = _ERRNO_IO
    return 0


def _write(caller: Any, fd: int, iovs: int, count: int, nwritten: int) -> int:
    io = _current()
    if fd not in (1, 2) or io is None:
        return _ERRNO_BADF
    if count > _IOV_MAX:  # POSIX's bound; without it one call could loop over millions of entries
        return _ERRNO_INVAL
    view = _memory(caller)
    if view is None:
        return _ERRNO_FAULT
    size = len(view)
    if iovs + 8 * count > size or nwritten + 4 > size:
        return _ERRNO_FAULT
    response = fd == 1 and io.stdout is not None
    target = io.stdout if response and io.stdout is not None else io.log
    cap = io.stdout_cap if response else io.log_cap
    total = 0
    for i in range(count):
        ptr, length = _IOVEC.unpack_from(view, iovs + 8 * i)
        if ptr + length > size:
            return _ERRNO_FAULT
        room = cap - len(target)
        if room >= length:
            target += view[ptr : ptr + length]
        else:
            if room > 0:
                target += view[ptr : ptr + room]
            if response:
                io.stdout_dropped += length - max(room, 0)
            else:
                io.dropped += length - max(room, 0)
        total += length
    _U32.pack_into(view, nwritten, total)
    return _ERRNO_SUCCESS


def _sleep(io: GuestIO | None, seconds: float) -> bool:
    """Sleep `seconds`; True if cut short by the platform's shutdown."""
    _local.sleeps += 1
    stop = io.stop if io is not None else None
    if stop is None:
        time.sleep(seconds)
        return False
    return stop.wait(seconds)


def _poll_oneoff(_env: Any, caller: Any, args: Any, _n: int) -> int:
    try:
        result = _poll(caller, *(args[i].i32 & 0xFFFFFFFF for i in range(4)))
    except BaseException:
        args[0].i32 = _ERRNO_IO
        return 0
    if result < 0:  # a trap
        return -result
    args[0].i32 = result
    return 0


def _poll(caller: Any, subs: int, events: int, count: int, nevents: int) -> int:
    """An errno, or minus a trap's address."""
    io = _current()
    if count == 0 or count > _MAX_SUBSCRIPTIONS:
        return _ERRNO_INVAL
    view = _memory(caller)
    if view is None:
        return _ERRNO_FAULT
    size = len(view)
    if subs + 48 * count > size or events + 32 * count > size or nevents + 4 > size:
        return _ERRNO_FAULT
    now = time.monotonic_ns()
    ready: list[tuple[int, int, int]] = []  # (userdata, errno, type) of the events to report
    clocks: list[tuple[int, int]] = []  # (userdata, wake time in monotonic ns)
    for i in range(count):
        userdata, tag, ident, timeout, _precision, flags = _SUBSCRIPTION.unpack_from(view, subs + 48 * i)
        if tag == _CLOCK:
            if ident == _MONOTONIC:
                origin = io.monotonic_origin if io is not None else 0
                clocks.append((userdata, origin + timeout if flags & _ABSTIME else now + timeout))
            elif ident == _REALTIME:
                clocks.append((userdata, now + (timeout - time.time_ns() if flags & _ABSTIME else timeout)))
            else:
                ready.append((userdata, _ERRNO_NOTSUP, tag))
        elif tag in (_FD_READ, _FD_WRITE):
            # stdin is fixed bytes and stdout/stderr are buffers: always ready. No other fd exists here.
            ready.append((userdata, _ERRNO_SUCCESS if ident in _STDIO else _ERRNO_BADF, tag))
        else:
            return _ERRNO_INVAL
    if not ready and clocks:
        wake = min(w for _, w in clocks)
        if wake > now:
            if io is not None and io.inline:
                return -_interrupt()  # a sleep on the event loop's thread: run it on a worker instead
            deadline = io.deadline * 1e9 if io is not None else float("inf")
            if wake > deadline:
                _sleep(io, max(deadline - now, 0) / 1e9)
                return -_interrupt()  # the invocation's time is up before the sleep is
            if _sleep(io, (wake - now) / 1e9):
                return -_interrupt()  # the platform is shutting down: the guest is stopped
        now = time.monotonic_ns()
    due = [userdata for userdata, wake in clocks if wake <= now]
    if not ready and not due:  # woke a hair early by the float rounding of the sleep: the earliest is due
        due = [min(clocks, key=lambda clock: clock[1])[0]]
    ready += [(userdata, _ERRNO_SUCCESS, _CLOCK) for userdata in due]
    for i, (userdata, errno, kind) in enumerate(ready):
        _EVENT.pack_into(view, events + 32 * i, userdata, errno, kind, 0, 0)
    _U32.pack_into(view, nevents, len(ready))
    return _ERRNO_SUCCESS


# The callbacks must outlive every linker they are defined in: module globals.
_CALLBACK: Final = ffi.wasmtime_func_unchecked_callback_t
_FD_WRITE_CB: Final = _CALLBACK(_fd_write)
_POLL_ONEOFF_CB: Final = _CALLBACK(_poll_oneoff)
_NO_FINALIZER: Final = ctypes.CFUNCTYPE(None, c_void_p)()


def define(linker: wasmtime.Linker) -> None:
    """Shadow wasmtime's `fd_write` and `poll_oneoff` in a linker that has WASI defined already."""
    i32 = wasmtime.ValType.i32()
    functype = wasmtime.FuncType([i32, i32, i32, i32], [i32])
    linker.allow_shadowing = True
    module = ctypes.create_string_buffer(b"wasi_snapshot_preview1")
    for name, callback in ((b"fd_write", _FD_WRITE_CB), (b"poll_oneoff", _POLL_ONEOFF_CB)):
        raw = ctypes.create_string_buffer(name)
        error = ffi.wasmtime_linker_define_func_unchecked(
            linker.ptr(),
            ctypes.cast(module, POINTER(ctypes.c_char)),
            c_size_t(len(module.value)),
            ctypes.cast(raw, POINTER(ctypes.c_char)),
            c_size_t(len(name)),
            functype.ptr(),
            callback,
            None,
            _NO_FINALIZER,
        )
        if error:
            raise wasmtime.WasmtimeError._from_ptr(error)
    linker.allow_shadowing = False
