"""Compiling guest code once: guest-kind detection and the compiled-module cache (memory, then disk).

The disk cache lives under `<data dir>/modules/`. An artifact is keyed by the code's sha256, the wasmtime version and
the engine settings (`EngineSettings.fingerprint`); it is written atomically (temp file, fsync, rename) beside a small
JSON record holding the artifact's own sha256. Loading checks that digest before `deserialize_file`, because wasmtime
trusts a serialized artifact completely: a corrupt, truncated or mismatched file is recompiled, never loaded.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import msgspec
import wasmtime
import wasmtime.component

from ._files import atomic_write
from .engine import WASMTIME_VERSION, Engine
from .errors import InvalidCodeError
from .guests import wasi

__all__ = ["CompiledCode", "CoreLayout", "GuestKind", "ModuleCache", "code_sha256", "core_layout"]

_CORE_VERSION: Final = b"\x01\x00\x00\x00"
_COMPONENT_VERSION: Final = b"\x0d\x00\x01\x00"
WASI_P1: Final = "wasi_snapshot_preview1"
WASM_PAGE: Final = 65536


class GuestKind(StrEnum):
    """The three kinds of guest (docs/abi.md)."""

    COMMAND = "command"
    REACTOR = "reactor"
    COMPONENT = "component"


def code_sha256(code: bytes) -> str:
    return hashlib.sha256(code).hexdigest()


@dataclass(eq=False)
class CompiledCode:
    """A validated, compiled guest: what every environment of it is instantiated from."""

    sha256: str
    kind: GuestKind
    module: Any  # wasmtime.Module or wasmtime.component.Component
    instance_pre: Any = None  # wasmtime.InstancePre for core modules
    from_disk: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class _ArtifactRecord(msgspec.Struct, frozen=True):
    code_sha256: str
    artifact_sha256: str
    size: int
    kind: GuestKind
    wasmtime: str
    engine: str


# Built at import: a first `msgspec.json.decode(..., type=...)` spends ~0.2 ms building the type's decoder, which
# would land on the first cold start after a restart.
_RECORD_DECODER: Final = msgspec.json.Decoder(_ArtifactRecord)


def _detect_core_kind(module: wasmtime.Module) -> GuestKind:
    for imp in module.imports:
        if imp.module != WASI_P1:
            raise InvalidCodeError(
                f"the module imports {imp.module}.{imp.name}; only WASI preview 1 ({WASI_P1}) is provided"
            )
    exports = {e.name: e.type for e in module.exports}
    handle, buffer, memory = exports.get("wasmfaas_handle"), exports.get("wasmfaas_buffer"), exports.get("memory")
    if handle is not None or buffer is not None:
        i32 = wasmtime.ValType.i32()
        problems = []
        if not (isinstance(handle, wasmtime.FuncType) and handle.params == [i32, i32] and handle.results == [i32]):
            problems.append("wasmfaas_handle must be a function (i32, i32) -> i32")
        if not (isinstance(buffer, wasmtime.FuncType) and buffer.params == [i32] and buffer.results == [i32]):
            problems.append("wasmfaas_buffer must be a function (i32) -> i32")
        if not isinstance(memory, wasmtime.MemoryType) or memory.is_64:
            problems.append("a 32-bit memory must be exported as 'memory'")
        init = exports.get("_initialize")
        if init is not None and not (isinstance(init, wasmtime.FuncType) and not init.params and not init.results):
            problems.append("_initialize must be a function () -> ()")
        if problems:
            raise InvalidCodeError(
                "the module looks like a wasmfaas reactor but breaks the ABI: " + "; ".join(problems)
            )
        return GuestKind.REACTOR
    start = exports.get("_start")
    if isinstance(start, wasmtime.FuncType):
        if start.params or start.results:
            raise InvalidCodeError("_start must be a function () -> ()")
        return GuestKind.COMMAND
    raise InvalidCodeError(
        "the module is neither a WASI command (exporting _start) nor a wasmfaas reactor (exporting memory, "
        "wasmfaas_buffer and wasmfaas_handle); see docs/abi.md"
    )


@dataclass(frozen=True)
class CoreLayout:
    """What a core module defines that a store's limits bound (wasmtime-py shows only exported memories)."""

    memory_minimums: tuple[int, ...]  # in bytes, one per memory the module defines
    tables: int
    table_minimums: tuple[int, ...] = ()  # in elements, of the tables read (all but those after one with an init)


_MEMORY_SECTION: Final = 5
_TABLE_SECTION: Final = 4


def core_layout(code: bytes) -> CoreLayout:
    """The memories (their initial sizes) and the number of tables a validated core module defines, read from its
    binary. Imported ones are not counted: a core module may import only WASI functions."""
    memories: list[int] = []
    tables = 0
    table_minimums: list[int] = []
    pos = 8
    while pos < len(code):
        section = code[pos]
        size, pos = _leb128(code, pos + 1)
        end = pos + size
        if section == _TABLE_SECTION:
            tables, at = _leb128(code, pos)
            for _ in range(tables):
                if code[at] == 0x40:  # a table with an init expression (function references): not followed further
                    break
                reftype = code[at]
                at += 1
                if reftype in (0x63, 0x64):  # (ref null? heaptype): a signed LEB128 heap type follows
                    _, at = _leb128(code, at)
                flags = code[at]
                minimum, at = _leb128(code, at + 1)
                if flags & 1:
                    _, at = _leb128(code, at)
                table_minimums.append(minimum)
        elif section == _MEMORY_SECTION:
            count, at = _leb128(code, pos)
            for _ in range(count):
                flags = code[at]
                minimum, at = _leb128(code, at + 1)
                if flags & 1:  # a maximum follows
                    _, at = _leb128(code, at)
                page = WASM_PAGE
                if flags & 8:  # custom-page-sizes: log2 of the page size
                    log2, at = _leb128(code, at)
                    page = 1 << log2
                memories.append(minimum * page)
        pos = end
    return CoreLayout(tuple(memories), tables, tuple(table_minimums))


def _leb128(code: bytes, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 number at `pos`, and the position after it."""
    value = shift = 0
    while True:
        byte = code[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


_MALLOC_TRIM: Final = _load_malloc_trim()


def _give_back_memory() -> None:
    """Return the compiler's freed working memory to the system: Cranelift's hundreds of megabytes for a language
    runtime's component stayed in the worker thread's malloc arena (RSS 404 MB after one Python build, 111 MB once
    trimmed)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class ModuleCache:
    """Compiles each code hash once per engine, in memory and on disk. Thread-safe.

    `load` is blocking (it may compile for a second or more): call it from a worker thread.
    """

    def __init__(self, engine: Engine, cache_dir: Path | None) -> None:
        self.engine = engine
        self.cache_dir = cache_dir
        self._memory: dict[str, CompiledCode] = {}
        self._lock = threading.Lock()
        self._compiling: dict[str, threading.Lock] = {}
        self._stored: set[str] = set()  # stems of the artifacts this cache wrote to disk
        self._linker = wasmtime.Linker(engine.wasm)
        self._linker.define_wasi()
        wasi.define(self._linker)  # our fd_write and poll_oneoff (guests/wasi.py)
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)

    def get(self, sha256: str) -> CompiledCode | None:
        """The compiled code if it is in memory already (the cheap check on the invoke path)."""
        return self._memory.get(sha256)

    def load(self, code: bytes, sha256: str | None = None) -> CompiledCode:
        """Return the compiled code for `code`, compiling or loading it from disk at most once per hash."""
        sha256 = sha256 or code_sha256(code)
        cached = self._memory.get(sha256)
        if cached is not None:
            return cached
        with self._lock:
            key_lock = self._compiling.setdefault(sha256, threading.Lock())
        # One compile per hash: concurrent loads of the same code wait for the first.
        try:
            with key_lock:
                cached = self._memory.get(sha256)
                if cached is None:
                    cached = self._load_from_disk(sha256) or self._compile(code, sha256)
                    self._memory[sha256] = cached
        finally:  # refused code too: its lock must not stay behind
            with self._lock:
                self._compiling.pop(sha256, None)
        return cached

    def keep_only(self, in_use: Iterable[CompiledCode]) -> None:
        """Drop the in-memory entries other than `in_use` (the disk artifacts stay)."""
        keep = {id(compiled) for compiled in in_use}
        with self._lock:
            for sha256 in [sha for sha, compiled in list(self._memory.items()) if id(compiled) not in keep]:
                del self._memory[sha256]

    # -- compile ---------------------------------------------------------------------------------------------------

    def _compile(self, code: bytes, sha256: str) -> CompiledCode:
        if len(code) < 8 or code[:4] != b"\0asm":
            if code[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
                raise InvalidCodeError(
                    "not a WebAssembly binary but a package (a zip, a folder or a source file): runtime 'wasi' takes "
                    "the .wasm module itself; sources need runtime='python3.14' or 'js-starlingmonkey' and a handler"
                )
            raise InvalidCodeError("not a WebAssembly binary (it does not start with the \\0asm magic)")
        version = code[4:8]
        try:
            if version == _CORE_VERSION:
                module: Any = wasmtime.Module(self.engine.wasm, code)
                kind = _detect_core_kind(module)
            elif version == _COMPONENT_VERSION:
                module = wasmtime.component.Component(self.engine.wasm, code)
                kind = GuestKind.COMPONENT
            else:
                raise InvalidCodeError(f"unsupported WebAssembly binary version {version.hex()}")
        except wasmtime.WasmtimeError as e:
            raise InvalidCodeError(f"the code does not validate: {_message(e)}") from None
        finally:
            _give_back_memory()
        compiled = self._prepare(sha256, kind, module, from_disk=False)
        self._store(compiled)
        return compiled

    def _prepare(self, sha256: str, kind: GuestKind, module: Any, *, from_disk: bool) -> CompiledCode:
        compiled = CompiledCode(sha256=sha256, kind=kind, module=module, from_disk=from_disk)
        if kind is not GuestKind.COMPONENT:
            try:
                compiled.instance_pre = self._linker.instantiate_pre(module)
            except wasmtime.WasmtimeError as e:
                raise InvalidCodeError(f"the module's imports cannot be satisfied: {_message(e)}") from None
        else:
            from .guests.component import prepare_component

            prepare_component(self.engine, compiled)
        return compiled

    # -- disk ------------------------------------------------------------------------------------------------------

    def stem(self, sha256: str) -> str:
        """The name (without suffix) of `sha256`'s compiled artifact on disk, for this engine's settings."""
        return f"{sha256}-{self.engine.fingerprint}"

    def _paths(self, sha256: str) -> tuple[Path, Path]:
        assert self.cache_dir is not None
        stem = self.stem(sha256)
        return self.cache_dir / f"{stem}.cwasm", self.cache_dir / f"{stem}.json"

    def _load_from_disk(self, sha256: str) -> CompiledCode | None:
        if self.cache_dir is None:
            return None
        artifact, meta = self._paths(sha256)
        try:
            record = _RECORD_DECODER.decode(meta.read_bytes())
            data = artifact.read_bytes()
        except (OSError, msgspec.DecodeError):
            return None
        if (
            record.code_sha256 != sha256
            or record.wasmtime != WASMTIME_VERSION
            or record.engine != self.engine.fingerprint
            or record.size != len(data)
            or hashlib.sha256(data).hexdigest() != record.artifact_sha256
        ):
            return None
        try:
            if record.kind is GuestKind.COMPONENT:
                module: Any = wasmtime.component.Component.deserialize_file(self.engine.wasm, str(artifact))
            else:
                module = wasmtime.Module.deserialize_file(self.engine.wasm, str(artifact))
            return self._prepare(sha256, record.kind, module, from_disk=True)
        except (wasmtime.WasmtimeError, InvalidCodeError):
            return None

    def _store(self, compiled: CompiledCode) -> None:
        if self.cache_dir is None:
            return
        artifact, meta = self._paths(compiled.sha256)
        try:
            data = bytes(compiled.module.serialize())
            record = _ArtifactRecord(
                code_sha256=compiled.sha256,
                artifact_sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
                kind=compiled.kind,
                wasmtime=WASMTIME_VERSION,
                engine=self.engine.fingerprint,
            )
            # Artifact first, record last: a reader that sees the record sees a whole artifact, and a crash
            # between the two leaves an artifact without a record, which is simply recompiled.
            atomic_write(artifact, data)
            atomic_write(meta, msgspec.json.encode(record))
        except (OSError, wasmtime.WasmtimeError):
            # The disk cache is an optimisation: a full or read-only disk must not fail the create.
            return
        with self._lock:
            self._stored.add(artifact.stem)

    def stored(self) -> set[str]:
        """The stems (see `stem`) of the artifacts this cache wrote to disk."""
        with self._lock:
            return set(self._stored)


def _message(e: Exception) -> str:
    # wasmtime's messages are "context\n\nCaused by:\n    cause"; one line keeps both.
    lines = [line.strip() for line in str(e).splitlines() if line.strip() and line.strip() != "Caused by:"]
    return ": ".join(lines) if lines else type(e).__name__
