"""The command line against a real server: the AWS CLI unchanged, and wasmfaas's own client commands."""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from server_helpers import ServerProcess, create_guest, lambda_client, start_server, unique, zip_of

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


def wasmfaas(
    server: ServerProcess, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m wasmfaas.cli ARGS` against the server; stdout and stderr are pipes (plain output, unless `env`
    has FORCE_COLOR)."""
    full_env = {**os.environ, "WASMFAAS_ENDPOINT": server.url}
    for key in ("WASMFAAS_ACCESS_KEY_ID", "WASMFAAS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        full_env.pop(key, None)
    for key in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        full_env.pop(key, None)
    env = {**full_env, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "wasmfaas.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        input=stdin,
    )


def echo_module(tmp_path: Path, guest: Callable[[str], bytes]) -> Path:
    """The echo guest as a .wasm file to deploy."""
    module = tmp_path / "echo.wasm"
    module.write_bytes(guest("echo"))
    return module


def test_wasmfaas_client_commands(server: ServerProcess, tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    name = unique("wf")
    module = echo_module(tmp_path, guest)
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


def test_deploy_keeps_an_existing_functions_runtime(server: ServerProcess, tmp_path: Path) -> None:
    # A redeploy with only configuration flags must not turn a Python function into a wasi one.
    source = tmp_path / "fn"
    source.mkdir()
    (source / "app.py").write_text("def handler(event, context):\n    return {'ok': True}\n")
    name = unique("wfpy")
    # A new function's runtime is told by its sources; a language runtime needs a handler, said before uploading.
    unnamed = wasmfaas(server, "deploy", name, str(source))
    assert unnamed.returncode == 2 and "needs --handler module.function" in unnamed.stderr
    first = wasmfaas(server, "deploy", name, str(source), "--handler", "app.handler")
    assert first.returncode == 0, first.stderr
    assert "runtime python3.14, for the package's sources" in first.stderr
    again = wasmfaas(server, "deploy", name, str(source), "--memory", "256")
    assert again.returncode == 0, again.stderr
    info = lambda_client(server.url).get_function_configuration(FunctionName=name)
    assert (info["Runtime"], info["Handler"], info["MemorySize"]) == ("python3.14", "app.handler", 256)
    assert json.loads(wasmfaas(server, "invoke", name, "{}").stdout) == {"ok": True}
    assert wasmfaas(server, "delete", name).returncode == 0


def test_deploy_of_a_single_source_file(server: ServerProcess, tmp_path: Path) -> None:
    # A one-file function, as people write them: zipped at the package's root, its handler FILE.handler unless given.
    source = tmp_path / "greet.py"
    source.write_text("def handler(event, context):\n    return {'hi': event.get('name')}\n")
    name = unique("wfone")
    deployed = wasmfaas(server, "deploy", name, str(source))
    assert deployed.returncode == 0, deployed.stderr
    assert "handler greet.handler (--handler to choose)" in deployed.stderr
    info = lambda_client(server.url).get_function_configuration(FunctionName=name)
    assert (info["Runtime"], info["Handler"]) == ("python3.14", "greet.handler")
    assert json.loads(wasmfaas(server, "invoke", name, '{"name": "ada"}').stdout) == {"hi": "ada"}
    assert wasmfaas(server, "delete", name).returncode == 0


def test_a_deploy_whose_code_is_refused_changes_nothing(
    server: ServerProcess, tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    name = unique("wfatomic")
    module = echo_module(tmp_path, guest)
    assert wasmfaas(server, "deploy", name, str(module), "--memory", "256").returncode == 0
    (tmp_path / "bad.wasm").write_bytes(b"\0asm\x01\0\0\0 but no module follows")  # refused by the server
    refused = wasmfaas(server, "deploy", name, str(tmp_path / "bad.wasm"), "--memory", "1024", "--timeout", "30")
    assert refused.returncode == 2, refused.stderr
    info = lambda_client(server.url).get_function_configuration(FunctionName=name)
    assert (info["MemorySize"], info["Timeout"]) == (256, 3)  # the configuration went back as it was
    assert wasmfaas(server, "invoke", name, '"still echo"').stdout == '"still echo"'
    # Past Lambda's 50 MB for a direct upload: said before anything is sent (the server would cut the upload).
    big = tmp_path / "big.wasm"
    big.write_bytes(guest("echo") + bytes(50 * 1024 * 1024))
    too_big = wasmfaas(server, "deploy", name, str(big))
    assert too_big.returncode == 2 and "limit for a direct upload" in too_big.stderr
    assert wasmfaas(server, "delete", name).returncode == 0


def test_a_module_deployed_bare_is_found_in_its_package_later(
    server: ServerProcess, tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    """A module deployed as a .wasm keeps its name as the Handler: a later deploy of a zip or folder holding it finds
    it (the server had named it function.wasm, and then looked for that in the package)."""
    name = unique("wfbare")
    module = echo_module(tmp_path, guest)
    assert wasmfaas(server, "deploy", name, str(module)).returncode == 0
    assert lambda_client(server.url).get_function_configuration(FunctionName=name)["Handler"] == "echo.wasm"
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "echo.wasm").write_bytes(module.read_bytes())
    (folder / "README").write_text("beside the module")
    again = wasmfaas(server, "deploy", name, str(folder))
    assert again.returncode == 0, again.stderr
    assert wasmfaas(server, "invoke", name, '"from the folder"').stdout == '"from the folder"'
    # Sources for a wasi function: it keeps its runtime, and the CLI says so before the server's refusal.
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return 1\n")
    sources = wasmfaas(server, "deploy", name, str(tmp_path / "app.py"))
    assert sources.returncode == 2
    assert f"{name} is a wasi function (it keeps its runtime)" in sources.stderr
    assert "give --runtime (and --handler)" in sources.stderr
    assert "its .wasm files are: none" in sources.stderr
    assert wasmfaas(server, "delete", name).returncode == 0
    # A file name the API does not take as a Handler (whitespace, say) leaves it unset, as before (function.wasm).
    spaced = tmp_path / "my echo.wasm"
    spaced.write_bytes(module.read_bytes())
    other = unique("wfspace")
    assert wasmfaas(server, "deploy", other, str(spaced)).returncode == 0
    assert wasmfaas(server, "invoke", other, '"spaced"').stdout == '"spaced"'
    assert wasmfaas(server, "delete", other).returncode == 0


def test_a_deploy_of_what_cannot_be_a_package_is_refused_before_sending(
    server: ServerProcess, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not code")
    refused = wasmfaas(server, "deploy", unique("wfnotes"), str(notes))
    assert refused.returncode == 2
    assert "notes.txt is not a .wasm module, a .zip package, a folder or a .py/.js/.mjs/.cjs file" in refused.stderr
    unknown = wasmfaas(server, "deploy", unique("wfrt"), str(notes), "--runtime", "python")
    assert unknown.returncode == 2 and "argument --runtime: 'python' is not one of wasi" in unknown.stderr
    (tmp_path / "index.mjs").write_text("export const handler = async () => 1;\n")
    unnamed = wasmfaas(server, "deploy", unique("wfjs"), str(tmp_path), "--runtime", "nodejs20.x")
    assert unnamed.returncode == 2 and "needs --handler file.export (such as index.handler)" in unnamed.stderr


def test_local_invoke_still_works(guest: Callable[[str], bytes], tmp_path: Path) -> None:
    module = echo_module(tmp_path, guest)
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
    assert "is `wasmfaas serve` running there? name another with --endpoint or $WASMFAAS_ENDPOINT" in result.stderr


@pytest.mark.parametrize(
    ("options", "env", "message"),
    [
        (["--account-concurrency", "10", "--unreserved-minimum", "11"], {}, "--unreserved-minimum must be between 0"),
        (["--account-concurrency", "0"], {}, "--account-concurrency: must be at least 1"),
        (["--event-concurrency", "0"], {}, "--event-concurrency: must be at least 1"),
        (["--port", "70000"], {}, "--port: must be 0-65535"),
        (["--shutdown-timeout", "-5"], {}, "--shutdown-timeout: must be seconds >= 0"),
        (["--dead-letter-retention", "-1"], {}, "--dead-letter-retention: must be days >= 0"),
        (["--dead-letter-retention", "inf"], {}, "--dead-letter-retention: must be days >= 0"),
        # Checked before the server starts (uvicorn had printed "Application startup failed", exit 3).
        (["--region", "nowhere"], {}, "--region: must be an AWS region name such as us-east-1, got 'nowhere'"),
        (["--account-id", "123"], {}, "--account-id: must be 12 digits, got '123'"),
        # One of the two credentials set (the other's name mistyped, say) would leave the server open unsaid.
        ([], {"WASMFAAS_ACCESS_KEY_ID": "key"}, "WASMFAAS_SECRET_ACCESS_KEY is not"),
    ],
)
def test_serve_refuses_bad_options_in_one_line(
    tmp_path: Path, options: list[str], env: dict[str, str], message: str
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WASMFAAS_")} | env
    result = subprocess.run(
        [sys.executable, "-m", "wasmfaas.cli", "serve", "--port", "0", "--data-dir", str(tmp_path), *options],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_serve_on_a_data_directory_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    # It had been found at startup, under uvicorn: "ERROR: ResourceConflictError ... Application startup failed".
    holder = os.open(tmp_path / "registry.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # as a running server holds it
        os.pwrite(holder, b"4242\n", 0)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("WASMFAAS_")}
        result = subprocess.run(
            [sys.executable, "-m", "wasmfaas.cli", "serve", "--port", "0", "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment,
        )
    finally:
        os.close(holder)
    assert result.returncode == 2
    assert result.stderr == (
        f"wasmfaas: {tmp_path} is in use by another wasmfaas server or platform (pid 4242): stop it, or give another "
        "--data-dir\n"
    )


def columns(stdout: str) -> list[dict[str, str]]:
    """`list`'s plain output (columns two or more spaces apart, a header line first) as one dict per row."""
    header, *lines = stdout.splitlines()
    names = re.split(r"\s{2,}", header.strip())
    return [dict(zip(names, re.split(r"\s{2,}", line.strip()), strict=True)) for line in lines]


def test_list_is_a_plain_table_off_a_terminal(
    server: ServerProcess, tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    name = unique("table")
    module = echo_module(tmp_path, guest)
    deployed = wasmfaas(server, "deploy", name, str(module), "--memory", "320", "--timeout", "7")
    assert deployed.returncode == 0, deployed.stderr

    listed = wasmfaas(server, "list")
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout and "│" not in listed.stdout  # no ANSI codes, no box drawing
    assert listed.stdout.splitlines()[0].split("  ")[0] == "NAME"
    rows = {row["NAME"]: row for row in columns(listed.stdout)}
    row = rows[name]
    assert row["RUNTIME"] == "wasi" and row["KIND"] == "reactor"
    assert row["MEMORY"] == "320" and row["TIMEOUT"] == "7"
    assert row["CODE SIZE"] == str(len(module.read_bytes()))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.*", row["LAST MODIFIED"])
    # FORCE_COLOR makes rich draw for a terminal; --no-color (or NO_COLOR) still gives the plain table.
    assert wasmfaas(server, "list", "--no-color", env={"FORCE_COLOR": "1"}).stdout == listed.stdout
    assert wasmfaas(server, "list", env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).stdout == listed.stdout
    drawn = wasmfaas(server, "list", env={"FORCE_COLOR": "1", "COLUMNS": "200"})
    assert drawn.returncode == 0 and "\x1b[" in drawn.stdout and name in drawn.stdout and "320 MB" in drawn.stdout
    assert wasmfaas(server, "delete", name).returncode == 0


def test_deploy_zip_shows_upload_and_completion(
    server: ServerProcess, tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    name = unique("zip")
    package = tmp_path / "fn.zip"
    # Incompressible padding makes the upload span many chunks.
    package.write_bytes(zip_of({"echo.wasm": guest("echo"), "padding.bin": os.urandom(600_000)}))
    plain = wasmfaas(server, "deploy", name, str(package), "--handler", "echo.wasm")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.startswith(f"created arn:aws:lambda:us-east-1:000000000000:function:{name} (version ")
    assert plain.stderr == ""  # no progress display off a terminal

    drawn = wasmfaas(
        server, "deploy", name, str(package), "--handler", "echo.wasm", env={"FORCE_COLOR": "1", "COLUMNS": "200"}
    )
    assert drawn.returncode == 0, drawn.stderr
    assert "✓" in drawn.stdout and "updated" in drawn.stdout and name in drawn.stdout
    assert f"updating {name}" in drawn.stderr and "building on the server" in drawn.stderr  # the final frame
    assert wasmfaas(server, "invoke", name, '"zipped"').stdout == '"zipped"'
    folder = tmp_path / "src"  # a folder is zipped as a package, as create_function zips one
    folder.mkdir()
    (folder / "echo.wasm").write_bytes(guest("echo"))
    from_folder = wasmfaas(server, "deploy", name, str(folder), "--handler", "echo.wasm")
    assert from_folder.returncode == 0 and "updated" in from_folder.stdout, from_folder.stderr
    assert wasmfaas(server, "invoke", name, '"foldered"').stdout == '"foldered"'
    assert wasmfaas(server, "delete", name).returncode == 0


def test_upload_progress_is_reported_in_chunks(server: ServerProcess, guest: Callable[[str], bytes]) -> None:
    from wasmfaas.server.client import UPLOAD_CHUNK, LambdaClient

    name = unique("chunks")
    code = zip_of({"echo.wasm": guest("echo"), "padding.bin": os.urandom(3 * UPLOAD_CHUNK)})
    calls: list[tuple[int, int]] = []
    body = {"FunctionName": name, "Runtime": "wasi", "Handler": "echo.wasm"}
    client = LambdaClient(server.url, credentials=None)
    created = client.request(
        "POST",
        "/2015-03-31/functions",
        json={**body, "Code": {"ZipFile": base64.b64encode(code).decode()}},
        progress=lambda sent, total: calls.append((sent, total)),
    )
    assert created.status == 201 and created.json()["FunctionName"] == name
    total = calls[-1][1]
    assert len(calls) >= 4 and calls[-1][0] == total > len(code)
    assert [sent for sent, _ in calls] == sorted(sent for sent, _ in calls)
    assert all(t == total for _, t in calls)
    client.request("DELETE", client.function_path("2015-03-31", name))


def test_invoke_deployed_function_prints_the_payload(
    server: ServerProcess, tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    name = unique("inv")
    module = echo_module(tmp_path, guest)
    assert wasmfaas(server, "deploy", name, str(module)).returncode == 0
    payload = '{"items": [1, 2, 3], "nested": {"a": "b"}}'
    invoked = wasmfaas(server, "invoke", name, payload)
    assert invoked.returncode == 0, invoked.stderr
    assert invoked.stdout == payload  # stdout: the payload byte for byte
    assert "START RequestId:" in invoked.stderr and "REPORT RequestId:" in invoked.stderr
    assert "\x1b" not in invoked.stderr
    styled = wasmfaas(server, "invoke", name, payload, env={"FORCE_COLOR": "1"})
    assert styled.returncode == 0 and styled.stdout == payload  # a piped stdout stays raw even with colors forced
    assert "\x1b[" in styled.stderr and styled.stderr.count("RequestId:") == 3  # the log tail, styled
    quiet = wasmfaas(server, "invoke", name, payload, "--no-log")
    assert quiet.stdout == payload and quiet.stderr == ""
    options_first = wasmfaas(server, "invoke", name, "--no-log", "--qualifier", "$LATEST", payload)
    assert options_first.returncode == 0 and options_first.stdout == payload, options_first.stderr

    (tmp_path / "trap.zip").write_bytes(zip_of({"trap.wasm": guest("trap")}))
    assert wasmfaas(server, "deploy", name, str(tmp_path / "trap.zip"), "--handler", "trap.wasm").returncode == 0
    failed = wasmfaas(server, "invoke", name, '"error"', "--no-color")
    assert failed.returncode == 1 and "MyError" in failed.stdout
    assert "function error (" in failed.stderr and "MyError" in failed.stderr and "\x1b" not in failed.stderr
    assert wasmfaas(server, "delete", name).returncode == 0


def test_dead_letter_ids_are_never_wrapped_on_a_terminal() -> None:
    # `wasmfaas dlq list` on a narrow terminal split the ids over two lines: they could not be copied for `replay`.
    from rich.console import Console

    from wasmfaas.server_cli import _table

    letter_id = "6fc01ea1-339e-4e32-a846-89f141000000"
    shown = io.StringIO()
    console = Console(file=shown, width=80, force_terminal=True, color_system=None)
    row = (letter_id, "fn", "12:00:00", "RetriesExhausted", "3", "MyError: " + "a long reason " * 8)
    _table(console, ["Id", "Function", "Failed", "Condition", "Attempts", "Reason"], [row], whole=(0,))
    assert letter_id in shown.getvalue()


def test_deploys_display_keeps_moving_while_the_server_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    # Once the upload was sent the task was "finished": the spinner went blank and the clock stopped at 0:00:00
    # for the whole of a Python build.
    import argparse

    from rich.console import Console

    from wasmfaas import server_cli

    terminal = Console(file=io.StringIO(), width=120, force_terminal=True, color_system=None)
    monkeypatch.setattr(server_cli, "_console", lambda args, stderr=False: terminal)
    display = server_cli._UploadDisplay(argparse.Namespace(), 548)
    assert display.progress is not None
    advance = display.step("creating fn (327 bytes)")
    assert advance is not None
    advance(100, 548)
    (uploading,) = display.progress.tasks
    assert "uploading" in uploading.description and uploading.fields["sent"] == "100 bytes of 548 bytes"
    advance(548, 548)
    (building,) = display.progress.tasks
    assert "building on the server" in building.description and not building.finished


def test_a_new_functions_runtime_is_told_by_its_package(guest: Callable[[str], bytes]) -> None:
    from wasmfaas.server_cli import _runtime_of

    assert _runtime_of(guest("echo")) == "wasi"
    assert _runtime_of(zip_of({"echo.wasm": guest("echo"), "README.py": b""})) == "wasi"
    assert _runtime_of(zip_of({"app.py": b"", "lib/x.js": b""})) == "python3.14"
    assert _runtime_of(zip_of({"index.mjs": b""})) == "js-starlingmonkey"
    assert _runtime_of(zip_of({"index.js": b"", "node_modules/gyp/x.py": b""})) == "js-starlingmonkey"
    assert _runtime_of(zip_of({"notes.txt": b""})) == "wasi"  # nothing to tell by: the server says what is missing
    # A dependency's module is not the function's.
    js = {"package.json": b"{}", "index.mjs": b"", "node_modules/esbuild-wasm/esbuild.wasm": b""}
    assert _runtime_of(zip_of(js)) == "js-starlingmonkey"
    assert _runtime_of(zip_of({"app.py": b"", "pkg/data.wasm": b""})) == "python3.14"
    assert _runtime_of(zip_of({"build/fn.wasm": guest("echo")})) == "wasi"


def test_a_local_file_does_not_shadow_a_deployed_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from wasmfaas.server_cli import is_local_module

    monkeypatch.chdir(tmp_path)
    (tmp_path / "hw").write_text("notes, not a module")
    monkeypatch.delenv("WASMFAAS_ENDPOINT", raising=False)
    assert is_local_module(argparse.Namespace(module=Path("hw"), endpoint=None))  # no server named: the file
    assert not is_local_module(argparse.Namespace(module=Path("hw"), endpoint="http://127.0.0.1:9"))
    monkeypatch.setenv("WASMFAAS_ENDPOINT", "http://127.0.0.1:9")
    assert not is_local_module(argparse.Namespace(module=Path("hw"), endpoint=None))
    assert is_local_module(argparse.Namespace(module=Path("x.wasm"), endpoint=None))  # always local


def test_serve_on_a_taken_port_says_how_to_choose_another(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "wasmfaas.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path / "d")],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2
    assert proc.stderr == (
        f"wasmfaas: cannot listen on 127.0.0.1:{port}: the port is in use (another server? choose one with --port, "
        "or --port 0 for any free one)\n"
    )


def test_serve_keeps_idle_environments_as_long_as_told(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    """`--idle-ttl`: after a burst, idle environments (and their memory) go once they have been idle that long."""
    server = start_server(tmp_path, "--idle-ttl", "2", "--max-idle", "5")
    try:
        client = lambda_client(server.url)
        create_guest(client, "idle", "echo", guest("echo"))

        def cold() -> bool:
            tail = client.invoke(FunctionName="idle", Payload=b"1", LogType="Tail")["LogResult"]
            return "Init Duration" in base64.b64decode(tail).decode()

        assert cold() and not cold()  # warm while used
        deadline = time.monotonic() + 30
        while not cold():  # reaped once idle past 2 s (at the next maintenance round, each second)
            assert time.monotonic() < deadline, "the idle environment was kept past --idle-ttl"
            time.sleep(3.5)
    finally:
        assert server.stop() == 0
