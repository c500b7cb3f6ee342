"""The embedded registry: functions, versions, aliases, provisioned settings and tags survive a restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wasmfaas import FunctionConfig, SyncPlatform


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
