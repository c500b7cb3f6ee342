"""`wasmfaas invoke PATH.wasm`: payload on stdout, log on stderr, exit status from the function."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "wasmfaas.cli", *args, "--data-dir", str(tmp_path / "data")],
            input=stdin,
            capture_output=True,
            timeout=120,
        )

    return run


def test_invoke_reactor_with_options(
    tmp_path: Path, guest: Callable[[str], bytes], run: Callable[..., subprocess.CompletedProcess[bytes]]
) -> None:
    wasm = tmp_path / "env.wasm"
    wasm.write_bytes(guest("env"))
    proc = run("invoke", str(wasm), "{}", "--env", "COLOR=red", "--env", "SIZE=xl", "--memory", "256")
    assert proc.returncode == 0, proc.stderr
    assert b'"COLOR":"red"' in proc.stdout.replace(b" ", b"") and b'"SIZE":"xl"' in proc.stdout.replace(b" ", b"")
    assert b"AWS_LAMBDA_FUNCTION_MEMORY_SIZE" in proc.stdout
    assert proc.stderr.startswith(b"START RequestId: ") and b"Memory Size: 256 MB" in proc.stderr


def test_invoke_command_from_stdin(
    tmp_path: Path, guest: Callable[[str], bytes], run: Callable[..., subprocess.CompletedProcess[bytes]]
) -> None:
    wasm = tmp_path / "cat.wasm"
    wasm.write_bytes(guest("cat_command"))
    proc = run("invoke", str(wasm), "-", stdin=b"from stdin")
    assert proc.returncode == 0 and proc.stdout == b"from stdin"
    assert b"cat: 10 bytes" in proc.stderr


def test_a_payload_that_is_not_utf8_goes_as_its_bytes(
    tmp_path: Path, guest: Callable[[str], bytes], run: Callable[..., subprocess.CompletedProcess[bytes]]
) -> None:
    wasm = tmp_path / "cat.wasm"
    wasm.write_bytes(guest("cat_command"))
    raw = b'{"name": "\xe9\xff"}'  # Latin-1 from a shell: the argument's bytes are the event's
    proc = run("invoke", str(wasm), os.fsdecode(raw))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == raw


def test_function_error_exits_non_zero(
    tmp_path: Path, guest: Callable[[str], bytes], run: Callable[..., subprocess.CompletedProcess[bytes]]
) -> None:
    wasm = tmp_path / "loop.wasm"
    wasm.write_bytes(guest("loop"))
    proc = run("invoke", str(wasm), '"loop"', "--timeout", "0.2")
    assert proc.returncode == 1
    assert b'"errorType":"Sandbox.Timedout"' in proc.stdout
    fuel = tmp_path / "spin.wasm"
    fuel.write_bytes(guest("spin"))
    proc = run("invoke", str(fuel), "100000000", "--fuel", "1000")
    assert proc.returncode == 1 and b"Runtime.FuelExhausted" in proc.stdout


def test_bad_input_is_a_usage_error(tmp_path: Path, run: Callable[..., subprocess.CompletedProcess[bytes]]) -> None:
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"nope")
    proc = run("invoke", str(bad))
    assert proc.returncode == 2 and b"InvalidCodeError" in proc.stderr
    proc = run("invoke", str(tmp_path / "missing.wasm"))
    assert proc.returncode == 2 and b"No such file" in proc.stderr
    proc = run("invoke", str(bad), "--memory", "1")
    assert proc.returncode == 2 and b"memory_mb" in proc.stderr


def test_a_reader_that_stops_reading_ends_the_output_quietly(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    # `wasmfaas ... | head`: the pipe closes before the output is written; no traceback, no error status.
    wasm = tmp_path / "cat.wasm"
    wasm.write_bytes(guest("cat_command"))
    process = subprocess.Popen(
        [sys.executable, "-m", "wasmfaas.cli", "invoke", str(wasm), "-", "--data-dir", str(tmp_path / "data")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stdin is not None
    process.stdout.close()  # gone before anything is written
    _, stderr = process.communicate(b"x" * 1_000_000, timeout=120)
    assert process.returncode == 0, stderr
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr


def test_options_of_the_other_form_are_usage_errors(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    """`invoke PATH.wasm` runs a local module, `invoke NAME` a deployed function: an option of the other form had been
    ignored (a local run with --invocation-type Event ran synchronously; --memory on a remote one changed nothing)."""
    wasm = tmp_path / "echo.wasm"
    wasm.write_bytes(guest("echo"))
    env = {k: v for k, v in os.environ.items() if k != "WASMFAAS_ENDPOINT"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "wasmfaas.cli", "invoke", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, check=False)

    local = cli(str(wasm), "{}", "--qualifier", "7", "--invocation-type", "Event")
    assert local.returncode == 2
    assert "invoke of a local module takes no --qualifier, --invocation-type (for invoking a deployed function)" in (
        local.stderr
    )
    remote = cli("my-fn", "{}", "--memory", "0", "--data-dir", str(tmp_path), "--endpoint", "http://127.0.0.1:1")
    assert remote.returncode == 2  # 0 is given too (a truth test had let it through)
    assert "invoke of the deployed function 'my-fn' takes no --memory, --data-dir (for invoking a local .wasm)" in (
        remote.stderr
    )
    plain = cli(str(wasm), '"hi"', "--no-color", "--memory", "256")
    assert plain.returncode == 0 and plain.stdout == '"hi"', plain.stderr
