"""The async Python API: functions, versions and aliases, and invoking them.

    async with Platform() as platform:
        await platform.create_function("echo", code=wasm_bytes)
        result = await platform.invoke("echo", b'{"hello": "world"}')

Compilation runs once per code hash, at create/update time, on a worker thread (never on the event loop). Each
function version has its own pool of environments; the function's concurrency slot is shared by all its versions.
A background task in the platform's task group reaps idle environments and keeps provisioned ones initialised.
With `persistent=True` every change is written to the registry (`<data_dir>/registry.sqlite3`) before it returns,
and the functions are back after a restart.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import hashlib
import itertools
import logging
import os
import random
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, Unpack

import anyio
import anyio.abc
import anyio.to_thread
import msgspec

from . import logs, runtimes
from ._files import atomic_write
from .config import MAX_TIMEOUT_S, ConfigChanges, FunctionConfig, validate_function_name
from .engine import Engine, EngineSettings
from .errors import (
    FunctionExistsError,
    FunctionNotFoundError,
    InvalidCodeError,
    InvalidParameterError,
    LayerNotFoundError,
    PlatformClosedError,
    PreconditionFailedError,
    ResourceConflictError,
    TooManyRequestsError,
    WasmfaasError,
)
from .guests.base import Environment, EnvironmentSpec, check_core_module
from .guests.command import CommandEnvironment
from .guests.reactor import INIT_TIMEOUT_S, ReactorEnvironment
from .invoker import Invoker, Target
from .layers import (
    MAX_LAYERS,
    LayerRecord,
    LayerRef,
    LayerVersionInfo,
    parse_layer_ref,
    validate_layer_name,
)
from .modules import CompiledCode, GuestKind, ModuleCache, code_sha256
from .pool import Pool, PoolStats
from .registry import LATEST, AliasInfo, FunctionInfo, FunctionRecord, Registry, SqliteRegistry, data_dir_holder
from .results import FunctionError, InvocationResult
from .scheduler import DEFAULT_ACCOUNT_CONCURRENCY, Scheduler
from .tags import check_tag_keys, merge_tags

__all__ = ["AccountSettings", "AliasInfo", "FunctionInfo", "Platform", "default_data_dir"]

logger = logging.getLogger("wasmfaas.platform")
_INCARNATIONS: Final = itertools.count(1)

# How long a closing platform waits for invocations whose callers went away before it ends them, and for a change
# under way to commit.
SHUTDOWN_GRACE_S: Final = 1.0
# Code blobs a start found with an empty registry (a registry lost): never collected while listed here.
_KEPT_CODE: Final = "code-kept"
# The environments' /tmp directories: one per platform, in $TMPDIR, with a lock file held while the platform lives.
_SCRATCH_PREFIX: Final = "wasmfaas-scratch-"
_SCRATCH_LOCK: Final = ".owner.lock"
# A temporary file older than this in a shared module cache is one a crash left (no write takes that long).
_STALE_TEMP_S: Final = 600.0
SHUTDOWN_CHANGE_WAIT_S: Final = 30.0

_ALIAS_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,128}")


def default_data_dir() -> Path:
    """`$WASMFAAS_DATA_DIR`, else `$XDG_CACHE_HOME/wasmfaas` (`~/.cache/wasmfaas`)."""
    if env := os.environ.get("WASMFAAS_DATA_DIR"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wasmfaas"


class AccountSettings(msgspec.Struct, frozen=True):
    concurrent_executions: int
    unreserved_concurrent_executions: int


def _read_lines(path: Path) -> list[str]:
    try:
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def _task_key(info: FunctionInfo) -> str:
    """A Python function's unpacked /var/task: its package's hash, or with layers, of the package and its layers."""
    if not info.layers:
        return info.code_sha256
    # The runtime too: where a layer's python/lib/python3.X/site-packages goes depends on it.
    parts = [info.runtime, info.code_sha256, *(layer.code_sha256 for layer in info.layers)]
    return hashlib.sha256(" ".join(parts).encode()).hexdigest()


def _remove_dead_scratch_dirs() -> None:
    """Remove the environments' /tmp directories of platforms that are gone: their lock is free (or, made by a
    wasmfaas before the lock, they are a day old)."""
    root = Path(tempfile.gettempdir())
    try:
        entries = [entry for entry in os.scandir(root) if entry.name.startswith(_SCRATCH_PREFIX)]
    except OSError:
        return
    for entry in entries:
        path = Path(entry.path)
        try:
            if entry.stat().st_mtime > time.time() - 60:
                continue  # perhaps a platform between making its directory and locking it
            fd = os.open(path / _SCRATCH_LOCK, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < time.time() - 86400:
                    shutil.rmtree(path, ignore_errors=True)
            continue  # else a platform that is making its directory right now
        except OSError:
            continue  # another user's
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its platform is alive
        finally:
            os.close(fd)
        shutil.rmtree(path, ignore_errors=True)


def _only_reserved_differs(old: FunctionInfo, new: FunctionInfo) -> bool:
    """Whether `new` differs from `old` in the reservation (and the revision stamps) alone."""
    stamps = {"revision": old.revision, "last_modified": old.last_modified}
    config = msgspec.structs.replace(new.config, reserved_concurrency=old.config.reserved_concurrency)
    return msgspec.structs.replace(new, config=config, **stamps) == old


def _environment_factory(kind: GuestKind) -> Any:
    if kind is GuestKind.REACTOR:
        return ReactorEnvironment
    if kind is GuestKind.COMMAND:
        return CommandEnvironment
    from .guests.component import ComponentEnvironment

    return ComponentEnvironment


# The host's time-zone database, where Python's zoneinfo looks for it (its first TZPATH entry), as Lambda's Amazon
# Linux has it: ZoneInfo("America/New_York") works as there. Public data; nothing else of the host is seen.
_ZONEINFO: Final = "/usr/share/zoneinfo"
_ZONEINFO_MOUNT: Final = ((_ZONEINFO, _ZONEINFO),) if os.path.isdir(_ZONEINFO) else ()


@dataclass(eq=False)
class _Deployed:
    """One function version, ready to run: its description, code and pool."""

    info: FunctionInfo
    code: bytes
    compiled: CompiledCode
    target: Target


@dataclass(eq=False)
class _Function:
    latest: _Deployed
    versions: dict[str, _Deployed] = field(default_factory=dict)
    aliases: dict[str, AliasInfo] = field(default_factory=dict)
    provisioned: dict[str, int] = field(default_factory=dict)
    next_version: int = 1
    tags: dict[str, str] = field(default_factory=dict)
    # Tells this function from another made later under its name (see Platform.incarnation).
    incarnation: int = field(default_factory=lambda: next(_INCARNATIONS))

    def all_deployed(self) -> list[_Deployed]:
        return [self.latest, *self.versions.values()]

    def state(self) -> tuple[Any, ...]:
        """What a change may alter, to put back (`restore`) when its record cannot be stored."""
        return self.latest, dict(self.versions), dict(self.aliases), dict(self.provisioned), self.next_version

    def restore(self, state: tuple[Any, ...]) -> None:
        self.latest, self.versions, self.aliases, self.provisioned, self.next_version = state

    def record(self) -> FunctionRecord:
        return FunctionRecord(
            latest=self.latest.info,
            versions=[d.info for d in self.versions.values()],
            aliases=list(self.aliases.values()),
            provisioned=dict(self.provisioned),
            next_version=self.next_version,
            tags=dict(self.tags),
        )


class Platform:
    """The engine behind every interface: functions, their environments, limits and invocations.

    - `data_dir`: compiled modules are cached in `<data_dir>/modules` (or `$WASMFAAS_MODULE_CACHE`), and with
      `persistent` the registry and code live there too; default `default_data_dir()`.
    - `persistent`: keep functions, versions and aliases in the embedded registry across restarts.
    - `disk_cache`: set False to keep compiled modules in memory only.
    - `account_concurrency`: the account-wide concurrency limit (Lambda's default 1000).
    - `unreserved_minimum`: the concurrency that reserved concurrency must leave to the other functions; None is
      Lambda's rule (100, or the account limit when that is smaller: an account limited to 100 or less cannot
      reserve). Set 0 to let reservations take the whole account.
    - `idle_ttl`: seconds an idle environment is kept; `max_idle`: idle environments kept per function version.
    - `engine_settings`: wasm stack size and Cranelift options for every engine.
    - `region`, `account_id`: what the functions' ARNs say (the context's invoked function ARN).
    - `inline`: let `invoke` run a function that has shown itself fast on the event loop's own thread (saving two
      thread hand-offs, ~10x a small call); False runs every invocation on a worker thread, so that no call is ever
      stopped at the end of its slice and run again in a new environment (pool.py, "Inline runs").
    - `worker_nice`: how much nicer (0-19) than the event loop the worker threads running invocations are. The loop
      reads every request and runs the inline invocations: with CPU-bound functions on many threads it gets one
      share of the cores among them all (a function spinning on 16 connections cut a hello-world function's
      requests/s ~15x; at 10, ~5x). But the niceness counts against every other process on the host too: under
      their load a function runs slower and may time out sooner. 0 (the default) leaves it to the host.
    """

    def __init__(
        self,
        *,
        data_dir: str | Path | None = None,
        persistent: bool = False,
        registry: Registry | None = None,
        disk_cache: bool = True,
        account_concurrency: int = DEFAULT_ACCOUNT_CONCURRENCY,
        unreserved_minimum: int | None = None,
        idle_ttl: float = 600.0,
        max_idle: int = 1000,
        maintenance_interval: float = 1.0,
        engine_settings: EngineSettings | None = None,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        inline: bool = True,
        worker_nice: int = 0,
    ) -> None:
        self._closed = False
        _check_number("account_concurrency", account_concurrency, 1, integer=True)
        if unreserved_minimum is not None:
            _check_number("unreserved_minimum", unreserved_minimum, 0, integer=True)
        _check_number("idle_ttl", idle_ttl, 0)
        _check_number("max_idle", max_idle, 0, integer=True)
        # Not 0: the maintenance task would spin on the event loop.
        _check_number("maintenance_interval", maintenance_interval, 0.001)
        check_region(region)
        check_account_id(account_id)
        _check_number("worker_nice", worker_nice, 0, integer=True)
        if worker_nice > 19:
            raise InvalidParameterError("worker_nice", f"must be 0-19, got {worker_nice}")
        for flag, value in (("persistent", persistent), ("disk_cache", disk_cache), ("inline", inline)):
            if not isinstance(value, bool):
                raise InvalidParameterError(flag, f"must be True or False, got {value!r}")
        if data_dir is not None and not isinstance(data_dir, str | os.PathLike):
            raise InvalidParameterError("data_dir", f"must be a path, got {data_dir!r}")
        if engine_settings is not None and not isinstance(engine_settings, EngineSettings):
            raise InvalidParameterError(
                "engine_settings", f"must be an EngineSettings (EngineSettings(fuel=...)), got {engine_settings!r}"
            )
        self.region = region
        self.account_id = account_id
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        # Compiled modules may be shared by several data dirs (they are keyed by content and engine settings).
        shared = os.environ.get("WASMFAAS_MODULE_CACHE")
        self._module_cache = Path(shared) if shared else self.data_dir / "modules"
        self._own_module_cache = not shared  # its unused artifacts are removed; a shared one's are others' too
        self._persistent = persistent or registry is not None
        self._registry = registry
        self._own_registry = registry is None
        self._disk_cache = disk_cache
        self.scheduler = Scheduler(account_concurrency, unreserved_minimum, worker_nice=worker_nice)
        self.invoker = Invoker(self.scheduler, inline=inline)
        self._settings = engine_settings or EngineSettings()
        self._idle_ttl = idle_ttl
        self._max_idle = max_idle
        self._interval = maintenance_interval
        self._caches: dict[bool, ModuleCache] = {}
        self._caches_lock = threading.Lock()
        self._functions: dict[str, _Function] = {}
        self._built: dict[_BuildKey, bytes] = {}
        self._layers: dict[str, LayerRecord] = {}
        self._layer_code: dict[str, bytes] = {}  # layer contents by sha256, without a registry to keep them
        self._rewrite: set[str] = set()  # kept builds found lost or damaged at restore: written again
        # Python packages unpacked (each mounted at /var/task), and where environments make their /tmp.
        self._tasks: Path | None = None
        self._scratch: Path | None = None
        self._scratch_lock = -1
        self._lock = anyio.Lock()
        self._tg: anyio.abc.TaskGroup | None = None
        # Creations under way, by name: what each was asked for, and its outcome once it is known (see
        # create_function: an identical request while one runs joins it).
        self._creating: dict[str, _Creation] = {}
        self._garbage = False  # code went out of use since the last collection (see _collect_garbage)
        self._kept_blobs: set[str] = set()  # code blobs never collected (see _restore)

    # -- lifecycle -------------------------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._tg is not None:
            raise RuntimeError("this Platform is open already: enter it once (`async with` it in one place)")
        if self._closed:  # its scheduler's workers are gone: an invocation would wait for ever
            raise PlatformClosedError("this Platform has closed; make a new one (SyncPlatform makes one each time)")
        logs.prepare()
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise InvalidParameterError("data_dir", f"{self.data_dir} is not a directory")
        if self._persistent:
            if self._registry is None:
                try:
                    self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # its own: it holds secrets
                except OSError as e:
                    raise InvalidParameterError("data_dir", f"cannot be made: {e}") from None
                self._registry = await anyio.to_thread.run_sync(SqliteRegistry, self.data_dir)
            try:
                await self._restore()
            except BaseException:  # a failed start lets go of all it took: the data directory's lock, engines...
                with anyio.CancelScope(shield=True):
                    await self.__aexit__(None, None, None)
                raise
        self._tg = await anyio.create_task_group().__aenter__()
        self._tg.start_soon(self._maintain_forever)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        tg, self._tg = self._tg, None
        self._closed = True
        if tg is not None:
            tg.cancel_scope.cancel()
            # The body's own exception propagates by itself; handing it to the task group would wrap it in a group.
            await tg.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True):
            # A change under way (a request the server stopped waiting for) finishes its commit before the registry
            # and the engines go; past the bound, they go regardless.
            with anyio.move_on_after(SHUTDOWN_CHANGE_WAIT_S):
                await self._lock.acquire()
            await self._settle_in_flight()
        for function in self._functions.values():
            for deployed in function.all_deployed():
                deployed.target.pool.close()
        self._functions.clear()
        for cache in self._caches.values():
            cache.engine.close()
        self._caches.clear()
        self.scheduler.close()
        if self._registry is not None:
            self._registry.close()
            if self._own_registry:
                self._registry = None  # a new start opens it again
        # The environments' /tmp directories all go; a persistent platform keeps its unpacked packages for the next
        # start. Shielded: a shutdown that comes as a cancellation must not leave them behind.
        doomed = [path for path in (self._scratch, None if self._persistent else self._tasks) if path is not None]
        self._scratch = self._tasks = None
        if self._scratch_lock >= 0:
            os.close(self._scratch_lock)
            self._scratch_lock = -1
        with anyio.CancelScope(shield=True):
            for path in doomed:
                await anyio.to_thread.run_sync(functools.partial(shutil.rmtree, path, ignore_errors=True))
        if self._lock.locked():
            self._lock.release()

    async def _settle_in_flight(self) -> None:
        """Wait for invocations still running on worker threads -- their callers went away, as a cancelled caller's
        invocation runs on to its deadline -- before the engines' tickers stop (a deadline needs the ticks) and their
        /tmp directories go. Past SHUTDOWN_GRACE_S every deadline is made to pass, again and again (a run that
        began meanwhile got a new one) for one more grace period."""
        if await self._idle_within(SHUTDOWN_GRACE_S):
            return
        logger.warning("stopping %d invocations still running at shutdown", self.scheduler.in_flight())
        with anyio.move_on_after(SHUTDOWN_GRACE_S):
            while self.scheduler.in_flight():
                for cache in self._caches.values():
                    await anyio.to_thread.run_sync(cache.engine.expire_deadlines, MAX_TIMEOUT_S + INIT_TIMEOUT_S)
                await self._idle_within(0.1)
        if self.scheduler.in_flight():
            logger.error("%d invocations still running as the platform closes", self.scheduler.in_flight())

    async def _idle_within(self, seconds: float) -> bool:
        """Whether no invocation is in flight, waiting up to `seconds` for that."""
        with anyio.move_on_after(seconds):
            while self.scheduler.in_flight():
                await anyio.sleep(0.01)
        return not self.scheduler.in_flight()

    @contextlib.asynccontextmanager
    async def _changing(self, *, shielded: bool = True) -> AsyncIterator[None]:
        """Hold the platform's lock for a change, shielded from (anyio) cancellation once the lock is held: a
        change and its record in the registry are made whole (a caller cancelled midway left a deleted function in
        the registry, or its reservation and pools behind); the cancellation lands when it is done. `shielded`
        False: for a change that builds and compiles first (cancellable, seconds), then commits under `_commit`."""
        async with self._lock:
            with anyio.CancelScope(shield=shielded):
                yield

    @staticmethod
    def _commit() -> anyio.CancelScope:
        """The part of a change that must be made whole once begun (see `_changing`)."""
        return anyio.CancelScope(shield=True)

    def _check_open(self) -> None:
        if self._tg is None:
            raise PlatformClosedError("use the Platform inside `async with Platform() as platform:`")

    async def _maintain_forever(self) -> None:
        while True:
            await anyio.sleep(self._interval)
            deployed = [d for function in list(self._functions.values()) for d in function.all_deployed()]
            # One thread hop for all the pools: a hop each cost 15 % of a CPU at 2000 idle versions.
            await anyio.to_thread.run_sync(_maintain, deployed)
            if self._garbage and not self._lock.locked():
                async with self._changing():  # nothing is being deployed or committed meanwhile
                    self._garbage = False
                    await anyio.to_thread.run_sync(self._collect_garbage)

    def _collect_garbage(self, *, starting: bool = False) -> None:
        """Remove from disk what no version uses any more: code blobs and kept builds, unpacked packages, and
        compiled artifacts (in a module cache of this platform's own). Once code went out of use, at the next
        maintenance round; a churn of 300 deployments had left 1.6 GB of compiled modules and 0.8 GB of blobs.
        Under the lock (a change under way writes blobs, packages and artifacts before its record).

        A platform that does not hold its data directory (not persistent) may share it with one that does -- by
        default `Platform()` and `wasmfaas serve` both use ~/.cache/wasmfaas --: while one holds it, it removes only
        the artifacts it wrote itself; and it never removes the directory's unpacked packages (the holder's running
        functions read them)."""
        referenced = self._referenced_blobs()
        if self._registry is not None:
            removed = self._registry.collect_garbage(referenced | self._kept_blobs)
            if removed:
                logger.info("removed %d code blobs no function or layer uses", removed)
        for sha in [sha for sha in self._layer_code if sha not in referenced]:  # a platform without a registry
            del self._layer_code[sha]
        self._collect_tasks()
        if not (self._disk_cache and self._own_module_cache and self._module_cache.is_dir()):
            return
        deployed = [d for function in self._functions.values() for d in function.all_deployed()]
        with self._caches_lock:
            caches = list(self._caches.values())
        keep = {cache.stem(d.compiled.sha256) for cache in caches for d in deployed}
        # Beside the directory's holder, only what this platform wrote; with no holder, whatever no one uses.
        shared = not self._persistent and data_dir_holder(self.data_dir) is not None
        mine = {stem for cache in caches for stem in cache.stored()} if shared else None
        # At the start of a platform that holds its data directory every temporary file there is a crash's; later,
        # only old ones are (a platform without the lock may share the directory's module cache).
        stale = time.time() - (0.0 if starting else _STALE_TEMP_S)  # (a start is a persistent platform's restore)
        for path in self._module_cache.iterdir():
            if path.name.startswith("."):
                # A write a crash cut short (`_files.replacing`); old enough that no process is still writing it.
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime < stale:
                        path.unlink()
            elif path.suffix in (".cwasm", ".json") and path.stem not in keep and (mine is None or path.stem in mine):
                with contextlib.suppress(OSError):
                    path.unlink()

    async def _restore(self) -> None:
        registry = self._registry
        assert registry is not None
        for layer in await anyio.to_thread.run_sync(registry.load_layers):
            self._layers[layer.name] = layer
        records = await anyio.to_thread.run_sync(registry.load)
        kept_file = self.data_dir / _KEPT_CODE
        self._kept_blobs = set(await anyio.to_thread.run_sync(_read_lines, kept_file))
        if not records and not self._layers:
            # An empty registry beside code blobs is a registry lost or replaced, not functions deleted (their
            # blobs go at the round after the deletion): the code is kept, the only copy of what was deployed,
            # listed in a file of its own so that later starts keep it too (until someone deletes the file).
            orphans = await anyio.to_thread.run_sync(registry.code_names) - self._kept_blobs
            if orphans:
                self._kept_blobs |= orphans
                text = "".join(f"{sha}\n" for sha in sorted(self._kept_blobs)).encode()
                await anyio.to_thread.run_sync(atomic_write, kept_file, text)
                logger.warning(
                    "the registry of %s is empty but %d code blobs are there: kept, and listed in %s (delete it to "
                    "let them go)",
                    self.data_dir,
                    len(orphans),
                    kept_file,
                )
        for record in records:
            try:
                await self._restore_function(record)
            except (WasmfaasError, OSError) as e:
                # One damaged function (its code lost or corrupt) must not keep every other from being served.
                name = record.latest.name
                for info in (record.latest, *record.versions):
                    self._kept_blobs |= {info.code_sha256, info.artifact_sha256}
                    self._kept_blobs.update(layer.code_sha256 for layer in info.layers)
                logger.error("function %s cannot be restored, and is not served (its record and code are kept): %s",
                             name, e)  # fmt: skip
        # What no record names any more (replaced code and builds, deleted functions, a write a crash cut off).
        await anyio.to_thread.run_sync(functools.partial(self._collect_garbage, starting=True))

    async def _restore_function(self, record: FunctionRecord) -> None:
        """Restore one function wholly, or raise with nothing of it left (not served, its slot and pools gone)."""
        registry = self._registry
        assert registry is not None
        name = record.latest.name
        made: list[_Deployed] = []
        try:
            codes: dict[str, bytes] = {}
            for info in (record.latest, *record.versions):
                if info.code_sha256 not in codes:
                    codes[info.code_sha256] = await anyio.to_thread.run_sync(registry.get_code, info.code_sha256)
            made.append(await self._deploy(record.latest, codes[record.latest.code_sha256], restoring=True))
            function = _Function(latest=made[0])
            for info in record.versions:
                made.append(await self._deploy(info, codes[info.code_sha256], restoring=True))
                function.versions[info.version] = made[-1]
            function.aliases = {alias.name: alias for alias in record.aliases}
            function.provisioned = dict(record.provisioned)
            function.next_version = record.next_version
            function.tags = dict(record.tags)
            self._functions[name] = function
            reserved = record.latest.config.reserved_concurrency
            dropped = False
            for qualifier, count in list(function.provisioned.items()):
                # A config stored before provisioned concurrency was bounded (by the account, then by the unreserved
                # minimum) must not exhaust the host, nor leave the other functions no slot, now.
                # One kept by an older version may also be on $LATEST (or an alias of it), or past the reservation.
                try:
                    if self._resolve(function, qualifier).info.version == LATEST:
                        raise InvalidParameterError("Qualifier", "configs are for published versions only")
                    if reserved is not None and _provisioned_sum(function) > reserved:
                        raise InvalidParameterError("ProvisionedConcurrentExecutions", f"past reserved {reserved}")
                    self._check_provisioned_total(name, qualifier, count)
                    self._check_provisioned(name, qualifier, count, reserved)
                except (InvalidParameterError, FunctionNotFoundError) as e:
                    logger.warning("%s:%s: provisioned concurrency dropped: %s", name, qualifier, e)
                    del function.provisioned[qualifier]
                    dropped = True
            # A build made now (a record from before builds were kept, or a kept build lost or damaged) is saved in
            # the record, so the next start uses it.
            built = any(d.info.artifact_sha256 != i.artifact_sha256 for d, i in
                        zip(function.all_deployed(), (record.latest, *record.versions), strict=True))  # fmt: skip
            if dropped or built:
                await self._save(function)
            pools = await anyio.to_thread.run_sync(self._apply_provisioned, function)
        except BaseException:
            self._functions.pop(name, None)
            self.scheduler.unregister(name)
            for deployed in made:
                deployed.target.pool.close()
            raise
        await self._provision(pools)

    def _tasks_dir(self) -> Path:
        """Where packages are unpacked: `<data_dir>/tasks` when persistent (kept across restarts; those no function
        uses are removed at the next start), else a directory of this platform's own, removed when it closes."""
        if self._tasks is None:
            if self._persistent:
                self._tasks = self.data_dir / "tasks"
                self._tasks.mkdir(parents=True, exist_ok=True)
            else:
                self._tasks = Path(tempfile.mkdtemp(prefix="wasmfaas-tasks-"))
        return self._tasks

    def _scratch_dir(self) -> Path:
        """Where environments make their /tmp: a directory of this platform's own in the system's temporary
        directory (`$TMPDIR`), not beside the registry and queues whose disk a guest must not fill. It holds a
        lock file locked for the platform's life: those of platforms that died (kill -9) are removed here, as the
        first environment of this one needs its own (each had kept up to a guest's 512 MB /tmp)."""
        if self._scratch is None:
            _remove_dead_scratch_dirs()
            scratch = Path(tempfile.mkdtemp(prefix=_SCRATCH_PREFIX))
            fd = os.open(scratch / _SCRATCH_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._scratch, self._scratch_lock = scratch, fd
        return self._scratch

    def _task_root(self, info: FunctionInfo, code: bytes, layers: Sequence[bytes]) -> str:
        """A language-runtime package unpacked (once per content), for its environments' read-only /var/task: its
        layers' files under its own, as the build joins them (a module's data file, a package's .dist-info, are
        where its `__file__` says)."""
        root = self._tasks_dir()
        target = root / _task_key(info)
        if not target.is_dir():
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name[:16]}-", dir=root))
            try:
                for layer in layers:
                    runtimes.add_layer(info.runtime, layer, staging)
                runtimes.extract_zip(code, staging)
                os.rename(staging, target)  # whole or not at all: a crash leaves only a dot-directory
            except OSError:
                if not target.is_dir():
                    raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return str(target)

    def _collect_tasks(self) -> None:
        # A platform without the data directory keeps its packages in a directory of its own (`_tasks_dir`).
        root = self._tasks if self._tasks is not None else self.data_dir / "tasks" if self._persistent else None
        if root is None or not root.is_dir():
            return
        used = {
            _task_key(deployed.info)
            for function in self._functions.values()
            for deployed in function.all_deployed()
            if runtimes.family(deployed.info.runtime) == runtimes.PYTHON
        }
        for entry in root.iterdir():
            if entry.name not in used:
                shutil.rmtree(entry, ignore_errors=True)

    def _referenced_blobs(self) -> set[str]:
        keep: set[str] = set()
        for function in self._functions.values():
            for deployed in function.all_deployed():
                info = deployed.info
                keep.update((info.code_sha256, info.artifact_sha256), (layer.code_sha256 for layer in info.layers))
        for layer in self._layers.values():
            keep.update(version.code_sha256 for version in layer.versions)
        keep.discard("")
        return keep

    async def _save(self, function: _Function) -> None:
        if self._registry is not None:
            await anyio.to_thread.run_sync(self._registry.save, function.record())

    async def _save_or_undo(self, function: _Function, before: tuple[Any, ...]) -> None:
        """Store the function's record; if that fails (a full disk), put the function back as it was `before` the
        change: the caller hears of a failure, so nobody may see the change (it had been served, and stored by the
        next successful write of the function)."""
        try:
            await self._save(function)
        except BaseException:
            function.restore(before)
            raise

    async def _put_code(self, sha256: str, code: bytes) -> None:
        if self._registry is not None:
            await anyio.to_thread.run_sync(self._registry.put_code, sha256, code)

    # -- engines and code ------------------------------------------------------------------------------------------

    def _cache(self, fuel: bool) -> ModuleCache:
        with self._caches_lock:
            cache = self._caches.get(fuel)
            if cache is None:
                settings = msgspec.structs.replace(self._settings, fuel=fuel)
                cache_dir = self._module_cache if self._disk_cache else None
                cache = self._caches[fuel] = ModuleCache(Engine(settings), cache_dir)
            return cache

    async def _compile(self, code: bytes, config: FunctionConfig, sha: str | None = None) -> CompiledCode:
        cache = self._cache(config.fuel is not None)
        sha = sha or code_sha256(code)
        compiled = cache.get(sha)
        if compiled is None:
            compiled = await anyio.to_thread.run_sync(cache.load, code, sha)
        return compiled

    async def _wasm(self, info: FunctionInfo, code: bytes, *, restoring: bool) -> tuple[bytes, str | None]:
        """The wasm to run, and its sha256 when already known: the code itself for `wasi`, else the runtime's build
        of the source (cached by content); at a restart, the build the registry kept when the version was deployed
        (built again if it is lost or damaged, and kept again)."""
        if runtimes.family(info.runtime) == runtimes.WASI:
            return code, None
        key = _build_key(info)
        if restoring and info.artifact_sha256:  # its own kept build first: another's may be a newer runtime's
            wasm = await anyio.to_thread.run_sync(self._stored_build, info.artifact_sha256)
            if wasm is not None:
                self._built[key] = wasm
                return wasm, info.artifact_sha256  # verified against it as it was read
            self._rewrite.add(info.artifact_sha256)
        wasm = self._built.get(key)
        if wasm is None:
            layers = [await self._layer_content(layer.code_sha256) for layer in info.layers]
            build = functools.partial(runtimes.build, info.runtime, code, info.handler, layers=layers)
            wasm = await anyio.to_thread.run_sync(build)
        self._built[key] = wasm
        return wasm, None

    async def _layer_content(self, sha256: str) -> bytes:
        content = self._layer_code.get(sha256)
        if content is None:
            if self._registry is None:
                raise LayerNotFoundError(f"the content of layer {sha256} is gone")
            try:
                content = await anyio.to_thread.run_sync(self._registry.get_code, sha256)
            except OSError as e:
                raise LayerNotFoundError(f"the content of a layer this function uses is missing: {e}") from None
        return content

    def _stored_build(self, sha256: str) -> bytes | None:
        """The kept build, if it is there and intact (else it is built again)."""
        if self._registry is None:
            return None
        try:
            wasm = self._registry.get_code(sha256)
        except OSError:
            return None
        return wasm if code_sha256(wasm) == sha256 else None

    async def _deploy(self, info: FunctionInfo, code: bytes, *, restoring: bool = False) -> _Deployed:
        """Build (for a language runtime) and compile (once per hash), then make the version's pool and target.
        The returned `info` names the guest kind and the build."""
        config = info.config
        wasm, known_sha = await self._wasm(info, code, restoring=restoring)
        wasm_sha = known_sha or code_sha256(wasm)
        compiled = await self._compile(wasm, config, wasm_sha)
        if compiled.kind is not GuestKind.COMPONENT:
            try:
                check_core_module(compiled, wasm, config.memory_mb)
            except (InvalidCodeError, InvalidParameterError) as e:
                if not restoring:
                    raise
                # Deployed before this was checked: it runs (or fails at its cold starts) as it did then.
                logger.warning("%s:%s: %s", info.name, info.version, e)
        mounts: tuple[tuple[str, str], ...] = ()
        kind = runtimes.family(info.runtime)
        if kind == runtimes.PYTHON:  # JavaScript has no API to read files with
            layers = [await self._layer_content(layer.code_sha256) for layer in info.layers]
            task_root = await anyio.to_thread.run_sync(self._task_root, info, code, layers)
            mounts = ((task_root, "/var/task"), *_ZONEINFO_MOUNT)
        scratch_root = str(await anyio.to_thread.run_sync(self._scratch_dir))
        artifact = wasm_sha if kind != runtimes.WASI else ""
        if artifact and (artifact != info.artifact_sha256 or artifact in self._rewrite):
            damaged = artifact in self._rewrite
            self._rewrite.discard(artifact)
            if self._registry is not None:
                # Written again only over a damaged copy: one already kept is the same bytes (27 MB rewritten and
                # synced on every Python create had widened the window a crash could cut).
                keep = functools.partial(self._registry.put_code, artifact, wasm, replace=damaged)
                await anyio.to_thread.run_sync(keep)
        info = msgspec.structs.replace(info, kind=compiled.kind, artifact_sha256=artifact)
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
            raised_errors=kind != runtimes.WASI,
            region=self.region,
            account_id=self.account_id,
            runtime=info.runtime if kind != runtimes.WASI else "",
            read_only_mounts=mounts,
            scratch_root=scratch_root,
            ephemeral_storage_mb=config.ephemeral_storage_mb,
            max_event_depth=PYTHON_EVENT_DEPTH if kind == runtimes.PYTHON else 0,
        )
        spec.wasi, spec.limits  # noqa: B018 - made now (C values), not on the first cold start
        factory: type[Environment] = _environment_factory(compiled.kind)
        provisioned = config.provisioned_concurrency if info.version == LATEST else 0
        pool = Pool(spec, factory, max_idle=self._max_idle, idle_ttl=self._idle_ttl, provisioned=provisioned)
        # Reserved concurrency belongs to the function (its $LATEST configuration), shared by every version.
        if info.version == LATEST:
            concurrency = self.scheduler.register(info.name, config.reserved_concurrency, restoring=restoring)
        else:
            concurrency = self.scheduler.slot(info.name)
        target = Target(
            info.name,
            info.version,
            pool,
            concurrency,
            config.memory_mb,
            config.timeout,
            config.fuel,
            node_errors=kind == runtimes.JAVASCRIPT,
            json_payloads=kind != runtimes.WASI,
        )
        return _Deployed(info, code, compiled, target)

    async def _replace_latest(
        self, function: _Function, deployed: _Deployed, version: _Deployed | FunctionInfo | None = None
    ) -> list[Pool]:
        """Make `deployed` the function's $LATEST, with `version` (`_stage_version`'s) published in the same record
        (call under `_commit`); returns the pools to `_provision` (after the change: building environments takes a
        while, and maintenance tops the pools up anyway)."""
        old = function.latest
        before = function.state()
        function.latest = deployed
        if isinstance(version, _Deployed):
            _add_version(function, version)
        try:
            await self._save_or_undo(function, before)
        except BaseException:
            deployed.target.pool.close()
            if isinstance(version, _Deployed):
                version.target.pool.close()
            raise
        old.target.pool.close()  # environments in use finish their invocation first
        self._drop_unused_code()
        return await anyio.to_thread.run_sync(self._apply_provisioned, function)

    def _drop_unused_code(self) -> None:
        """Let go of compiled code and runtime builds no version deploys any more (the disk cache keeps them): a
        long-running platform updated many times held every one it ever compiled. Under the lock."""
        self._garbage = True
        deployed = [d for function in self._functions.values() for d in function.all_deployed()]
        for cache in self._caches.values():
            cache.keep_only(d.compiled for d in deployed)
        used = {_build_key(d.info) for d in deployed if runtimes.family(d.info.runtime) != runtimes.WASI}
        for key in [key for key in self._built if key not in used]:
            del self._built[key]

    # -- functions -------------------------------------------------------------------------------------------------

    async def create_function(
        self,
        name: str,
        code: bytes | str | os.PathLike[str],
        *,
        runtime: str = "wasi",
        handler: str = "",
        config: FunctionConfig | None = None,
        description: str = "",
        role: str = "",
        publish: bool = False,
        tags: Mapping[str, str] | None = None,
        layers: Sequence[str] = (),
        inert_settings: Mapping[str, Any] | None = None,
    ) -> FunctionInfo:
        """Create a function: wasm bytes for `runtime="wasi"` (any of the three guest kinds, detected here), or
        for a language runtime (`wasmfaas.runtimes`) its source as a zip archive or a folder, built here into a
        component, with `layers` ("name:version" or layer version ARNs, see `publish_layer_version`). `code` may
        also be the path of a .wasm or .zip file, a folder, or one .py/.js/.mjs/.cjs source file. `role` and
        `inert_settings` (JSON values by name) are kept with the function and its versions for an API to show back;
        nothing acts on them."""
        self._check_open()
        validate_function_name(name)
        _check_runtime(runtime)
        _check_texts(Handler=handler, Description=description, Role=role)
        checked_tags = merge_tags({}, tags or {})
        config = _check_config(config) or FunctionConfig()
        code = await _code_of(code)
        kept = _inert(inert_settings or {})
        sha = code_sha256(code)
        # A client that gave up waiting for a long build (the AWS CLI does after 60 s) sends the same request again:
        # it joins the creation under way and gets its outcome, not "already exists" for the function it created.
        asked = (sha, runtime, handler, config, description, role, checked_tags, _names(layers), kept, publish)
        running = self._creating.get(name)
        if running is not None and running.asked == asked:
            await running.done.wait()
            if running.created is not None:
                return running.created
        creation = _Creation(asked)
        if running is None:
            self._creating[name] = creation
        try:
            creation.created = await self._create(
                name, code, sha, runtime, handler, config, description, role, checked_tags, layers, kept, publish
            )
            return creation.created
        finally:
            creation.done.set()
            if self._creating.get(name) is creation:
                del self._creating[name]

    async def _create(
        self,
        name: str,
        code: bytes,
        sha: str,
        runtime: str,
        handler: str,
        config: FunctionConfig,
        description: str,
        role: str,
        checked_tags: dict[str, str],
        layers: Sequence[str],
        kept: dict[str, Any],
        publish: bool,
    ) -> FunctionInfo:
        async with self._changing(shielded=False):
            if name in self._functions:
                raise FunctionExistsError(f"Function already exist: {name}")
            self._check_provisioned_total(name, None, config.provisioned_concurrency)
            self._check_provisioned(name, None, config.provisioned_concurrency, config.reserved_concurrency)
            info = FunctionInfo(
                name=name,
                runtime=runtime,
                handler=handler,
                kind=GuestKind.REACTOR,  # _deploy names the detected kind
                code_sha256=sha,
                code_size=len(code),
                config=config,
                last_modified=_now(),
                description=description,
                role=role,
                inert_settings=kept,
                layers=self._layer_refs(runtime, layers),
            )
            try:
                deployed = await self._deploy(info, code)
                function = _Function(latest=deployed, tags=checked_tags)
                staged = await self._stage_version(function, deployed, "") if publish else None
            except BaseException:
                self.scheduler.unregister(name)
                raise
            if isinstance(staged, _Deployed):
                _add_version(function, staged)  # one record for both: whole or not at all
            with self._commit():
                try:
                    await self._put_code(sha, code)
                    await self._save(function)
                except BaseException:
                    self.scheduler.unregister(name)
                    for made in function.all_deployed():
                        made.target.pool.close()
                    raise
                self._functions[name] = function
                self.scheduler.set_provisioned(name, config.provisioned_concurrency)
            created = staged.info if isinstance(staged, _Deployed) else deployed.info
        await self._provision([deployed.target.pool])
        return _info_copy(created)

    async def update_function_code(
        self,
        name: str,
        code: bytes | str | os.PathLike[str],
        *,
        publish: bool = False,
        if_revision: int | None = None,
        inert_settings: Mapping[str, Any] | None = None,
    ) -> FunctionInfo:
        """Replace the code of $LATEST; invocations in flight finish on the old code. `if_revision`: only if
        $LATEST is still at that `FunctionInfo.revision` (else `PreconditionFailedError`), checked and changed
        under one lock, so of two writers that read the same revision one wins. `inert_settings`: as in
        `update_function_configuration` (Lambda's Architectures come with the code)."""
        self._check_open()
        code = await _code_of(code)
        async with self._changing(shielded=False):
            function = self._get(name)
            sha = code_sha256(code)
            current = function.latest.info
            _check_revision(current.revision, if_revision, name)
            info = msgspec.structs.replace(
                current,
                code_sha256=sha,
                code_size=len(code),
                inert_settings=_inert({**current.inert_settings, **_mapping(inert_settings)}),
                revision=current.revision + 1,
                last_modified=_now(),
            )
            deployed = await self._deploy(info, code)
            staged = await self._stage_version(function, deployed, "") if publish else deployed.info
            with self._commit():
                await self._put_code(sha, code)
                pools = await self._replace_latest(function, deployed, staged)
        await self._provision(pools)
        return _info_copy(staged if isinstance(staged, FunctionInfo) else staged.info)

    async def update_function_configuration(
        self,
        name: str,
        config: FunctionConfig | None = None,
        *,
        handler: str | None = None,
        description: str | None = None,
        runtime: str | None = None,
        role: str | None = None,
        layers: Sequence[str] | None = None,
        inert_settings: Mapping[str, Any] | None = None,
        if_revision: int | None = None,
        **changes: Unpack[ConfigChanges],
    ) -> FunctionInfo:
        """Replace the configuration (`config`), or change some of its fields by keyword (`timeout=10`); `layers`
        replaces the function's layers (`[]` removes them); `inert_settings` replaces the ones it names (a None
        value removes one). `if_revision`: as in `update_function_code`."""
        self._check_open()
        _check_config(config)
        if runtime is not None:
            _check_runtime(runtime)
        _check_texts(Handler=handler, Description=description, Role=role, unchanged_if_none=True)
        async with self._changing(shielded=False):
            function = self._get(name)
            current = function.latest
            _check_revision(current.info.revision, if_revision, name)
            new_config = config or current.info.config
            if changes:
                unknown = set(changes) - set(FunctionConfig.__struct_fields__)
                if unknown:
                    raise InvalidParameterError(sorted(unknown)[0], "is not a configuration field")
                new_config = msgspec.structs.replace(new_config, **changes)
            reserved = new_config.reserved_concurrency
            held = _provisioned_sum(function, config=new_config)
            if reserved is not None and held > reserved:
                raise InvalidParameterError(
                    "reserved_concurrency", f"{reserved} is below the function's provisioned concurrency ({held})"
                )
            self._check_provisioned_total(name, None, new_config.provisioned_concurrency)
            self._check_provisioned(name, None, new_config.provisioned_concurrency, reserved)
            old_reserved = current.info.config.reserved_concurrency
            info = msgspec.structs.replace(
                current.info,
                config=new_config,
                handler=current.info.handler if handler is None else handler,
                description=current.info.description if description is None else description,
                role=current.info.role if role is None else role,
                inert_settings=_inert({**current.info.inert_settings, **_mapping(inert_settings)}),
                runtime=current.info.runtime if runtime is None else runtime,
                layers=current.info.layers
                if layers is None
                else self._layer_refs(runtime or current.info.runtime, layers),
                revision=current.info.revision + 1,
                last_modified=_now(),
            )
            if info.layers and runtimes.family(info.runtime) == runtimes.WASI:
                raise InvalidParameterError("Layers", "a wasi function is one module: layers are for the runtimes")
            if _only_reserved_differs(current.info, info):
                # The environments do not depend on it: they stay warm (a redeploy had made every next call cold).
                await self._set_reserved(function, info)
                return _info_copy(info)
            try:
                deployed = await self._deploy(info, current.code)
            except BaseException:
                self.scheduler.register(name, old_reserved, restoring=True)  # back as it was, accepted before
                raise
            with self._commit():
                try:
                    pools = await self._replace_latest(function, deployed)
                except BaseException:
                    self.scheduler.register(name, old_reserved, restoring=True)  # not stored: as it was
                    raise
        await self._provision(pools)
        return _info_copy(deployed.info)

    async def get_function(self, name: str, qualifier: str | None = None) -> FunctionInfo:
        """The function's $LATEST (or the version or alias `qualifier` names): raises FunctionNotFoundError."""
        return _info_copy(self._resolve(self._get(name, qualifier), qualifier).info)

    async def get_function_code(self, name: str, qualifier: str | None = None) -> bytes:
        """The code the function (or `qualifier`'s version) was created from, as uploaded."""
        return self._resolve(self._get(name, qualifier), qualifier).code

    def has_function(self, name: str) -> bool:
        """Whether a function of that name exists (any of its versions)."""
        self._check_open()
        return name in self._functions

    def incarnation(self, name: str) -> int | None:
        """A number for the function of that name now (None: none), different for one deleted and made again: what
        an invocation's records belong to when the function changes hands while it runs."""
        function = self._functions.get(name)
        return function.incarnation if function is not None else None

    async def list_functions(self) -> list[FunctionInfo]:
        """Every function's $LATEST, by name."""
        self._check_open()
        return sorted((_info_copy(f.latest.info) for f in self._functions.values()), key=lambda info: info.name)

    async def delete_function(self, name: str, qualifier: str | None = None) -> None:
        """Delete the function with every version and alias, or (with a version number) one version."""
        self._check_open()
        async with self._changing():
            function = self._get(name)
            if qualifier == LATEST:
                raise InvalidParameterError("Qualifier", "$LATEST cannot be deleted on its own; omit the qualifier")
            if qualifier is None:
                # The registry first, then the rest with no await between: a cancellation that gets through
                # (asyncio's own) leaves the function whole in memory, never half gone.
                if self._registry is not None:
                    await anyio.to_thread.run_sync(self._registry.delete, name)
                del self._functions[name]
                self.scheduler.unregister(name)
                for deployed in function.all_deployed():
                    deployed.target.pool.close()
                self._drop_unused_code()
                return
            if qualifier not in function.versions:
                # Lambda's answer too (a 404 that cleanup tools take as "already gone").
                raise self._not_found(name, qualifier)
            users = [a.name for a in function.aliases.values() if qualifier in (a.function_version, *a.routing)]
            if users:
                raise ResourceConflictError(f"Version {qualifier} is used by aliases {', '.join(sorted(users))}")
            before = function.state()
            deployed = function.versions.pop(qualifier)
            function.provisioned.pop(qualifier, None)
            await self._save_or_undo(function, before)
            deployed.target.pool.close()
            await anyio.to_thread.run_sync(self._apply_provisioned, function)  # its provisioned slots go back
            self._drop_unused_code()

    # -- versions and aliases --------------------------------------------------------------------------------------

    async def publish_version(
        self, name: str, *, description: str = "", if_revision: int | None = None
    ) -> FunctionInfo:
        """Publish $LATEST as an immutable numbered version (or return the newest one if nothing changed).
        `if_revision`: only if $LATEST is still at that revision (as in `update_function_code`)."""
        self._check_open()
        _check_texts(Description=description)
        async with self._changing(shielded=False):
            function = self._get(name)
            _check_revision(function.latest.info.revision, if_revision, name)
            return _info_copy(await self._publish(function, description))

    async def _publish(self, function: _Function, description: str) -> FunctionInfo:
        staged = await self._stage_version(function, function.latest, description)
        if isinstance(staged, FunctionInfo):
            return staged
        with self._commit():
            before = function.state()
            _add_version(function, staged)
            try:
                await self._save_or_undo(function, before)
            except BaseException:
                staged.target.pool.close()
                raise
        return staged.info

    async def _stage_version(
        self, function: _Function, latest: _Deployed, description: str
    ) -> _Deployed | FunctionInfo:
        """The version that publishing `latest` (the function's $LATEST, or the one about to be) makes, deployed but
        not yet added: added in the same commit as the change it comes with, a create or a code update with
        Publish is whole or not at all (a crash between two commits had left a function that a retried create
        found "already exists", without its version). The newest version's info if it is unchanged."""
        if function.versions:
            newest = function.versions[max(function.versions, key=int)].info
            if _published_part(newest) == _published_part(latest.info):
                return newest
        info = msgspec.structs.replace(
            latest.info,
            version=str(function.next_version),
            description=description or latest.info.description,
            last_modified=_now(),
        )
        return await self._deploy(info, latest.code)

    async def list_versions(self, name: str) -> list[FunctionInfo]:
        """$LATEST, then the published versions in order."""
        function = self._get(name)
        infos = [function.latest.info, *(function.versions[v].info for v in sorted(function.versions, key=int))]
        return [_info_copy(info) for info in infos]

    def _check_alias(self, function: _Function, version: str, routing: dict[str, float]) -> None:
        if not isinstance(version, str):
            raise InvalidParameterError("FunctionVersion", f"must be a version string such as '1', got {version!r}")
        if not isinstance(routing, dict):
            raise InvalidParameterError("RoutingConfig", f"must be a dict of version to weight, got {routing!r}")
        if version != LATEST and version not in function.versions:
            raise self._not_found(function.latest.info.name, version)
        if len(routing) > 1:
            raise InvalidParameterError("RoutingConfig", "at most one additional version may be weighted")
        if routing and version == LATEST:  # as Lambda: weights split traffic between published versions only
            raise InvalidParameterError("RoutingConfig", "an alias of $LATEST cannot route to another version")
        for extra, weight in routing.items():
            if extra == LATEST or extra not in function.versions:
                raise InvalidParameterError("RoutingConfig", f"{extra!r} is not a published version")
            if extra == version:
                raise InvalidParameterError("RoutingConfig", "the additional version must differ from the primary")
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise InvalidParameterError("RoutingConfig", f"weights must be numbers, got {weight!r}")
            if not 0.0 <= weight <= 1.0:
                raise InvalidParameterError("RoutingConfig", f"weights must be within 0.0 and 1.0, got {weight}")

    async def create_alias(
        self,
        name: str,
        alias: str,
        version: str,
        *,
        description: str = "",
        routing: dict[str, float] | None = None,
    ) -> AliasInfo:
        """Point `alias` at `version`; `routing` sends a share of the invocations to other versions ({version:
        weight})."""
        self._check_open()
        if not isinstance(alias, str) or not _ALIAS_NAME.fullmatch(alias) or alias.isdigit():
            raise InvalidParameterError("Name", f"{alias!r} is not a valid alias name")
        _check_texts(Description=description)
        async with self._changing():
            function = self._get(name)
            if alias in function.aliases:
                raise ResourceConflictError(f"Alias already exists: {alias}")
            routing = dict(routing or {})
            self._check_alias(function, version, routing)
            info = AliasInfo(
                name=alias, function_name=name, function_version=version, description=description, routing=routing
            )
            function.aliases[alias] = info
            try:
                await self._save(function)
            except BaseException:
                del function.aliases[alias]
                raise
            return _alias_copy(info)

    async def get_alias(self, name: str, alias: str) -> AliasInfo:
        """The alias: raises FunctionNotFoundError if there is none by that name."""
        function = self._get(name)
        try:
            return _alias_copy(function.aliases[alias])
        except (KeyError, TypeError):  # (TypeError: an unhashable name)
            raise self._not_found(name, alias, "Alias") from None

    async def update_alias(
        self,
        name: str,
        alias: str,
        *,
        version: str | None = None,
        description: str | None = None,
        routing: dict[str, float] | None = None,
        if_revision: int | None = None,
    ) -> AliasInfo:
        """Change an alias; `if_revision`: only if it is still at that `AliasInfo.revision_id`."""
        self._check_open()
        _check_texts(Description=description, unchanged_if_none=True)
        async with self._changing():
            function = self._get(name)
            current = await self.get_alias(name, alias)
            _check_revision(current.revision_id, if_revision, f"{name}:{alias}")
            info = msgspec.structs.replace(
                current,
                function_version=current.function_version if version is None else version,
                description=current.description if description is None else description,
                routing=current.routing if routing is None else dict(routing),
                revision_id=current.revision_id + 1,
            )
            self._check_alias(function, info.function_version, info.routing)
            if info.function_version == LATEST and alias in function.provisioned:
                raise InvalidParameterError(
                    "FunctionVersion", f"alias {alias} has provisioned concurrency: it cannot point to $LATEST"
                )
            function.aliases[alias] = info
            try:
                await self._save(function)
            except BaseException:
                function.aliases[alias] = current
                raise
            pools = await anyio.to_thread.run_sync(self._apply_provisioned, function)  # its config may move
        await self._provision(pools)
        return _alias_copy(info)

    async def delete_alias(self, name: str, alias: str) -> None:
        """Delete the alias and its provisioned concurrency."""
        self._check_open()
        async with self._changing():
            function = self._get(name)
            await self.get_alias(name, alias)
            before = function.state()
            del function.aliases[alias]
            function.provisioned.pop(alias, None)
            await self._save_or_undo(function, before)
            await anyio.to_thread.run_sync(self._apply_provisioned, function)

    async def list_aliases(self, name: str) -> list[AliasInfo]:
        """The function's aliases, by name."""
        return sorted(map(_alias_copy, self._get(name).aliases.values()), key=lambda a: a.name)

    # -- layers ------------------------------------------------------------------------------------------------------

    async def publish_layer_version(
        self,
        name: str,
        content: bytes | os.PathLike[str],
        *,
        description: str = "",
        compatible_runtimes: Sequence[str] = (),
        license_info: str = "",
        compatible_architectures: Sequence[str] = (),
    ) -> LayerVersionInfo:
        """Publish a new version of layer `name` (created by its first version) from a zip archive or a folder.
        `compatible_runtimes`: this platform's language runtimes or any of Lambda's identifiers (a layer for
        `java21` is kept, and usable by no function here); `compatible_architectures` are kept and shown."""
        self._check_open()
        validate_layer_name(name)
        _check_texts(Description=description, LicenseInfo=license_info)
        for runtime in compatible_runtimes:
            if runtime != runtimes.JAVASCRIPT and runtime not in runtimes.LAMBDA_IDENTIFIERS:
                raise InvalidParameterError("CompatibleRuntimes", f"{runtime!r} is not a runtime")
        for architecture in compatible_architectures:
            if architecture not in ("x86_64", "arm64"):
                raise InvalidParameterError("CompatibleArchitectures", f"{architecture!r} is not x86_64 or arm64")
        content = await _code_of(content)
        await anyio.to_thread.run_sync(_check_archive, content)
        sha = code_sha256(content)
        async with self._changing():
            current = self._layers.get(name) or LayerRecord(name=name)
            info = LayerVersionInfo(
                name=name,
                version=current.next_version,
                code_sha256=sha,
                code_size=len(content),
                description=description,
                compatible_runtimes=tuple(compatible_runtimes),
                license_info=license_info,
                created=_now(),
                compatible_architectures=tuple(compatible_architectures),
            )
            record = LayerRecord(name=name, versions=[*current.versions, info], next_version=info.version + 1)
            await self._put_code(sha, content)
            if self._registry is not None:
                await anyio.to_thread.run_sync(self._registry.save_layer, record)
            self._layers[name] = record
            if self._registry is None:  # else read from the registry when a build needs it
                self._layer_code[sha] = content
            return info

    async def get_layer_version(self, name: str, version: int) -> LayerVersionInfo:
        """A layer version: raises LayerNotFoundError."""
        self._check_open()
        _check_layer_version(name, version)
        for info in self._layers.get(name, LayerRecord(name=name)).versions:
            if info.version == version:
                return info
        raise LayerNotFoundError(f"Layer version {name}:{version} does not exist")

    async def get_layer_version_content(self, name: str, version: int) -> bytes:
        """A layer version's archive, as published: raises LayerNotFoundError."""
        info = await self.get_layer_version(name, version)
        return await self._layer_content(info.code_sha256)

    async def list_layer_versions(self, name: str) -> list[LayerVersionInfo]:
        """Newest first, as Lambda lists them."""
        self._check_open()
        validate_layer_name(name)
        return sorted(self._layers.get(name, LayerRecord(name=name)).versions, key=lambda v: -v.version)

    async def list_layers(self) -> list[LayerVersionInfo]:
        """Each layer that has a version, by its newest version."""
        self._check_open()
        return [max(r.versions, key=lambda v: v.version) for _, r in sorted(self._layers.items()) if r.versions]

    async def delete_layer_version(self, name: str, version: int) -> None:
        """Delete a layer version (no error if there is none, as Lambda); functions using it keep their copy."""
        self._check_open()
        _check_layer_version(name, version)
        async with self._changing():
            current = self._layers.get(name)
            if current is None or all(v.version != version for v in current.versions):
                return
            record = LayerRecord(
                name=name,
                versions=[v for v in current.versions if v.version != version],
                next_version=current.next_version,
            )
            if self._registry is not None:
                await anyio.to_thread.run_sync(self._registry.save_layer, record)
            self._layers[name] = record
            self._garbage = True  # its content goes at the next maintenance round, unless a function uses it

    def _layer_refs(self, runtime: str, refs: Sequence[str]) -> tuple[LayerRef, ...]:
        """The layer versions `refs` names, checked against Lambda's rules (call under the lock)."""
        if isinstance(refs, str):
            raise InvalidParameterError("Layers", f"a list of layer versions, not the string {refs!r}")
        if not refs:
            return ()
        if runtimes.family(runtime) == runtimes.WASI:
            raise InvalidParameterError("Layers", "a wasi function is one module: layers are for the runtimes")
        if len(refs) > MAX_LAYERS:
            raise InvalidParameterError("Layers", f"at most {MAX_LAYERS} layers, got {len(refs)}")
        found: list[LayerRef] = []
        for ref in refs:
            name, version = parse_layer_ref(ref)
            if any(layer.name == name for layer in found):
                raise InvalidParameterError("Layers", f"two versions of layer {name}")
            versions = self._layers[name].versions if name in self._layers else []
            info = next((v for v in versions if v.version == version), None)
            if info is None:
                raise LayerNotFoundError(f"Layer version {name}:{version} does not exist")
            if info.compatible_runtimes and runtime not in info.compatible_runtimes:
                raise InvalidParameterError(
                    "Layers", f"layer {name}:{version} is for {', '.join(info.compatible_runtimes)}, not {runtime}"
                )
            found.append(LayerRef(name=name, version=version, code_sha256=info.code_sha256, code_size=info.code_size))
        return tuple(found)

    # -- tags --------------------------------------------------------------------------------------------------------

    async def tag_function(self, name: str, tags: Mapping[str, str]) -> None:
        """Add tags to the function, or replace the values of keys it has (Lambda's TagResource)."""
        self._check_open()
        async with self._changing():
            function = self._get(name)
            merged = merge_tags(function.tags, tags)
            await self._save_tags(function, merged)

    async def untag_function(self, name: str, keys: Iterable[str]) -> None:
        """Remove the tags with these keys; a key the function does not have is ignored, as Lambda does."""
        self._check_open()
        if isinstance(keys, str):  # iterating it would remove one-letter keys
            raise InvalidParameterError("TagKeys", f"a list of tag keys, not the string {keys!r}")
        keys = check_tag_keys(keys)
        async with self._changing():
            function = self._get(name)
            await self._save_tags(function, {k: v for k, v in function.tags.items() if k not in keys})

    async def list_tags(self, name: str) -> dict[str, str]:
        """The function's tags."""
        return dict(sorted(self._get(name).tags.items()))

    async def _save_tags(self, function: _Function, tags: dict[str, str]) -> None:
        previous, function.tags = function.tags, tags
        try:
            await self._save(function)
        except BaseException:
            function.tags = previous  # not stored: not changed
            raise

    # -- concurrency -----------------------------------------------------------------------------------------------

    async def put_function_concurrency(self, name: str, reserved: int | None) -> None:
        """Set (None: remove) the function's reserved concurrency, as Lambda's Put/DeleteFunctionConcurrency: not a
        change of its configuration (its revision and LastModified stay), and its warm environments stay warm."""
        self._check_open()
        async with self._changing():
            function = self._get(name)
            current = function.latest.info
            config = msgspec.structs.replace(current.config, reserved_concurrency=reserved)  # checks the value
            held = _provisioned_sum(function)
            if reserved is not None and held > reserved:
                raise InvalidParameterError(
                    "reserved_concurrency", f"{reserved} is below the function's provisioned concurrency ({held})"
                )
            await self._set_reserved(function, msgspec.structs.replace(current, config=config))

    async def _set_reserved(self, function: _Function, info: FunctionInfo) -> None:
        """Make `info` (the $LATEST info, its reservation changed and nothing else that the environments depend on)
        the function's, keeping its pools. Under the lock."""
        current = function.latest
        name = info.name
        old = current.info.config.reserved_concurrency
        self.scheduler.register(name, info.config.reserved_concurrency)  # raises past the unreserved minimum
        function.latest = dataclasses.replace(current, info=info)
        try:
            await self._save(function)
        except BaseException:
            function.latest = current
            self.scheduler.register(name, old, restoring=True)  # back as it was, accepted before
            raise

    async def put_provisioned_concurrency(self, name: str, qualifier: str, count: int) -> None:
        """Keep `count` environments of a version (or an alias's version) initialised."""
        self._check_open()
        _check_number("ProvisionedConcurrentExecutions", count, 0, integer=True)
        async with self._changing():
            function = self._get(name)
            if self._resolve(function, qualifier).info.version == LATEST:  # (404 for an unknown version or alias)
                # As Lambda; $LATEST's are its configuration's (FunctionConfig.provisioned_concurrency): one knob.
                raise InvalidParameterError(
                    "Qualifier",
                    "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
                    verbatim=True,
                )
            reserved = function.latest.info.config.reserved_concurrency
            mine = _provisioned_sum(function, replace=(qualifier, count))
            if reserved is not None and mine > reserved:
                raise InvalidParameterError(
                    "ProvisionedConcurrentExecutions",
                    f"{mine} for the function in all would exceed its reserved concurrency {reserved}",
                )
            self._check_provisioned_total(name, qualifier, count)
            self._check_provisioned(name, qualifier, count, reserved)
            before = function.state()
            function.provisioned[qualifier] = count
            await self._save_or_undo(function, before)
            pools = await anyio.to_thread.run_sync(self._apply_provisioned, function)
        await self._provision(pools)

    async def get_provisioned_concurrency(self, name: str, qualifier: str) -> int | None:
        """The provisioned concurrency configured on `qualifier` (None: none)."""
        return self._get(name).provisioned.get(qualifier)

    async def provisioned_failure(self, name: str, qualifier: str) -> FunctionError | None:
        """Why `qualifier`'s provisioned environments could not be made (their init failed; None: they could), as
        Lambda's FAILED status says it. Provisioning is tried again after a pause, and at the next configuration."""
        function = self._get(name, qualifier)
        pools = [self._resolve(function, qualifier).target.pool]
        alias = function.aliases.get(qualifier)
        if alias is not None and alias.routing:  # a weighted alias's are split between its two versions
            pools.append(self._resolve(function, next(iter(alias.routing))).target.pool)
        return next((pool.init_failure for pool in pools if pool.init_failure is not None), None)

    async def list_provisioned_concurrency(self, name: str) -> dict[str, int]:
        """The function's provisioned concurrency configs: qualifier -> environments."""
        return dict(sorted(self._get(name).provisioned.items()))

    async def delete_provisioned_concurrency(self, name: str, qualifier: str) -> None:
        """Remove `qualifier`'s provisioned concurrency (its environments are closed)."""
        self._check_open()
        async with self._changing():
            function = self._get(name)
            before = function.state()
            if function.provisioned.pop(qualifier, None) is None:
                raise FunctionNotFoundError(f"No provisioned concurrency config for {name}:{qualifier}")
            await self._save_or_undo(function, before)
            await anyio.to_thread.run_sync(self._apply_provisioned, function)

    def _apply_provisioned(self, function: _Function) -> list[Pool]:
        """Set each of the function's pools' provisioned floor from what is stored: the $LATEST configuration's
        count, and each config's count on the pool of the version it names (an alias's on its version's, added to
        any of the version's own; a weighted alias's split between its two versions by their weights, as Lambda
        splits it). Closes the environments lowered floors no longer keep; returns the pools, for `_provision`.
        Called under the lock, so floors follow the changes in the order they were made."""
        floors = {deployed.target.pool: 0 for deployed in function.all_deployed()}
        floors[function.latest.target.pool] = function.latest.info.config.provisioned_concurrency
        for qualifier, count in function.provisioned.items():
            alias = function.aliases.get(qualifier)
            if alias is not None and alias.routing:
                extra, weight = next(iter(alias.routing.items()))
                share = round(count * weight)
                pool = self._resolve(function, extra).target.pool
                floors[pool] = floors.get(pool, 0) + share
                count -= share
            pool = self._resolve(function, qualifier).target.pool
            floors[pool] = floors.get(pool, 0) + count
        for pool, count in floors.items():
            for env in pool.set_floor(count):
                env.close()
        self.scheduler.set_provisioned(function.latest.info.name, sum(floors.values()))
        return list(floors)

    @staticmethod
    async def _provision(pools: list[Pool]) -> None:
        """Top the pools up to their floors (outside the lock: building environments takes a while)."""
        for pool in pools:
            await anyio.to_thread.run_sync(pool.provision)

    def _check_provisioned(self, name: str, qualifier: str | None, count: int, reserved: int | None) -> None:
        """Refuse provisioned concurrency that would take the account's unreserved pool below its minimum: `count`
        for `name`'s `qualifier` (None: its configuration's), the function's reservation being `reserved` (within
        a reservation it is checked against that instead)."""
        if reserved is not None:
            return
        function = self._functions.get(name)
        total = count
        if function is not None:
            if qualifier is not None:
                total += function.latest.info.config.provisioned_concurrency
            total += sum(n for q, n in function.provisioned.items() if q != qualifier)
        self.scheduler.check_provisioned(name, total)

    def _check_provisioned_total(self, name: str, qualifier: str | None, count: int) -> None:
        """Refuse provisioned concurrency past the account's concurrency limit, all functions together (`count` for
        `name`'s `qualifier`, or with None its configuration's). Each is an initialised environment held in memory,
        and more than the account can ever run at once would only exhaust the host (as Lambda bounds it too)."""
        total = count
        for other, function in self._functions.items():
            if not (other == name and qualifier is None):
                total += function.latest.info.config.provisioned_concurrency
            total += sum(n for q, n in function.provisioned.items() if not (other == name and q == qualifier))
        limit = self.scheduler.account_limit
        if total > limit:
            raise InvalidParameterError(
                "ProvisionedConcurrentExecutions",
                f"{total} provisioned environments in all would exceed the account's concurrency limit of {limit}",
            )

    def account_settings(self) -> AccountSettings:
        """The account's concurrency limit and what is left unreserved."""
        self._check_open()
        return AccountSettings(self.scheduler.account_limit, self.scheduler.unreserved_limit)

    def concurrency_in_flight(self, name: str | None = None) -> int:
        """Invocations running now: of the function `name` (all its versions), or of all (None)."""
        self._check_open()
        if name is None:
            return self.scheduler.in_flight()
        return self._get(name).latest.target.concurrency.in_flight

    # -- invoking --------------------------------------------------------------------------------------------------

    async def invoke(
        self, name: str, payload: bytes | str = b"", *, qualifier: str | None = None, request_id: str | None = None
    ) -> InvocationResult:
        """Invoke a function synchronously (RequestResponse); a function error is in the result, not raised.

        `request_id` is the id the function sees (and the logs show); default a new one. Raises
        `TooManyRequestsError` at once when a concurrency limit is reached.
        """
        self._check_open()
        return await self.invoker.invoke(self._target(name, qualifier), _as_payload(payload), request_id, qualifier)

    def refusal(self, name: str, qualifier: str | None = None) -> TooManyRequestsError | None:
        """The throttling error an invocation would get now (None: it would be admitted). Raises
        `FunctionNotFoundError` as `invoke` would. A cheap check before reading a request, not a reservation."""
        self._check_open()
        return self.scheduler.refusal(self._target(name, qualifier).concurrency)

    def invoke_sync(
        self, name: str, payload: bytes | str = b"", *, qualifier: str | None = None, request_id: str | None = None
    ) -> InvocationResult:
        """Invoke in the calling thread: for callers outside the event loop (the synchronous facade)."""
        if self._tg is None:
            self._check_open()
        return self.invoker.invoke_sync(self._target(name, qualifier), _as_payload(payload), request_id, qualifier)

    def pool_stats(self, name: str, qualifier: str | None = None) -> PoolStats:
        """Counters of the environment pool of the function (or `qualifier`'s version): idle, busy, created..."""
        return self._resolve(self._get(name), qualifier).target.pool.stats()

    def compiled(self, name: str, qualifier: str | None = None) -> CompiledCode:
        """The compiled code a function version runs (`from_disk` tells whether the disk cache supplied it)."""
        return self._resolve(self._get(name, qualifier), qualifier).compiled

    def _target(self, name: str, qualifier: str | None) -> Target:
        function = self._functions.get(name)
        if function is None:
            raise self._not_found(name, qualifier)
        if qualifier is None:
            return function.latest.target
        return self._resolve(function, qualifier, route=True).target

    def _resolve(self, function: _Function, qualifier: str | None, *, route: bool = False) -> _Deployed:
        if qualifier is None or qualifier == LATEST:
            return function.latest
        try:
            deployed = function.versions.get(qualifier)
            if deployed is not None:
                return deployed
            alias = function.aliases.get(qualifier)
        except TypeError:  # an unhashable qualifier: _not_found says what is wrong with it
            alias = None
        if alias is None:
            raise self._not_found(function.latest.info.name, qualifier)
        version = alias.function_version
        if route and alias.routing:
            extra, weight = next(iter(alias.routing.items()))
            if random.random() < weight:
                version = extra
        return function.latest if version == LATEST else function.versions[version]

    def _not_found(self, name: str, qualifier: str | None = None, what: str = "Function") -> FunctionNotFoundError:
        """Lambda's error for a missing function, version or alias: it names the ARN. (A name or qualifier that is
        not even a string raises InvalidParameterError here instead: looked up only once nothing was found, so
        that the hot path pays nothing for it.)"""
        if not isinstance(name, str):
            raise InvalidParameterError("FunctionName", f"must be a string, got {name!r}")
        if qualifier is not None and not isinstance(qualifier, str):
            raise InvalidParameterError("Qualifier", f"a version number or alias name as a string, got {qualifier!r}")
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        if qualifier:
            arn = f"{arn}:{qualifier}"
        return FunctionNotFoundError(f"{what} not found: {arn}")

    def _get(self, name: str, qualifier: str | None = None) -> _Function:
        self._check_open()  # a closed platform has no functions: saying "not found" would say they are gone
        try:
            function = self._functions.get(name)
        except TypeError:  # an unhashable name (a list): _not_found says what is wrong with it
            function = None
        if function is None:
            raise self._not_found(name, qualifier)
        return function


# Lambda's bounds on the free-text settings; a NUL would be cut short in the guest's environment (_HANDLER).
_TEXT_LIMITS: Final = {"Handler": 128, "Description": 256, "Role": 2048, "LicenseInfo": 512}


def _check_layer_version(name: str, version: int) -> None:
    """A layer version's name and number ("1" had matched no version: a delete did nothing, a get said none)."""
    validate_layer_name(name)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidParameterError("VersionNumber", f"must be an integer >= 1, got {version!r}")


def _info_copy(info: FunctionInfo) -> FunctionInfo:
    """The version as a caller may keep it: its inert settings (JSON values, nested ones too) its own."""
    return msgspec.structs.replace(info, inert_settings=_inert(info.inert_settings))


def _alias_copy(info: AliasInfo) -> AliasInfo:
    """The alias as a caller may keep it: its routing a dict of its own (changing the platform's had rerouted
    invocations, unchecked)."""
    return msgspec.structs.replace(info, routing=dict(info.routing))


def _check_texts(*, unchanged_if_none: bool = False, **texts: str | None) -> None:
    """Refuse a setting that is not text that can be stored (a number stored as a description had stopped a
    persistent platform from starting: its record no longer decoded). `unchanged_if_none`: None leaves it as is."""
    for setting, value in texts.items():
        if value is None and unchanged_if_none:
            continue
        limit = _TEXT_LIMITS[setting]
        if not isinstance(value, str):
            raise InvalidParameterError(setting, f"must be a string, got {type(value).__name__}")
        if len(value) > limit:
            raise InvalidParameterError(setting, f"must be at most {limit} characters, got {len(value)}")
        if "\0" in value or not _encodable(value):
            raise InvalidParameterError(setting, "must be UTF-8 text without NUL characters")


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _check_runtime(runtime: str) -> None:
    runtimes.family(runtime)  # InvalidParameterError for an unknown one


async def _code_of(code: bytes | bytearray | memoryview | str | os.PathLike[str]) -> bytes:
    """`_as_code`, with a file or folder read off the event loop (bytes are taken at once, in the caller's turn)."""
    if isinstance(code, str | os.PathLike):
        return await anyio.to_thread.run_sync(_as_code, code)
    return _as_code(code)


def _as_code(code: bytes | bytearray | memoryview | str | os.PathLike[str]) -> bytes:
    """Code as bytes: given bytes, or the path of a file (a .wasm or a .zip) or of a folder of sources (zipped
    here)."""
    if isinstance(code, str | os.PathLike):
        text = os.fspath(code)
        if not text or "\0" in text:  # "" would be the working directory: an unset variable, most likely
            raise InvalidParameterError("code", f"{text!r} is not the path of a file or folder")
        path = Path(text)
        try:
            mode = path.stat()
        except OSError as e:
            raise InvalidParameterError("code", f"cannot read {path}: {e}") from None
        if stat.S_ISDIR(mode.st_mode):
            return runtimes.zip_folder(path)
        if not stat.S_ISREG(mode.st_mode):  # a FIFO or a device would block, or never end
            raise InvalidParameterError("code", f"{path} is not a regular file")
        if mode.st_size > runtimes.MAX_UNZIPPED_BYTES:
            raise InvalidParameterError(
                "code", f"{path} is {mode.st_size} bytes; the limit is {runtimes.MAX_UNZIPPED_BYTES}"
            )
        try:
            if path.suffix.lower() in runtimes.SOURCE_SUFFIXES:
                # One source file is a package of that file alone, as `wasmfaas deploy` makes one.
                return runtimes.zip_files([(path.name, path)])
            return path.read_bytes()
        except OSError as e:
            raise InvalidParameterError("code", f"cannot read {path}: {e}") from None
    if not isinstance(code, bytes | bytearray | memoryview):
        raise InvalidParameterError("code", f"must be bytes or a path, got {type(code).__name__}")
    return bytes(code)


def _check_archive(content: bytes) -> None:
    """A layer's content must be a zip that unpacks safely within Lambda's limits."""
    with tempfile.TemporaryDirectory(prefix="wasmfaas-layer-") as tmp:
        runtimes.extract_zip(content, Path(tmp))


def _as_payload(payload: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        try:
            return payload.encode()
        except UnicodeEncodeError as e:
            raise InvalidParameterError("payload", f"a str must encode to UTF-8 ({e.reason}); pass bytes") from None
    if isinstance(payload, bytearray | memoryview):
        return bytes(payload)
    raise InvalidParameterError("payload", f"must be bytes or str, got {type(payload).__name__}")


_BuildKey = tuple[str, str, str, tuple[str, ...]]
# Python's recursion limit, which Lambda's Python runtime meets decoding an event nested deeper.
PYTHON_EVENT_DEPTH: Final = 1000


def _maintain(deployed: list[_Deployed]) -> None:
    for each in deployed:
        try:
            each.target.pool.maintain()
        except Exception:  # one pool's failure must not stop the others' or end the platform's task group
            logger.exception("maintaining the environments of %s failed", each.info.name)


class _Creation:
    """A create_function under way: what it was asked (its arguments, the code by hash) and its outcome."""

    def __init__(self, asked: tuple[Any, ...]) -> None:
        self.asked = asked
        self.done = anyio.Event()
        self.created: FunctionInfo | None = None


def _published_part(info: FunctionInfo) -> tuple[Any, ...]:
    """What a new version must differ from the newest in (PublishVersion returns the newest otherwise)."""
    return (
        info.code_sha256,
        msgspec.structs.replace(info.config, reserved_concurrency=None),  # the function's, not a version's
        info.handler,
        info.runtime,
        info.layers,
        info.role,
        info.inert_settings,
    )


def _mapping(settings: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """`inert_settings` as given to a change (None: none), checked before it is merged into the kept ones."""
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise InvalidParameterError("inert_settings", f"must be a mapping of names to JSON values, got {settings!r}")
    return settings


def _names(layers: Sequence[str]) -> tuple[str, ...]:
    """`layers` as given (a sequence of references, checked one by one later)."""
    if isinstance(layers, str) or not isinstance(layers, Sequence):
        raise InvalidParameterError("layers", f"must be a list of layer references, got {layers!r}")
    return tuple(layers)


def _inert(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Inert settings as kept: JSON values only (a copy the caller cannot change), None meaning none."""
    try:
        kept = msgspec.json.decode(msgspec.json.encode(settings))
    except (TypeError, msgspec.EncodeError) as e:
        raise InvalidParameterError("inert_settings", f"must be JSON values by name: {e}") from None
    if not isinstance(kept, dict):
        raise InvalidParameterError("inert_settings", "must be a mapping of names to JSON values")
    return {key: value for key, value in kept.items() if value is not None}


def _build_key(info: FunctionInfo) -> _BuildKey:
    """What a language runtime's build depends on: runtime, source, handler and layers."""
    return runtimes.family(info.runtime), info.code_sha256, info.handler, tuple(x.code_sha256 for x in info.layers)


# The regions and accounts Lambda's ARNs name (botocore's pattern for a function's ARN): the server hands these ARNs
# out, and takes them back as function names (server/naming.py parses them with the same pattern).
REGION_PATTERN: Final = r"(?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d"
_REGION: Final = re.compile(REGION_PATTERN)
_ACCOUNT: Final = re.compile(r"\d{12}")


def check_region(region: object) -> None:
    """InvalidParameterError unless `region` is a region name Lambda's ARNs take (`wasmfaas serve --region` too)."""
    if not isinstance(region, str) or not _REGION.fullmatch(region):
        raise InvalidParameterError("region", f"must be an AWS region name such as us-east-1, got {region!r}")


def check_account_id(account_id: object) -> None:
    """InvalidParameterError unless `account_id` is 12 digits."""
    if not isinstance(account_id, str) or not _ACCOUNT.fullmatch(account_id):
        raise InvalidParameterError("account_id", f"must be 12 digits, got {account_id!r}")


def _check_number(name: str, value: object, least: float, *, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not value >= least:
        what = "an integer" if integer else "a number"
        raise InvalidParameterError(name, f"must be {what} >= {least:g}, got {value!r}")


def _add_version(function: _Function, deployed: _Deployed) -> None:
    function.versions[deployed.info.version] = deployed
    function.next_version = int(deployed.info.version) + 1


def _check_config(config: FunctionConfig | None) -> FunctionConfig | None:
    if config is not None and not isinstance(config, FunctionConfig):
        raise InvalidParameterError(
            "config", f"must be a FunctionConfig (FunctionConfig(memory_mb=...)), got {type(config).__name__}"
        )
    return config


def _provisioned_sum(
    function: _Function, *, config: FunctionConfig | None = None, replace: tuple[str, int] | None = None
) -> int:
    """All the function's provisioned concurrency, which its reservation must hold: its configuration's (`config`,
    else $LATEST's) and every version's and alias's config (with `replace`'s qualifier given its count instead)."""
    total = (config or function.latest.info.config).provisioned_concurrency
    provisioned = function.provisioned if replace is None else {**function.provisioned, replace[0]: replace[1]}
    return total + sum(provisioned.values())


def _check_revision(revision: int, expected: int | None, what: str) -> None:
    if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int)):
        raise InvalidParameterError("if_revision", f"must be a revision number (an int), got {expected!r}")
    if expected is not None and expected != revision:
        raise PreconditionFailedError(f"{what} is at revision {revision}, not {expected}: changed meanwhile")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
