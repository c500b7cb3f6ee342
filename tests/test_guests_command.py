"""The WASI command guest kind: stdin is the event, stdout the response, stderr the logs, exit status the verdict."""

from __future__ import annotations

import re
from collections.abc import Callable

import wasmtime

from wasmfaas import SyncPlatform
from wasmfaas.logs import DEFAULT_LOG_CAP


def test_cat_round_trips_and_logs_stderr(platform: SyncPlatform, deploy: Callable[..., str]) -> None:
    name = deploy("cat_command")
    for payload in (b"", b'{"a": 1}', bytes(range(256)) * 1000):
        result = platform.invoke(name, payload)
        assert result.ok, result.payload
        assert result.payload == payload
        assert result.guest_log == f"cat: {len(payload)} bytes\n".encode()


def test_every_invocation_is_a_fresh_instance(platform: SyncPlatform, deploy: Callable[..., str]) -> None:
    name = deploy("cat_command")
    for _ in range(3):
        result = platform.invoke(name, b"x")
        assert result.cold_start and result.init_duration_ms is not None
    assert platform.pool_stats(name).idle == 0


def test_exit_codes(platform: SyncPlatform, deploy: Callable[..., str]) -> None:
    name = deploy("exit_command")
    ok = platform.invoke(name, b"0")
    assert ok.ok and ok.guest_log == b"exiting with 0\n" and ok.payload == b"result so far for 0\n"
    failed = platform.invoke(name, b"3")
    assert failed.function_error is not None
    assert failed.function_error.error_type == "Runtime.ExitError"
    # Lambda's words, in the error and the log: "RequestId: <id> Error: Runtime exited with error: exit status 3"
    expected = f"RequestId: {failed.request_id} Error: Runtime exited with error: exit status 3"
    assert failed.function_error.error_message == expected
    assert f"{expected}\nRuntime.ExitError\n".encode() in failed.guest_log
    assert b"exiting with 3" in failed.guest_log and b"Runtime.ExitError" in failed.guest_log


def test_a_failed_commands_stdout_goes_to_the_log(platform: SyncPlatform, deploy: Callable[..., str]) -> None:
    name = deploy("exit_command")
    failed = platform.invoke(name, b"3 5")
    assert failed.function_error is not None and failed.function_error.error_type == "Runtime.ExitError"
    # After stderr's lines, marked as stdout (it is not the response, which is Lambda's error body).
    assert failed.guest_log.startswith(
        b"exiting with 3\n[wasmfaas: the command failed; its stdout (25 bytes) follows]\nresult so far for 3\nyyyyy\n"
    )
    assert b"result so far" not in failed.payload
    # Bounded like the rest of the log: 1 MB of stdout is cut at the log's cap, and the cut is noted.
    big = platform.invoke(name, f"3 {1 << 20}")
    assert b"its stdout (1048596 bytes) follows]\nresult so far for 3\nyyy" in big.guest_log
    assert len(big.guest_log) < DEFAULT_LOG_CAP + 200
    assert re.search(rb"\[wasmfaas: \d+ bytes of output over the 262144-byte cap dropped\]", big.guest_log)
    assert b"[wasmfaas" not in platform.invoke(name, b"0 5").guest_log  # a success's stdout is its response


def test_command_environment_is_sandboxed(platform: SyncPlatform, deploy: Callable[..., str]) -> None:
    name = deploy("env_command", environment={"COLOR": "blue"})
    env = platform.invoke(name).json()
    assert env["COLOR"] == "blue" and env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert not {"HOME", "USER", "PWD"} & set(env)
    assert env["PATH"] == "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"  # Lambda's, not the host's


def test_a_start_function_that_traps_is_a_function_error(platform: SyncPlatform) -> None:
    # wasmtime raises a Trap, not a WasmtimeError, out of an instantiation whose start function traps.
    code = wasmtime.wat2wasm(
        '(module (memory (export "memory") 1) (func $s unreachable) (start $s) (func (export "_start")))'
    )
    platform.create_function("trapstart", code)
    for _ in range(10):  # on the thread, then inline once the calls have proved quick
        result = platform.invoke("trapstart", b"{}")
        assert result.function_error is not None and result.function_error.error_type == "Runtime.Trap"
