"""Building guests from C, C++ and Zig source with the `ziglang` PyPI package, and from Rust with Debian's cargo and
rustc (`/usr/bin/cargo`, `/usr/bin/rustc` and the `wasm32-wasi` std: `apt-get install rustc cargo
libstd-rust-dev-wasm32`), cached by content.

Every build lands in the cache dir as `<key>.wasm`. The key is a sha256 over everything that decides the output: the
compiler's version, the tool and all its flags, each source's path and bytes, every file under the include dirs, and
the files a source can include or import by a relative path (headers, or `.zig`/`.zon` files, anywhere under the
source's own directory or a Zig module's; dot-directories are skipped). Sources are compiled by absolute path and the
key covers those paths, because `__FILE__` (e.g. in `assert`) puts them in the output. The compiler runs without the
environment variables that would change its output behind the key's back (`CPATH`, `ZIG_LIB_DIR`, `RUSTFLAGS`,
`CARGO_*`, ...), so only the arguments decide a build.

A Rust crate's key covers every file of the crate and of the crates it depends on by `path` (build scripts and
`include_bytes!` can read any of them), the workspace root's manifest and lock file, and the cargo config files cargo
would read (`.cargo/config[.toml]` in the crate's directory and above, and in `$CARGO_HOME`). Dependencies from a
registry cannot be built: cargo runs `--offline`.

The cache is `wasmfaas.buildcache`: a build writes a temporary file in the cache dir and renames it into place, under
an exclusive `flock` on a per-key lock file, so two processes (or threads) building the same key compile it once, and
a reader never sees half a file.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal

from . import buildcache
from .buildcache import default_cache_dir
from .buildtools import run_tool
from .errors import BuildError, InvalidParameterError

__all__ = [
    "DEFAULT_STACK_SIZE",
    "ExecModel",
    "build_c",
    "build_rust",
    "build_zig",
    "default_cache_dir",
    "rust_toolchain_problem",
    "rust_version",
    "zig_version",
]

ExecModel = Literal["command", "reactor"]

_TARGET: Final = "wasm32-wasi"
# The guest's stack in linear memory (what C keeps there: arrays, structs, anything whose address is taken). zig's
# own default for wasm is 16 MiB, reserved at start: a 128 MB function started with 17 MB used. 1 MiB, as Rust's.
DEFAULT_STACK_SIZE: Final = 1 << 20
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
# Debian's toolchain, named by full path: a rustup `rustc` earlier on PATH has no wasm32-wasi std.
RUSTC: Final = Path("/usr/bin/rustc")
CARGO: Final = Path("/usr/bin/cargo")
# Kept from the `CARGO_*` variables that are otherwise removed: where cargo's own config lives (and is in the key).
_KEPT_CARGO_ENV: Final = frozenset({"CARGO_HOME"})
_ZIG_MODULE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ZIG_RESERVED_MODULES: Final = frozenset({"std", "builtin", "root"})


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
    stack_size: int = DEFAULT_STACK_SIZE,
    strip: bool = True,
) -> Path:
    """Compile C (or C++) sources into one wasm32-wasi module and return the cached `.wasm`'s path.

    The module is stripped (`-s`) unless `strip=False`, which keeps its name section: a trap's stack trace then names
    the functions (`handler (0x1a2b)` rather than `<wasm function 12> (0x1a2b)`).

    A `reactor` gets WASI's reactor start-up (`_initialize` runs the constructors); a `command` gets `_start` calling
    `main`. C++ is built with `-fno-exceptions` (WASI has no exception runtime). The stack is `stack_size` bytes
    (`-Wl,-z,stack-size=N`; 1 MiB by default, where zig cc's own is 16 MiB), unless `extra_flags` set a stack size of
    their own. Paths given in `extra_flags` (say `-I...`) are passed through, but only the flag text is in the key:
    pass include dirs as `include_dirs` so that their contents are. Raises `BuildError` with the compiler's stderr.
    """
    _check_exec_model(exec_model)
    if language not in ("c", "c++"):
        raise InvalidParameterError("language", f"must be 'c' or 'c++', not {language!r}")
    if not opt.startswith("-O"):
        raise InvalidParameterError("opt", f"must be a -O flag such as -O2 or -Oz, not {opt!r}")
    if not sources:
        raise InvalidParameterError("sources", "at least one source file is needed")
    _check_stack_size(stack_size)
    srcs = [_existing(Path(s), "source file", Path.is_file) for s in sources]
    incs = [_existing(Path(d), "include dir", Path.is_dir) for d in include_dirs]

    tool = "cc" if language == "c" else "c++"
    flags = ["-target", _TARGET]
    if exec_model == "reactor":
        flags.append("-mexec-model=reactor")
    if language == "c++":
        # zig's libc++ for wasm32-wasi has no exception runtime: code that can throw fails to link (__cxa_throw).
        flags.append("-fno-exceptions")
    flags += [opt, *(["-s"] if strip else []), *(f"-I{d}" for d in incs)]
    if not any("stack-size" in flag for flag in extra_flags):  # the caller's own stack size wins
        flags.append(f"-Wl,-z,stack-size={stack_size}")
    flags += extra_flags

    key = _key(tool, zig_version(), flags)
    for src in srcs:
        key.add_file(src)
    for inc in incs:
        _add_tree(key, inc, suffixes=None)
    for src_dir in dict.fromkeys(src.parent for src in srcs):
        _add_tree(key, src_dir, suffixes=_C_HEADER_SUFFIXES)
    return _build(key, _zig_producer(lambda out: [tool, *flags, *map(str, srcs), "-o", str(out)]), cache_dir)


def build_zig(
    source: Path | str,
    *,
    exec_model: ExecModel,
    opt: str = "ReleaseSafe",
    modules: Mapping[str, Path | str] | None = None,
    cache_dir: Path | None = None,
    stack_size: int = DEFAULT_STACK_SIZE,
    strip: bool = True,
) -> Path:
    """Compile a Zig root source file into a wasm32-wasi module and return the cached `.wasm`'s path.

    The module is stripped (`-fstrip`) unless `strip=False`, which keeps its function names for traps' stack traces.

    A `reactor` exports every `export fn` and has no entry point of its own; if the source has a `pub fn main`, it
    becomes `_initialize`. A `command` needs `pub fn main`, run by `_start`. `opt` is a Zig optimize mode:
    `ReleaseSafe` (the default) keeps the safety checks (bounds, overflow, `unreachable`, null unwraps: a failed one
    panics, which traps); `ReleaseSmall` and `ReleaseFast` drop them (a bug is then undefined behaviour that may read
    or write any of the guest's memory and go on); `Debug`. `modules` maps import names to the root source files of
    modules that the source can `@import` by name, such as `{"wasmfaas": "guest_sdks/zig/wasmfaas.zig"}` (Zig
    otherwise lets a file import only files under its own directory); they get the root's target and optimize mode,
    and import only `std` themselves. The stack is `stack_size` bytes (`--stack N`; 1 MiB by default, where zig's own
    is 16 MiB). Raises `BuildError` with the compiler's stderr.
    """
    _check_exec_model(exec_model)
    _check_stack_size(stack_size)
    if opt not in _ZIG_OPT_MODES:
        raise InvalidParameterError("opt", f"must be one of {sorted(_ZIG_OPT_MODES)}, not {opt!r}")
    src = _existing(Path(source), "source file", Path.is_file)
    mods: dict[str, Path] = {}
    for name in sorted(modules or {}):
        if not _ZIG_MODULE_NAME.fullmatch(name) or name in _ZIG_RESERVED_MODULES:
            raise InvalidParameterError("modules", f"{name!r} is not a usable Zig module name")
        mods[name] = _existing(Path((modules or {})[name]), f"root source of module {name!r}", Path.is_file)

    flags = ["-target", _TARGET, "-O", opt, *(["-fstrip"] if strip else []), "--stack", str(stack_size)]
    if exec_model == "reactor":
        # -fno-entry: a reactor without `main` has no `_initialize` to be its entry; -rdynamic: without it, wasm-ld
        # keeps `export fn`s internal.
        flags += ["-mexec-model=reactor", "-fno-entry", "-rdynamic"]
    deps = [arg for name in mods for arg in ("--dep", name)]

    key = _key("build-exe", zig_version(), [*flags, *deps])
    key.add_file(src)
    # Zig lets a module import only files under its root source's directory, so that tree is all it can reach.
    _add_tree(key, src.parent, suffixes=_ZIG_SUFFIXES)
    for path in mods.values():
        key.add_file(path)
        _add_tree(key, path.parent, suffixes=_ZIG_SUFFIXES)

    def argv(out: Path) -> list[str]:
        if not mods:
            return ["build-exe", str(src), *flags, f"-femit-bin={out}"]
        # Flags before the first -M are the root module's, and the modules after it inherit them.
        named = [f"-M{name}={path}" for name, path in mods.items()]
        return ["build-exe", *flags, *deps, f"-Mroot={src}", *named, f"-femit-bin={out}"]

    return _build(key, _zig_producer(argv), cache_dir)


def rust_toolchain_problem() -> str | None:
    """Why `build_rust` cannot work on this machine (no Debian rustc/cargo, or no wasm32-wasi std), or None."""
    try:
        _rust_toolchain()
    except BuildError as exc:
        return str(exc)
    return None


def rust_version() -> str:
    """The Rust compiler's version line, such as `rustc 1.63.0`; raises `BuildError` if the toolchain is missing."""
    return _rust_toolchain().splitlines()[0]


def build_rust(crate_dir: Path | str, *, cache_dir: Path | None = None) -> Path:
    """Build a Rust `cdylib` crate into a wasm32-wasi module and return the cached `.wasm`'s path.

    Runs Debian's `cargo build --release --offline --target wasm32-wasi --lib` (the profile, such as `opt-level`,
    `lto` and `strip`, is the crate's own) in a fresh target directory; for a wasmfaas reactor, use the Rust SDK
    (`guest_sdks/rust`). If the workspace has no `Cargo.lock` yet, one is generated first, as cargo would, so that
    the key does not change under the first build. Raises `BuildError` with cargo's stderr.
    """
    crate = _existing(Path(crate_dir), "crate directory", Path.is_dir)
    manifest = _existing(crate / "Cargo.toml", "Cargo.toml", Path.is_file)
    toolchain = _rust_toolchain()
    inputs = _RustInputs(crate)
    if not (inputs.workspace_root / "Cargo.lock").is_file():
        _run_cargo(["generate-lockfile", "--offline", "--manifest-path", str(inputs.workspace_root / "Cargo.toml")])
        inputs = _RustInputs(crate)

    flags = ["build", "--release", "--offline", "--target", _TARGET, "--lib"]
    key = _key("cargo", toolchain, flags)
    for tree in inputs.trees:
        _add_tree(key, tree, suffixes=None)
    for path in inputs.files:
        key.add_file(path)

    def produce(tmp: Path) -> None:
        with buildcache.scratch_dir(tmp, ".target") as target_dir:
            argv = [*flags, "--manifest-path", str(manifest), "--target-dir", str(target_dir)]
            argv += ["--message-format=json-render-diagnostics", "--color=never", "--quiet"]
            proc = _run_cargo(argv, cwd=crate)  # cwd: cargo reads .cargo/config from there up, as the key does
            if proc.returncode != 0:
                raise BuildError(f"cargo build failed (exit {proc.returncode}):\n{_output(proc)}")
            os.replace(_cdylib_artifact(proc.stdout, manifest), tmp)

    return _build(key, produce, cache_dir)


def _key(tool: str, version: str, flags: Sequence[str]) -> buildcache.Key:
    key = buildcache.Key("wasmfaas-build-v1", tool, version)
    key.add_flags(flags)
    return key


def _add_tree(key: buildcache.Key, root: Path, *, suffixes: frozenset[str] | None) -> None:
    """Every file under `root` (those with one of `suffixes`, if given), by relative path and contents."""
    include = None if suffixes is None else (lambda name: Path(name).suffix.lower() in suffixes)
    key.add_tree(str(root), root, include=include, skip_dir=_is_cargo_target)


def _is_cargo_target(name: str, files: Sequence[str]) -> bool:
    """Cargo's default target directory (a `target` beside a Cargo.toml): build output, not input."""
    return name == "target" and "Cargo.toml" in files


def _build(key: buildcache.Key, produce: Callable[[Path], None], cache_dir: Path | None) -> Path:
    return buildcache.build(f"{key.hexdigest()}.wasm", produce, cache_dir)


def _zig_producer(argv_for: Callable[[Path], list[str]]) -> Callable[[Path], None]:
    """Run `zig <argv_for(path)>`, which writes the module to `path`."""

    def produce(tmp: Path) -> None:
        name = argv_for(tmp)[0]
        proc = _run_zig(argv_for(tmp))
        if proc.returncode != 0:
            raise BuildError(f"zig {name} failed (exit {proc.returncode}):\n{_output(proc)}")
        if tmp.stat().st_size == 0:
            raise BuildError(f"zig {name} exited 0 but wrote no module:\n{_output(proc)}")

    return produce


def _run_zig(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _HIDDEN_INPUT_ENV}
    return _run([sys.executable, "-m", "ziglang", *args], env=env, name="zig")


@functools.cache
def _rust_toolchain() -> str:
    """rustc's and cargo's versions and the wasm32-wasi std's files, for the key (asked once per process).

    The std's file names carry a hash of its build, and with their sizes they name that build even where rustc's
    version does not (a rebuilt Debian package of the same version).
    """
    for tool, package in ((RUSTC, "rustc"), (CARGO, "cargo")):
        if not tool.is_file():
            raise BuildError(f"{tool} not found: Rust guests need Debian's toolchain (apt-get install {package})")
    rustc = _run_cargo(["-vV"], program=RUSTC)
    sysroot = _run_cargo(["--print", "sysroot"], program=RUSTC)
    cargo = _run_cargo(["-V"])
    for proc in (rustc, sysroot, cargo):
        if proc.returncode != 0:
            raise BuildError(f"{proc.args[0]} {' '.join(proc.args[1:])} failed: {_output(proc)}")
    std_dir = Path(sysroot.stdout.strip()) / "lib" / "rustlib" / _TARGET / "lib"
    std = sorted(std_dir.glob("*.rlib")) if std_dir.is_dir() else []
    if not any(p.name.startswith("libstd-") for p in std):
        raise BuildError(
            f"no Rust standard library for {_TARGET} in {std_dir} (Debian: apt-get install libstd-rust-dev-wasm32)"
        )
    # rustc links wasm with `rust-lld`, from its sysroot or PATH; Debian's is a symlink to lld-14, which
    # libstd-rust-dev-wasm32 only recommends (so `--no-install-recommends` leaves it dangling).
    host = next((line.split(":", 1)[1].strip() for line in rustc.stdout.splitlines() if line.startswith("host:")), "")
    bundled = Path(sysroot.stdout.strip()) / "lib" / "rustlib" / host / "bin" / "rust-lld"
    if not (bundled.exists() or shutil.which("rust-lld")):
        raise BuildError("rust-lld (the wasm linker rustc runs) not found (Debian: apt-get install lld-14)")
    files = "\n".join(f"{p.name} {p.stat().st_size}" for p in std)
    return f"{rustc.stdout.strip()}\n{cargo.stdout.strip()}\n{files}"


def _run_cargo(
    args: Sequence[str], *, cwd: Path | None = None, program: Path = CARGO
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith("RUST") or (k.startswith("CARGO_") and k not in _KEPT_CARGO_ENV))
    }
    env["RUSTC"] = str(RUSTC)  # else cargo runs the first `rustc` on PATH (rustup's, which has no wasm32-wasi std)
    return _run([str(program), *args], env=env, cwd=cwd, name=str(program))


def _run(
    argv: list[str], *, env: dict[str, str], name: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return run_tool(argv, name=name, env=env, cwd=cwd)


def _cdylib_artifact(messages: str, manifest: Path) -> Path:
    """The `.wasm` that cargo's JSON messages say it built for the crate's cdylib target."""
    for line in messages.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if not isinstance(msg, dict) or msg.get("reason") != "compiler-artifact":
            continue
        if Path(msg.get("manifest_path", "")) != manifest or "cdylib" not in msg.get("target", {}).get("kind", []):
            continue
        for name in msg.get("filenames", []):
            if name.endswith(".wasm"):
                return Path(name)
    raise BuildError(f'{manifest} builds no wasm module: its [lib] needs crate-type = ["cdylib"]')


class _RustInputs:
    """What a crate's build can read: whole directory trees (the crate and its path dependencies) and single files
    (the workspace root's manifest and lock file, cargo config files)."""

    def __init__(self, crate: Path) -> None:
        data = _toml(crate / "Cargo.toml")
        root = self.workspace_root = _workspace_root(crate, data)
        root_data = data if root == crate else _toml(root / "Cargo.toml")
        self.trees: list[Path] = []
        self.files: list[Path] = []
        if root != crate:
            self.files += [p for p in (root / "Cargo.toml", root / "Cargo.lock") if p.is_file()]
        # [patch] and [replace] (read from the workspace root only) can swap any dependency for a local one.
        pending = [*_patch_paths(root, root_data), crate]
        while pending:
            tree = pending.pop()
            if tree in self.trees:
                continue
            self.trees.append(tree)
            tree_data = data if tree == crate else _toml(tree / "Cargo.toml")
            pending += _dependency_paths(tree, tree_data, root, root_data)
        home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo")
        for d in (crate, *crate.parents, home):
            cfg = d if d == home else d / ".cargo"
            self.files += [p for p in (cfg / "config", cfg / "config.toml") if p.is_file()]


def _toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise BuildError(f"cannot read {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"{path}: {exc}") from exc


def _workspace_root(crate: Path, data: dict[str, Any]) -> Path:
    """The directory whose Cargo.toml has the [workspace] that cargo would put the crate in (itself if none)."""
    if "workspace" in data:
        return crate
    explicit = data.get("package", {}).get("workspace")
    if isinstance(explicit, str):
        return (crate / explicit).resolve()
    for parent in crate.parents:  # cargo searches upwards for the nearest [workspace]
        manifest = parent / "Cargo.toml"
        if manifest.is_file() and "workspace" in _toml(manifest):
            return parent
    return crate


def _dependency_paths(crate: Path, data: dict[str, Any], root: Path, root_data: dict[str, Any]) -> list[Path]:
    """The directories of the crate's `path` dependencies (normal and build, any target; dev ones are not built)."""
    kinds = ("dependencies", "build-dependencies", "build_dependencies")  # cargo still accepts the old spelling
    tables = [data.get(kind) for kind in kinds]
    for spec in data.get("target", {}).values():
        if isinstance(spec, dict):
            tables += [spec.get(kind) for kind in kinds]
    inherited = root_data.get("workspace", {}).get("dependencies", {})
    paths = []
    for table in tables:
        for name, dep in (table or {}).items():
            if isinstance(dep, dict) and isinstance(dep.get("path"), str):
                paths.append((crate / dep["path"]).resolve())
            elif isinstance(dep, dict) and dep.get("workspace") is True:
                base = inherited.get(name)
                if isinstance(base, dict) and isinstance(base.get("path"), str):
                    paths.append((root / base["path"]).resolve())
    return paths


def _patch_paths(root: Path, root_data: dict[str, Any]) -> list[Path]:
    tables = [*root_data.get("patch", {}).values(), root_data.get("replace", {})]
    return [
        (root / dep["path"]).resolve()
        for table in tables
        if isinstance(table, dict)
        for dep in table.values()
        if isinstance(dep, dict) and isinstance(dep.get("path"), str)
    ]


def _output(proc: subprocess.CompletedProcess[str]) -> str:
    return (proc.stderr.strip() or proc.stdout.strip()) or "(no output)"


def _check_exec_model(exec_model: str) -> None:
    if exec_model not in ("command", "reactor"):
        raise InvalidParameterError("exec_model", f"must be 'command' or 'reactor', not {exec_model!r}")


def _check_stack_size(stack_size: int) -> None:
    if isinstance(stack_size, bool) or not isinstance(stack_size, int) or stack_size <= 0 or stack_size % 16:
        # wasm-ld refuses a stack that is not 16-byte aligned.
        raise InvalidParameterError("stack_size", f"must be a positive multiple of 16 bytes, not {stack_size!r}")


def _existing(path: Path, what: str, check: Callable[[Path], bool]) -> Path:
    path = path.resolve()
    if not check(path):
        raise BuildError(f"{what} not found: {path}")
    return path
