"""The content-addressed build cache that every wasmfaas builder (C/C++/Zig/Rust, AssemblyScript, Python, JavaScript,
Wizer snapshots) keeps its output in.

An artifact is named after a `Key`, a sha256 over everything that decides the output, and lives in the cache dir
(`$WASMFAAS_BUILD_CACHE`, else `~/.cache/wasmfaas/builds`) as `<name>` (such as `py-<key>.wasm`). `build` makes it
at most once: under an exclusive `flock` on a per-key lock file (`<stem>.lock`), the builder writes a temporary file
in the cache dir that is then renamed into place, so two processes (or threads) building the same key build it once,
and a reader never sees half a file. A failure that the inputs alone decide (`Rejected`) is kept as `<stem>.error`,
so the same inputs fail at once the next time. Temporary entries start with a dot and are removed by whoever made
them.

The cache is kept under a size (`$WASMFAAS_BUILD_CACHE_MAX_MB`, default 5120; 0 for no limit): a hit refreshes an
artifact's mtime, and after each new build, if the artifacts together pass the size, the least recently used go until
they fit in 80 % of it (so that not every build trims). An artifact used in the last ten minutes is never removed (a
process may be about to read the path `build` gave it); what a data directory deployed is its own hard link or copy
(`place`), so removing it here costs only a rebuild.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ._files import replacing
from .errors import BuildError

__all__ = [
    "Key",
    "Rejected",
    "build",
    "default_cache_dir",
    "default_max_bytes",
    "place",
    "read",
    "read_tree",
    "scratch_dir",
    "trim",
    "walk",
    "write_tree",
]

# The files of a tree that are kept (by name), and the directories that are skipped (by name, given the names of the
# files beside them); dot-directories are always skipped.
Include = Callable[[str], bool]
SkipDir = Callable[[str, Sequence[str]], bool]


def default_cache_dir() -> Path:
    """`$WASMFAAS_BUILD_CACHE`, else `~/.cache/wasmfaas/builds`."""
    env = os.environ.get("WASMFAAS_BUILD_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "wasmfaas" / "builds"


def default_max_bytes() -> int | None:
    """`$WASMFAAS_BUILD_CACHE_MAX_MB` in bytes (default 5120 MB), None for no limit (0)."""
    text = os.environ.get("WASMFAAS_BUILD_CACHE_MAX_MB", "").strip()
    try:
        mb = int(text) if text else _DEFAULT_MAX_MB
    except ValueError:
        raise BuildError(f"$WASMFAAS_BUILD_CACHE_MAX_MB must be a whole number of megabytes, got {text!r}") from None
    if mb < 0:
        raise BuildError(f"$WASMFAAS_BUILD_CACHE_MAX_MB must be 0 (no limit) or more, got {mb}")
    return mb * 1024 * 1024 if mb else None


_DEFAULT_MAX_MB = 5120
# Trimming goes down to this share of the limit, so that the next builds do not each trim again.
_TRIM_TO = 0.8
# An artifact used this recently stays: a process that `build` just answered may not have opened it yet.
_IN_USE_S = 600.0
# The suffixes of the cache's own bookkeeping files, which are not artifacts.
_LOCK, _ERROR = ".lock", ".error"
_TRIM_GUARD = f".trim{_LOCK}"
# A temporary entry older than this is a build's that a crash cut short (builds time out long before).
_STALE_S = 86400.0


class Key:
    """A sha256 over length-prefixed fields, so that no two different inputs can run together into the same bytes."""

    def __init__(self, *texts: str) -> None:
        self._hash = hashlib.sha256()
        self.add_text(*texts)

    def add_text(self, *texts: str) -> None:
        for text in texts:
            self.add_bytes(text.encode())

    def add_bytes(self, data: bytes) -> None:
        self._hash.update(len(data).to_bytes(8, "little"))
        self._hash.update(data)

    def add_flags(self, flags: Sequence[str]) -> None:
        """The flags, counted, so that the fields after them cannot pass for more flags."""
        self.add_text(str(len(flags)), *flags)

    def add_file(self, path: Path, name: str | None = None) -> None:
        """The file's contents, under `name` (by default its path)."""
        self.add_text(str(path) if name is None else name)
        self.add_bytes(read(path))

    def add_files(self, label: str, files: Sequence[tuple[str, bytes]]) -> None:
        """A group of files given as (relative path, contents), under `label`."""
        self.add_text(label, str(len(files)))
        for rel, data in files:
            self.add_text(rel)
            self.add_bytes(data)

    def add_tree(
        self, label: str, root: Path, *, include: Include | None = None, skip_dir: SkipDir | None = None
    ) -> None:
        """The files that `walk` lists under `root`, by relative path and contents, under `label` (as `add_files`)."""
        rels = list(walk(root, include=include, skip_dir=skip_dir))
        self.add_text(label, str(len(rels)))
        for rel in rels:
            self.add_file(root / rel, rel)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class Rejected(Exception):
    """Raised by a builder when the inputs themselves cannot build (a deterministic verdict, unlike a crash or a
    timeout): `build` keeps the message with the key and raises `BuildError` with it, now and for every later build
    of the same key."""


def build(name: str, produce: Callable[[Path], None], cache_dir: Path | None = None) -> Path:
    """Return the path of the cached artifact `name` (`<key><suffix>`), calling `produce(tmp)` to make it if missing.

    `produce` writes the artifact to `tmp`, an empty file in the cache dir (and may make other temporary entries
    there, with `scratch_dir`), or raises `BuildError`, or `Rejected` for a failure worth remembering. After a new
    build the cache is trimmed to `default_max_bytes()`.
    """
    root = (cache_dir if cache_dir is not None else default_cache_dir()).absolute()
    out = root / name
    failed = out.with_suffix(_ERROR)
    if _used(out):
        return out
    _raise_rejection(failed)
    limit = default_max_bytes()
    root.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(_LOCK), "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if _used(out):  # another process built it while we waited
            return out
        _raise_rejection(failed)
        # 0644: mkstemp's 0600 would keep other users of a shared cache out. The temp file keeps the artifact's
        # suffix, which tools may read as the output format.
        with replacing(out, mode=0o644, suffix=out.suffix) as tmp:
            try:
                produce(tmp)
            except Rejected as exc:
                with contextlib.suppress(OSError), replacing(failed, mode=0o644) as error:
                    error.write_text(str(exc))  # only a cache: if it cannot be kept, the next build runs again
                raise BuildError(str(exc)) from None
    _sweep_stale(root)
    if limit is not None:
        trim(root, limit, keep=out)
    return out


def _sweep_stale(root: Path) -> None:
    """Remove the temporary entries of builds a crash cut short (their process died: a day old)."""
    stale = time.time() - _STALE_S
    try:
        entries = [entry for entry in os.scandir(root) if entry.name.startswith(".") and entry.name != _TRIM_GUARD]
    except OSError:
        return
    for entry in entries:
        with contextlib.suppress(OSError):
            if entry.stat(follow_symlinks=False).st_mtime >= stale:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)


def _used(path: Path) -> bool:
    """Whether the artifact is there; if so its mtime says it was just used (the cache's LRU order)."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    except OSError:  # another user's artifact in a shared cache: usable, but not ours to touch
        return path.is_file()
    return True


def trim(root: Path, max_bytes: int, *, keep: Path | None = None) -> list[Path]:
    """Remove the least recently used artifacts under `root` (and their `.lock`) while the artifacts together take
    more than `max_bytes`, down to 80 % of it; never `keep` nor an artifact used in the last ten minutes. Returns
    the artifacts removed. One process trims at a time; another that finds it trimming skips."""
    if _artifacts(root)[1] <= max_bytes:
        return []
    try:
        with open(root / _TRIM_GUARD, "ab") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return _trim(root, max_bytes, keep)
    except OSError:  # another process is trimming (or the cache cannot be written): leave it
        return []


def _artifacts(root: Path) -> tuple[list[tuple[float, int, Path]], int]:
    """(mtime, size, path) of each artifact (and kept rejection) under `root`, and their total size."""
    entries: list[tuple[float, int, Path]] = []
    total = 0
    try:
        scan = list(os.scandir(root))
    except OSError:
        return [], 0
    for entry in scan:
        if entry.name.startswith(".") or entry.name.endswith(_LOCK):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if entry.is_file(follow_symlinks=False):
            total += st.st_size
            entries.append((st.st_mtime, st.st_size, Path(entry.path)))
    return entries, total


def _trim(root: Path, max_bytes: int, keep: Path | None) -> list[Path]:
    entries, total = _artifacts(root)  # again, now that no other process trims
    if total <= max_bytes:  # another one just did
        return []
    goal = int(max_bytes * _TRIM_TO)
    recent = time.time() - _IN_USE_S
    removed: list[Path] = []
    for mtime, size, path in sorted(entries, key=lambda e: e[0]):
        if total <= goal:
            break
        if mtime >= recent or (keep is not None and path == keep):
            continue
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed.append(path)
        # Its lock is an empty file; a builder waiting on it would build into the right name all the same.
        with contextlib.suppress(OSError):
            path.with_suffix(_LOCK).unlink()
    return removed


def _raise_rejection(path: Path) -> None:
    try:
        message = path.read_text(errors="replace")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise BuildError(f"cannot read {path}: {exc}") from exc
    raise BuildError(message)


@contextlib.contextmanager
def scratch_dir(tmp: Path, suffix: str) -> Iterator[Path]:
    """A temporary directory beside `tmp` (the file that `build` gives `produce`), named after it, removed on exit."""
    path = Path(tempfile.mkdtemp(dir=tmp.parent, prefix=f"{tmp.stem}.", suffix=suffix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def place(cached: Path, out_dir: Path) -> Path:
    """Put the cached artifact into `out_dir` under its own name (a hard link, else a copy), atomically; reuse one
    already there. Returns its path there."""
    out = out_dir / cached.name
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with replacing(out) as tmp:
            tmp.unlink()
            try:
                os.link(cached, tmp)
            except OSError:  # another filesystem, or no hard links there
                shutil.copyfile(cached, tmp)
                tmp.chmod(0o644)
    except OSError as exc:
        raise BuildError(f"cannot write {out}: {exc}") from exc
    return out


def walk(root: Path, *, include: Include | None = None, skip_dir: SkipDir | None = None) -> Iterator[str]:
    """Relative POSIX paths of the files under `root`, sorted: the names `include` keeps (all if None), without
    dot-directories (.git, .zig-cache, ...) and the directories `skip_dir(name, names of the files beside it)`
    skips."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith(".") and not (skip_dir is not None and skip_dir(d, filenames))
        )
        for name in sorted(filenames):
            if include is None or include(name):
                yield Path(dirpath, name).relative_to(root).as_posix()


def read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BuildError(f"cannot read {path}: {exc}") from exc


def read_tree(
    root: Path, *, include: Include | None = None, skip_dir: SkipDir | None = None
) -> list[tuple[str, bytes]]:
    """(relative path, contents) of the files that `walk` lists: what a builder hashes and then stages, so that a
    source edited during the build cannot slip in under the key."""
    return [(rel, read(root / rel)) for rel in walk(root, include=include, skip_dir=skip_dir)]


def write_tree(root: Path, files: Sequence[tuple[str, bytes]]) -> None:
    """Write files given as (relative path, contents) under `root`."""
    for rel, data in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
