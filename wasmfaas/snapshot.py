"""Opt-in pre-initialisation of reactor guests with Wizer: `_initialize` runs once at build time, not per cold start.

    snapshot = snapshot_reactor(wasm)                    # init may not call WASI
    snapshot = snapshot_reactor(wasm, allow_wasi=True)   # init may log, read the clock, ... (see below)
    platform.create_function("fn", snapshot)

Wizer (npm `@bytecodealliance/wizer`, pinned in `tools/wizer/package.json` and installed by
`npm ci --prefix tools/wizer`; the package ships a native binary per platform, which is run directly) instantiates
the module, calls its init function, and writes a new module whose memory and globals start out as init left them. The
result is still a wasmfaas reactor, minus its init export: Wizer removes the init function (and `_initialize`, which
it always runs first when the module has one), so the host cannot run init a second time on the initialised state. A
cold start is then instantiation alone; wasmtime maps the initialised memory copy-on-write from the compiled module.

What "pre-initialised" means -- the same state for every environment, as with Lambda SnapStart:

- Init runs once, on the build machine, not in any function's environment. Everything init observes is frozen into
  the module: with `allow_wasi=True` it sees **no environment variables** (not the function's, whose configuration
  is not known at build time), **no directories**, the **build's clock**, and **build-time random bytes** (a hash
  seed or nonce made in init is then shared by every environment of every function created from the snapshot).
  wasi-libc caches the environment the first time `getenv` is called: a C constructor that calls `getenv` freezes an
  empty environment for good, so read variables in the handler (the C and AssemblyScript SDKs read the
  `AWS_LAMBDA_*` variables at the first invocation, and the AssemblyScript SDK's `getenv` never caches).
- What init writes to stdout or stderr goes to the build (shown in `BuildError` if init fails), not to the function's
  logs, and the cold start reports no init lines.
- The snapshot's memory starts at the size init left it: a function's memory limit must hold it.
- Without `allow_wasi`, init that calls any WASI function fails the build (deterministic init only).

Cached by content: `snap-<key>.wasm` in the build cache dir (`wasmfaas.buildcache`: `$WASMFAAS_BUILD_CACHE`, else
`~/.cache/wasmfaas/builds`), keyed by the Wizer version from the lockfile, the input's sha256 and the flags, written
through a temporary file and a rename under a per-key `flock`. The output is checked before it is cached: it must be a
wasmfaas reactor (docs/abi.md) without the init export.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform as host_platform
import sys
from pathlib import Path
from typing import Final

import wasmtime

from . import buildcache
from .buildtools import check_installed, locked_version, output_of, run_tool
from .errors import BuildError, InvalidCodeError, InvalidParameterError
from .guests.base import sdk_init_failure
from .modules import GuestKind, _detect_core_kind

__all__ = ["TOOL_DIR", "WIZER_PACKAGE", "snapshot_reactor", "wizer_path", "wizer_version"]

_REPO_ROOT: Final = Path(__file__).resolve().parent.parent
TOOL_DIR: Final = _REPO_ROOT / "tools" / "wizer"
WIZER_PACKAGE: Final = "@bytecodealliance/wizer"
_LOCKFILE: Final = TOOL_DIR / "package-lock.json"
_INSTALL_HINT: Final = "run `npm ci --prefix tools/wizer` in the wasmfaas checkout"
_DEFAULT_TIMEOUT: Final = 300.0
# The platform packages @bytecodealliance/wizer lists as optional dependencies (its package-helpers.js).
_ARCHES: Final = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64", "s390x": "s390x"}
_OSES: Final = {"linux": "linux", "darwin": "darwin", "win32": "win32"}


def snapshot_reactor(
    wasm: bytes,
    *,
    init_func: str = "_initialize",
    allow_wasi: bool = False,
    cache_dir: Path | None = None,
    timeout: float = _DEFAULT_TIMEOUT,
) -> bytes:
    """Pre-initialise the reactor `wasm`: run its init at build time and return a module that starts initialised.

    `init_func` is the export to run (after `_initialize`, when it is another one); it is removed from the output.
    `allow_wasi` lets init call WASI, with the frozen-at-build-time semantics in the module docstring. Raises
    `BuildError` when the input is not a module, init fails (with init's output), or the result is not a wasmfaas
    reactor; the same input and flags return the cached result without running Wizer.
    """
    if not isinstance(wasm, bytes | bytearray | memoryview):
        raise InvalidParameterError("wasm", f"must be the module's bytes, not {type(wasm).__name__}")
    if not init_func or not isinstance(init_func, str):
        raise InvalidParameterError("init_func", "must be the name of an exported function")
    wasm = bytes(wasm)
    flags = [
        f"--init-func={init_func}",
        # Explicit, though both are Wizer's defaults: the init export must go (the engine calls `_initialize` when
        # it is exported, and init must not run twice), and init must not see the builder's environment.
        "--keep-init-func=false",
        "--inherit-env=false",
    ]
    if allow_wasi:
        # Init's stdout/stderr are captured with Wizer's own output: shown when init fails, dropped otherwise.
        flags += ["--allow-wasi", "--inherit-stdio=true"]

    key = buildcache.Key("wasmfaas-snapshot-v1", wizer_version())
    key.add_flags(flags)
    key.add_text(hashlib.sha256(wasm).hexdigest())

    def produce(tmp: Path) -> None:
        wizer = wizer_path()  # only now: a cached snapshot needs no Wizer installed
        with buildcache.scratch_dir(tmp, ".work") as work:
            src, dst = work / "input.wasm", work / "output.wasm"
            src.write_bytes(wasm)
            _run_wizer(wizer, [*flags, "-o", str(dst), str(src)], allow_wasi, timeout)
            _check_output(buildcache.read(dst), init_func)
            os.replace(dst, tmp)

    return buildcache.read(buildcache.build(f"snap-{key.hexdigest()}.wasm", produce, cache_dir))


def wizer_path() -> Path:
    """The Wizer binary of this platform's npm package, checked against the lockfile's version.

    Raises `BuildError` saying how to install it. Nothing is fetched here: the package is the project's own set-up.
    """
    os_name = _OSES.get(sys.platform)
    arch = _ARCHES.get(host_platform.machine().lower())
    if os_name is None or arch is None:
        raise BuildError(
            f"{WIZER_PACKAGE} has no binary for this platform ({sys.platform} {host_platform.machine()})"
        )
    package = TOOL_DIR / "node_modules" / f"{WIZER_PACKAGE}-{os_name}-{arch}"
    binary = package / ("wizer.exe" if os_name == "win32" else "wizer")
    if not binary.is_file():
        raise BuildError(f"Wizer is not installed ({binary} is missing): {_INSTALL_HINT}")
    check_installed(package.parent, package.name, wizer_version(), _INSTALL_HINT)
    return binary


@functools.cache
def wizer_version() -> str:
    """The Wizer version that tools/wizer/package-lock.json pins (part of every cache key)."""
    return locked_version(_LOCKFILE, WIZER_PACKAGE)


def _run_wizer(wizer: Path, args: list[str], allow_wasi: bool, timeout: float) -> None:
    # Wizer's errors carry a Rust backtrace when RUST_BACKTRACE is set; the message alone is what helps.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUST_BACKTRACE", "RUST_LIB_BACKTRACE"))}
    env["RUST_BACKTRACE"] = "0"
    proc = run_tool([str(wizer), *args], name="Wizer", env=env, timeout=timeout, timeout_hint=" (does init loop?)")
    if proc.returncode != 0:
        output = output_of(proc, stdout_first=True) or "(no output)"
        hint = ""
        if not allow_wasi and "unknown imported function" in output:
            hint = (
                "\n(init calls WASI: pass allow_wasi=True to let it, knowing that what it reads is frozen at build "
                "time -- see wasmfaas.snapshot)"
            )
        raise BuildError(f"Wizer failed (exit {proc.returncode}):\n{output}{hint}")
    # The SDKs keep an init error for the first invocation to report (docs/abi.md, "The guest SDKs") and let init
    # return, so Wizer succeeds; the snapshot would freeze that error into every environment of every function made
    # from it. The SDKs' log line is the only sign of it from outside.
    if allow_wasi:
        output = output_of(proc, stdout_first=True)
        if sdk_init_failure(output.encode()) is not None:
            raise BuildError(f"init failed (the snapshot would fail every invocation):\n{output}")


def _check_output(wasm: bytes, init_func: str) -> None:
    """The snapshot must be what the platform accepts as a reactor, and init must not be callable again."""
    try:
        module = wasmtime.Module(wasmtime.Engine(), wasm)
        kind = _detect_core_kind(module)
    except (wasmtime.WasmtimeError, InvalidCodeError) as exc:
        raise BuildError(f"the pre-initialised module is not a wasmfaas reactor: {exc}") from None
    if kind is not GuestKind.REACTOR:
        raise BuildError(f"the pre-initialised module is a {kind}, not a wasmfaas reactor (see docs/abi.md)")
    left = {e.name for e in module.exports} & {init_func, "_initialize"}
    if left:
        raise BuildError(f"the pre-initialised module still exports {sorted(left)}: init would run again")
