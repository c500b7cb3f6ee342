"""Building guests from C, C++ and Zig source with the `ziglang` PyPI package, cached by content.

Every build lands in the cache dir as `<key>.wasm`. The key is a sha256 over everything that decides the output: the
zig version, the tool and all its flags, each source's path and bytes, every file under the include dirs, and the
files a source can include or import by a relative path (headers, or `.zig`/`.zon` files, anywhere under the source's
own directory; dot-directories are skipped). Sources are compiled by absolute path and the key covers those paths,
because `__FILE__` (e.g. in `assert`) puts them in the output. The compiler runs without the environment variables
that would change its output behind the key's back (`CPATH`, `ZIG_LIB_DIR`, ...), so only the arguments decide a
build.

A build writes a temporary file in the cache dir and renames it into place, under an exclusive `flock` on a per-key
lock file: two processes (or threads) building the same key compile it once, and a reader never sees half a file.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final, Literal

from .errors import BuildError, InvalidParameterError

__all__ = ["ExecModel", "build_c", "build_zig", "default_cache_dir", "zig_version"]

ExecModel = Literal["command", "reactor"]

_TARGET: Final = "wasm32-wasi"
_ZIG_OPT_MODES: Final = frozenset({"Debug", "ReleaseSafe", "ReleaseFast", "ReleaseSmall"})
_C_HEADER_SUFFIXES: Final = frozenset({".h", ".hh", ".hpp", ".hxx", ".h++", ".inc", ".inl", ".ipp", ".tcc", ".def"})
_ZIG_SUFFIXES: Final = frozenset({".zig", ".zon"})
# Read by clang or zig, and able to change the output without being in the key: removed from the compiler's env.
_HIDDEN_INPUT_ENV: Final = (
    "CPATH",
    "C_INCLUDE_PATH",
    "CPLUS_INCLUDE_PATH",
    "OBJC_INCLUDE_PATH",
    "LIBRARY_PATH",
    "NIX_CFLAGS_COMPILE",
    "NIX_CFLAGS_LINK",
    "NIX_LDFLAGS",
    "ZIG_LIBC",
    "ZIG_LIB_DIR",
)


def default_cache_dir() -> Path:
    """`$WASMFAAS_BUILD_CACHE`, else `~/.cache/wasmfaas/builds`."""
    env = os.environ.get("WASMFAAS_BUILD_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "wasmfaas" / "builds"


@functools.cache
def zig_version() -> str:
    """The version of the installed `ziglang` compiler (asked once per process; part of every cache key)."""
    proc = _run_zig(["version"])
    if proc.returncode != 0:
        raise BuildError(f"`zig version` failed (exit {proc.returncode}): {_output(proc)}")
    return proc.stdout.strip()


def build_c(
    sources: Sequence[Path | str],
    *,
    exec_model: ExecModel,
    opt: str = "-O2",
    include_dirs: Sequence[Path | str] = (),
    extra_flags: Sequence[str] = (),
    cache_dir: Path | None = None,
    language: Literal["c", "c++"] = "c",
) -> Path:
    """Compile C (or C++) sources into one stripped wasm32-wasi module and return the cached `.wasm`'s path.

    A `reactor` gets WASI's reactor start-up (`_initialize` runs the constructors); a `command` gets `_start` calling
    `main`. C++ is built with `-fno-exceptions` (WASI has no exception runtime). Paths given in `extra_flags` (say
    `-I...`) are passed through, but only the flag text is in the key: pass include dirs as `include_dirs` so that
    their contents are. Raises `BuildError` with the compiler's stderr.
    """
    _check_exec_model(exec_model)
    if language not in ("c", "c++"):
        raise InvalidParameterError("language", f"must be 'c' or 'c++', not {language!r}")
    if not opt.startswith("-O"):
        raise InvalidParameterError("opt", f"must be a -O flag such as -O2 or -Oz, not {opt!r}")
    if not sources:
        raise InvalidParameterError("sources", "at least one source file is needed")
    srcs = [_existing(Path(s), "source file", Path.is_file) for s in sources]
    incs = [_existing(Path(d), "include dir", Path.is_dir) for d in include_dirs]

    tool = "cc" if language == "c" else "c++"
    flags = ["-target", _TARGET]
    if exec_model == "reactor":
        flags.append("-mexec-model=reactor")
    if language == "c++":
        # zig's libc++ for wasm32-wasi has no exception runtime: code that can throw fails to link (__cxa_throw).
        flags.append("-fno-exceptions")
    flags += [opt, "-s", *(f"-I{d}" for d in incs), *extra_flags]

    key = _Key(tool, flags)
    for src in srcs:
        key.add_file(src)
    for inc in incs:
        key.add_tree(inc, suffixes=None)
    for src_dir in dict.fromkeys(src.parent for src in srcs):
        key.add_tree(src_dir, suffixes=_C_HEADER_SUFFIXES)
    return _build(key, lambda out: [tool, *flags, *map(str, srcs), "-o", str(out)], cache_dir)


def build_zig(
    source: Path | str,
    *,
    exec_model: ExecModel,
    opt: str = "ReleaseSmall",
    cache_dir: Path | None = None,
) -> Path:
    """Compile a Zig root source file into a stripped wasm32-wasi module and return the cached `.wasm`'s path.

    A `reactor` exports every `export fn` and has no entry point of its own; if the source has a `pub fn main`, it
    becomes `_initialize`. A `command` needs `pub fn main`, run by `_start`. `opt` is a Zig optimize mode
    (`ReleaseSmall`, `ReleaseFast`, `ReleaseSafe`, `Debug`). Raises `BuildError` with the compiler's stderr.
    """
    _check_exec_model(exec_model)
    if opt not in _ZIG_OPT_MODES:
        raise InvalidParameterError("opt", f"must be one of {sorted(_ZIG_OPT_MODES)}, not {opt!r}")
    src = _existing(Path(source), "source file", Path.is_file)

    flags = ["-target", _TARGET, "-O", opt, "-fstrip"]
    if exec_model == "reactor":
        # -fno-entry: a reactor without `main` has no `_initialize` to be its entry; -rdynamic: without it, wasm-ld
        # keeps `export fn`s internal.
        flags += ["-mexec-model=reactor", "-fno-entry", "-rdynamic"]

    key = _Key("build-exe", flags)
    key.add_file(src)
    # Zig lets a module import only files under its root source's directory, so that tree is all it can reach.
    key.add_tree(src.parent, suffixes=_ZIG_SUFFIXES)
    return _build(key, lambda out: ["build-exe", str(src), *flags, f"-femit-bin={out}"], cache_dir)


class _Key:
    """A sha256 over length-prefixed fields, so that no two different inputs can run together into the same bytes."""

    def __init__(self, tool: str, flags: Sequence[str]) -> None:
        self._hash = hashlib.sha256()
        for text in ("wasmfaas-build-v1", tool, zig_version(), str(len(flags)), *flags):
            self._field(text.encode())

    def add_file(self, path: Path) -> None:
        self._field(str(path).encode())
        self._field(_read(path))

    def add_tree(self, root: Path, *, suffixes: frozenset[str] | None) -> None:
        """Every file under `root` (those with one of `suffixes`, if given), by relative path and contents."""
        self._field(str(root).encode())
        for path in _walk(root):
            if suffixes is None or path.suffix.lower() in suffixes:
                self._field(path.relative_to(root).as_posix().encode())
                self._field(_read(path))

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def _field(self, data: bytes) -> None:
        self._hash.update(len(data).to_bytes(8, "little"))
        self._hash.update(data)


def _build(key: _Key, argv_for: Callable[[Path], list[str]], cache_dir: Path | None) -> Path:
    """Return the cached module for `key`, running `zig <argv_for(path)>` to write it to `path` if missing."""
    root = (cache_dir if cache_dir is not None else default_cache_dir()).absolute()
    digest = key.hexdigest()
    out = root / f"{digest}.wasm"
    if out.is_file():
        return out
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{digest}.lock", "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if out.is_file():  # another process built it while we waited
            return out
        fd, tmp_name = tempfile.mkstemp(dir=root, prefix=f".{digest}.", suffix=".wasm")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            proc = _run_zig(argv_for(tmp))
            if proc.returncode != 0:
                raise BuildError(f"zig {argv_for(out)[0]} failed (exit {proc.returncode}):\n{_output(proc)}")
            if tmp.stat().st_size == 0:
                raise BuildError(f"zig {argv_for(out)[0]} exited 0 but wrote no module:\n{_output(proc)}")
            tmp.chmod(0o644)  # mkstemp's 0600 would keep other users of a shared cache out
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    return out


def _run_zig(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _HIDDEN_INPUT_ENV}
    try:
        return subprocess.run(
            [sys.executable, "-m", "ziglang", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            check=False,
        )
    except OSError as exc:
        raise BuildError(f"cannot run zig: {exc}") from exc


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    return (proc.stderr.strip() or proc.stdout.strip()) or "(no output)"


def _check_exec_model(exec_model: str) -> None:
    if exec_model not in ("command", "reactor"):
        raise InvalidParameterError("exec_model", f"must be 'command' or 'reactor', not {exec_model!r}")


def _existing(path: Path, what: str, check: Callable[[Path], bool]) -> Path:
    path = path.resolve()
    if not check(path):
        raise BuildError(f"{what} not found: {path}")
    return path


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BuildError(f"cannot read {path}: {exc}") from exc


def _walk(root: Path) -> Iterator[Path]:
    """Files under `root` in a stable order, skipping dot-directories (.git, .zig-cache, ...)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            yield Path(dirpath, name)
