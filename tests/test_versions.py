"""Versions and aliases: immutable snapshots, qualifiers, weighted routing, and the function-wide limit."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
import wasmtime

from wasmfaas import (
    FunctionConfig,
    FunctionError,
    FunctionNotFoundError,
    InvalidParameterError,
    Platform,
    PreconditionFailedError,
    ResourceConflictError,
    SyncPlatform,
    TooManyRequestsError,
)


def test_publish_snapshots_code_and_configuration(platform: SyncPlatform, guest: Callable[[str], bytes]) -> None:
    platform.create_function("fn", guest("env"))
    platform.update_function_configuration("fn", environment={"STAGE": "one"})
    v1 = platform.publish_version("fn", description="first")
    assert (v1.version, v1.description) == ("1", "first")
    assert platform.publish_version("fn").version == "1"  # nothing changed: the same version
    platform.update_function_configuration("fn", environment={"STAGE": "two"})
    assert platform.publish_version("fn").version == "2"

    assert platform.invoke("fn", qualifier="1").json()["STAGE"] == "one"
    env2 = platform.invoke("fn", qualifier="2").json()
    assert env2["STAGE"] == "two" and env2["AWS_LAMBDA_FUNCTION_VERSION"] == "2"
    result = platform.invoke("fn", qualifier="1")
    assert result.executed_version == "1" and "Version: 1" in result.log
    assert [v.version for v in platform.list_versions("fn")] == ["$LATEST", "1", "2"]
    assert platform.get_function("fn", "2").config.environment == {"STAGE": "two"}
    with pytest.raises(FunctionNotFoundError):
        platform.invoke("fn", qualifier="9")


def test_changes_on_condition_of_a_revision(platform: SyncPlatform, guest: Callable[[str], bytes]) -> None:
    read = platform.create_function("fn", guest("echo"))
    changed = platform.update_function_configuration("fn", timeout=5, if_revision=read.revision)
    assert changed.revision == read.revision + 1
    stale_changes: list[Callable[[], object]] = [
        lambda: platform.update_function_configuration("fn", timeout=9, if_revision=read.revision),
        lambda: platform.update_function_code("fn", guest("env"), if_revision=read.revision),
        lambda: platform.publish_version("fn", if_revision=read.revision),
    ]
    for stale in stale_changes:
        with pytest.raises(PreconditionFailedError):
            stale()
    latest = platform.get_function("fn")
    assert (latest.config.timeout, latest.code_sha256, platform.list_versions("fn")[-1].version) == (
        5,
        read.code_sha256,
        "$LATEST",
    )  # nothing of the refused changes landed
    assert platform.publish_version("fn", if_revision=changed.revision).version == "1"
    alias = platform.create_alias("fn", "live", "1")
    platform.update_alias("fn", "live", description="one", if_revision=alias.revision_id)
    with pytest.raises(PreconditionFailedError):
        platform.update_alias("fn", "live", description="two", if_revision=alias.revision_id)
    assert platform.get_alias("fn", "live").description == "one"


@pytest.mark.anyio
async def test_a_revision_is_checked_when_the_change_is_made(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    # Two writers read the same revision; the second waits for the platform's lock while the first changes the code,
    # and is then refused, not applied on top of a revision it never saw.
    async with Platform(data_dir=tmp_path) as platform:
        read = await platform.create_function("fn", guest("echo"))
        outcomes: dict[str, object] = {}

        async def write(label: str, change: Callable[[], Awaitable[object]]) -> None:
            try:
                outcomes[label] = await change()
            except PreconditionFailedError as e:
                outcomes[label] = e

        async with anyio.create_task_group() as tg:
            tg.start_soon(
                write, "code", lambda: platform.update_function_code("fn", guest("env"), if_revision=read.revision)
            )
            tg.start_soon(
                write,
                "config",
                lambda: platform.update_function_configuration("fn", timeout=7, if_revision=read.revision),
            )
        assert not isinstance(outcomes["code"], Exception)
        assert isinstance(outcomes["config"], PreconditionFailedError)
        assert (await platform.get_function("fn")).config.timeout != 7


def test_aliases_route_by_weight(platform: SyncPlatform, guest: Callable[[str], bytes]) -> None:
    platform.create_function("fn", guest("env"), publish=True)
    platform.update_function_configuration("fn", environment={"NEW": "yes"})
    platform.publish_version("fn")
    alias = platform.create_alias("fn", "live", "1", routing={"2": 0.3})
    assert alias.function_version == "1"
    seen = Counter(platform.invoke("fn", qualifier="live").executed_version for _ in range(400))
    assert set(seen) == {"1", "2"} and 60 < seen["2"] < 180, seen
    platform.update_alias("fn", "live", version="2", routing={})
    assert {platform.invoke("fn", qualifier="live").executed_version for _ in range(20)} == {"2"}
    with pytest.raises(ResourceConflictError):
        platform.delete_function("fn", "2")  # the alias uses it
    with pytest.raises(ResourceConflictError):
        platform.create_alias("fn", "live", "1")
    with pytest.raises(InvalidParameterError):
        platform.create_alias("fn", "bad", "1", routing={"2": 1.5})
    with pytest.raises(InvalidParameterError, match=r"\$LATEST"):
        platform.create_alias("fn", "bad", "$LATEST", routing={"2": 0.5})
    with pytest.raises(FunctionNotFoundError):
        platform.create_alias("fn", "ghost", "7")
    platform.delete_function("fn", "1")
    assert [v.version for v in platform.list_versions("fn")] == ["$LATEST", "2"]
    assert platform.get_alias("fn", "live").function_version == "2"
    platform.put_provisioned_concurrency("fn", "live", 2)
    assert platform.get_provisioned_concurrency("fn", "live") == 2
    assert platform.list_provisioned_concurrency("fn") == {"live": 2}
    assert platform.pool_stats("fn", "2").idle == 2
    # Bounded: all provisioned environments together by the account's limit, a function's by its reservation.
    with pytest.raises(InvalidParameterError, match="account's concurrency limit of 1000"):
        platform.put_provisioned_concurrency("fn", "live", 100_000)
    with pytest.raises(InvalidParameterError, match="provisioned concurrency"):
        platform.update_function_configuration("fn", reserved_concurrency=1)
    platform.put_provisioned_concurrency("fn", "live", 1)  # lowered: the environment past it is closed
    assert platform.pool_stats("fn", "2").idle == 1
    platform.delete_provisioned_concurrency("fn", "live")
    assert platform.get_provisioned_concurrency("fn", "live") is None
    assert platform.pool_stats("fn", "2").idle == 0  # deleted: its environments are released at once
    assert platform.get_function_code("fn", "2") == guest("env")
    assert platform.account_settings().concurrent_executions == 1000
    platform.delete_alias("fn", "live")
    assert platform.list_aliases("fn") == []


def test_reserved_concurrency_is_shared_by_versions(platform: SyncPlatform, guest: Callable[[str], bytes]) -> None:
    import threading

    platform.create_function("fn", guest("sleep"), publish=True)
    platform.update_function_configuration("fn", reserved_concurrency=1)
    started = threading.Thread(target=platform.invoke, args=("fn", b"400"), kwargs={"qualifier": "1"})
    started.start()
    import time

    time.sleep(0.1)
    with pytest.raises(TooManyRequestsError):
        platform.invoke("fn", b"0")
    started.join()
    assert platform.invoke("fn", b"0").ok


def test_an_alias_and_its_version_provision_one_pool_together(
    platform: SyncPlatform, guest: Callable[[str], bytes]
) -> None:
    platform.create_function("fn", guest("echo"), publish=True)
    platform.create_alias("fn", "live", "1")
    platform.put_provisioned_concurrency("fn", "1", 3)
    platform.put_provisioned_concurrency("fn", "live", 1)  # the same version's pool: 3 + 1 environments
    assert platform.pool_stats("fn", "1").idle == 4
    platform.delete_provisioned_concurrency("fn", "live")  # back to the version's own 3
    assert platform.pool_stats("fn", "1").idle == 3
    assert platform.list_provisioned_concurrency("fn") == {"1": 3}
    platform.update_function_configuration("fn", timeout=5)
    assert platform.publish_version("fn").version == "2"
    platform.put_provisioned_concurrency("fn", "live", 2)
    platform.update_alias("fn", "live", version="2")  # the alias's environments move with it
    assert (platform.pool_stats("fn", "1").idle, platform.pool_stats("fn", "2").idle) == (3, 2)
    platform.delete_alias("fn", "live")
    assert platform.pool_stats("fn", "2").idle == 0


def test_all_of_a_function_s_provisioned_concurrency_must_fit_its_reservation(
    platform: SyncPlatform, guest: Callable[[str], bytes]
) -> None:
    # The configuration's ($LATEST's) counts with the versions' and aliases': environments past the reservation
    # could never run, only hold memory.
    config = FunctionConfig(reserved_concurrency=3, provisioned_concurrency=2)
    platform.create_function("fn", guest("echo"), config=config, publish=True)
    with pytest.raises(
        InvalidParameterError, match="4 for the function in all would exceed its reserved concurrency 3"
    ):
        platform.put_provisioned_concurrency("fn", "1", 2)
    platform.put_provisioned_concurrency("fn", "1", 1)
    with pytest.raises(InvalidParameterError, match="below the function's provisioned concurrency"):
        platform.put_function_concurrency("fn", 2)
    with pytest.raises(InvalidParameterError, match="below the function's provisioned concurrency"):
        platform.update_function_configuration("fn", reserved_concurrency=3, provisioned_concurrency=3)
    platform.update_function_configuration("fn", provisioned_concurrency=1)
    platform.put_function_concurrency("fn", 2)
    assert platform.pool_stats("fn").idle + platform.pool_stats("fn", "1").idle == 2


def test_provisioned_environments_say_so_in_their_environment(
    platform: SyncPlatform, guest: Callable[[str], bytes]
) -> None:
    # AWS_LAMBDA_INITIALIZATION_TYPE, as Lambda sets it: provisioned-concurrency in environments made ahead of
    # traffic, on-demand in those a cold start makes.
    platform.create_function("fn", guest("env"), publish=True)
    platform.put_provisioned_concurrency("fn", "1", 1)
    warm = platform.invoke("fn", qualifier="1")
    assert not warm.cold_start and warm.json()["AWS_LAMBDA_INITIALIZATION_TYPE"] == "provisioned-concurrency"
    cold = platform.invoke("fn")
    assert cold.cold_start and cold.json()["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"


def test_provisioned_concurrency_configs_are_for_published_versions(
    platform: SyncPlatform, guest: Callable[[str], bytes]
) -> None:
    # As Lambda: $LATEST's is its configuration's, not a config on $LATEST or on an alias of it.
    platform.create_function("fn", guest("echo"), publish=True)
    platform.create_alias("fn", "dev", "$LATEST")
    platform.create_alias("fn", "live", "1")
    for qualifier in ("$LATEST", "dev"):
        with pytest.raises(InvalidParameterError, match="cannot be applied to unpublished function versions"):
            platform.put_provisioned_concurrency("fn", qualifier, 1)
    platform.put_provisioned_concurrency("fn", "live", 1)
    with pytest.raises(InvalidParameterError, match="cannot point to \\$LATEST"):
        platform.update_alias("fn", "live", version="$LATEST")
    assert platform.get_alias("fn", "live").function_version == "1"
    assert platform.list_provisioned_concurrency("fn") == {"live": 1}


def test_a_weighted_alias_s_provisioned_concurrency_is_split_by_weight(
    platform: SyncPlatform, guest: Callable[[str], bytes]
) -> None:
    platform.create_function("fn", guest("echo"), publish=True)
    platform.update_function_code("fn", guest("counter"), publish=True)
    platform.create_alias("fn", "live", "1", routing={"2": 0.5})
    platform.put_provisioned_concurrency("fn", "live", 4)
    assert (platform.pool_stats("fn", "1").idle, platform.pool_stats("fn", "2").idle) == (2, 2)
    platform.update_alias("fn", "live", routing={"2": 0.25})
    assert (platform.pool_stats("fn", "1").idle, platform.pool_stats("fn", "2").idle) == (3, 1)
    platform.update_alias("fn", "live", routing={})
    assert (platform.pool_stats("fn", "1").idle, platform.pool_stats("fn", "2").idle) == (4, 0)


def test_raising_provisioned_concurrency_keeps_warm_environments(
    platform: SyncPlatform, guest: Callable[[str], bytes]
) -> None:
    platform.create_function("fn", guest("sleep"), publish=True)
    with ThreadPoolExecutor(4) as pool:  # four overlapping invocations leave four warm environments
        assert all(r.ok for r in pool.map(lambda _: platform.invoke("fn", b"200", qualifier="1"), range(4)))
    assert platform.pool_stats("fn", "1").idle == 4
    platform.put_provisioned_concurrency("fn", "1", 2)
    assert platform.pool_stats("fn", "1").idle == 4  # none closed: the floor went up
    platform.put_provisioned_concurrency("fn", "1", 1)
    assert platform.pool_stats("fn", "1").idle == 3  # lowered by one: one closed


def test_provisioned_concurrency_is_the_function_s_own(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    # Set aside from the unreserved pool, as Lambda does: at most what leaves the pool its minimum, and another
    # function filling the pool cannot take it.
    with SyncPlatform(data_dir=tmp_path, account_concurrency=20, unreserved_minimum=5) as platform:
        platform.create_function("p", guest("sleep"), publish=True)
        platform.create_function("a", guest("sleep"))
        with pytest.raises(InvalidParameterError, match="at most 15 without a reservation"):
            platform.put_provisioned_concurrency("p", "1", 16)
        platform.put_provisioned_concurrency("p", "1", 3)
        assert platform.account_settings().unreserved_concurrent_executions == 17
        with pytest.raises(InvalidParameterError, match="at most 12"):
            platform.update_function_configuration("a", provisioned_concurrency=13)
        with pytest.raises(InvalidParameterError, match="UnreservedConcurrentExecution below its minimum"):
            platform.update_function_configuration("a", reserved_concurrency=13)
        with ThreadPoolExecutor(20) as threads:
            filling = [threads.submit(platform.invoke, "a", b"500") for _ in range(17)]
            time.sleep(0.2)
            with pytest.raises(TooManyRequestsError):
                platform.invoke("a", b"0")
            provisioned = [threads.submit(platform.invoke, "p", b"0", qualifier="1") for _ in range(3)]
            assert all(f.result().ok for f in provisioned + filling)
        platform.delete_provisioned_concurrency("p", "1")
        assert platform.account_settings().unreserved_concurrent_executions == 20


# A reactor whose init traps: no environment of it can ever be made.
FAILING_INIT_WAT = r"""
(module
  (memory (export "memory") 1)
  (func (export "_initialize") unreachable)
  (func (export "wasmfaas_buffer") (param i32) (result i32) (i32.const 1024))
  (func (export "wasmfaas_handle") (param i32 i32) (result i32) (i32.const 0)))
"""


def test_provisioned_environments_whose_init_fails_say_why(platform: SyncPlatform) -> None:
    platform.create_function("fn", wasmtime.wat2wasm(FAILING_INIT_WAT), publish=True)
    assert platform.provisioned_failure("fn", "1") is None
    platform.put_provisioned_concurrency("fn", "1", 2)
    failure = platform.provisioned_failure("fn", "1")
    assert failure is not None and failure.error_type == "Runtime.InitError", failure
    assert "unreachable" in failure.error_message
    stats = platform.pool_stats("fn", "1")
    assert (stats.idle, stats.created) == (0, 0)
    time.sleep(1.5)  # maintenance rounds (1 s) pass: the failing init is not run again at each
    assert platform.pool_stats("fn", "1").created == 0
    result = platform.invoke("fn", qualifier="1")
    assert result.function_error is not None and result.function_error.error_type == "Runtime.InitError"


def test_provisioned_configs_an_older_version_kept_are_dropped_at_restore(
    tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    # Configs on $LATEST (or an alias of it), or past the reservation, as an older wasmfaas let them be stored.
    config = FunctionConfig(reserved_concurrency=2, provisioned_concurrency=1)
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        platform.create_function("fn", guest("echo"), config=config, publish=True)
        platform.create_alias("fn", "dev", "$LATEST")
        platform.create_alias("fn", "live", "1")
        platform.create_alias("fn", "beta", "1")
        registry = platform.platform._registry
        assert registry is not None
        record = platform.platform._functions["fn"].record()
        registry.save(msgspec.structs.replace(record, provisioned={"$LATEST": 1, "dev": 1, "live": 1, "beta": 1}))
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        kept = platform.list_provisioned_concurrency("fn")
        assert kept in ({"live": 1}, {"beta": 1})  # with the configuration's 1, the other would pass 2
        assert platform.pool_stats("fn").idle + platform.pool_stats("fn", "1").idle == 2
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        assert platform.list_provisioned_concurrency("fn") == kept  # the drop was saved


def test_a_stored_provisioned_excess_is_dropped_at_restore(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    with SyncPlatform(data_dir=tmp_path, persistent=True, account_concurrency=10, unreserved_minimum=0) as platform:
        platform.create_function("fn", guest("echo"), publish=True)
        platform.put_provisioned_concurrency("fn", "1", 8)
    with SyncPlatform(data_dir=tmp_path, persistent=True, account_concurrency=5) as platform:
        assert platform.list_provisioned_concurrency("fn") == {}  # more than this account allows: dropped
        assert platform.pool_stats("fn", "1").idle == 0
        platform.create_function("other", guest("echo"))  # and nothing else is refused for it


def test_a_create_or_code_update_that_publishes_is_one_change(
    tmp_path: Path, guest: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One record each: a crash between two had left a function without its version, which a retried create
    # then found "already exists".
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        registry = platform.platform._registry
        assert registry is not None
        saved: list[list[str]] = []
        save = registry.save

        def counted(record: Any) -> None:
            saved.append([v.version for v in record.versions])
            save(record)

        monkeypatch.setattr(registry, "save", counted)
        assert platform.create_function("fn", guest("echo"), publish=True).version == "1"
        assert platform.update_function_code("fn", guest("counter"), publish=True).version == "2"
        assert saved == [["1"], ["1", "2"]]
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        assert [v.version for v in platform.list_versions("fn")] == ["$LATEST", "1", "2"]
        assert platform.invoke("fn", b"x", qualifier="1").payload == b"x"


def test_deleting_a_version_gives_its_provisioned_slots_back(
    platform: SyncPlatform, guest: Callable[[str], bytes]
) -> None:
    platform.create_function("fn", guest("echo"), publish=True)
    platform.put_provisioned_concurrency("fn", "1", 50)
    assert platform.account_settings().unreserved_concurrent_executions == 950
    platform.update_function_code("fn", guest("counter"), publish=True)
    platform.delete_function("fn", "1")
    assert platform.list_provisioned_concurrency("fn") == {}
    assert platform.account_settings().unreserved_concurrent_executions == 1000


def test_a_reservation_change_is_not_a_new_version(platform: SyncPlatform, guest: Callable[[str], bytes]) -> None:
    platform.create_function("fn", guest("echo"), publish=True)
    platform.put_function_concurrency("fn", 5)  # the function's, not part of what a version snapshots
    assert platform.publish_version("fn").version == "1"


def test_a_provisioned_failure_clears_once_the_floor_is_met(
    platform: SyncPlatform, guest: Callable[[str], bytes]
) -> None:
    # A transient failure (an init timeout on a loaded host, say) must not say FAILED for ever.
    platform.create_function("fn", guest("echo"), publish=True)
    pool = platform.platform._functions["fn"].versions["1"].target.pool
    platform.put_provisioned_concurrency("fn", "1", 1)
    pool.init_failure = FunctionError(error_type="Runtime.InitError", error_message="once")
    pool.provision()  # the floor is met
    assert platform.provisioned_failure("fn", "1") is None


def test_provisioned_concurrency_stored_past_the_unreserved_minimum_is_dropped_at_restore(
    tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    # Accepted before it was bounded by the minimum: restored as it was, it took every unreserved slot.
    with SyncPlatform(data_dir=tmp_path, persistent=True, account_concurrency=20, unreserved_minimum=0) as platform:
        platform.create_function("f", guest("echo"), config=FunctionConfig(reserved_concurrency=15))
        platform.create_function("g", guest("echo"), publish=True)
        platform.put_provisioned_concurrency("g", "1", 5)
    with SyncPlatform(data_dir=tmp_path, persistent=True, account_concurrency=20, unreserved_minimum=5) as platform:
        assert platform.list_provisioned_concurrency("g") == {}
        assert platform.account_settings().unreserved_concurrent_executions == 5
