"""The command line against a real server: the AWS CLI unchanged, and wasmfaas's own client commands."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from server_helpers import ServerProcess, unique, zip_of

AWS = Path(sys.executable).with_name("aws")


def aws(server: ServerProcess, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "dummy",
        "AWS_SECRET_ACCESS_KEY": "dummy",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_PAGER": "",
        "AWS_MAX_ATTEMPTS": "1",
    }
    return subprocess.run(
        [str(AWS), "lambda", *args, "--endpoint-url", server.url, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


@pytest.mark.skipif(not AWS.exists(), reason="the AWS CLI (awscli, in the dev extra) is not installed")
def test_aws_cli(server: ServerProcess, tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    name = unique("cli")
    (tmp_path / "fn.zip").write_bytes(zip_of({"context.wasm": guest("context")}))
    created = aws(
        server,
        tmp_path,
        "create-function",
        "--function-name",
        name,
        "--runtime",
        "wasi",
        "--role",
        "arn:aws:iam::000000000000:role/cli",
        "--handler",
        "context.wasm",
        "--zip-file",
        "fileb://fn.zip",
        "--memory-size",
        "256",
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["MemorySize"] == 256

    invoked = aws(
        server, tmp_path, "invoke", "--function-name", name, "--payload", '{"a": 1}', "--log-type", "Tail", "out.json"
    )
    assert invoked.returncode == 0, invoked.stderr
    meta = json.loads(invoked.stdout)
    assert meta["StatusCode"] == 200 and meta["ExecutedVersion"] == "$LATEST"
    assert "START RequestId:" in base64.b64decode(meta["LogResult"]).decode()
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["function_name"] == name and out["memory_limit_mb"] == 256

    listed = aws(server, tmp_path, "list-functions")
    assert name in [f["FunctionName"] for f in json.loads(listed.stdout)["Functions"]]
    missing = aws(server, tmp_path, "get-function", "--function-name", "no-such-function")
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr
    assert aws(server, tmp_path, "delete-function", "--function-name", name).returncode == 0


def wasmfaas(server: ServerProcess, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASMFAAS_ENDPOINT": server.url}
    for key in ("WASMFAAS_ACCESS_KEY_ID", "WASMFAAS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "wasmfaas.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )


def test_wasmfaas_client_commands(server: ServerProcess, tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    name = unique("wf")
    module = tmp_path / "echo.wasm"
    module.write_bytes(guest("echo"))
    deployed = wasmfaas(server, "deploy", name, str(module), "--memory", "256", "--env", "KEY=value", "--url", "NONE")
    assert deployed.returncode == 0, deployed.stderr
    assert f"created arn:aws:lambda:us-east-1:000000000000:function:{name}" in deployed.stdout
    assert f"url {server.url}/urls/" in deployed.stdout

    invoked = wasmfaas(server, "invoke", name, '{"hi": 1}')
    assert invoked.returncode == 0, invoked.stderr
    assert invoked.stdout == '{"hi": 1}' and "START RequestId:" in invoked.stderr
    assert wasmfaas(server, "invoke", name, "-", stdin="piped").stdout == "piped"

    (tmp_path / "trap.zip").write_bytes(zip_of({"trap.wasm": guest("trap")}))
    updated = wasmfaas(server, "deploy", name, str(tmp_path / "trap.zip"), "--handler", "trap.wasm", "--publish")
    assert updated.returncode == 0, updated.stderr
    assert "updated" in updated.stdout and "version 1" in updated.stdout
    failed = wasmfaas(server, "invoke", name, '"error"', "--qualifier", "1")
    assert failed.returncode == 1 and "MyError" in failed.stdout

    listed = wasmfaas(server, "list")
    assert listed.returncode == 0 and any(line.split()[0] == name for line in listed.stdout.splitlines()[1:])
    logs = wasmfaas(server, "logs", name)
    assert logs.returncode == 0 and logs.stdout.count("START RequestId:") == 3

    event = wasmfaas(server, "invoke", name, '"ok"', "--invocation-type", "Event")
    assert event.returncode == 0 and event.stderr.startswith("202 ")
    assert wasmfaas(server, "delete", name).returncode == 0
    gone = wasmfaas(server, "invoke", name, "{}")
    assert gone.returncode == 2 and "ResourceNotFoundException" in gone.stderr


def test_local_invoke_still_works(guest: Callable[[str], bytes], tmp_path: Path) -> None:
    module = tmp_path / "echo.wasm"
    module.write_bytes(guest("echo"))
    result = subprocess.run(
        [sys.executable, "-m", "wasmfaas.cli", "invoke", str(module), "local", "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "local"


def test_unreachable_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wasmfaas.cli", "list", "--endpoint", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "cannot reach http://127.0.0.1:9" in result.stderr
