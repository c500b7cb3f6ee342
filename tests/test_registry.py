"""The embedded registry: functions, versions, aliases, provisioned settings, tags and builds survive a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from zip_helpers import zip_of

from wasmfaas import FunctionConfig, FunctionNotFoundError, Platform, ResourceConflictError, SyncPlatform, runtimes
from wasmfaas.registry import SqliteRegistry
from wasmfaas.runtimes import PYTHON


def test_everything_comes_back_after_a_restart(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        platform.create_function(
            "fn", guest("counter"), config=FunctionConfig(memory_mb=256), description="d", tags={"team": "a"}
        )
        platform.tag_function("fn", {"env": "dev", "team": "b"})
        platform.untag_function("fn", ["env"])
        platform.publish_version("fn")
        platform.update_function_code("fn", guest("echo"))
        platform.create_alias("fn", "live", "1")
        platform.put_provisioned_concurrency("fn", "live", 1)
        platform.create_function("gone", guest("echo"))
        platform.delete_function("gone")
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        assert [f.name for f in platform.list_functions()] == ["fn"]
        latest = platform.get_function("fn")
        assert latest.config.memory_mb == 256 and latest.description == "d" and latest.revision == 2
        assert platform.invoke("fn", "still echo").payload == b"still echo"
        assert platform.invoke("fn", qualifier="live").json() == {"init": 1, "count": 1}
        assert platform.pool_stats("fn", "1").idle == 1  # provisioned again at start-up
        assert platform.platform.compiled("fn").from_disk
        assert platform.list_tags("fn") == {"team": "b"}
    assert sorted(p.name for p in (tmp_path / "code").iterdir()) == sorted(
        {latest.code_sha256, platform_code_sha(guest("counter"))}
    )


def platform_code_sha(code: bytes) -> str:
    import hashlib

    return hashlib.sha256(code).hexdigest()


def test_a_restart_runs_the_kept_build_without_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = zip_of({"app.py": "def handler(event, context):\n    return {'v': 1}\n"})
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        info = platform.create_function("py", source, runtime=PYTHON, handler="app.handler")
        assert info.artifact_sha256 and (tmp_path / "code" / info.artifact_sha256).is_file()
        platform.publish_version("py")

    def no_builds(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("a restart built a function again")

    with monkeypatch.context() as patch:
        patch.setattr(runtimes, "build", no_builds)
        with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
            assert platform.invoke("py", b"{}").json() == {"v": 1}
            assert platform.invoke("py", b"{}", qualifier="1").json() == {"v": 1}

    # A record kept before builds were: built once at the next start, and kept from then on.
    registry = SqliteRegistry(tmp_path)
    (record,) = registry.load()
    record.latest = msgspec.structs.replace(record.latest, artifact_sha256="")
    registry.save(record)
    registry.close()
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        assert platform.get_function("py").artifact_sha256 == info.artifact_sha256
    with monkeypatch.context() as patch:
        patch.setattr(runtimes, "build", no_builds)
        with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
            assert platform.invoke("py", b"{}").json() == {"v": 1}


def test_a_damaged_kept_build_is_built_and_kept_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = zip_of({"app.py": "def handler(event, context):\n    return 2\n"})
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        info = platform.create_function("py", source, runtime=PYTHON, handler="app.handler")
        old = platform.update_function_code("py", zip_of({"app.py": "def handler(event, context):\n    return 1\n"}))
        platform.update_function_code("py", source)
    kept = tmp_path / "code" / info.artifact_sha256
    kept.write_bytes(b"damaged")
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        assert platform.invoke("py", b"{}").json() == 2
    # Blobs nothing names any more are gone: the replaced code and its build.
    assert not (tmp_path / "code" / old.artifact_sha256).exists()
    assert not (tmp_path / "code" / old.code_sha256).exists()

    def no_builds(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("the kept build was not repaired")

    with monkeypatch.context() as patch:
        patch.setattr(runtimes, "build", no_builds)
        with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
            assert platform.invoke("py", b"{}").json() == 2


def test_one_platform_per_data_directory(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    # Two over one registry would each keep their own view and overwrite each other's changes.
    with SyncPlatform(data_dir=tmp_path, persistent=True) as first:
        first.create_function("fn", guest("echo"))
        with pytest.raises(ResourceConflictError, match="in use"), SyncPlatform(data_dir=tmp_path, persistent=True):
            pass
        assert first.invoke("fn", b"still mine").payload == b"still mine"
    with SyncPlatform(data_dir=tmp_path, persistent=True) as second:  # released at close
        assert second.get_function("fn").name == "fn"


def test_a_failed_start_lets_go_of_the_data_directory(
    tmp_path: Path, guest: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        platform.create_function("fn", guest("echo"))

    def broken(self: SqliteRegistry) -> list[object]:
        raise OSError("the disk went away")

    with monkeypatch.context() as patch:
        patch.setattr(SqliteRegistry, "load", broken)
        with pytest.raises(OSError, match="went away"), SyncPlatform(data_dir=tmp_path, persistent=True):
            pass
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:  # not refused as "in use" by itself
        assert platform.invoke("fn", b"back").payload == b"back"


def test_a_damaged_function_does_not_keep_the_others_from_starting(
    tmp_path: Path, guest: Callable[[str], bytes], caplog: pytest.LogCaptureFixture
) -> None:
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        damaged = platform.create_function("damaged", guest("counter"))
        platform.create_function("fine", guest("echo"))
    blob = tmp_path / "code" / damaged.code_sha256
    blob.write_bytes(blob.read_bytes()[:100])  # truncated by something outside wasmfaas
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        assert platform.invoke("fine", b"served").payload == b"served"
        assert [f.name for f in platform.list_functions()] == ["fine"]
        assert "function damaged cannot be restored" in caplog.text
    assert blob.exists()  # its code is kept, not collected as unused


def test_an_empty_registry_beside_code_keeps_the_code(
    tmp_path: Path, guest: Callable[[str], bytes], caplog: pytest.LogCaptureFixture
) -> None:
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        sha = platform.create_function("fn", guest("echo")).code_sha256
    for name in ("registry.sqlite3", "registry.sqlite3-wal", "registry.sqlite3-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    (tmp_path / "registry.sqlite3").write_bytes(b"")  # lost, or replaced by an empty one
    with SyncPlatform(data_dir=tmp_path, persistent=True, maintenance_interval=0.01) as platform:
        assert platform.list_functions() == []
        assert "registry of" in caplog.text and "1 code blobs are there: kept" in caplog.text
        platform.create_function("new", guest("counter"))  # the registry is no longer empty...
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        assert [f.name for f in platform.list_functions()] == ["new"]
    assert (tmp_path / "code" / sha).exists()  # ...and the only copy of what was deployed is still kept
    assert (tmp_path / "code-kept").read_text() == f"{sha}\n"


def test_temporary_files_a_crash_left_go_at_the_next_start(
    tmp_path: Path, guest: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WASMFAAS_MODULE_CACHE", raising=False)  # the platform's own, under its data dir
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        platform.create_function("fn", guest("echo"))
    leftovers = [
        tmp_path / "code" / ".0123abcd.x1y2z3.tmp",  # as `_files.replacing` names a write in progress
        tmp_path / "modules" / ".0123abcd-282e4c1f4ddab64d.cwasm.4m83bh0c.tmp",  # a compiled module's, fresh
    ]
    for leftover in leftovers:
        leftover.write_bytes(b"x" * 1000)
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        assert platform.invoke("fn", b"ok").payload == b"ok"
    assert not any(leftover.exists() for leftover in leftovers)


def test_a_function_that_fails_half_way_through_its_restore_is_not_served(
    tmp_path: Path, guest: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # It had stayed served, with its slot detached: its reservation no longer held.
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        platform.create_function("fn", guest("echo"), config=FunctionConfig(reserved_concurrency=5))
        platform.create_function("other", guest("echo"))
    apply = Platform._apply_provisioned

    def failing(self: Platform, function: Any) -> Any:
        if function.latest.info.name == "fn":
            raise OSError("the disk went away")
        return apply(self, function)

    monkeypatch.setattr(Platform, "_apply_provisioned", failing)
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        assert [f.name for f in platform.list_functions()] == ["other"]
        with pytest.raises(FunctionNotFoundError):
            platform.invoke("fn", b"x")
        assert platform.account_settings().unreserved_concurrent_executions == 1000  # its slot let go
        assert platform.invoke("other", b"x").payload == b"x"
