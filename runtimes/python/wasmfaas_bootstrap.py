"""wasmfaas's Python runtime: the app module that componentize-py turns into a `wasmfaas:function/text-handler`
component.

It plays the part of AWS Lambda's Python runtime interface client: `init` imports the function's module (the
`module` of the handler string `module.function`), and `handle` decodes the JSON event, calls
`function(event, context)` with a Lambda-like context object and JSON-encodes what it returns. Errors take Lambda's
shape (`errorType`, `errorMessage`, `stackTrace`) and Lambda's `Runtime.*` error types.

Two phases, because componentize-py builds by snapshotting: this module is imported once at *build* time
(pre-initialisation) and the component starts from that heap snapshot, with no files at all at run time. So:

* build time (this module's top level) reads the function's files (copied beside this module, under
  `wasmfaas-task/`) into an in-memory bundle, compiles every `.py` to a code object, and imports the
  standard-library modules the function's code imports (they must be in the snapshot: nothing can be imported from
  disk later). It runs none of the function's own code: Lambda runs module-level code at every cold start, with
  the function's environment variables, clock and random numbers, and so does wasmfaas, in `init`.
* run time (`init`, `handle`) serves the function's modules from the bundle through a meta-path finder, so its
  packages import the usual way, with `__file__` under `/var/task` as on Lambda.

A malformed handler string raises `BuildFailure`, whose message carries a `WASMFAAS_BUILD_ERROR` marker that the
host's builder (`wasmfaas.runtimes.python`) picks out of componentize-py's output. Nothing about the code itself
fails the build: a missing module or handler, or a syntax error, fails `init` at every cold start, as on Lambda.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import contextlib
import decimal
import importlib
import importlib.abc
import importlib.machinery
import importlib.resources.abc
import importlib.util
import io
import json
import logging
import os
import re
import select
import selectors
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from types import CodeType, ModuleType, TracebackType
from typing import Any

import wasmfaas_build_config as build_config
import wit_world
from componentize_py_types import Err
from wit_world.imports import types

TASK_ROOT = "/var/task"
BUILD_ERROR_MARKER = "WASMFAAS_BUILD_ERROR"
_HERE = os.path.dirname(os.path.abspath(__file__))
# Not an identifier, so that no import at build time can pick the directory up as a namespace package.
_TASK_DIR = os.path.join(_HERE, "wasmfaas-task")


class BuildFailure(Exception):
    """Raised at build time to fail componentize-py's pre-initialisation with a message the host can parse."""

    def __init__(self, error_type: str, error_message: str) -> None:
        payload = json.dumps({"errorType": error_type, "errorMessage": error_message})
        super().__init__(f"{BUILD_ERROR_MARKER} {payload}")


class FunctionFault(Exception):
    """An error of the runtime's own (not the handler's), reported with one of Lambda's `Runtime.*` types."""

    def __init__(self, error_type: str, error_message: str, stack_trace: Sequence[str] = ()) -> None:
        super().__init__(error_message)
        self.error_type = error_type
        self.error_message = error_message
        self.stack_trace = list(stack_trace)


# ---------------------------------------------------------------------------------------------------------------
# The bundle: the function's files, held in memory (the component has no filesystem at run time)
# ---------------------------------------------------------------------------------------------------------------


class BundledModule:
    """One importable `.py` file of the function: its code object is compiled at build time."""

    __slots__ = ("code", "is_package", "name", "path", "syntax_error")

    def __init__(self, name: str, path: str, is_package: bool) -> None:
        self.name = name
        self.path = path  # absolute, under TASK_ROOT
        self.is_package = is_package
        self.code: CodeType | None = None
        self.syntax_error: SyntaxError | None = None


def _is_module_path(parts: Sequence[str]) -> bool:
    """Names importlib imports from a directory: any without a dot or whitespace (Lambda's runtime imports a
    handler's module with importlib.import_module, so `my-function.handler` works though it is no identifier)."""
    return all(p and "." not in p and not any(c.isspace() for c in p) for p in parts)


def _load_bundle(task_dir: str) -> tuple[dict[str, bytes], dict[str, BundledModule], set[str]]:
    """Read every file under `task_dir`: (files by absolute run-time path, modules by name, namespace packages)."""
    files: dict[str, bytes] = {}
    modules: dict[str, BundledModule] = {}
    namespaces: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(task_dir):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, task_dir)
        dir_parts = [] if rel_dir == "." else rel_dir.split(os.sep)
        for filename in sorted(filenames):
            with open(os.path.join(dirpath, filename), "rb") as f:
                data = f.read()
            path = "/".join([TASK_ROOT, *dir_parts, filename])
            files[path] = data
            stem, ext = os.path.splitext(filename)
            if ext != ".py" or not _is_module_path(dir_parts):
                continue
            if stem == "__init__":
                if dir_parts:
                    name = ".".join(dir_parts)
                    modules[name] = BundledModule(name, path, is_package=True)
            elif _is_module_path([stem]):
                name = ".".join([*dir_parts, stem])
                modules[name] = BundledModule(name, path, is_package=False)
    # A directory holding importable modules but no __init__.py is an implicit namespace package, as on disk.
    for name in list(modules):
        parts = name.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent not in modules:
                namespaces.add(parent)
    for module in modules.values():
        source = files[module.path]
        try:
            module.code = compile(source, module.path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            module.syntax_error = exc
        except ValueError as exc:  # source with NUL bytes: Python reports this as a SyntaxError on import
            module.syntax_error = SyntaxError(str(exc), (module.path, 1, 0, "", 1, 0))
    return files, modules, namespaces


class BundleTraversable(importlib.resources.abc.Traversable):
    """`importlib.resources.files()` over the bundle: a directory or file under TASK_ROOT."""

    def __init__(self, path: str) -> None:
        self._path = path.rstrip("/")

    def iterdir(self) -> Iterator[BundleTraversable]:
        prefix = self._path + "/"
        children = {p[len(prefix) :].split("/", 1)[0] for p in _FILES if p.startswith(prefix)}
        for child in sorted(children):
            yield BundleTraversable(prefix + child)

    def read_bytes(self) -> bytes:
        try:
            return _FILES[self._path]
        except KeyError:
            raise FileNotFoundError(self._path) from None

    def read_text(self, encoding: str | None = None, errors: str | None = None) -> str:
        return self.read_bytes().decode(encoding or "utf-8", errors or "strict")

    def is_dir(self) -> bool:
        prefix = self._path + "/"
        return any(p.startswith(prefix) for p in _FILES)

    def is_file(self) -> bool:
        return self._path in _FILES

    def joinpath(self, *descendants: str | os.PathLike[str]) -> BundleTraversable:
        parts = [self._path]
        for d in descendants:
            parts.extend(x for x in os.fspath(d).split("/") if x and x != ".")
        return BundleTraversable("/".join(parts))

    def __truediv__(self, child: str | os.PathLike[str]) -> BundleTraversable:
        return self.joinpath(child)

    def open(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode not in ("r", "rb"):
            raise ValueError(f"bundled files are read-only (mode {mode!r})")
        data = self.read_bytes()
        if mode == "rb":
            return io.BytesIO(data)
        return io.TextIOWrapper(io.BytesIO(data), *args, **kwargs)

    @property
    def name(self) -> str:
        return self._path.rsplit("/", 1)[-1]

    def __fspath__(self) -> str:
        return self._path

    def __str__(self) -> str:
        return self._path


class BundleResources(importlib.resources.abc.TraversableResources):
    def __init__(self, directory: str) -> None:
        self._directory = directory

    def files(self) -> BundleTraversable:
        return BundleTraversable(self._directory)


class BundleLoader(importlib.abc.InspectLoader):
    """Loads the function's modules from the bundle; `get_source` feeds tracebacks, `get_data` pkgutil.get_data."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default module object

    def exec_module(self, module: ModuleType) -> None:
        entry = _MODULES.get(module.__name__)
        if entry is None:  # an implicit namespace package: nothing to run
            return
        if entry.syntax_error is not None:
            raise entry.syntax_error
        assert entry.code is not None
        exec(entry.code, module.__dict__)

    def is_package(self, fullname: str) -> bool:
        entry = _MODULES.get(fullname)
        return entry.is_package if entry is not None else fullname in _NAMESPACES

    def get_code(self, fullname: str) -> CodeType | None:
        entry = _MODULES.get(fullname)
        if entry is None:
            return None
        if entry.syntax_error is not None:
            raise entry.syntax_error
        return entry.code

    def get_source(self, fullname: str) -> str | None:
        entry = _MODULES.get(fullname)
        if entry is None:
            return None
        return importlib.util.decode_source(_FILES[entry.path])

    def get_filename(self, fullname: str) -> str:
        entry = _MODULES.get(fullname)
        if entry is None:
            raise ImportError(f"no bundled module {fullname!r}", name=fullname)
        return entry.path

    def get_data(self, path: str) -> bytes:
        try:
            return _FILES[os.path.normpath(path)]
        except KeyError:
            raise FileNotFoundError(path) from None

    def get_resource_reader(self, fullname: str) -> BundleResources:
        return BundleResources(_package_dir(fullname))


def _package_dir(name: str) -> str:
    return "/".join([TASK_ROOT, *name.split(".")])


class BundleFinder(importlib.abc.MetaPathFinder):
    """Finds the function's modules in the bundle; placed before PathFinder, as /var/task leads sys.path on Lambda."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        entry = _MODULES.get(fullname)
        if entry is not None:
            spec = importlib.util.spec_from_loader(fullname, _LOADER, origin=entry.path, is_package=entry.is_package)
            assert spec is not None
            spec.has_location = True  # so that __file__ is set
            if entry.is_package:
                spec.submodule_search_locations = [_package_dir(fullname)]
            return spec
        if fullname in _NAMESPACES:
            spec = importlib.machinery.ModuleSpec(fullname, _LOADER, is_package=True)
            spec.submodule_search_locations = [_package_dir(fullname)]
            return spec
        return None


# ---------------------------------------------------------------------------------------------------------------
# Build time: what the function's code imports (read from its syntax trees: the code is not run at build time)
# ---------------------------------------------------------------------------------------------------------------


def _imports(tree: ast.Module, module: BundledModule) -> list[tuple[str, bool, bool]]:
    """(absolute module name, top-level statement, maybe an attribute) for each import in a module.

    For `from X import y` both X and X.y are listed: y may be a submodule, or only an attribute of X.
    """
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    top_level = set(map(id, tree.body))
    found: list[tuple[str, bool, bool]] = []
    for node in ast.walk(tree):
        unconditional = id(node) in top_level
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, unconditional, False))
        elif isinstance(node, ast.ImportFrom):
            try:
                base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            except (ImportError, ValueError):
                continue  # a relative import beyond the top-level package: it fails at import time, as on Lambda
            if node.module is not None or node.level == 0:
                found.append((base, unconditional, False))
            for alias in node.names:
                if alias.name != "*":
                    found.append((f"{base}.{alias.name}" if base else alias.name, unconditional, True))
    return found


def _is_user_module(name: str) -> bool:
    top = name.split(".", 1)[0]
    return top in _MODULES or top in _NAMESPACES


def _try_import(name: str) -> BaseException | None:
    """Import a non-function module at build time so that it is in the snapshot; the failure, if any."""
    if name in sys.modules:
        return None
    try:
        importlib.import_module(name)
    except BaseException as exc:  # a module may raise anything (SystemExit included) at import on WASI
        return exc
    return None


# Standard-library modules that functions commonly use, or that the standard library imports lazily inside
# functions (`_strptime` for strptime, `_pylong` for a huge int's text, `encodings.*` for str.encode, ...): a lazy
# import at run time would find no files, so they are imported here, into the snapshot. One missing on this build of
# Python is skipped.
_PRELOAD = (
    "__future__", "_pylong", "_strptime", "abc", "argparse", "array", "ast", "asyncio", "base64", "binascii",
    "bisect", "calendar", "cmath", "codecs", "collections", "collections.abc", "colorsys", "concurrent.futures",
    "configparser", "contextlib",
    "contextvars", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "email", "email.charset",
    "email.contentmanager", "email.encoders", "email.generator", "email.header", "email.headerregistry",
    "email.message", "email.mime.application", "email.mime.base", "email.mime.multipart", "email.mime.text",
    "email.parser", "email.policy", "email.utils", "encodings.ascii", "encodings.base64_codec", "encodings.cp1252",
    "encodings.hex_codec", "encodings.idna", "encodings.latin_1", "encodings.punycode",
    "encodings.raw_unicode_escape", "encodings.unicode_escape", "encodings.utf_16", "encodings.utf_16_be",
    "encodings.utf_16_le", "encodings.utf_32", "encodings.utf_8", "encodings.utf_8_sig", "enum", "errno", "fnmatch",
    "fractions", "functools", "glob", "gzip", "hashlib", "heapq", "hmac", "html", "html.parser", "http",
    "http.client", "http.cookies", "importlib.metadata", "importlib.resources", "importlib.resources._adapters",
    "importlib.resources._common", "importlib.resources._itertools", "importlib.resources.readers", "inspect", "io",
    "ipaddress", "itertools", "json", "keyword", "linecache", "locale", "logging", "logging.config",
    "logging.handlers", "math",
    "mimetypes", "numbers", "operator", "os", "pathlib", "pickle", "platform", "pprint", "queue", "random", "re",
    "secrets", "shlex", "shutil", "sqlite3", "statistics", "string", "stringprep", "struct", "tarfile",
    "tempfile", "textwrap", "time", "tokenize", "traceback", "types", "typing", "unicodedata", "urllib",
    "urllib.error", "urllib.parse", "urllib.request", "urllib.response", "uuid", "warnings", "weakref",
    "xml.dom.expatbuilder", "xml.dom.minidom", "xml.etree.ElementTree", "xml.parsers.expat", "xml.sax",
    "xml.sax.handler", "xml.sax.saxutils", "zipfile", "zlib",
)  # fmt: skip


def _preload() -> None:
    """Import into the snapshot the standard library the function's code imports (and what the standard library
    imports lazily): nothing can be imported from disk at run time. Nothing of the function's own code runs, and
    nothing about it is judged here: its module is imported at init, as Lambda's runtime does, so what fails there
    (a missing module or handler, a syntax error, an exception at module level) fails as it would on Lambda."""
    trees: dict[str, ast.Module] = {}
    for name, mod in _MODULES.items():
        if mod.syntax_error is None:
            with contextlib.suppress(SyntaxError, ValueError):  # compile() accepted it; ast.parse should too
                trees[name] = ast.parse(_FILES[mod.path], mod.path)
    for name in _PRELOAD:
        if not _is_user_module(name):
            _try_import(name)
    # Packages whose parts are imported lazily, by name: every codec (str.encode("cp1251"), zipfile's cp437...),
    # and importlib.metadata's helpers (metadata.version() needs _adapters).
    import encodings
    import importlib.metadata
    import pkgutil

    for package in (encodings, importlib.metadata):
        for part in pkgutil.iter_modules(package.__path__):
            _try_import(f"{package.__name__}.{part.name}")
    # Every import anywhere in the function's code (conditional ones too).
    for tree_name, tree in trees.items():
        for imported, _, _ in _imports(tree, _MODULES[tree_name]):
            if not _is_user_module(imported):
                _try_import(imported)


def _split_handler(handler: str) -> tuple[str, str]:
    """`a/b.c.fn` -> (`a.b.c`, `fn`), as Lambda's runtime reads the handler setting."""
    module_name, sep, function_name = handler.rpartition(".")
    module_name = module_name.replace("/", ".")
    if not sep or not module_name or not _is_module_path(module_name.split(".")) or not function_name:
        raise BuildFailure("Runtime.MalformedHandlerName",
                           f"Bad handler '{handler}': expected module.function")  # fmt: skip
    return module_name, function_name


# ---------------------------------------------------------------------------------------------------------------
# Lambda's context object and logging
# ---------------------------------------------------------------------------------------------------------------


class CognitoIdentity:
    """`context.identity`: set by the AWS Mobile SDK only, so both ids are None, as on Lambda for other callers."""

    def __init__(self) -> None:
        self.cognito_identity_id: str | None = None
        self.cognito_identity_pool_id: str | None = None


class LambdaContext:
    """The `context` argument, with the attributes and method of Lambda's Python context object."""

    def __init__(self, ctx: types.Context) -> None:
        self.aws_request_id = ctx.request_id
        self.function_name = ctx.function_name
        self.function_version = ctx.function_version
        self.invoked_function_arn = ctx.invoked_function_arn
        # A string, as on Lambda (its runtime reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE).
        self.memory_limit_in_mb = str(ctx.memory_limit_mb)
        self.log_group_name = ctx.log_group_name
        self.log_stream_name = ctx.log_stream_name
        self.identity = CognitoIdentity()
        self.client_context = None
        self._deadline_ms = ctx.deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, message: object) -> None:
        """Lambda's context.log: the text to the log, as it is (no newline added)."""
        sys.stdout.write(str(message))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},client_context=None,identity=None])"
        )


_request_id = ""


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is at the time, so that a replaced stdout is honoured too."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def _install_streams() -> None:
    """sys.stdout and sys.stderr over a buffered writer. componentize-py's are text wrappers straight over the file,
    and a pipe takes at most 64 KiB a write: a longer print lost the rest, silently (the buffered writer writes on
    until all of it is out). Line-buffered, as a terminal's: each line reaches the log as it is printed."""
    for name, fd in (("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        if old is None or isinstance(getattr(old, "buffer", None), io.BufferedWriter):
            continue
        raw = io.FileIO(fd, "w", closefd=False)
        stream = io.TextIOWrapper(
            io.BufferedWriter(raw), encoding=old.encoding, errors=old.errors, line_buffering=True
        )
        setattr(sys, name, stream)


def _install_logging() -> None:
    """Lambda's root handler: `[LEVEL]\\t<UTC time>\\t<request id>\\t<message>`, root level left at WARNING."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = _StdoutHandler()
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    root.addHandler(handler)


# ---------------------------------------------------------------------------------------------------------------
# Errors in Lambda's shape
# ---------------------------------------------------------------------------------------------------------------


def _native_hint(exc: ImportError) -> str:
    """Why a module the package does hold cannot be imported: it is a native extension (a .so or .pyd built for a
    machine's CPU), which WebAssembly cannot load; said, rather than a bare "No module named 'msgspec._core'"."""
    name = getattr(exc, "name", None)
    if not name:
        return ""
    folder, _, stem = os.path.join(TASK_ROOT, *name.split(".")).rpartition(os.sep)
    with contextlib.suppress(OSError):
        for entry in os.listdir(folder):
            if entry.startswith(stem + ".") and entry.endswith((".so", ".pyd")):
                return (
                    f" ({name} is a native extension, {entry}, built for a processor, not for WebAssembly: use a"
                    " pure-Python package, or one this runtime bundles)"
                )
    return ""


def _stack_trace(tb: TracebackType | None) -> list[str]:
    """traceback.format_list lines, without the runtime's own leading frames (as Lambda's runtime strips them)."""
    frames = traceback.extract_tb(tb)
    for i, frame in enumerate(frames):
        if frame.filename != __file__:
            return traceback.format_list(frames[i:])
    return []


def _log_error(error_type: str, error_message: str, stack_trace: Sequence[str]) -> None:
    lines = [f"[ERROR] {error_type}: {error_message}"]
    if stack_trace:
        lines.append("Traceback (most recent call last):")
        lines.extend(line.rstrip("\n") for line in stack_trace)
    with contextlib.suppress(Exception):
        sys.stderr.write("\n".join(lines) + "\n")


def _text(value: str) -> str:
    # A WIT string is Unicode scalar values: a lone surrogate (from surrogateescape, or a bad "\udcff" literal) would
    # trap the component on the way out. Replaced with U+FFFD, as JavaScript's runtime does.
    if value.isascii():
        return value
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _function_error(error_type: str, error_message: str, stack_trace: Sequence[str]) -> Err[types.FunctionError]:
    error_type, error_message, stack = _text(error_type), _text(error_message), [_text(s) for s in stack_trace]
    _log_error(error_type, error_message, stack)
    return Err(types.FunctionError(error_type, error_message, stack))


def _exception_error(exc: BaseException) -> Err[types.FunctionError]:
    if isinstance(exc, FunctionFault):
        return _function_error(exc.error_type, exc.error_message, exc.stack_trace)
    # Describing it may fail too (a __str__ that raises, no memory left for the frames): an error that escaped
    # here panicked the runtime, and the function's own error was lost behind a Runtime.Trap.
    try:
        message = str(exc)
    except BaseException:
        message = f"<unprintable {type(exc).__name__} object>"  # as Python's own traceback says it
    try:
        trace = _stack_trace(exc.__traceback__)
    except BaseException:
        trace = []
    return _function_error(type(exc).__name__, message, trace)


def _out_of_memory(exc: MemoryError) -> Err[types.FunctionError]:
    # The guest hit its memory limit: reported as Runtime.OutOfMemory, so that the host can discard the environment.
    exc.__traceback__ = None  # drop the frames it holds, to get memory back before building the error
    return _function_error("Runtime.OutOfMemory", "Runtime exited with error: out of memory (MemoryError)", [])


def _exit(exc: SystemExit) -> Err[types.FunctionError]:
    # sys.exit() ends the runtime on Lambda (Runtime.ExitError, and a fresh environment next: the host discards this
    # one). Reported as an error rather than by exiting: WASI preview 2's exit carries no status, only ok or error.
    code = exc.code
    if isinstance(code, str):  # sys.exit("message"): Python prints it and exits with status 1
        with contextlib.suppress(Exception):
            sys.stderr.write(code + "\n")
        code = 1
    if not code:
        message = "Runtime exited without providing a reason"
    else:
        message = f"Runtime exited with error: exit status {code}"
    return _function_error("Runtime.ExitError", message, [])


# WASI's sleep is the host's own (wasmtime's poll), and a timeout (an epoch deadline) can stop only wasm code: a
# sleep in one piece would outlast its invocation's timeout, holding its worker thread and its concurrency slot. In
# slices, the host stops it within a slice of the deadline. select.select and select.poll wait the same way.
_SLEEP_SLICE_S = 0.01
_real_sleep = time.sleep


def _sliced_sleep(seconds: float) -> None:
    try:  # what time.sleep takes: an int, a float, or a number that converts to one (numpy's, Decimal, ...)
        total = float(seconds) if not isinstance(seconds, (str, bytes, bytearray)) else None
    except (TypeError, ValueError):
        total = None
    if total is None or not total > _SLEEP_SLICE_S:
        _real_sleep(seconds)  # short sleeps, and time.sleep's own errors for bad arguments (NaN, negative, text)
        return
    end = time.monotonic() + total
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        _real_sleep(min(left, _SLEEP_SLICE_S))  # NaN stays NaN here: time.sleep refuses it


_real_select = select.select
_real_poll = select.poll


def _left(end: float | None) -> float:
    return _SLEEP_SLICE_S if end is None else max(0.0, min(_SLEEP_SLICE_S, end - time.monotonic()))


def _sliced_select(rlist: Any, wlist: Any, xlist: Any, timeout: float | None = None) -> Any:
    """select.select in slices, for the reason time.sleep is: one wait of wasmtime's outlasts a timeout."""
    if timeout is not None:
        try:
            end: float | None = time.monotonic() + float(timeout)
        except (TypeError, ValueError):
            return _real_select(rlist, wlist, xlist, timeout)  # select's own error for a bad timeout
        if not timeout > _SLEEP_SLICE_S:  # short waits (and select's errors for negative ones) in one piece
            return _real_select(rlist, wlist, xlist, timeout)
    else:
        end = None
    while True:
        ready = _real_select(rlist, wlist, xlist, _left(end))
        if any(ready) or (end is not None and time.monotonic() >= end):
            return ready


class _SlicedPoll:
    """select.poll() whose poll() waits in slices (see `_sliced_select`)."""

    def __init__(self) -> None:
        self._poll = _real_poll()

    def register(self, fd: Any, eventmask: int = select.POLLIN | select.POLLPRI | select.POLLOUT) -> None:
        self._poll.register(fd, eventmask)

    def modify(self, fd: Any, eventmask: int) -> None:
        self._poll.modify(fd, eventmask)

    def unregister(self, fd: Any) -> None:
        self._poll.unregister(fd)

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        if timeout is None or timeout < 0:
            end = None
        elif not timeout > _SLEEP_SLICE_S * 1000:
            return self._poll.poll(timeout)
        else:
            end = time.monotonic() + timeout / 1000
        while True:
            ready = self._poll.poll(_left(end) * 1000)
            if ready or (end is not None and time.monotonic() >= end):
                return ready


class _TimerSelector(selectors.BaseSelector):
    """A selector with nothing to select (WASI gives a function no sockets or pipes): it waits out the timeout with
    the runtime's sliced sleep, which a timeout stops -- a real select() would block in wasmtime's poll."""

    def __init__(self) -> None:
        self._map: dict[Any, selectors.SelectorKey] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        raise PermissionError(f"no file descriptor can be watched here ({fileobj!r}): no sockets are granted")

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        raise KeyError(fileobj)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            while True:  # nothing can wake it: until the invocation's timeout
                time.sleep(3600)
        if timeout > 0:
            time.sleep(timeout)
        return []

    def close(self) -> None:
        self._map.clear()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._map


class _TimerLoop(asyncio.SelectorEventLoop):
    """asyncio's loop without its self-pipe (a socketpair: WASI has none), over `_TimerSelector`: coroutines,
    tasks, queues, timers and timeouts work; there is nothing to do I/O with anyway."""

    def __init__(self) -> None:
        super().__init__(_TimerSelector())

    def _make_self_pipe(self) -> None:
        pass

    def _close_self_pipe(self) -> None:
        pass

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        # asyncio.run ends with this, which shuts the executor down from a new thread: here it is inline anyway.
        self._executor_shutdown_called = True
        executor, self._default_executor = self._default_executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _write_to_self(self) -> None:
        pass


class InlineExecutor(concurrent.futures.Executor):
    """ThreadPoolExecutor for a function without threads (this build of CPython has none): each call runs when it
    is submitted, in the caller's thread, and its future is done when `submit` returns. Code that fans work out to
    a pool (boto3's s3transfer imports one; `asyncio.to_thread` and `run_in_executor` use one) then works, one call
    after another; a call that waits for a later one's result would wait forever, as with one worker."""

    def __init__(
        self,
        max_workers: int | None = None,
        thread_name_prefix: str = "",
        initializer: Any = None,
        initargs: tuple[Any, ...] = (),
    ) -> None:
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        self._initializer, self._initargs = initializer, initargs
        self._shut = False

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        if self._shut:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if self._initializer is not None:
            initializer, self._initializer = self._initializer, None
            initializer(*self._initargs)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # as a pool's worker does: the caller sees it through the future
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shut = True


def _install_executor() -> None:
    # At build time, into the snapshot: the real module cannot be imported at run time (no files), and it would
    # fail to start a thread anyway. asyncio's default executor is a ThreadPoolExecutor too.
    module = sys.modules.get("concurrent.futures.thread")
    if module is None:
        module = ModuleType("concurrent.futures.thread")
        module.BrokenThreadPool = type("BrokenThreadPool", (concurrent.futures.BrokenExecutor,), {})  # type: ignore[attr-defined]
        sys.modules["concurrent.futures.thread"] = module
    module.ThreadPoolExecutor = InlineExecutor  # type: ignore[attr-defined]
    concurrent.futures.ThreadPoolExecutor = InlineExecutor  # type: ignore[misc]


def _install_missing_stdlib() -> None:
    """At build time (into the snapshot): what this build of CPython lacks on WASI, where Lambda's has it."""
    import hashlib
    import hmac

    if not hasattr(hashlib, "pbkdf2_hmac"):  # OpenSSL's, absent here: RFC 8018's definition, in Python (slower)

        def pbkdf2_hmac(
            hash_name: str, password: bytes, salt: bytes, iterations: int, dklen: int | None = None
        ) -> bytes:
            if iterations < 1:
                raise ValueError("iteration value must be greater than 0.")
            prf = hmac.new(bytes(password), digestmod=hash_name)
            size = prf.digest_size
            length = size if dklen is None else dklen
            if length < 1:
                raise ValueError("key length must be greater than 0.")
            blocks = []
            for index in range(1, -(-length // size) + 1):
                mac = prf.copy()
                mac.update(bytes(salt) + index.to_bytes(4, "big"))
                u = mac.digest()
                block = int.from_bytes(u, "big")
                for _ in range(iterations - 1):
                    mac = prf.copy()
                    mac.update(u)
                    u = mac.digest()
                    block ^= int.from_bytes(u, "big")
                blocks.append(block.to_bytes(size, "big"))
            return b"".join(blocks)[:length]

        hashlib.pbkdf2_hmac = pbkdf2_hmac  # type: ignore[assignment]


def _fix_process_time() -> None:
    """At init: WASI's process clock reads negative here; the guest is one thread, so its time is the wall's since
    the environment started."""
    if time.process_time() < 0:
        started = time.perf_counter_ns()
        time.process_time_ns = lambda: time.perf_counter_ns() - started
        time.process_time = lambda: (time.perf_counter_ns() - started) / 1e9


def _install_sqlite() -> None:
    """At init: a database shipped in the package opens as on Lambda. SQLite cannot lock a file under the read-only
    /var/task here (WASI has no file locks, and its lock file cannot be made there): such a file is opened
    immutable and read-only, which is what it is."""
    try:
        import sqlite3
    except ImportError:
        return
    connect = sqlite3.connect

    def task_connect(database: Any, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("uri") and isinstance(database, str | bytes | os.PathLike):
            path = os.fsdecode(database)
            full = os.path.abspath(path) if path and path != ":memory:" else ""
            if full.startswith(TASK_ROOT + "/"):
                from urllib.parse import quote

                database, kwargs["uri"] = f"file:{quote(full)}?mode=ro&immutable=1", True
        return connect(database, *args, **kwargs)

    sqlite3.connect = task_connect  # type: ignore[assignment]


def _install_asyncio() -> None:
    # asyncio.run() and asyncio.new_event_loop() ask the policy for a loop; without this they fail on the self-pipe
    # ("PermissionError: [Errno 2]"). CPython's version is pinned by componentize-py's.
    policy = getattr(asyncio.events, "_get_event_loop_policy", asyncio.get_event_loop_policy)()
    policy._loop_factory = _TimerLoop


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _dumps(result: object) -> str:
    """The handler's result as Lambda's Python runtime (3.12 and later) writes it: non-ASCII text as it is, and a
    Decimal (what DynamoDB gives) as a number with exactly its digits, not through float (which turns
    1234567890123456789 into 1.2345678901234568e+18). The json module cannot write raw number text, so each Decimal
    goes in as a placeholder string -- a random per-environment token no data contains -- replaced afterwards."""
    decimals: list[str] = []

    def default(value: object) -> object:
        if isinstance(value, decimal.Decimal):
            decimals.append(_decimal_text(value))
            return f"{_DECIMAL_TOKEN}{len(decimals) - 1}"
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    text = json.dumps(result, default=default, ensure_ascii=False)
    if not text.isascii():
        try:  # a lone surrogate cannot cross as UTF-8: escaped, as ensure_ascii would
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(result, default=default, ensure_ascii=True)
    if decimals:
        text = _DECIMAL_SLOT.sub(lambda m: decimals[int(m.group(1))], text)
    return text


# ---------------------------------------------------------------------------------------------------------------
# Build time: runs once, inside componentize-py, and is snapshotted
# ---------------------------------------------------------------------------------------------------------------

HANDLER: str = build_config.HANDLER
_MODULE_NAME, _FUNCTION_NAME = _split_handler(HANDLER)
_FILES, _MODULES, _NAMESPACES = _load_bundle(_TASK_DIR)
_LOADER = BundleLoader()
_FINDER = BundleFinder()
_preload()
_install_executor()
_install_missing_stdlib()

_handler: Any = None


def _decimal_text(value: decimal.Decimal) -> str:
    if value.is_nan():
        return "NaN"  # as json writes float("nan")
    if value.is_infinite():
        return "-Infinity" if value.is_signed() else "Infinity"
    return str(value)  # always a JSON number: "1.20", "-0", "1E+3", "0E-7"


_DECIMAL_TOKEN = ""
_DECIMAL_SLOT: re.Pattern[str] = re.compile("$^")


def _init() -> None:
    global _handler, _DECIMAL_TOKEN, _DECIMAL_SLOT
    # Made here, per environment, not in the build's snapshot (whose values anyone could read from the component).
    _DECIMAL_TOKEN = f"wasmfaas-decimal-{os.urandom(16).hex()}-"
    _DECIMAL_SLOT = re.compile(f'"{_DECIMAL_TOKEN}(\\d+)"')
    os.environ.setdefault("LAMBDA_TASK_ROOT", TASK_ROOT)
    os.environ.setdefault("_HANDLER", HANDLER)
    # The host mounts the package there read-only (and a /tmp): relative paths resolve from it, as on Lambda, and
    # it leads sys.path, so importlib.metadata finds the packages' .dist-info there (their modules still come from
    # the bundle, whose finder comes first).
    with contextlib.suppress(OSError):
        os.chdir(TASK_ROOT)
        if TASK_ROOT not in sys.path:
            sys.path.insert(0, TASK_ROOT)
    _fix_process_time()
    # Installed now, not at build time: no standard-library import at build time may pick up a function module.
    if _FINDER not in sys.meta_path:
        position = next((i for i, f in enumerate(sys.meta_path) if f is importlib.machinery.PathFinder), 0)
        sys.meta_path.insert(position, _FINDER)
    _install_streams()
    _install_logging()
    time.sleep = _sliced_sleep  # before the function's modules import it by name
    select.select = _sliced_select
    select.poll = _SlicedPoll  # type: ignore[misc, assignment]
    _install_asyncio()
    _install_sqlite()
    try:
        module = importlib.import_module(_MODULE_NAME)
    except ImportError as exc:
        message = f"Unable to import module '{_MODULE_NAME}': {exc}{_native_hint(exc)}"
        raise FunctionFault("Runtime.ImportModuleError", message) from exc
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FunctionFault(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{_MODULE_NAME}': {exc}", trace
        ) from exc
    handler = getattr(module, _FUNCTION_NAME, None)
    if handler is None:
        raise FunctionFault(
            "Runtime.HandlerNotFound", f"Handler '{_FUNCTION_NAME}' missing on module '{_MODULE_NAME}'"
        )
    _handler = handler


def _handle(ctx: types.Context, event: str) -> str:
    global _request_id
    _request_id = ctx.request_id
    if _handler is None:
        raise FunctionFault("Runtime.InitError", "handle called before a successful init")
    try:
        payload = json.loads(event) if event.strip() else {}
    except (ValueError, RecursionError) as exc:
        raise FunctionFault("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}") from exc
    result = _handler(payload, LambdaContext(ctx))
    try:
        return _dumps(result)
    except (TypeError, ValueError, RecursionError) as exc:
        raise FunctionFault("Runtime.MarshalError", f"Unable to marshal response: {exc}") from exc


class WitWorld(wit_world.WitWorld):
    """The component's exports: `init` once per execution environment, `handle` once per invocation."""

    def init(self) -> None:
        try:
            _init()
        except MemoryError as exc:
            raise _out_of_memory(exc) from None
        except SystemExit as exc:
            raise _exit(exc) from None
        except BaseException as exc:  # everything else is the function's init error
            raise _exception_error(exc) from None
        finally:
            _flush()

    def handle(self, ctx: types.Context, event: str) -> str:
        try:
            return _handle(ctx, event)
        except MemoryError as exc:
            raise _out_of_memory(exc) from None
        except SystemExit as exc:
            raise _exit(exc) from None
        except BaseException as exc:  # KeyboardInterrupt and the like are the function's error too
            raise _exception_error(exc) from None
        finally:
            _flush()
