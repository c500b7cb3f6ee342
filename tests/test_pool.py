"""Idle environments: newest reused first, reaped after the TTL, bounded, and provisioned ahead of traffic."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from wasmfaas import FunctionConfig, SyncPlatform


@pytest.fixture
def fast_reaping(tmp_path: Path) -> SyncPlatform:
    return SyncPlatform(data_dir=tmp_path, idle_ttl=0.2, maintenance_interval=0.05, max_idle=2)


def test_most_recent_environment_is_reused(platform: SyncPlatform, deploy: Callable[..., str]) -> None:
    name = deploy("counter")
    envs = [platform.invoke(name) for _ in range(2)]
    assert envs[1].json()["count"] == 2
    assert platform.pool_stats(name).idle == 1 and platform.pool_stats(name).created == 1


def test_idle_environments_are_reaped_and_bounded(fast_reaping: SyncPlatform, guest: Callable[[str], bytes]) -> None:
    with fast_reaping as platform:
        platform.create_function("sleep", guest("sleep"), config=FunctionConfig(provisioned_concurrency=0))
        import threading

        threads = [threading.Thread(target=platform.invoke, args=("sleep", b"200")) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = platform.pool_stats("sleep")
        assert stats.created == 4 and stats.idle <= 2  # max_idle keeps two, the others closed
        deadline = time.monotonic() + 5
        while platform.pool_stats("sleep").idle and time.monotonic() < deadline:
            time.sleep(0.05)
        assert platform.pool_stats("sleep").idle == 0
        assert platform.pool_stats("sleep").reaped >= 1
        assert platform.invoke("sleep", b"0").cold_start


def test_provisioned_environments_are_ready_and_kept(
    fast_reaping: SyncPlatform, guest: Callable[[str], bytes]
) -> None:
    with fast_reaping as platform:
        platform.create_function("counter", guest("counter"), config=FunctionConfig(provisioned_concurrency=2))
        assert platform.pool_stats("counter").idle == 2
        time.sleep(0.5)  # past the idle TTL: the provisioned floor is not reaped
        assert platform.pool_stats("counter").idle == 2
        result = platform.invoke("counter")
        assert not result.cold_start and result.json() == {"init": 1, "count": 1}
        platform.update_function_configuration("counter", provisioned_concurrency=0)
        time.sleep(0.5)
        assert platform.pool_stats("counter").idle == 0
