"""Building AssemblyScript functions into wasmfaas reactors with the SDK in `guest_sdks/assemblyscript`, cached by
content.

`build_assemblyscript(entry)` runs the SDK's pinned `asc` (`guest_sdks/assemblyscript/node_modules`, installed by
`npm ci --prefix guest_sdks/assemblyscript`) with node in a subprocess. The compiler runs in the entry's directory
with the SDK's `asconfig.json` as its configuration, which puts the SDK on `--lib` (so `import ... from "wasmfaas"`
resolves to it, wherever the entry lives), aliases the standard library's JavaScript imports (`abort`, `trace`,
`seed`, `console`, `Date`) to WASI-backed SDK code, and exports the top-level code as `_initialize`. An
`asconfig.json` beside the entry is not read: the SDK's settings are the whole configuration.

The cache key is a sha256 over: the assemblyscript version pinned in the SDK's package-lock.json, the SDK's own files
(its asconfig.json and everything under `assembly/`), the flags, the entry's path, and every `.ts` file under the
entry's directory by relative path and bytes (dot-directories and `node_modules` are left out). Like
`wasmfaas.toolchain.build_c`, a relative import reaching outside the entry's directory works but is not in the key,
and neither are packages resolved from a `node_modules`: keep a function's sources under its entry's directory.

A build writes `as-<key>.wasm` in the cache dir (`wasmfaas.buildcache`: `$WASMFAAS_BUILD_CACHE`, else
`~/.cache/wasmfaas/builds`) through a temporary file and a rename, under an exclusive `flock` on a per-key lock file.
The output is checked before it is cached: a module that imports anything but WASI preview 1 (say
`env.performance.now`, which only a JavaScript host has) or lacks the ABI exports fails the build with a `BuildError`
saying what to change, rather than failing later at create time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal

import wasmtime

from . import buildcache
from .buildtools import ensure_node_packages, locked_version, output_of, run_tool
from .errors import BuildError, InvalidParameterError

__all__ = ["SDK_DIR", "AscRuntime", "asc_version", "build_assemblyscript", "ensure_toolchain"]

AscRuntime = Literal["incremental", "minimal", "stub"]

_REPO_ROOT: Final = Path(__file__).resolve().parent.parent
SDK_DIR: Final = _REPO_ROOT / "guest_sdks" / "assemblyscript"
_LOCKFILE: Final = SDK_DIR / "package-lock.json"
_ASCONFIG: Final = SDK_DIR / "asconfig.json"
_SDK_SOURCES: Final = SDK_DIR / "assembly"
_ASC_PACKAGE: Final = "assemblyscript"
_INSTALL_HINT: Final = "run `npm ci --prefix guest_sdks/assemblyscript` in the wasmfaas checkout"
_RUNTIMES: Final = ("incremental", "minimal", "stub")
_DEFAULT_TIMEOUT: Final = 300.0
_WASI_P1: Final = "wasi_snapshot_preview1"
_ABI_EXPORTS: Final = ("wasmfaas_buffer", "wasmfaas_handle")


def build_assemblyscript(
    entry: Path | str,
    *,
    cache_dir: Path | None = None,
    runtime: AscRuntime = "incremental",
    timeout: float = _DEFAULT_TIMEOUT,
) -> Path:
    """Compile the AssemblyScript entry file `entry` into a wasmfaas reactor and return the cached `.wasm`'s path.

    The entry imports the SDK (`import { register, ok } from "wasmfaas"`), re-exports its ABI functions
    (`export { wasmfaas_buffer, wasmfaas_handle } from "wasmfaas"`) and calls `register(handler)` at the top level.
    `runtime` is asc's memory manager: `incremental` (the default: an incremental GC that collects as the handler
    allocates, so any handler runs in bounded memory), `minimal` (a cheaper GC that runs only when told to: the SDK
    collects after every invocation, so garbage lives until the invocation ends), or `stub` (never frees: only for
    functions whose total allocation over an environment's life is small). Raises `BuildError` with asc's output, or
    saying how to install the toolchain when node or the SDK's npm packages are missing.
    """
    if runtime not in _RUNTIMES:
        raise InvalidParameterError("runtime", f"must be one of {list(_RUNTIMES)}, not {runtime!r}")
    src = Path(entry).resolve()
    if not src.is_file():
        raise BuildError(f"entry file not found: {src}")
    if src.suffix != ".ts":
        raise BuildError(f"an AssemblyScript entry file ends in .ts: {src}")
    node = ensure_toolchain()
    root = src.parent
    # asc runs in the entry's directory; the config is named relative to it because asc 0.28 resolves the config's
    # `lib` directory by joining it onto the working directory, which breaks an absolute path.
    flags = [
        "--config",
        os.path.relpath(_ASCONFIG, root),
        "--runtime",
        runtime,
        "--noColors",
    ]

    key = buildcache.Key("wasmfaas-as-build-v1", asc_version())
    key.add_flags(flags)
    key.add_text(str(src))
    key.add_file(_ASCONFIG, "asconfig.json")
    key.add_tree("sdk", _SDK_SOURCES, include=_is_ts, skip_dir=_is_node_modules)
    key.add_tree("source", root, include=_is_ts, skip_dir=_is_node_modules)

    def produce(tmp: Path) -> None:
        _run_asc(node, src, flags, tmp, timeout)
        _check_module(tmp.read_bytes(), src)

    return buildcache.build(f"as-{key.hexdigest()}.wasm", produce, cache_dir)


def ensure_toolchain() -> str:
    """Check that node and the SDK's npm packages are installed as locked; return the `node` executable's path.

    Raises `BuildError` saying how to install what is missing. Nothing is fetched at build time: the packages are the
    project's own set-up (`npm ci --prefix guest_sdks/assemblyscript`).
    """
    return ensure_node_packages(
        SDK_DIR / "node_modules",
        _ASC_PACKAGE,
        asc_version(),
        _INSTALL_HINT,
        needs_node="building AssemblyScript functions needs Node.js 20 or later",
        packages_of="the AssemblyScript SDK's",
    )


@functools.cache
def asc_version() -> str:
    """The assemblyscript version that guest_sdks/assemblyscript/package-lock.json pins (part of every cache key)."""
    return locked_version(_LOCKFILE, _ASC_PACKAGE)


def _run_asc(node: str, src: Path, flags: list[str], out: Path, timeout: float) -> None:
    asc = SDK_DIR / "node_modules" / _ASC_PACKAGE / "bin" / "asc.js"
    argv = [node, str(asc), src.name, *flags, "--outFile", str(out)]
    # NODE_OPTIONS could load code into the compiler or change its module resolution behind the key's back.
    env = {k: v for k, v in os.environ.items() if k not in ("NODE_OPTIONS", "NODE_PATH")}
    proc = run_tool(argv, name="asc", cannot_run="node", env=env, cwd=src.parent, timeout=timeout)
    output = output_of(proc)
    if proc.returncode != 0:
        raise BuildError(f"asc failed (exit {proc.returncode}):\n{output or '(no output)'}")
    if out.stat().st_size == 0:
        raise BuildError(f"asc exited 0 but wrote no module:\n{output or '(no output)'}")


def _check_module(wasm: bytes, src: Path) -> None:
    """Refuse output that the platform would refuse at create time, saying what to change in the source."""
    try:
        module = wasmtime.Module(wasmtime.Engine(), wasm)
    except wasmtime.WasmtimeError as exc:
        raise BuildError(f"asc wrote a module that does not validate: {exc}") from None
    foreign = sorted({f"{i.module}.{i.name}" for i in module.imports if i.module != _WASI_P1})
    if foreign:
        raise BuildError(
            f"{src.name} uses {', '.join(foreign)}, which only a JavaScript host provides: a wasmfaas function may "
            f"import only WASI preview 1. Use the SDK's equivalents (Date.now() or nowMs() for time, console.log or "
            f"log() for logs, getenv() for the environment) or remove the call"
        )
    exports = {e.name for e in module.exports}
    missing = [name for name in _ABI_EXPORTS if name not in exports]
    if missing:
        raise BuildError(
            f"{src.name} does not export {' and '.join(missing)}: only the entry file's exports become the module's, "
            f'so it needs `export {{ wasmfaas_buffer, wasmfaas_handle }} from "wasmfaas";`'
        )


def _is_ts(name: str) -> bool:
    return name.endswith(".ts")


def _is_node_modules(name: str, files: Sequence[str]) -> bool:
    """Packages resolved from a node_modules are not sources of ours (and not in the key)."""
    return name == "node_modules"
