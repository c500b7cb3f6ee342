"""Building JavaScript functions (Lambda's Node.js `export const handler = async (event, context) => ...`) into
components, cached by content.

`build_js` runs `node runtimes/js/build.mjs` in a subprocess on a staging copy of the function's files: esbuild
bundles the handler's file and everything it imports (local files, `node_modules`, JSON) into one module, and
componentize-js (pinned in `runtimes/js/package.json`, installed by `npm ci --prefix runtimes/js`) makes it a
component of the world `wasmfaas:function/text-handler` (`wit/`), with `runtimes/js/bootstrap.js` as the guest side
of the world. The user's module-level code runs in the component's `init` (each cold start), not at build time: see
bootstrap.js.

Everything that decides the output is in the cache key: the componentize-js version from the lockfile, the runtime's
files (bootstrap, build script, lockfile), the WIT files, the handler string, and every function file by relative
path and bytes (dot-directories are left out, of the key and of the build alike). A build writes `js-<key>.wasm` in
the cache dir (`wasmfaas.buildcache`: `$WASMFAAS_BUILD_CACHE`, else `~/.cache/wasmfaas/builds`) through a temporary
file and a rename, under an exclusive `flock` on a per-key lock file, and the component is then linked (or copied)
into `out_dir` the same way.

Nothing about the function's own code fails the build: for a missing handler file, a syntax error or an import that
cannot be resolved (a missing file or package, a Node.js built-in), the builder makes a component whose `init` fails
every cold start with Lambda's error (`build.mjs`'s `failingModule`), as Lambda takes such code; a handler the module
does not export fails there too. A failure of the build tools themselves is a `BuildError` carrying their message.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Final

from .. import buildcache
from ..buildtools import ensure_node_packages, locked_version, output_of, run_tool
from ..errors import BuildError, InvalidParameterError

__all__ = [
    "COMPONENTIZE_JS_PACKAGE",
    "RUNTIME_DIR",
    "WIT_DIR",
    "build_js",
    "componentize_js_version",
    "ensure_toolchain",
]

_REPO_ROOT: Final = Path(__file__).resolve().parents[2]
RUNTIME_DIR: Final = _REPO_ROOT / "runtimes" / "js"
WIT_DIR: Final = _REPO_ROOT / "wit"
COMPONENTIZE_JS_PACKAGE: Final = "@bytecodealliance/componentize-js"
_BUILD_SCRIPT: Final = RUNTIME_DIR / "build.mjs"
_LOCKFILE: Final = RUNTIME_DIR / "package-lock.json"
# The files of the runtime itself that shape every component: the guest bootstrap, the build script (bundling
# options, the generated entry, the WIT world it adds) and the lockfile (every npm package's exact version).
_RUNTIME_FILES: Final = ("bootstrap.js", "buffer.js", "build.mjs", "package-lock.json")
_INSTALL_HINT: Final = "run `npm ci --prefix runtimes/js` in the wasmfaas checkout"
# Lambda's limit on the handler string; its parts are a relative file path without extension and a dotted export path.
_HANDLER_RE: Final = re.compile(r"(?:[^\s/.]+/)*[^\s/.]+(?:\.[^\s/.]+)+")
_MAX_HANDLER_LEN: Final = 128
_DEFAULT_TIMEOUT: Final = 900.0


def build_js(
    source_dir: Path | str,
    handler: str,
    out_dir: Path | str,
    *,
    cache_dir: Path | None = None,
    timeout: float = _DEFAULT_TIMEOUT,
) -> Path:
    """Build the JavaScript function in `source_dir` with `handler` (`file.export`) and return the component's path.

    `file` is a path relative to `source_dir` without its extension (`.js`, `.mjs` or `.cjs` is looked for, in that
    order, as Lambda does) and `export` a (possibly dotted) export of it: `index.handler`, `src/app.handlers.main`.
    The component lands in `out_dir` as `js-<key>.wasm`; the same inputs give the same path, from the cache without
    running node. Raises `InvalidParameterError` for a malformed handler string and `BuildError` for a failed build
    or a missing toolchain (`node`, or `runtimes/js/node_modules`).
    """
    if not isinstance(handler, str) or len(handler) > _MAX_HANDLER_LEN or not _HANDLER_RE.fullmatch(handler):
        raise InvalidParameterError("handler", f"must be file.export (e.g. index.handler), not {handler!r}")
    src = Path(source_dir).resolve()
    if not src.is_dir():
        raise BuildError(f"source dir not found: {src}")
    node = ensure_toolchain()
    version = componentize_js_version()

    files = buildcache.read_tree(src)
    runtime = [(rel, buildcache.read(RUNTIME_DIR / rel)) for rel in _RUNTIME_FILES]
    wit = buildcache.read_tree(WIT_DIR, include=lambda name: name.endswith(".wit"))

    key = buildcache.Key("wasmfaas-js-build-v1", version, handler)
    for label, group in (("runtime", runtime), ("wit", wit), ("source", files)):
        key.add_files(label, group)

    def produce(tmp: Path) -> None:
        with buildcache.scratch_dir(tmp, ".stage") as stage:
            # The staged bytes are the hashed bytes: a source edited during the build cannot slip in under the key.
            buildcache.write_tree(stage, files)
            _run_builder(node, stage, handler, tmp, timeout)
        if tmp.stat().st_size == 0:
            raise BuildError("the JavaScript builder exited 0 but wrote no component")

    cached = buildcache.build(f"js-{key.hexdigest()}.wasm", produce, cache_dir)
    return buildcache.place(cached, Path(out_dir).absolute())


def ensure_toolchain() -> str:
    """Check that node and the runtime's npm packages are installed as locked; return the `node` executable's path.

    Raises `BuildError` saying how to install what is missing. Nothing is ever fetched at build time: the packages are
    the project's own set-up (`npm ci --prefix runtimes/js`).
    """
    return ensure_node_packages(
        RUNTIME_DIR / "node_modules",
        COMPONENTIZE_JS_PACKAGE,
        componentize_js_version(),
        _INSTALL_HINT,
        needs_node="the JavaScript runtime needs Node.js 20 or later to build functions",
        packages_of="the JavaScript runtime's",
    )


@functools.cache
def componentize_js_version() -> str:
    """The componentize-js version that runtimes/js/package-lock.json pins (part of every cache key)."""
    return locked_version(_LOCKFILE, COMPONENTIZE_JS_PACKAGE)


def _run_builder(node: str, stage: Path, handler: str, out: Path, timeout: float) -> None:
    argv = [
        node,
        str(_BUILD_SCRIPT),
        "--source-dir",
        str(stage),
        "--handler",
        handler,
        "--wit",
        str(WIT_DIR),
        "--out",
        str(out),
    ]
    # NODE_OPTIONS could load code into the builder or change its module resolution behind the key's back.
    env = {k: v for k, v in os.environ.items() if k not in ("NODE_OPTIONS", "NODE_PATH")}
    proc = run_tool(argv, name="the JavaScript builder", cannot_run="node", env=env, cwd=RUNTIME_DIR, timeout=timeout)
    if proc.returncode != 0:
        output = output_of(proc)
        # Paths in the builder's messages name the staging copy; the user knows their files by relative path.
        for path in dict.fromkeys((str(stage), os.path.realpath(stage))):
            output = output.replace(f"{path}{os.sep}", "").replace(path, ".")
        raise BuildError(output or "(no output)")
