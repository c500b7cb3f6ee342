"""The async Python API: create, update, get, list, delete and invoke functions.

    async with Platform() as platform:
        await platform.create_function("echo", code=wasm_bytes)
        result = await platform.invoke("echo", b'{"hello": "world"}')

Compilation runs once per code hash, at create/update time, on a worker thread (never on the event loop). A
background task in the platform's task group reaps idle environments and keeps provisioned ones initialised.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.abc
import anyio.to_thread
import msgspec

from .config import FunctionConfig, validate_function_name
from .engine import Engine, EngineSettings
from .errors import FunctionExistsError, FunctionNotFoundError, InvalidParameterError, PlatformClosedError
from .guests.base import Environment, EnvironmentSpec
from .guests.command import CommandEnvironment
from .guests.reactor import ReactorEnvironment
from .invoker import Invoker, Target
from .modules import CompiledCode, GuestKind, ModuleCache, code_sha256
from .pool import Pool, PoolStats
from .results import InvocationResult
from .scheduler import DEFAULT_ACCOUNT_CONCURRENCY, Scheduler

__all__ = ["FunctionInfo", "Platform", "default_data_dir"]

LATEST = "$LATEST"


def default_data_dir() -> Path:
    """`$WASMFAAS_DATA_DIR`, else `$XDG_CACHE_HOME/wasmfaas` (`~/.cache/wasmfaas`)."""
    if env := os.environ.get("WASMFAAS_DATA_DIR"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wasmfaas"


class FunctionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A function as the API describes it."""

    name: str
    runtime: str
    handler: str
    kind: GuestKind
    code_sha256: str
    code_size: int
    config: FunctionConfig
    version: str = LATEST
    revision: int = 1
    last_modified: str = ""


def _environment_factory(kind: GuestKind) -> Any:
    if kind is GuestKind.REACTOR:
        return ReactorEnvironment
    if kind is GuestKind.COMMAND:
        return CommandEnvironment
    from .guests.component import ComponentEnvironment

    return ComponentEnvironment


@dataclass(eq=False)
class _Deployed:
    info: FunctionInfo
    code: bytes
    compiled: CompiledCode
    target: Target


class Platform:
    """The engine behind every interface: functions, their environments, limits and invocations.

    - `data_dir`: where compiled modules are cached (`<data_dir>/modules`); default `default_data_dir()`.
    - `disk_cache`: set False to keep compiled modules in memory only.
    - `account_concurrency`: the account-wide concurrency limit (Lambda's default 1000).
    - `idle_ttl`: seconds an idle environment is kept; `max_idle`: idle environments kept per function version.
    - `engine_settings`: wasm stack size and Cranelift options for every engine.
    """

    def __init__(
        self,
        *,
        data_dir: str | Path | None = None,
        disk_cache: bool = True,
        account_concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY,
        idle_ttl: float = 600.0,
        max_idle: int = 1000,
        maintenance_interval: float = 1.0,
        engine_settings: EngineSettings | None = None,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self._disk_cache = disk_cache
        self.scheduler = Scheduler(account_concurrency)
        self.invoker = Invoker(self.scheduler)
        self._settings = engine_settings or EngineSettings()
        self._idle_ttl = idle_ttl
        self._max_idle = max_idle
        self._interval = maintenance_interval
        self._caches: dict[bool, ModuleCache] = {}
        self._caches_lock = threading.Lock()
        self._functions: dict[str, _Deployed] = {}
        self._lock = anyio.Lock()
        self._tg: anyio.abc.TaskGroup | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._tg = await anyio.create_task_group().__aenter__()
        self._tg.start_soon(self._maintain_forever)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        tg, self._tg = self._tg, None
        if tg is not None:
            tg.cancel_scope.cancel()
            # The body's own exception propagates by itself; handing it to the task group would wrap it in a group.
            await tg.__aexit__(None, None, None)
        for deployed in self._functions.values():
            deployed.target.pool.close()
        self._functions.clear()
        for cache in self._caches.values():
            cache.engine.close()
        self._caches.clear()

    def _check_open(self) -> None:
        if self._tg is None:
            raise PlatformClosedError("use the Platform inside `async with Platform() as platform:`")

    async def _maintain_forever(self) -> None:
        while True:
            await anyio.sleep(self._interval)
            for deployed in list(self._functions.values()):
                await anyio.to_thread.run_sync(deployed.target.pool.maintain)

    # -- engines and code ------------------------------------------------------------------------------------------

    def _cache(self, fuel: bool) -> ModuleCache:
        with self._caches_lock:
            cache = self._caches.get(fuel)
            if cache is None:
                settings = msgspec.structs.replace(self._settings, fuel=fuel)
                cache_dir = self.data_dir / "modules" if self._disk_cache else None
                cache = self._caches[fuel] = ModuleCache(Engine(settings), cache_dir)
            return cache

    async def _compile(self, code: bytes, config: FunctionConfig) -> CompiledCode:
        cache = self._cache(config.fuel is not None)
        sha = code_sha256(code)
        return cache.get(sha) or await anyio.to_thread.run_sync(cache.load, code, sha)

    def _deploy(self, info: FunctionInfo, code: bytes, compiled: CompiledCode) -> _Deployed:
        config = info.config
        spec = EnvironmentSpec(
            code=compiled,
            engine=self._cache(config.fuel is not None).engine,
            function_name=info.name,
            version=info.version,
            memory_mb=config.memory_mb,
            timeout=config.timeout,
            environment=dict(config.environment),
            fuel=config.fuel,
            handler=info.handler,
            log_stream_name=f"{datetime.now(UTC):%Y/%m/%d}/[{info.version}]{os.urandom(16).hex()}",
        )
        factory: type[Environment] = _environment_factory(compiled.kind)
        pool = Pool(
            spec, factory, max_idle=self._max_idle, idle_ttl=self._idle_ttl, provisioned=config.provisioned_concurrency
        )
        concurrency = self.scheduler.register(info.name, config.reserved_concurrency)
        target = Target(info.name, info.version, pool, concurrency, config.memory_mb, config.timeout, config.fuel)
        return _Deployed(info, code, compiled, target)

    async def _activate(self, deployed: _Deployed) -> FunctionInfo:
        old = self._functions.get(deployed.info.name)
        self._functions[deployed.info.name] = deployed
        if old is not None:
            old.target.pool.close()
        await anyio.to_thread.run_sync(deployed.target.pool.provision)
        return deployed.info

    # -- the API ---------------------------------------------------------------------------------------------------

    async def create_function(
        self,
        name: str,
        code: bytes,
        *,
        runtime: str = "wasi",
        handler: str = "",
        config: FunctionConfig | None = None,
    ) -> FunctionInfo:
        """Create a function from wasm bytes (any of the three guest kinds, detected here)."""
        self._check_open()
        validate_function_name(name)
        config = config or FunctionConfig()
        code = _as_code(code)
        async with self._lock:
            if name in self._functions:
                raise FunctionExistsError(f"Function already exist: {name}")
            compiled = await self._compile(code, config)
            info = FunctionInfo(
                name=name,
                runtime=runtime,
                handler=handler,
                kind=compiled.kind,
                code_sha256=compiled.sha256,
                code_size=len(code),
                config=config,
                last_modified=_now(),
            )
            return await self._activate(self._deploy(info, code, compiled))

    async def update_function_code(self, name: str, code: bytes) -> FunctionInfo:
        """Replace the code; new invocations run it, invocations in flight finish on the old code."""
        self._check_open()
        code = _as_code(code)
        async with self._lock:
            current = self._get(name)
            compiled = await self._compile(code, current.info.config)
            info = msgspec.structs.replace(
                current.info,
                kind=compiled.kind,
                code_sha256=compiled.sha256,
                code_size=len(code),
                revision=current.info.revision + 1,
                last_modified=_now(),
            )
            return await self._activate(self._deploy(info, code, compiled))

    async def update_function_configuration(
        self, name: str, config: FunctionConfig | None = None, *, handler: str | None = None, **changes: Any
    ) -> FunctionInfo:
        """Replace the configuration (`config`), or change some of its fields by keyword (`timeout=10`)."""
        self._check_open()
        async with self._lock:
            current = self._get(name)
            new_config = config or current.info.config
            if changes:
                unknown = set(changes) - set(FunctionConfig.__struct_fields__)
                if unknown:
                    raise InvalidParameterError(sorted(unknown)[0], "is not a configuration field")
                new_config = msgspec.structs.replace(new_config, **changes)
            compiled = await self._compile(current.code, new_config)
            info = msgspec.structs.replace(
                current.info,
                config=new_config,
                handler=current.info.handler if handler is None else handler,
                revision=current.info.revision + 1,
                last_modified=_now(),
            )
            return await self._activate(self._deploy(info, current.code, compiled))

    async def get_function(self, name: str) -> FunctionInfo:
        return self._get(name).info

    async def list_functions(self) -> list[FunctionInfo]:
        return sorted((d.info for d in self._functions.values()), key=lambda info: info.name)

    async def get_function_code(self, name: str) -> bytes:
        return self._get(name).code

    async def delete_function(self, name: str) -> None:
        self._check_open()
        async with self._lock:
            deployed = self._get(name)
            del self._functions[name]
            self.scheduler.unregister(name)
            deployed.target.pool.close()

    async def invoke(self, name: str, payload: bytes | str = b"") -> InvocationResult:
        """Invoke a function synchronously (RequestResponse); a function error is in the result, not raised.

        Raises `TooManyRequestsError` at once when a concurrency limit is reached.
        """
        self._check_open()
        return await self.invoker.invoke(self._get(name).target, _as_payload(payload))

    def invoke_sync(self, name: str, payload: bytes | str = b"") -> InvocationResult:
        """Invoke in the calling thread: for callers outside the event loop (the synchronous facade)."""
        self._check_open()
        return self.invoker.invoke_sync(self._get(name).target, _as_payload(payload))

    def pool_stats(self, name: str) -> PoolStats:
        return self._get(name).target.pool.stats()

    def _get(self, name: str) -> _Deployed:
        deployed = self._functions.get(name)
        if deployed is None:
            raise FunctionNotFoundError(f"Function not found: {name}")
        return deployed


def _as_code(code: bytes | bytearray | memoryview) -> bytes:
    if not isinstance(code, bytes | bytearray | memoryview):
        raise InvalidParameterError("code", f"must be bytes, got {type(code).__name__}")
    return bytes(code)


def _as_payload(payload: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(payload, str):
        return payload.encode()
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, bytearray | memoryview):
        return bytes(payload)
    raise InvalidParameterError("payload", f"must be bytes or str, got {type(payload).__name__}")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
