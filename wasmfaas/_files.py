"""Writing files so that a reader (or a process killed half-way) sees the old file or the whole new one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from .errors import WasmfaasError

__all__ = ["atomic_write", "private_database", "read_kept", "replacing"]


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to a temp file beside `path`, fsync it, and rename it over `path`."""
    with replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def replacing(path: Path, *, mode: int | None = None, suffix: str = ".tmp") -> Iterator[Path]:
    """An empty temp file beside `path` (mkstemp's, so 0600), named `.<name>.<random><suffix>`, for the block to
    fill: renamed over `path` when the block completes, after a chmod to `mode` if given, and removed if it raises."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if mode is not None:
            tmp.chmod(mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def private_database(path: Path) -> Path:
    """`path` (an SQLite database), made or kept readable by its owner only, with its -wal and -shm files: they
    hold functions' environment variables and events' payloads. SQLite gives the -wal and -shm it makes the
    database's mode; files left by an older version are narrowed here."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_RDONLY, 0o600))
    except OSError:
        return path  # sqlite3.connect names the problem
    real = Path(os.path.realpath(path))  # SQLite puts -wal and -shm beside the file a symlink points to
    for name in (real, real.with_name(real.name + "-wal"), real.with_name(real.name + "-shm")):
        with contextlib.suppress(OSError):
            if name.stat().st_mode & 0o077:
                name.chmod(0o600)
    return path


def read_kept(path: Path, kind: Any, what: str) -> Any:
    """A JSON file kept by `atomic_write`, decoded as `kind`; a damaged one is an error that names the file and what
    to do (not a bare decode error)."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=kind)
    except (msgspec.DecodeError, OSError) as e:
        raise WasmfaasError(
            f"{path} cannot be read ({e}): restore it from a backup, or move it away to start without the {what} "
            "it held"
        ) from None
