"""The content-addressed build cache that every wasmfaas builder (C/C++/Zig/Rust, AssemblyScript, Python, JavaScript,
Wizer snapshots) keeps its output in.

An artifact is named after a `Key`, a sha256 over everything that decides the output, and lives in the cache dir
(`$WASMFAAS_BUILD_CACHE`, else `~/.cache/wasmfaas/builds`) as `<name>` (such as `py-<key>.wasm`). `build` makes it
at most once: under an exclusive `flock` on a per-key lock file (`<stem>.lock`), the builder writes a temporary file
in the cache dir that is then renamed into place, so two processes (or threads) building the same key build it once,
and a reader never sees half a file. A failure that the inputs alone decide (`Rejected`) is kept as `<stem>.error`,
so the same inputs fail at once the next time. Temporary entries start with a dot and are removed by whoever made
them. Nothing is ever evicted: the cache only grows.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ._files import replacing
from .errors import BuildError

__all__ = [
    "Key",
    "Rejected",
    "build",
    "default_cache_dir",
    "place",
    "read",
    "read_tree",
    "scratch_dir",
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
    there, with `scratch_dir`), or raises `BuildError`, or `Rejected` for a failure worth remembering.
    """
    root = (cache_dir if cache_dir is not None else default_cache_dir()).absolute()
    out = root / name
    failed = out.with_suffix(".error")
    if out.is_file():
        return out
    _raise_rejection(failed)
    root.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".lock"), "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if out.is_file():  # another process built it while we waited
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
    return out


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
