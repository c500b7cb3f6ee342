"""The Python API: create, update, get, list, delete and invoke, async and sync."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from zip_helpers import zip_of

from wasmfaas import (
    EngineSettings,
    FunctionConfig,
    FunctionExistsError,
    FunctionInfo,
    FunctionNotFoundError,
    InvalidCodeError,
    InvalidParameterError,
    InvocationResult,
    PayloadTooLargeError,
    Platform,
    PlatformClosedError,
    SyncPlatform,
)


def test_lifecycle(platform: SyncPlatform, guest: Callable[[str], bytes]) -> None:
    info = platform.create_function("fn", guest("echo"), config=FunctionConfig(memory_mb=256))
    assert info.kind.value == "reactor" and info.config.memory_mb == 256 and info.revision == 1
    assert platform.get_function("fn") == info
    with pytest.raises(FunctionExistsError):
        platform.create_function("fn", guest("echo"))
    assert [f.name for f in platform.list_functions()] == ["fn"]
    assert platform.invoke("fn", "hi").payload == b"hi"

    updated = platform.update_function_code("fn", guest("counter"))
    assert updated.revision == 2 and updated.code_sha256 != info.code_sha256
    first = platform.invoke("fn")
    assert first.cold_start and first.json() == {"init": 1, "count": 1}

    configured = platform.update_function_configuration("fn", timeout=10, environment={"A_B": "c"})
    assert configured.config.timeout == 10 and configured.config.memory_mb == 256
    assert platform.invoke("fn").cold_start  # a new configuration means new environments
    with pytest.raises(InvalidParameterError, match="memory_mb"):
        platform.update_function_configuration("fn", memory_mb=1)
    with pytest.raises(InvalidParameterError, match="no_such_field"):
        platform.update_function_configuration("fn", no_such_field=1)
    assert platform.get_function("fn").config.timeout == 10  # a refused update changes nothing

    platform.delete_function("fn")
    with pytest.raises(FunctionNotFoundError):
        platform.invoke("fn")
    with pytest.raises(FunctionNotFoundError):
        platform.delete_function("fn")


def test_bad_arguments(platform: SyncPlatform, guest: Callable[[str], bytes], tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="FunctionName"):
        platform.create_function("bad name", guest("echo"))
    platform.create_function("fn", guest("echo"))
    with pytest.raises(PayloadTooLargeError):
        platform.invoke("fn", b"x" * (6 * 1024 * 1024 + 1))
    with pytest.raises(InvalidParameterError, match="payload"):
        platform.invoke("fn", 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="payload"):
        platform.invoke("fn", "\ud800")  # a lone surrogate has no UTF-8
    for forged in ("abc\nREPORT RequestId: forged", "x" * 37, ""):  # it goes into log lines and a 36-byte field
        with pytest.raises(InvalidParameterError, match="request_id"):
            platform.invoke("fn", b"{}", request_id=forged)
    assert platform.invoke("fn", b"{}", request_id="my-own-id").request_id == "my-own-id"
    platform.publish_version("fn")
    for call in (
        lambda: platform.create_alias("fn", "live", 1),  # type: ignore[arg-type]
        lambda: platform.create_alias("fn", "live", "1", routing={"1": "0.5"}),  # type: ignore[dict-item]
        lambda: platform.put_provisioned_concurrency("fn", "1", 1.5),  # type: ignore[arg-type]
        lambda: platform.tag_function("fn", None),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidParameterError):
            call()
    for options in ({"maintenance_interval": 0}, {"idle_ttl": -1}, {"max_idle": 1.5}, {"account_concurrency": 2.5}):
        with pytest.raises(InvalidParameterError, match=next(iter(options))):
            Platform(**options)
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(InvalidParameterError, match="data_dir"), SyncPlatform(data_dir=tmp_path / "a-file"):
        pass
    # A str is the path of the code, as a Path is.
    (tmp_path / "fn.wasm").write_bytes(guest("echo"))
    assert platform.create_function("from_path", str(tmp_path / "fn.wasm")).code_sha256
    # A package for a wasi function (the server takes one, with Handler naming the module; the API the module):
    # said so, not only "not a WebAssembly binary".
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "fn.wasm").write_bytes(guest("echo"))
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return 1\n")
    for code in (tmp_path / "pkg", zip_of({"fn.wasm": guest("echo")}), tmp_path / "app.py"):
        with pytest.raises(InvalidCodeError, match=r"but a package .*: runtime 'wasi' takes the \.wasm module"):
            platform.create_function("zipped", code)


@pytest.mark.anyio
async def test_async_api(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    platform = Platform(data_dir=tmp_path)
    with pytest.raises(PlatformClosedError):
        await platform.create_function("fn", guest("echo"))
    async with platform:
        await platform.create_function("fn", guest("echo"))
        result = await platform.invoke("fn", b'{"k": 1}')
        assert result.json() == {"k": 1}
        assert (await platform.get_function("fn")).name == "fn"
    with pytest.raises(PlatformClosedError):
        await platform.invoke("fn")


@pytest.mark.anyio
async def test_reads_of_a_closed_platform_say_it_is_closed(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    # Not an empty list or "not found": someone who forgot `async with` would think their functions were gone.
    async with Platform(data_dir=tmp_path, persistent=True) as platform:
        await platform.create_function("fn", guest("echo"))
        with pytest.raises(RuntimeError, match="open already"):
            async with platform:
                pass
        assert platform.has_function("fn")  # the refused re-entry closed nothing
    for closed in (platform, Platform(data_dir=tmp_path, persistent=True)):  # after close, and before entering
        reads = [
            closed.list_functions(),
            closed.get_function("fn"),
            closed.list_versions("fn"),
            closed.list_aliases("fn"),
            closed.list_layers(),
            closed.list_tags("fn"),
        ]
        for read in reads:
            with pytest.raises(PlatformClosedError):
                await read
        for call in (closed.account_settings, closed.concurrency_in_flight, lambda c=closed: c.has_function("fn")):
            with pytest.raises(PlatformClosedError):
                call()
    # Its scheduler is gone: entered again, an invocation had waited for ever.
    with pytest.raises(PlatformClosedError, match="make a new one"):
        async with platform:
            pass


def test_misused_arguments_are_typed_errors_and_change_nothing(
    platform: SyncPlatform, guest: Callable[[str], bytes]
) -> None:
    platform.create_function("fn", guest("echo"), publish=True)
    platform.publish_layer_version("lib", zip_of({"python/lib.py": b""}))
    for call in (
        lambda: platform.create_function("other", guest("echo"), description=123),  # type: ignore[arg-type]
        lambda: platform.create_function("other", guest("echo"), role=None),  # type: ignore[arg-type]
        lambda: platform.create_function("other", guest("echo"), handler="a\0b"),
        lambda: platform.create_function("other", guest("echo"), description="x" * 257),
        lambda: platform.update_function_configuration("fn", role=["r"]),  # type: ignore[arg-type]
        lambda: platform.update_function_configuration("fn", description="\ud800"),
        lambda: platform.publish_version("fn", description=7),  # type: ignore[arg-type]
        lambda: platform.create_alias("fn", 123, "1"),  # type: ignore[arg-type]
        lambda: platform.create_alias("fn", "live", "1", description=None),  # type: ignore[arg-type]
        lambda: platform.get_function(["fn"]),  # type: ignore[arg-type]
        lambda: platform.invoke("fn", b"{}", qualifier=["1"]),  # type: ignore[arg-type]
        lambda: platform.get_alias("fn", ["live"]),  # type: ignore[arg-type]
        lambda: platform.get_layer_version("lib", "1"),  # type: ignore[arg-type]
        lambda: platform.delete_layer_version("lib", "1"),  # type: ignore[arg-type]
        lambda: platform.publish_layer_version("lib", zip_of({"a": b""}), license_info=None),  # type: ignore[arg-type]
        lambda: platform.create_function("other", ""),  # an unset variable: it had zipped the working directory
        lambda: platform.create_function("other", "/dev/zero"),  # a device: it would never end
        lambda: platform.create_function("other", guest("echo"), layers=None),  # type: ignore[arg-type]
        lambda: platform.update_function_configuration("fn", inert_settings=[1]),  # type: ignore[arg-type]
        lambda: platform.update_function_configuration("fn", environment={"KEY": "\ud800"}),
        lambda: platform.untag_function("fn", None),  # type: ignore[arg-type]
        lambda: platform.untag_function("fn", b"ab"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidParameterError):
            call()
    assert [f.name for f in platform.list_functions()] == ["fn"] and platform.list_aliases("fn") == []
    assert [v.version for v in platform.list_layer_versions("lib")] == [1]
    # What is returned is the caller's: changing it changes nothing of the platform's.
    platform.create_alias("fn", "live", "1").routing["1"] = 1.0
    platform.get_alias("fn", "live").routing["nope"] = 7.0
    assert platform.get_alias("fn", "live").routing == {} and platform.invoke("fn", b"{}", qualifier="live").ok


def test_a_stored_record_that_does_not_decode_costs_only_its_function(
    tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        platform.create_function("good", guest("echo"))
        platform.create_function("bad", guest("echo"))
    import sqlite3

    with sqlite3.connect(tmp_path / "registry.sqlite3") as db:
        db.execute("UPDATE functions SET record = ? WHERE name = 'bad'", (b'{"latest": 1}',))
    db.close()
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        assert [f.name for f in platform.list_functions()] == ["good"]
        assert platform.invoke("good", b"x").payload == b"x"


def test_a_sync_platform_is_entered_once(tmp_path: Path) -> None:
    with SyncPlatform(data_dir=tmp_path) as platform, pytest.raises(RuntimeError, match="open already"):
        platform.__enter__()


@pytest.mark.anyio
async def test_closing_ends_invocations_whose_callers_left(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    # A cancelled caller's invocation runs on, on its worker thread, to its deadline; a closing platform must not
    # stop the epoch ticker under it (the guest would spin forever) nor leave it running: it is ended.
    before = set(threading.enumerate())
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("loop", guest("loop"), config=FunctionConfig(timeout=600))
        with anyio.move_on_after(0.2):
            await platform.invoke("loop", b'"loop"')
        assert platform.concurrency_in_flight() == 1
    workers = [t for t in set(threading.enumerate()) - before if t.name.startswith("wasmfaas-worker")]
    for _ in range(500):  # the platform's own workers (not other tests')
        if not any(worker.is_alive() for worker in workers):
            break
        await anyio.sleep(0.02)
    assert not [worker.name for worker in workers if worker.is_alive()]


@pytest.mark.anyio
async def test_closing_stops_running_invocations_and_says_so(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    # Spinning or sleeping, what still runs once the grace period is over is stopped before the platform closes,
    # and its caller is told the platform shut down (it had been told its 30 s timeout had passed, after 1 s).
    results: dict[str, InvocationResult] = {}
    async with anyio.create_task_group() as tg:
        async with Platform(data_dir=tmp_path, inline=False) as platform:
            config = FunctionConfig(timeout=30)
            await platform.create_function("loop", guest("loop"), config=config)
            await platform.create_function("sleep", guest("sleep"), config=config)

            async def run(name: str, payload: bytes) -> None:
                results[name] = await platform.invoke(name, payload)

            tg.start_soon(run, "loop", b'"loop"')
            tg.start_soon(run, "sleep", b"20000")
            with anyio.fail_after(10):
                while platform.scheduler.in_flight() < 2:
                    await anyio.sleep(0.01)
        assert platform.scheduler.in_flight() == 0  # none left running past the close
    for name in ("loop", "sleep"):
        error = results[name].function_error
        assert error is not None and error.error_type == "Sandbox.Shutdown", (name, error)


@pytest.mark.anyio
async def test_a_change_cancelled_midway_is_made_whole(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    # The cancellation lands while the deletion waits on the registry: the deletion is still made whole (the
    # function once stayed in the registry, its reservation taken and its pools open).
    config = FunctionConfig(reserved_concurrency=50, provisioned_concurrency=2)
    async with Platform(data_dir=tmp_path, persistent=True, account_concurrency=200) as platform:
        await platform.create_function("fn", guest("echo"), config=config)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:

                async def cancel_soon() -> None:
                    await anyio.sleep(0)
                    scope.cancel()

                tg.start_soon(cancel_soon)
                await platform.delete_function("fn")
        assert await platform.list_functions() == []
        assert platform.account_settings().unreserved_concurrent_executions == 200
    async with Platform(data_dir=tmp_path, persistent=True, account_concurrency=200) as platform:
        assert await platform.list_functions() == []


@pytest.mark.anyio
async def test_the_same_create_again_while_it_runs_joins_it(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    # A client that stops waiting for a long build retries the same request (the AWS CLI does after 60 s): it gets
    # the function being created, not "already exists"; a different request for the name still gets that.
    async with Platform(data_dir=tmp_path) as platform:
        config = FunctionConfig(memory_mb=256)
        outcomes: dict[str, object] = {}

        async def create(label: str, memory_mb: int = 256) -> None:
            try:
                outcomes[label] = await platform.create_function(
                    "fn", guest("echo"), config=FunctionConfig(memory_mb=memory_mb)
                )
            except FunctionExistsError as e:
                outcomes[label] = e

        async with anyio.create_task_group() as tg:
            tg.start_soon(create, "first")
            tg.start_soon(create, "again")
            tg.start_soon(create, "other", 512)
        first, again, other = outcomes["first"], outcomes["again"], outcomes["other"]
        assert isinstance(first, FunctionInfo) and first == again and first.config == config
        assert isinstance(other, FunctionExistsError)
        with pytest.raises(FunctionExistsError):  # once it is done, the same request is a conflict again
            await platform.create_function("fn", guest("echo"), config=config)
        assert [info.name for info in await platform.list_functions()] == ["fn"]


@pytest.mark.anyio
async def test_code_no_version_uses_leaves_the_disk(
    tmp_path: Path, guest: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Replaced and deleted code, its compiled artifacts and their records go at the next maintenance round, not
    # only at the next start (a long-running server's churn had left gigabytes behind).
    monkeypatch.delenv("WASMFAAS_MODULE_CACHE", raising=False)  # the platform's own cache, under its data dir

    def files(folder: str) -> set[str]:
        return {p.name for p in (tmp_path / folder).iterdir() if not p.name.startswith(".")}

    async def settled() -> None:
        # The flag is cleared as a collection starts, which then runs under the lock: wait for both.
        with anyio.fail_after(30):
            while True:
                await anyio.sleep(0.01)
                if not platform._garbage and not platform._lock.locked():
                    return

    async with Platform(data_dir=tmp_path, persistent=True, maintenance_interval=0.01) as platform:
        await platform.create_function("kept", guest("echo"))
        kept = (files("code"), files("modules"))
        await platform.create_function("fn", guest("counter"))
        await platform.update_function_code("fn", guest("trap"))
        await platform.publish_version("fn")
        await platform.update_function_code("fn", guest("log"))
        await settled()
        assert len(files("code")) == 3 and len(files("modules")) == 3 * 2  # echo, trap (version 1), log
        await platform.delete_function("fn")
        await settled()
        assert (files("code"), files("modules")) == kept
        assert (await platform.invoke("kept", b"1")).payload == b"1"
        # A deleted layer version's archive too, though no function changed (a CI publishing a layer a build).
        layer = await platform.publish_layer_version("shared", zip_of({"python/shared.py": b"X = 1\n"}))
        assert files("code") == kept[0] | {layer.code_sha256}
        await platform.delete_layer_version("shared", layer.version)
        await settled()
        assert files("code") == kept[0]


def test_code_no_version_deploys_is_let_go(platform: SyncPlatform, guest: Callable[[str], bytes]) -> None:
    # A long-running platform updated many times held every module it had compiled (the disk cache keeps them).
    platform.create_function("fn", guest("echo"))
    platform.publish_version("fn")  # version 1 keeps echo
    for name in ("counter", "env", "echo", "counter"):
        platform.update_function_code("fn", guest(name))
    held = platform.platform._caches[False]._memory
    assert len(held) == 2  # echo (version 1) and counter ($LATEST)
    platform.delete_function("fn")
    assert not held


def test_arguments_of_the_wrong_type_are_invalid_parameters(
    platform: SyncPlatform, guest: Callable[[str], bytes]
) -> None:
    # Each is an InvalidParameterError that says what is wrong, not an AttributeError or a misleading message.
    platform.create_function("fn", guest("echo"), publish=True)
    platform.create_alias("fn", "live", "1")
    platform.update_function_code("fn", guest("counter"), publish=True)
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: platform.create_function("g", guest("echo"), config={"memory_mb": 256}), "must be a FunctionConfig"),
        (lambda: platform.update_function_configuration("fn", {"memory_mb": 256}), "must be a FunctionConfig"),
        (lambda: platform.create_function("g", guest("echo"), tags={"k": 1}), "must be a string, got 1"),
        (lambda: platform.update_alias("fn", "live", routing={"2": "0.5"}), "must be numbers, got '0.5'"),
        (lambda: platform.update_alias("fn", "live", if_revision="bogus"), "must be a revision number"),
        (lambda: platform.invoke("fn", qualifier=1), "Qualifier: a version number or alias name as a string"),
        (lambda: platform.invoke(None), "FunctionName: must be a string"),
    ]
    for call, message in cases:
        with pytest.raises(InvalidParameterError, match=re.escape(message)):
            call()
    assert not platform.has_function("g")


def test_platform_and_engine_settings_of_the_wrong_kind_are_refused_at_once(tmp_path: Path) -> None:
    # They had been taken, and failed later: a dict of engine settings or a float stack size at the first compile,
    # a region of None in every ARN (and "local" in ARNs the server could not read back).
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: Platform(data_dir=tmp_path, engine_settings={"fuel": True}), "must be an EngineSettings"),  # type: ignore[arg-type]
        (lambda: Platform(data_dir=tmp_path, region=None), "region: must be an AWS region name"),  # type: ignore[arg-type]
        (lambda: Platform(data_dir=tmp_path, region="local"), "such as us-east-1, got 'local'"),
        (lambda: Platform(data_dir=tmp_path, account_id="123"), "account_id: must be 12 digits"),
        (lambda: Platform(data_dir=tmp_path, inline="no"), "inline: must be True or False"),  # type: ignore[arg-type]
        (lambda: Platform(data_dir=3), "data_dir: must be a path"),  # type: ignore[arg-type]
        (lambda: EngineSettings(max_wasm_stack=1.5 * 1024 * 1024), "max_wasm_stack: must be an integer"),  # type: ignore[arg-type]
        (lambda: EngineSettings(fuel=1), "fuel: must be True or False"),  # type: ignore[arg-type]
    ]
    for make, message in cases:
        with pytest.raises(InvalidParameterError, match=re.escape(message)):
            make()
    assert Platform(data_dir=tmp_path, region="eu-west-1", account_id="123456789012").region == "eu-west-1"


def test_a_function_returned_is_the_callers_to_change(platform: SyncPlatform, guest: Callable[[str], bytes]) -> None:
    # Its inert settings had been the platform's own: changing them changed what every later call returned.
    settings = {"TracingConfig": {"Mode": "Active"}, "Architectures": ["x86_64"]}
    created = platform.create_function("fn", guest("echo"), inert_settings=settings, publish=True)
    returned = [
        created,
        platform.get_function("fn"),
        platform.get_function("fn", "1"),
        *platform.list_functions(),
        *platform.list_versions("fn"),
        platform.update_function_configuration("fn", description="changed"),
        platform.publish_version("fn"),  # nothing new to publish: version 1 again
    ]
    for info in returned:
        info.inert_settings["TracingConfig"]["Mode"] = "PassThrough"
        info.inert_settings["Architectures"].append("arm64")
        info.inert_settings["Extra"] = 1
    for qualifier in (None, "1"):
        assert platform.get_function("fn", qualifier).inert_settings == settings


def test_a_change_whose_record_cannot_be_stored_is_not_made(
    tmp_path: Path, guest: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full disk: the caller hears of a failure, so nobody may see the change (it had been served until the
    # restart, and stored by the function's next successful write).
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        before = FunctionConfig(environment={"KEY": "before"})
        platform.create_function("fn", guest("echo"), config=before, publish=True)
        platform.update_function_code("fn", guest("env"), publish=True)
        platform.create_alias("fn", "live", "1")
        platform.put_provisioned_concurrency("fn", "2", 1)
        registry = platform.platform._registry
        assert registry is not None
        stored = registry.save

        def disk_full(record: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(registry, "save", disk_full)
        changes = [
            lambda: platform.update_function_configuration("fn", environment={"KEY": "during"}),
            lambda: platform.update_function_code("fn", guest("echo")),
            lambda: platform.delete_alias("fn", "live"),
            lambda: platform.delete_function("fn", "2"),
            lambda: platform.put_provisioned_concurrency("fn", "1", 1),
            lambda: platform.delete_provisioned_concurrency("fn", "2"),
        ]
        for change in changes:
            with pytest.raises(OSError):
                change()
        seen = platform.get_function("fn")
        assert seen.config.environment == {"KEY": "before"}
        assert [a.name for a in platform.list_aliases("fn")] == ["live"]
        assert [v.version for v in platform.list_versions("fn")] == ["$LATEST", "1", "2"]
        assert platform.list_provisioned_concurrency("fn") == {"2": 1}
        assert platform.invoke("fn").json()["KEY"] == "before"  # the old $LATEST still serves
        monkeypatch.setattr(registry, "save", stored)
        platform.update_function_configuration("fn", description="a later write stores only itself")
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        assert platform.get_function("fn").config.environment == {"KEY": "before"}
        assert [a.name for a in platform.list_aliases("fn")] == ["live"]


def test_the_tmp_directories_of_dead_platforms_are_removed(
    tmp_path: Path, guest: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A platform killed with kill -9 had left its environments' /tmp behind (up to 512 MB each), for good.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    long_ago = time.time() - 3600

    def scratch(name: str) -> Path:
        path = tmp_path / "tmp" / f"wasmfaas-scratch-{name}"
        (path / "tmp-env").mkdir(parents=True)
        (path / "tmp-env" / "data").write_bytes(b"x" * 1000)
        (path / ".owner.lock").touch()
        os.utime(path, (long_ago, long_ago))
        return path

    dead, alive = scratch("dead"), scratch("alive")
    with open(alive / ".owner.lock", "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # its platform lives
        with SyncPlatform(data_dir=tmp_path / "data") as platform:
            platform.create_function("fn", guest("echo"))
            assert not dead.exists() and alive.exists()
            own = [p for p in (tmp_path / "tmp").iterdir() if p not in (alive,)]
            assert len(own) == 1 and (own[0] / ".owner.lock").exists()
        assert not own[0].exists()  # removed at close


def test_a_sync_platform_that_cannot_start_raises_and_the_process_can_exit(
    tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    # A start that failed (here: a bug while restoring) had left the portal's event-loop thread running: the error
    # was raised, and then the process hung at exit.
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        platform.create_function("fn", guest("echo"))
    script = (
        "import sys\n"
        "from wasmfaas import Platform, SyncPlatform\n"
        "async def bug(self, record):\n"
        "    raise RuntimeError('a bug')\n"
        "Platform._restore_function = bug\n"
        "try:\n"
        f"    with SyncPlatform(data_dir={str(tmp_path)!r}, persistent=True):\n"
        "        pass\n"
        "except RuntimeError as e:\n"
        "    print('raised', e)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == "raised a bug\n", done.stderr


@pytest.mark.anyio
async def test_the_data_directory_is_its_owners_only(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    """The registry holds functions' environment variables (secrets, often): a data directory the platform makes is
    0700, its databases 0600; an older one's files readable by others are narrowed."""
    data = tmp_path / "made"
    async with Platform(data_dir=data, persistent=True) as platform:
        await platform.create_function("fn", guest("echo"), config=FunctionConfig(environment={"DB_PASSWORD": "x"}))
    assert data.stat().st_mode & 0o777 == 0o700
    for name in ("registry.sqlite3", "registry.sqlite3-wal"):
        if (data / name).exists():
            assert (data / name).stat().st_mode & 0o777 == 0o600, name
    data.chmod(0o755)
    (data / "registry.sqlite3").chmod(0o644)
    async with Platform(data_dir=data, persistent=True):
        pass
    assert (data / "registry.sqlite3").stat().st_mode & 0o777 == 0o600
    assert data.stat().st_mode & 0o777 == 0o755  # a directory it did not make keeps the mode its owner chose


@pytest.mark.anyio
async def test_a_platform_without_the_data_directory_leaves_its_holders_files(
    tmp_path: Path, guest: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Platform() and `wasmfaas serve` share ~/.cache/wasmfaas by default: a script's platform that deleted a
    function removed the server's unpacked packages (its Python functions' cold starts all failed after) and its
    compiled modules. While the directory is held it removes only the artifacts it wrote itself; with no holder,
    what no one uses (an earlier run's too: else they would pile up forever)."""
    monkeypatch.delenv("WASMFAAS_MODULE_CACHE", raising=False)
    (tmp_path / "tasks" / "held").mkdir(parents=True)
    (tmp_path / "modules").mkdir()
    held = [tmp_path / "modules" / f"held-0.{suffix}" for suffix in ("cwasm", "json")]
    for path in held:
        path.write_bytes(b"x")
    holder = os.open(tmp_path / "registry.lock", os.O_RDWR | os.O_CREAT)  # as a server holds it
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        async with Platform(data_dir=tmp_path, maintenance_interval=0.01) as platform:
            await platform.create_function("fn", guest("echo"))
            written = set((tmp_path / "modules").iterdir()) - set(held)
            assert len(written) == 2  # the echo module's artifact and record
            await platform.delete_function("fn")
            with anyio.fail_after(30):
                while any(path.exists() for path in written):
                    await anyio.sleep(0.01)
        assert (tmp_path / "tasks" / "held").is_dir()
        assert all(path.is_file() for path in held)
    finally:
        os.close(holder)
    async with Platform(data_dir=tmp_path, maintenance_interval=0.01) as platform:
        await platform.create_function("fn", guest("echo"))
        await platform.delete_function("fn")  # a sweep follows a change
        with anyio.fail_after(30):
            while any(path.exists() for path in held):
                await anyio.sleep(0.01)
    assert (tmp_path / "tasks" / "held").is_dir()  # packages are the holder's to remove, at its next start
