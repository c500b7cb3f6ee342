"""Capturing what a guest writes to stdout and stderr.

Each capture is a named pipe in a private directory. Wasmtime opens it by path for both stdout and stderr, so they
share one pipe and keep their relative order, as in Lambda's log stream; nothing is written to disk. Pipes are used
rather than wasmtime-py's custom-output callbacks, which run on a tokio thread and can abort the process at exit.

A pipe holds 64 KiB; a guest that writes more in one invocation would block in the host, where epoch interruption
cannot reach it. One drainer thread per process (epoll) empties every pipe as soon as it is readable, so a guest
never blocks on its logs; what is past a capture's cap is counted and dropped, not kept.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import fcntl
import itertools
import os
import resource
import select
import shutil
import tempfile
import termios
import threading
from typing import Final

__all__ = ["DEFAULT_LOG_CAP", "Capture", "dropped_note", "prepare"]

DEFAULT_LOG_CAP: Final = 256 * 1024
_READ: Final = 1 << 16


def dropped_note(dropped: int, cap: int) -> bytes:
    """The line a log ends with when `dropped` bytes went over its `cap`."""
    return f"\n[wasmfaas: {dropped} bytes of output over the {cap}-byte cap dropped]\n".encode()


class Capture:
    """One pipe whose write end a guest's WASI stdio is opened on; `take()` returns what arrived since last time.

    Get one with `Capture.acquire()` and give it back with `release()` once the store that opened it is gone:
    released pipes are reused (no pipe, epoll or close calls on a cold start). Our own write end stays open for the
    pipe's whole life, so the pipe never reports end-of-file while it waits in the free list.
    """

    __slots__ = ("_buf", "_count", "_lock", "cap", "dropped", "fifo", "path", "path_bytes", "rfd", "wfd")

    def __init__(self, cap: int = DEFAULT_LOG_CAP) -> None:
        # A named pipe in a private directory: wasmtime opens a FIFO's path in half the time of /proc/self/fd/N
        # (a magic link), and it opens both stdout and stderr on every cold start. Wasmtime's own opens block, so
        # the guest's writes wait (rather than fail with EAGAIN) while the drainer catches up.
        try:
            path = os.path.join(_fifo_dir(), str(next(_FIFO_NAMES)))
            os.mkfifo(path, 0o600)
            self.rfd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            self.wfd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            self.fifo: str | None = path
        except OSError:  # no FIFOs here (an unusual file system): an anonymous pipe reached through /proc
            self.rfd, self.wfd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
            path = f"/proc/self/fd/{self.wfd}"
            self.fifo = None
        self.path = path
        self.path_bytes = path.encode()  # what wasmtime's C API takes, encoded once
        self.cap = cap
        self.dropped = 0
        self._buf = bytearray()
        self._lock = threading.Lock()
        self._count = array.array("i", [0])
        _drainer().register(self)

    @classmethod
    def acquire(cls, cap: int = DEFAULT_LOG_CAP) -> Capture:
        """A pipe from the free list, or a new one."""
        with _FREE_LOCK:
            for i in range(len(_FREE) - 1, -1, -1):
                if _FREE[i].cap == cap:
                    return _FREE.pop(i)
        return cls(cap)

    def release(self) -> None:
        """Give the pipe back (call only after the store that wrote to it is gone); what it holds is dropped."""
        if self.rfd < 0:
            return
        with self._lock:
            self._drain_locked()
            self._buf.clear()
            self.dropped = 0
        with _FREE_LOCK:
            if len(_FREE) < _FREE_MAX:
                _FREE.append(self)
                return
        self.close()

    def _drain_locked(self) -> bool:
        """Read whatever is in the pipe; False once every writer has closed it."""
        while True:
            try:
                chunk = os.read(self.rfd, _READ)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            room = self.cap - len(self._buf)
            if room >= len(chunk):
                self._buf += chunk
            else:
                self._buf += chunk[: max(room, 0)]
                self.dropped += len(chunk) - max(room, 0)

    def drain(self) -> bool:
        with self._lock:
            return self._drain_locked()

    def take(self) -> bytes:
        """Everything written since the last take (call it after the guest returned: its writes are complete)."""
        with self._lock:
            # FIONREAD first: the common case (nothing logged) costs one ioctl, not a failing read.
            fcntl.ioctl(self.rfd, termios.FIONREAD, self._count, True)
            if self._count[0]:
                self._drain_locked()
            if not self._buf:
                return b""
            data = bytes(self._buf)
            if self.dropped:
                data += dropped_note(self.dropped, self.cap)
                self.dropped = 0
            self._buf.clear()
            return data

    def close(self) -> None:
        if self.rfd < 0:
            return
        _drainer().unregister(self)
        with self._lock:
            os.close(self.rfd)
            self.rfd = -1
            if self.wfd >= 0:
                os.close(self.wfd)
                self.wfd = -1
        if self.fifo is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.fifo)


def prepare(spare: int = 4) -> None:
    """Start the drainer and make a few FIFOs now (at platform start), not on the first cold starts."""
    _drainer()
    _fifo_dir()
    with _FREE_LOCK:
        missing = max(0, spare - sum(1 for capture in _FREE if capture.cap == DEFAULT_LOG_CAP))
    for _ in range(missing):
        Capture().release()


_FIFO_NAMES: Final = itertools.count()
_FIFO_DIR: list[str] = []
_FIFO_DIR_LOCK: Final = threading.Lock()


def _fifo_dir() -> str:
    """This process's private directory of log FIFOs (in memory where /dev/shm exists), removed at exit."""
    with _FIFO_DIR_LOCK:
        if not _FIFO_DIR:
            base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
            _remove_stale_fifo_dirs(base)
            path = tempfile.mkdtemp(prefix=f"wasmfaas-logs-{os.getpid()}-", dir=base)
            atexit.register(shutil.rmtree, path, True)
            _FIFO_DIR.append(path)
        return _FIFO_DIR[0]


def _remove_stale_fifo_dirs(base: str) -> None:
    # A process killed with SIGKILL leaves its (empty) FIFO directory behind: remove those of dead processes.
    for entry in os.scandir(base):
        parts = entry.name.split("-")
        if len(parts) >= 4 and parts[:2] == ["wasmfaas", "logs"] and parts[2].isascii() and parts[2].isdigit():
            try:
                os.kill(int(parts[2]), 0)
            except ProcessLookupError:
                shutil.rmtree(entry.path, ignore_errors=True)
            except OSError:
                pass  # alive, or not ours to signal: leave it


def _raise_fd_limit() -> None:
    # Each warm environment holds four descriptors (its log pipe's two ends and wasmtime's stdout and stderr), so
    # a thousand idle environments need more than the common soft limit of 1024: take what the hard limit allows.
    with contextlib.suppress(ValueError, OSError):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else 1 << 20
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class _Drainer:
    def __init__(self) -> None:
        _raise_fd_limit()
        self._epoll = select.epoll()
        self._captures: dict[int, Capture] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="wasmfaas-log-drainer", daemon=True)
        self._thread.start()

    def register(self, capture: Capture) -> None:
        with self._lock:
            self._captures[capture.rfd] = capture
            self._epoll.register(capture.rfd, select.EPOLLIN | select.EPOLLHUP)

    def unregister(self, capture: Capture) -> None:
        with self._lock:
            if self._captures.pop(capture.rfd, None) is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._epoll.unregister(capture.rfd)

    def _run(self) -> None:
        while True:
            events = self._epoll.poll()
            for fd, _mask in events:
                with self._lock:
                    capture = self._captures.get(fd)
                if capture is not None and not capture.drain():
                    # Every writer is gone (the store was dropped): stop watching, or epoll reports HUP forever.
                    self.unregister(capture)


_FREE: list[Capture] = []
_FREE_LOCK: Final = threading.Lock()
_FREE_MAX: Final = 256

_DRAINER: _Drainer | None = None
_DRAINER_LOCK: Final = threading.Lock()


def _drainer() -> _Drainer:
    global _DRAINER
    if _DRAINER is None:
        with _DRAINER_LOCK:
            if _DRAINER is None:
                _DRAINER = _Drainer()
    return _DRAINER
