"""Deployment packages: from a Lambda `ZipFile` to the module wasmfaas runs, with Lambda's limits.

A package is a zip (or, as a convenience, a bare `.wasm` module: its first bytes are `\\0asm`). For every runtime the
module is the zip member that `Handler` names: "hello.wasm" or "hello" (-> hello.wasm), or "hello.handler" in the
usual Lambda form (-> hello.wasm); with no handler, the package's only `.wasm` file. The zip is never extracted to
disk, but it is checked as if it were: entries with absolute paths, ".." components, drive letters or NUL bytes are
refused, as are encrypted entries, more than `MAX_ENTRIES` entries, a declared uncompressed total over 250 MB, and a
module whose decompressed bytes run past what its header declared (reading stops at the limit: no zip bomb is
inflated). Every refusal is a 400 InvalidParameterValueException saying what was wrong.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from dataclasses import dataclass
from typing import Final

from .errors import invalid_parameter

__all__ = ["MAX_UNZIPPED", "MAX_ZIPPED", "ModulePackage", "build_zip", "module_file_name", "open_package"]

MAX_ZIPPED: Final = 50 * 1024 * 1024  # Lambda's limit for a direct upload
MAX_UNZIPPED: Final = 250 * 1024 * 1024  # Lambda's limit for the unzipped package
MAX_ENTRIES: Final = 100_000
_WASM_MAGIC: Final = b"\0asm"
_CHUNK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class ModulePackage:
    module: bytes
    file_name: str  # the module's name inside the package


def module_file_name(handler: str) -> str:
    """The package member a handler names: "x.wasm" -> "x.wasm", "x" -> "x.wasm", "x.handler" -> "x.wasm"."""
    if handler.endswith(".wasm"):
        return handler
    stem, dot, _ = handler.rpartition(".")
    return f"{stem if dot else handler}.wasm"


def open_package(data: bytes, handler: str) -> ModulePackage:
    """The module inside a deployment package (see the module docstring for the rules)."""
    if len(data) > MAX_ZIPPED:
        raise invalid_parameter(
            f"Code.ZipFile: the package is {len(data)} bytes; it must be at most {MAX_ZIPPED} bytes zipped"
        )
    if data.startswith(_WASM_MAGIC):
        return ModulePackage(data, module_file_name(handler) if handler else "function.wasm")
    if not data:
        raise invalid_parameter("Code.ZipFile: the package is empty")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return _module_from_zip(archive, handler)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as e:
        raise invalid_parameter(
            f"Could not unzip uploaded file. Please check your file, then try to upload again. ({e})"
        ) from None


def _module_from_zip(archive: zipfile.ZipFile, handler: str) -> ModulePackage:
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise invalid_parameter(f"Code.ZipFile: the package has {len(entries)} entries; at most {MAX_ENTRIES}")
    declared = 0
    by_name: dict[str, zipfile.ZipInfo] = {}
    for entry in entries:
        name = _checked_name(entry.filename)
        declared += entry.file_size
        if not entry.is_dir():
            by_name[name] = entry
    if declared > MAX_UNZIPPED:
        raise invalid_parameter(
            f"Unzipped size must be smaller than {MAX_UNZIPPED} bytes (the package declares {declared} bytes)"
        )
    name, entry = _find_module(by_name, handler)
    if entry.flag_bits & 0x1:
        raise invalid_parameter(f"Code.ZipFile: {entry.filename} is encrypted")
    if stat.S_ISLNK(entry.external_attr >> 16):
        raise invalid_parameter(f"Code.ZipFile: {entry.filename} is a symbolic link, not a module")
    return ModulePackage(_read_bounded(archive, entry), name)


def _checked_name(name: str) -> str:
    """The entry's name normalised, or a refusal if extracting it would escape the package's directory."""
    if "\0" in name:
        raise invalid_parameter(f"Code.ZipFile: entry {name!r} has a NUL byte in its name")
    unified = name.replace("\\", "/")
    parts = unified.split("/")
    if unified.startswith("/") or (len(parts[0]) == 2 and parts[0][1] == ":") or ".." in parts:
        raise invalid_parameter(f"Code.ZipFile: entry {name!r} points outside the package (path traversal)")
    return "/".join(p for p in parts if p not in ("", "."))


def _find_module(by_name: dict[str, zipfile.ZipInfo], handler: str) -> tuple[str, zipfile.ZipInfo]:
    if handler:
        wanted = "/".join(p for p in module_file_name(handler).replace("\\", "/").split("/") if p not in ("", "."))
        entry = by_name.get(wanted)
        if entry is None:
            found = ", ".join(sorted(name for name in by_name if name.endswith(".wasm"))[:5]) or "none"
            raise invalid_parameter(
                f"Code.ZipFile: the package holds no module {wanted!r} (from Handler {handler!r}); its .wasm "
                f"files are: {found} (set Handler to the one to run)"
            )
        return wanted, entry
    modules = sorted(name for name in by_name if name.endswith(".wasm"))
    if len(modules) != 1:
        found = ", ".join(modules[:5]) or "none"
        raise invalid_parameter(f"Handler: name the module to run; the package's .wasm files are: {found}")
    return modules[0], by_name[modules[0]]


def _read_bounded(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bytes:
    # The declared size bounds what is read; a member that inflates past it is a lie (or a bomb), refused.
    limit = min(entry.file_size, MAX_UNZIPPED)
    out = bytearray()
    with archive.open(entry) as member:
        while chunk := member.read(min(_CHUNK, limit + 1 - len(out))):
            out += chunk
            if len(out) > limit:
                raise invalid_parameter(f"Code.ZipFile: {entry.filename} inflates past its declared size")
    if len(out) != entry.file_size:
        raise invalid_parameter(f"Code.ZipFile: {entry.filename} is truncated")
    return bytes(out)


def build_zip(file_name: str, module: bytes) -> bytes:
    """A deployment package holding one module (what GetFunction's Code.Location serves), byte-for-byte stable."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(file_name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        archive.writestr(info, module)
    return buffer.getvalue()
