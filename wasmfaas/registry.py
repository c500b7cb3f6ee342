"""Where functions are kept: the registry interface and its embedded default (SQLite in WAL mode + code blobs).

A function's whole state (its $LATEST, published versions, aliases and provisioned concurrency) is one record,
written in one transaction: a change is all there or not at all, whatever moment the process is killed. Code is
stored once per sha256 under `<data_dir>/code/`, written and fsynced before the record that names it commits, so a
record never points at a missing blob. Other backends (a shared database for several hosts) implement `Registry`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

import msgspec

from ._files import atomic_write, private_database
from .config import FunctionConfig
from .errors import ResourceConflictError
from .layers import LayerRecord, LayerRef
from .modules import GuestKind

logger = logging.getLogger("wasmfaas.registry")

__all__ = ["AliasInfo", "FunctionInfo", "FunctionRecord", "Registry", "SqliteRegistry"]

LATEST = "$LATEST"


class FunctionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A function version as the API describes it (`version` is "$LATEST" or "1", "2", ...)."""

    name: str
    runtime: str
    handler: str
    kind: GuestKind
    code_sha256: str
    code_size: int
    config: FunctionConfig
    version: str = LATEST
    revision: int = 1
    last_modified: str = ""
    description: str = ""
    role: str = ""  # the execution role the API was given (kept and echoed; no IAM here)
    # Settings the Lambda API was given that have no effect here (Architectures, TracingConfig, LoggingConfig...),
    # by their API names: kept with the version and shown back, as `role`, so that tools comparing them see no change.
    inert_settings: dict[str, Any] = msgspec.field(default_factory=dict)
    # A language runtime's build of the source: the component's sha256, its bytes kept with the code blobs, so that a
    # restart runs what was deployed (as Lambda keeps the deployed artifact) instead of building it again.
    artifact_sha256: str = ""
    layers: tuple[LayerRef, ...] = ()  # language runtimes only: built in, in this order


class AliasInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A named pointer to a version; `routing` sends a share of traffic (0-1) to other versions."""

    name: str
    function_name: str
    function_version: str
    description: str = ""
    routing: dict[str, float] = msgspec.field(default_factory=dict)
    revision_id: int = 1


class FunctionRecord(msgspec.Struct, kw_only=True):
    """Everything the registry keeps of one function."""

    latest: FunctionInfo
    versions: list[FunctionInfo] = msgspec.field(default_factory=list)
    aliases: list[AliasInfo] = msgspec.field(default_factory=list)
    provisioned: dict[str, int] = msgspec.field(default_factory=dict)
    next_version: int = 1
    tags: dict[str, str] = msgspec.field(default_factory=dict)


class Registry(Protocol):
    """Durable function state. Every method blocks: call from a worker thread."""

    def load(self) -> list[FunctionRecord]: ...
    def save(self, record: FunctionRecord) -> None: ...
    def delete(self, name: str) -> None: ...
    def put_code(self, sha256: str, code: bytes, *, replace: bool = False) -> None: ...
    def get_code(self, sha256: str) -> bytes: ...
    def load_layers(self) -> list[LayerRecord]: ...
    def save_layer(self, record: LayerRecord) -> None: ...
    def collect_garbage(self, keep: set[str]) -> int: ...
    def code_names(self) -> set[str]:
        """The sha256 of every code blob held."""
        ...

    def close(self) -> None: ...


class SqliteRegistry:
    """The embedded default: `<data_dir>/registry.sqlite3` and `<data_dir>/code/<sha256>`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.code_dir = data_dir / "code"
        self.code_dir.mkdir(parents=True, exist_ok=True)
        self._owner = _take_data_dir(data_dir)
        try:
            # One connection shared by worker threads, serialised by a lock: writes are rare and small.
            self._db = sqlite3.connect(
                private_database(data_dir / "registry.sqlite3"), check_same_thread=False, isolation_level=None
            )
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.execute("CREATE TABLE IF NOT EXISTS functions (name TEXT PRIMARY KEY, record BLOB NOT NULL)")
                self._db.execute("CREATE TABLE IF NOT EXISTS layers (name TEXT PRIMARY KEY, record BLOB NOT NULL)")
            except BaseException:
                self._db.close()
                raise
        except BaseException:
            os.close(self._owner)  # the data directory is not held by a registry that never opened
            raise
        self._lock = threading.Lock()
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(FunctionRecord)

    def load(self) -> list[FunctionRecord]:
        with self._lock:
            rows = self._db.execute("SELECT name, record FROM functions ORDER BY name").fetchall()
        records = []
        for name, data in rows:
            try:
                records.append(self._decoder.decode(data))
            except msgspec.DecodeError as e:  # (ValidationError is one) one bad record must not stop every function
                logger.error("function %s is not loaded: its stored record does not decode (%s)", name, e)
        return records

    def save(self, record: FunctionRecord) -> None:
        data = self._encoder.encode(record)
        with self._lock:
            self._db.execute(
                "INSERT INTO functions (name, record) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET record = excluded.record",
                (record.latest.name, data),
            )

    def delete(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM functions WHERE name = ?", (name,))

    def put_code(self, sha256: str, code: bytes, *, replace: bool = False) -> None:
        """Keep `code` under its sha256 (once; `replace` writes it again over a damaged copy)."""
        path = self.code_dir / sha256
        if replace or not path.exists():
            atomic_write(path, code)

    def get_code(self, sha256: str) -> bytes:
        return (self.code_dir / sha256).read_bytes()

    def load_layers(self) -> list[LayerRecord]:
        with self._lock:
            rows = self._db.execute("SELECT name, record FROM layers ORDER BY name").fetchall()
        records = []
        for name, data in rows:
            try:
                records.append(msgspec.json.decode(data, type=LayerRecord))
            except msgspec.DecodeError as e:
                logger.error("layer %s is not loaded: its stored record does not decode (%s)", name, e)
        return records

    def save_layer(self, record: LayerRecord) -> None:
        """A layer's record; one with no versions left is kept too, for its next version number."""
        data = self._encoder.encode(record)
        with self._lock:
            self._db.execute(
                "INSERT INTO layers (name, record) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET record = excluded.record",
                (record.name, data),
            )

    def code_names(self) -> set[str]:
        return {path.name for path in self.code_dir.iterdir() if not path.name.startswith(".")}

    def collect_garbage(self, keep: set[str]) -> int:
        """Remove code blobs that no record names, and temporary files a crash left behind (this process holds the
        data directory, and its writes are not under way while it collects); returns how many blobs."""
        removed = 0
        for path in self.code_dir.iterdir():
            if path.name.startswith("."):
                with contextlib.suppress(OSError):
                    path.unlink()  # a write a kill -9 cut short (`_files.replacing`'s temporary file)
            elif path.name not in keep:
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
        return removed

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._owner >= 0:
                os.close(self._owner)  # the data directory's lock goes with it
                self._owner = -1


def data_dir_holder(data_dir: Path) -> str | None:
    """The pid (as its lock file says it, "?" if unsaid) of the persistent platform or server that holds `data_dir`
    now (see `_take_data_dir`), or None."""
    try:
        fd = os.open(data_dir / "registry.lock", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # never held (or not ours to read)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _holder_pid(fd)
    finally:
        os.close(fd)  # and the shared lock with it
    return None


def _holder_pid(fd: int) -> str:
    """The pid the holder wrote in the lock file ("?" if none yet)."""
    return os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"


def _take_data_dir(data_dir: Path) -> int:
    """Lock the data directory for this process (released when the returned descriptor closes, or the process
    ends, even by kill -9). Two platforms over one registry would each hold its own view and overwrite the other's
    changes: a second one is refused."""
    fd = os.open(data_dir / "registry.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_pid(fd)
        os.close(fd)
        raise ResourceConflictError(
            f"{data_dir} is in use by another wasmfaas platform or server (pid {holder}): one per data directory"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
