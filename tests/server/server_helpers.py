"""Helpers for the server tests: start a real `wasmfaas serve` process, boto3 clients, zips, unique names."""

from __future__ import annotations

import http.client
import io
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

ACCESS_KEY = "AKIDWASMFAASTEST"
SECRET_KEY = "wasmfaas-test-secret"
ROLE = "arn:aws:iam::000000000000:role/test"
_names = itertools.count()


@dataclass
class ServerProcess:
    url: str
    data_dir: Path
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> ServerProcess:
    """Start `python -m wasmfaas.cli serve --port 0`, wait for its "serving on URL" line."""
    command = [sys.executable, "-m", "wasmfaas.cli", "serve", "--port", "0", "--data-dir", str(data_dir), *args]
    full_env = {**os.environ, **(env or {})}
    for key in ("WASMFAAS_ACCESS_KEY_ID", "WASMFAAS_SECRET_ACCESS_KEY"):
        if env is None or key not in env:
            full_env.pop(key, None)
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=full_env,
        cwd=Path(__file__).parents[2],
    )
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 60
    url = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        if line.startswith("wasmfaas: serving on "):
            url = line.split()[-1]
            break
    if url is None:
        process.kill()
        raise RuntimeError("server did not start:\n" + "".join(output))
    server = ServerProcess(url, data_dir, process, output)

    def drain() -> None:  # keep reading so the server never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    threading.Thread(target=drain, daemon=True).start()
    return server


def lambda_client(url: str, *, key: str = "x", secret: str = "y", read_timeout: int = 60) -> Any:
    # No retries: a test that expects a 429 must see it, not botocore's backoff.
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=read_timeout, connect_timeout=5),
    )


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def create_guest(client: Any, name: str, guest_name: str, wasm: bytes, **params: Any) -> dict[str, Any]:
    """CreateFunction of a test guest's module, uploaded as `<guest_name>.wasm` in a zip; its response."""
    response: dict[str, Any] = client.create_function(
        FunctionName=name,
        Runtime="wasi",
        Role=ROLE,
        Handler=params.pop("Handler", f"{guest_name}.wasm"),
        Code=params.pop("Code", None) or {"ZipFile": zip_of({f"{guest_name}.wasm": wasm})},
        **params,
    )
    return response


def unique(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def request(
    url: str, method: str = "GET", body: bytes | None = None, headers: list[tuple[str, str]] | None = None
) -> tuple[int, list[tuple[str, str]], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    connection.putrequest(method, parts.path + (f"?{parts.query}" if parts.query else ""))
    for name, value in headers or []:
        connection.putheader(name, value)
    if body is not None:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, [(k.lower(), v) for k, v in response.getheaders()], data


def header(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in headers if k == name]
