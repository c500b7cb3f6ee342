"""Our fd_write and poll_oneoff for core modules (guests/wasi.py): sleeps in every form, a deadline that reaches
into a sleep, a sleep on the event loop's thread handed to a worker, and the log cap."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wasmfaas import FunctionConfig, Platform, SyncPlatform
from wasmfaas.guests.reactor import MAX_RESPONSE_BYTES
from wasmfaas.guests.wasi import DEFAULT_LOG_CAP
from wasmfaas.pool import INLINE_WARMUP


def test_absolute_sleeps_on_both_clocks(platform: SyncPlatform, deploy: Callable[..., str]) -> None:
    name = deploy("poll")
    slept = platform.invoke(name, b"abs").json()
    # 30 ms each; no upper bound worth asserting on a shared machine beyond "not the 3 s timeout".
    assert 30 <= slept["monotonic"] < 2000 and 30 <= slept["realtime"] < 2000


def test_poll_on_stdio_is_ready_at_once_and_a_bad_fd_is_flagged(
    platform: SyncPlatform, deploy: Callable[..., str]
) -> None:
    name = deploy("poll")
    result = platform.invoke(name, b"fds")
    polled = result.json()
    assert polled["ready"] == 3 and polled["in"] and polled["out"] and polled["bad"]  # bad: POLLNVAL
    assert result.duration_ms < 2000  # not the 5 s poll timeout


def test_a_sleep_past_the_timeout_is_cut_at_the_timeout(platform: SyncPlatform, deploy: Callable[..., str]) -> None:
    name = deploy("poll", timeout=1)
    result = platform.invoke(name, b"10000")
    assert result.function_error is not None
    assert result.function_error.error_type == "Sandbox.Timedout"
    assert result.function_error.error_message == "Task timed out after 1.00 seconds"
    assert result.duration_ms < 5000  # wasmtime's own poll_oneoff would sleep the whole 10 s
    again = platform.invoke(name, b"1")
    assert again.payload == b"slept" and again.cold_start  # the timed-out environment was thrown away


def test_output_past_the_cap_is_dropped_and_noted(platform: SyncPlatform, deploy: Callable[..., str]) -> None:
    name = deploy("poll")
    result = platform.invoke(name, b"spam")
    assert result.payload == b"spammed"
    dropped = 300 * 1024 - DEFAULT_LOG_CAP
    assert f"[wasmfaas: {dropped} bytes of output over the {DEFAULT_LOG_CAP}-byte cap dropped]" in result.log
    assert len(result.log) < DEFAULT_LOG_CAP + 1024
    assert "[wasmfaas" not in platform.invoke(name, b"0").log  # the next invocation starts afresh


def test_bad_pointers_and_fds_get_errnos_not_crashes(platform: SyncPlatform, deploy: Callable[..., str]) -> None:
    name = deploy("poll")
    # EFAULT for iovecs or buffers outside memory, EBADF for an fd that is not stdout/stderr, EINVAL for no
    # subscriptions, EFAULT for subscriptions outside memory, EINVAL past 1024 iovecs or 4096 subscriptions (so no
    # single call can keep the host busy); the environment stays usable.
    assert platform.invoke(name, b"bad").json() == [21, 21, 8, 28, 21, 28, 28]
    again = platform.invoke(name, b"1")
    assert again.payload == b"slept" and not again.cold_start


def test_command_memory_is_measured(platform: SyncPlatform, deploy: Callable[..., str]) -> None:
    name = deploy("cat_command")
    assert platform.invoke(name, b"hello").max_memory_used_mb >= 1


@pytest.mark.anyio
async def test_a_sleep_on_the_event_loop_moves_to_a_worker(
    tmp_path: Path, guest: Callable[[str], bytes], steady_inline: None
) -> None:
    async with Platform(data_dir=tmp_path) as platform:
        await platform.create_function("poll", guest("poll"), config=FunctionConfig(timeout=5))
        for _ in range(INLINE_WARMUP + 2):
            assert (await platform.invoke("poll", b"0")).payload == b"slept"
        before = platform.pool_stats("poll")
        assert before.inline >= 1
        # Inline, the sleep would block the loop: poll_oneoff preempts at once and the invocation runs on a thread.
        result = await platform.invoke("poll", b"50")
        after = platform.pool_stats("poll")
        assert result.payload == b"slept" and result.duration_ms >= 50
        assert after.preempted == before.preempted + 1 and after.inline == before.inline + 1


def test_a_command_response_over_the_limit(platform: SyncPlatform, deploy: Callable[..., str]) -> None:
    name = deploy("big_command")
    assert platform.invoke(name, b"1000").payload == b"x" * 1000
    result = platform.invoke(name, str(MAX_RESPONSE_BYTES + 10))
    assert result.function_error is not None
    assert result.function_error.error_type == "Function.ResponseSizeTooLarge"
    assert "wrote" in result.log and "[wasmfaas" not in result.log  # the response's cap is not the log's
