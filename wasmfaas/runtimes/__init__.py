"""Language runtimes: builders that turn a function's source into a wasmfaas component.

A runtime is named after the interpreter it really runs. Lambda's own identifiers for its Python and Node.js
runtimes (`python3.12`, `nodejs22.x`...) are accepted too, so that existing deployment configurations work unchanged:
they run on the same interpreter (`family`), CPython 3.14 or SpiderMonkey, and the function keeps the name it was
given. `build(runtime, source, handler)` takes the source as a zip archive (Lambda's deployment package) or a
folder, and returns the component's bytes; builds are cached by content, so the same source never builds twice.
`wasi` is no runtime at all: the code is the wasm module itself.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Final

from ..config import is_decimal
from ..errors import InvalidParameterError

__all__ = [
    "JAVASCRIPT",
    "LAMBDA_IDENTIFIERS",
    "LAMBDA_RUNTIMES",
    "MAX_UNZIPPED_BYTES",
    "MAX_ZIPPED_BYTES",
    "PYTHON",
    "SOURCE_SUFFIXES",
    "WASI",
    "add_layer",
    "build",
    "extract_zip",
    "family",
    "runtimes",
    "zip_files",
    "zip_folder",
]

WASI: Final = "wasi"
PYTHON: Final = "python3.14"  # CPython 3.14.0, as bundled by componentize-py 0.25.1
JAVASCRIPT: Final = "js-starlingmonkey"  # SpiderMonkey in StarlingMonkey, as bundled by componentize-js 0.23.0

# A function's single source file, taken as a package of that file alone (by the API and `wasmfaas deploy`).
SOURCE_SUFFIXES: Final = (".py", ".js", ".mjs", ".cjs")

# Lambda's deployment package limits.
MAX_ZIPPED_BYTES: Final = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES: Final = 250 * 1024 * 1024
MAX_ENTRIES: Final = 20_000


# Lambda's identifiers of the Python and Node.js runtimes it supports, and the interpreter each runs on here.
LAMBDA_RUNTIMES: Final = {
    **{f"python3.{minor}": PYTHON for minor in range(9, 14)},
    **{f"nodejs{major}.x": JAVASCRIPT for major in (18, 20, 22, 24)},
}


# Every runtime identifier Lambda's API knows (botocore's `Runtime` enum), deprecated ones included: what a layer may
# name as compatible (it is then usable by functions of those runtimes that run here).
LAMBDA_IDENTIFIERS: Final = frozenset(
    {
        *LAMBDA_RUNTIMES,
        PYTHON,
        "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x",
        "nodejs14.x", "nodejs16.x", "nodejs26.x", "python2.7", "python3.6", "python3.7", "python3.8", "python3.15",
        "java8", "java8.al2", "java8.al2023", "java11", "java11.al2023", "java17", "java17.al2023", "java21",
        "java25",
        "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6", "dotnet8", "dotnet10",
        "go1.x", "ruby2.5", "ruby2.7", "ruby3.2", "ruby3.3", "ruby3.4", "ruby4.0",
        "provided", "provided.al2", "provided.al2023", "custom",
    }
)  # fmt: skip


def runtimes() -> list[str]:
    """The runtimes' own names (Lambda's identifiers in `LAMBDA_RUNTIMES` are accepted as well)."""
    return [WASI, PYTHON, JAVASCRIPT]


def family(runtime: str) -> str:
    """The runtime that `runtime` runs on: itself for `wasi`, `python3.14` and `js-starlingmonkey`, or the one
    Lambda's identifier maps to; InvalidParameterError for any other."""
    if runtime in (WASI, PYTHON, JAVASCRIPT):
        return runtime
    found = LAMBDA_RUNTIMES.get(runtime) if isinstance(runtime, str) else None
    if found is None:
        raise InvalidParameterError(
            "Runtime",
            f"{runtime!r} is not one of {', '.join(runtimes())} (or Lambda's python3.9-python3.13, "
            "nodejs18.x-nodejs24.x, which run on python3.14 and js-starlingmonkey)",
        )
    return found


# Where a layer's files are found for each runtime, as Lambda lays layers out under /opt, and where they go in the
# function's package: Python's `python/` (or `python/lib/python3.X/site-packages/`, X the function's runtime's, or
# 3.14) and Node's `nodejs/node_modules/` and `nodejs/nodeN/node_modules/` (N the function's nodejsN.x; any N for
# js-starlingmonkey, the newest last) are on the import path there; here they join the package, under the
# function's own files. A later pair's files replace an earlier one's, as the versioned path comes first in NODE_PATH.
def _layer_paths(runtime: str, root: Path) -> tuple[tuple[str, str], ...]:
    if family(runtime) == JAVASCRIPT:
        declared = re.fullmatch(r"nodejs(\d+)\.x", runtime)
        if declared:
            nodes = [int(declared[1])]
        else:
            found = (p.name[4:] for p in (root / "nodejs").glob("node*"))
            nodes = sorted(int(n) for n in found if is_decimal(n))
        return (
            ("nodejs/node_modules", "node_modules"),
            *((f"nodejs/node{n}/node_modules", "node_modules") for n in nodes),
        )
    versions = dict.fromkeys((PYTHON, runtime))  # the function's own last: its files replace 3.14's
    return (("python", "."), *((f"python/lib/{version}/site-packages", ".") for version in versions))


def build(
    runtime: str,
    source: bytes | Path,
    handler: str,
    *,
    layers: Sequence[bytes] = (),
    cache_dir: Path | None = None,
) -> bytes:
    """Build `source` (zip bytes or a folder) for `runtime`, with `layers` (zips, in order: a later one's file
    replaces an earlier one's, and the function's own files replace any layer's); blocking (seconds on a cache
    miss). The function and its layers together unzip to at most Lambda's 250 MB."""
    kind = family(runtime)
    if kind == WASI:
        raise InvalidParameterError("Runtime", "wasi code is the module itself: there is nothing to build")
    with contextlib.ExitStack() as stack:
        if isinstance(source, bytes) or layers:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wasmfaas-src-")))
            for layer in layers:
                add_layer(runtime, layer, folder)
            try:
                if isinstance(source, bytes):
                    extract_zip(source, folder)
                else:
                    shutil.copytree(source, folder, dirs_exist_ok=True)
            except (OSError, shutil.Error) as e:
                raise InvalidParameterError(
                    "Layers", f"the function's files clash with its layers': {_first_error(e)}"
                ) from None
            total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            if total > MAX_UNZIPPED_BYTES:
                raise InvalidParameterError(
                    "Layers", f"the function and its layers unzip to {total} bytes; the limit is {MAX_UNZIPPED_BYTES}"
                )
        else:
            folder = source
        out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wasmfaas-out-")))
        if kind == PYTHON:
            from .python import build_python

            return build_python(folder, handler, out, cache_dir=cache_dir).read_bytes()
        from .js import build_js

        return build_js(folder, handler, out, cache_dir=cache_dir).read_bytes()


def add_layer(runtime: str, layer: bytes, folder: Path) -> None:
    """Put a layer's files where a function of `runtime` finds them in its package folder (`_layer_paths`)."""
    with tempfile.TemporaryDirectory(prefix="wasmfaas-layer-") as tmp:
        root = Path(tmp)
        extract_zip(layer, root)
        paths = _layer_paths(runtime, root)
        # A path copied on its own (python/lib/python3.14/site-packages) is left out of the one holding it (python).
        own = {root / inside for inside, _ in paths}
        for inside, target in paths:
            if (root / inside).is_dir():
                try:
                    shutil.copytree(
                        root / inside,
                        folder / target,
                        dirs_exist_ok=True,
                        ignore=lambda d, names: [n for n in names if Path(d, n) in own],
                    )
                except (OSError, shutil.Error) as e:
                    raise InvalidParameterError("Layers", f"the layers' files clash: {_first_error(e)}") from None
        # The directories that only led to a path copied on its own (python/lib/python3.14/) are left empty: they
        # go (an empty lib/ in /var/task would be a namespace package `lib`).
        for own_path in own:
            for outer, target in paths:
                base = root / outer
                if base in own_path.parents:
                    rel = own_path.relative_to(base).parent
                    while rel != Path("."):
                        with contextlib.suppress(OSError):
                            (folder / target / rel).rmdir()  # only if empty
                        rel = rel.parent


def _first_error(e: Exception) -> str:
    # shutil.Error carries a list of (source, destination, reason).
    if isinstance(e, shutil.Error) and e.args and isinstance(e.args[0], list) and e.args[0]:
        return str(e.args[0][0][-1])
    return str(e)


def zip_folder(folder: Path) -> bytes:
    """A deployment package of `folder`: every file but dot-files, dot-folders and `__pycache__`, in sorted order
    with fixed timestamps, so the same sources always give the same bytes (and the same content hash)."""
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts) or not path.is_file():
            continue
        files.append((relative.as_posix(), path))
    return zip_files(files)


def zip_files(files: Iterable[tuple[str, Path]]) -> bytes:
    """A deployment package of (name in the zip, file) pairs, in the order given, with fixed timestamps."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def extract_zip(data: bytes, dest: Path) -> None:
    """Unpack a deployment package safely: no absolute or `..` paths, no links, and Lambda's size limits
    enforced on what is actually decompressed (a zip bomb's declared sizes are not trusted)."""
    if len(data) > MAX_ZIPPED_BYTES:
        raise InvalidParameterError("ZipFile", f"the package is {len(data)} bytes; the limit is {MAX_ZIPPED_BYTES}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zlib.error, ValueError, EOFError) as e:
        raise InvalidParameterError("ZipFile", f"not a valid zip archive: {e}") from None
    total = 0
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise InvalidParameterError("ZipFile", f"the package has {len(entries)} entries; at most {MAX_ENTRIES}")
        for entry in entries:
            path = PurePosixPath(entry.filename.replace("\\", "/"))
            if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
                raise InvalidParameterError("ZipFile", f"unsafe path in the package: {entry.filename!r}")
            if stat.S_ISLNK(entry.external_attr >> 16):
                raise InvalidParameterError("ZipFile", f"links are not allowed in the package: {entry.filename!r}")
            target = dest.joinpath(*path.parts)
            try:
                if entry.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError:  # a file and a directory of one name ("a" and "a/b.py")
                raise InvalidParameterError(
                    "ZipFile", f"{entry.filename!r} clashes with another entry of the package"
                ) from None
            try:
                with archive.open(entry) as src, open(target, "wb") as out:
                    while chunk := src.read(1 << 20):
                        total += len(chunk)
                        if total > MAX_UNZIPPED_BYTES:
                            raise InvalidParameterError(
                                "ZipFile", f"the package unzips to more than {MAX_UNZIPPED_BYTES} bytes"
                            )
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
                raise InvalidParameterError("ZipFile", f"cannot read {entry.filename!r}: {e}") from None
            except IsADirectoryError:
                raise InvalidParameterError(
                    "ZipFile", f"{entry.filename!r} clashes with another entry of the package"
                ) from None
