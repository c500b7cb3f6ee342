"""Building Python functions (Lambda's `def handler(event, context)`) into components, cached by content.

`build_python` runs componentize-py (pinned: `COMPONENTIZE_PY_VERSION`) in a subprocess on a staging directory that
holds the guest bootstrap (`runtimes/python/wasmfaas_bootstrap.py`, the app module), a generated
`wasmfaas_build_config.py` naming the handler, and a copy of the function's files under `wasmfaas-task/`. The
result is a component of the world `wasmfaas:function/text-handler` (`wit/`); see the bootstrap's docstring for what
runs at build time and what at `init`.

Everything that decides the output is in the cache key: the componentize-py version, the bootstrap's files, the WIT
files, the handler string, and every function file by relative path and bytes (dot-directories, `__pycache__` and
`.pyc` files are left out, of the key and of the build alike). A build writes `py-<key>.wasm` in the cache dir
(`wasmfaas.buildcache`: `$WASMFAAS_BUILD_CACHE`, else `~/.cache/wasmfaas/builds`) through a temporary file and a
rename, under an exclusive `flock` on a per-key lock file, and the component is then linked (or copied) into `out_dir`
the same way.

Nothing about the function's code fails the build: a missing module or handler, a syntax error or an import that
does not resolve fails the component's `init` at every cold start, with Lambda's error, as Lambda takes such code.
A malformed handler string fails it with `BuildError("<Lambda's errorType>: <Lambda's errorMessage>")` (the
bootstrap's verdict, cached too: `py-<key>.error`), as does a failure of componentize-py itself.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import sys
from pathlib import Path
from typing import Final

from .. import buildcache
from ..buildtools import run_tool
from ..errors import BuildError, InvalidParameterError

__all__ = ["APP_MODULE", "BOOTSTRAP_DIR", "COMPONENTIZE_PY_VERSION", "WIT_DIR", "WORLD", "build_python"]

COMPONENTIZE_PY_VERSION: Final = "0.25.1"
_REPO_ROOT: Final = Path(__file__).resolve().parents[2]
BOOTSTRAP_DIR: Final = _REPO_ROOT / "runtimes" / "python"
WIT_DIR: Final = _REPO_ROOT / "wit"
WORLD: Final = "text-handler"
APP_MODULE: Final = "wasmfaas_bootstrap"
_CONFIG_MODULE: Final = "wasmfaas_build_config"
_TASK_SUBDIR: Final = "wasmfaas-task"  # must match the bootstrap's _TASK_DIR
_BUILD_ERROR_RE: Final = re.compile(r"WASMFAAS_BUILD_ERROR (\{.*?\})\s*$", re.MULTILINE)
# module.function, the module a path (`src/app`) or dotted (`pkg.app`), its names any a file can have without a dot
# or space (`my-function.handler` too: Lambda's runtime imports it with importlib), the function an identifier.
_HANDLER_RE: Final = re.compile(r"[^\s./]+(?:[./][^\s./]+)*\.[A-Za-z_]\w*", re.ASCII)
_DEFAULT_TIMEOUT: Final = 900.0

# Runs in the subprocess: componentize-py's Python API, not its CLI, because the CLI appends the host's
# site-packages to the guest's path (so a function could import host packages it did not bundle).
_DRIVER: Final = """
import json, sys
args = json.loads(sys.argv[1])
import componentize_py
try:
    componentize_py.componentize(
        wit_path=[args["wit"]], worlds=[args["world"]], features=[], all_features=False, world_module=None,
        python_path=[args["stage"]], module_worlds=[], app_name=args["app"], output_path=args["out"],
        stub_wasi=False, import_interface_names=[], export_interface_names=[], full_names=False,
        intersect_world=None,
    )
except BaseException as exc:
    sys.stderr.write(str(exc))
    sys.exit(1)
"""


def build_python(
    source_dir: Path | str,
    handler: str,
    out_dir: Path | str,
    *,
    cache_dir: Path | None = None,
    timeout: float = _DEFAULT_TIMEOUT,
) -> Path:
    """Build the Python function in `source_dir` with `handler` (`module.function`) and return the component's path.

    The component lands in `out_dir` as `py-<key>.wasm`; the same inputs give the same path, from the cache without
    running componentize-py. Raises `InvalidParameterError` for a malformed handler string and `BuildError` for a
    failed componentize-py run. Code whose handler cannot be found or imported still builds, as Lambda takes it: its
    component fails each cold start with Lambda's error (Runtime.ImportModuleError, Runtime.HandlerNotFound,
    Runtime.UserCodeSyntaxError).
    """
    if not isinstance(handler, str) or len(handler) > 128 or not _HANDLER_RE.fullmatch(handler):
        raise InvalidParameterError("handler", f"must be module.function (e.g. app.handler), not {handler!r}")
    src = Path(source_dir).resolve()
    if not src.is_dir():
        raise BuildError(f"source dir not found: {src}")
    version = _componentize_py_version()

    files = _source_files(src)
    bootstrap = _source_files(BOOTSTRAP_DIR)
    wit = _source_files(WIT_DIR)
    if not any(rel.endswith(".py") for rel, _ in bootstrap):
        raise BuildError(f"the Python runtime's bootstrap is missing from {BOOTSTRAP_DIR}")

    key = buildcache.Key("wasmfaas-python-build-v1", version, handler)
    for label, group in (("bootstrap", bootstrap), ("wit", wit), ("source", files)):
        key.add_files(label, group)

    def produce(tmp: Path) -> None:
        with buildcache.scratch_dir(tmp, ".stage") as stage:
            # The staged bytes are the hashed bytes: a source edited during the build cannot slip in under the key.
            buildcache.write_tree(stage, bootstrap)
            (stage / f"{_CONFIG_MODULE}.py").write_text(
                f'"""Generated by wasmfaas.runtimes.python for this build."""\n\nHANDLER = {handler!r}\n'
            )
            buildcache.write_tree(stage / _TASK_SUBDIR, files)
            _run_componentize(stage, tmp, timeout)
        if tmp.stat().st_size == 0:
            raise BuildError("componentize-py exited 0 but wrote no component")

    cached = buildcache.build(f"py-{key.hexdigest()}.wasm", produce, cache_dir)
    return buildcache.place(cached, Path(out_dir).absolute())


def _componentize_py_version() -> str:
    try:
        version = importlib.metadata.version("componentize-py")
    except importlib.metadata.PackageNotFoundError:
        raise BuildError(
            f"componentize-py is not installed: pip install componentize-py=={COMPONENTIZE_PY_VERSION}"
        ) from None
    if version != COMPONENTIZE_PY_VERSION:
        # The bootstrap is written against this version's bindings (wit_world, componentize_py_types).
        raise BuildError(
            f"componentize-py {version} is installed, but wasmfaas needs {COMPONENTIZE_PY_VERSION}: "
            f"pip install componentize-py=={COMPONENTIZE_PY_VERSION}"
        )
    return version


def _run_componentize(stage: Path, out: Path, timeout: float) -> None:
    args = {"wit": str(WIT_DIR), "world": WORLD, "stage": str(stage), "app": APP_MODULE, "out": str(out)}
    # No Rust backtraces: they would bury the message.
    env = {**os.environ, "RUST_BACKTRACE": "0", "RUST_LIB_BACKTRACE": "0"}
    proc = run_tool(
        [sys.executable, "-c", _DRIVER, json.dumps(args)], name="componentize-py", env=env, cwd=stage, timeout=timeout
    )
    if proc.returncode == 0:
        return
    output = "\n".join(part for part in (proc.stderr.strip(), proc.stdout.strip()) if part)
    message = _build_error_message(output)
    if message is not None:
        # The bootstrap's verdict on the code is as deterministic as a component: kept, so a rebuild fails at once.
        raise buildcache.Rejected(message)
    raise BuildError(f"componentize-py failed (exit {proc.returncode}):\n{_trim(output)}")


def _build_error_message(output: str) -> str | None:
    """The bootstrap's own build error (`<errorType>: <errorMessage>`), if the output carries its marker."""
    match = _BUILD_ERROR_RE.search(output)
    if match is None:
        return None
    try:
        error = json.loads(match.group(1))
        return f"{error['errorType']}: {error['errorMessage']}"
    except (ValueError, KeyError, TypeError):
        return None  # not our marker after all


def _trim(output: str) -> str:
    """componentize-py repeats the guest's traceback under "Caused by:"; the first copy is enough."""
    head = output.split("\n\nCaused by:", 1)[0].strip()
    return head or "(no output)"


def _source_files(root: Path) -> list[tuple[str, bytes]]:
    """The files under `root` by relative path and contents: without dot-directories, __pycache__ and .pyc files."""
    return buildcache.read_tree(
        root, include=lambda name: not name.endswith(".pyc"), skip_dir=lambda name, _: name == "__pycache__"
    )
