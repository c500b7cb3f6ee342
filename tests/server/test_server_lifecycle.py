"""The server process's life: graceful shutdown drains in-flight invocations; functions and URLs survive restarts."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from server_helpers import ROLE, create_guest, lambda_client, request, start_server, zip_of


@pytest.mark.parametrize("kind", ["uvicorn", "granian"])
def test_sigterm_drains_in_flight_invocations(tmp_path: Path, guest: Callable[[str], bytes], kind: str) -> None:
    server = start_server(tmp_path / "data", "--server", kind)
    try:
        client = _with_warm_sleeper(server.url, guest)
        outcome: dict[str, Any] = {}

        def call() -> None:
            response = client.invoke(FunctionName="slow", Payload=b"1500")
            outcome["status"] = response["StatusCode"]
            outcome["payload"] = response["Payload"].read()

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.4)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        caller.join(30)
        assert outcome == {"status": 200, "payload": b"slept"}
        assert server.process.wait(30) == 0
        assert time.monotonic() - started >= 0.9  # it waited for the invocation
    finally:
        server.stop()


@pytest.mark.parametrize("running", ["a request", "an Event invocation"])
def test_a_second_ctrl_c_forces_the_exit_in_one_line(
    tmp_path: Path, guest: Callable[[str], bytes], running: str
) -> None:
    # Held up by a request, the lifespan is cancelled (uvicorn's traceback, had it not been caught); by an Event
    # invocation alone, uvicorn goes on waiting for the lifespan's shutdown unless told.
    server = start_server(tmp_path / "data")
    try:
        client = _with_warm_sleeper(server.url, guest, Timeout=60)
        caller = threading.Thread(target=_ignore_errors(lambda: client.invoke(FunctionName="slow", Payload=b"30000")))
        if running == "a request":
            caller.start()
        else:
            client.invoke(FunctionName="slow", InvocationType="Event", Payload=b"30000")
        time.sleep(0.4)
        server.process.send_signal(signal.SIGINT)  # graceful: would wait for the 30 s invocation
        time.sleep(0.5)
        server.process.send_signal(signal.SIGINT)
        # An interrupted exit, as a shell reports one, without waiting out the 30 s (an Event goes back to the
        # queue).
        assert server.process.wait(20) == 130
        if caller.is_alive():
            caller.join(30)
        time.sleep(0.2)  # the output thread takes the last lines
        output = "".join(server.output)
        assert output.count("forced exit") == 1 and "Traceback" not in output, output
    finally:
        server.stop()


def test_functions_and_urls_survive_a_restart(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        client = lambda_client(first.url)
        create_guest(client, "keep", "http", guest("http"), MemorySize=256)
        client.publish_version(FunctionName="keep")
        client.create_alias(FunctionName="keep", Name="live", FunctionVersion="1")
        url = client.create_function_url_config(FunctionName="keep", AuthType="NONE")["FunctionUrl"]
        location = client.get_function(FunctionName="keep")["Code"]["Location"]
        # A second server on the same data directory would overwrite the first one's changes: it does not start.
        with pytest.raises(RuntimeError, match="in use by another wasmfaas") as refused:
            start_server(data)
        assert "Traceback" not in str(refused.value)
        assert str(refused.value).count("in use by another wasmfaas") == 1  # said once
    finally:
        assert first.stop() == 0
    second = start_server(data)
    try:
        client = lambda_client(second.url)
        assert client.get_function_configuration(FunctionName="keep")["MemorySize"] == 256
        assert client.get_alias(FunctionName="keep", Name="live")["FunctionVersion"] == "1"
        config = client.get_function_url_config(FunctionName="keep")
        url_id = url.rstrip("/").rsplit("/", 1)[1]
        assert config["FunctionUrl"] == f"{second.url}/urls/{url_id}/"
        assert request(config["FunctionUrl"] + "teapot")[0] == 418
        with urllib.request.urlopen(f"{second.url}/__wasmfaas/health") as response:
            assert response.status == 200
        # A code link given out before the restart still works (as a presigned URL would, until it expires).
        with urllib.request.urlopen(location.replace(first.url, second.url)) as download:
            assert download.status == 200 and download.read()
    finally:
        assert second.stop() == 0


def test_granian_worker_dies_with_a_killed_server(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--server", "granian")
    pid = server.process.pid
    try:
        # Announced only once it listens (granian runs the lifespan before it does): no retry needed.
        assert request(f"{server.url}/__wasmfaas/health")[0] == 200
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        assert children, "granian serves from a worker process"
        server.process.kill()
        server.process.wait(10)
        deadline = time.monotonic() + 30
        alive = [c for c in children if Path(f"/proc/{c}").exists()]
        while alive and time.monotonic() < deadline:
            time.sleep(0.1)
            alive = [c for c in children if Path(f"/proc/{c}").exists() and "Z" not in _state(c)]
        assert not alive, f"worker {alive} outlived the killed server"
    finally:
        server.stop()


def _state(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_granian_shutdown_is_bounded_by_the_shutdown_timeout(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    # granian waits for in-flight requests without bound; with --shutdown-timeout its worker is killed once the
    # drain has had its time, and the server exits instead of waiting for a minute-long invocation.
    server = start_server(tmp_path / "data", "--server", "granian", "--shutdown-timeout", "1")
    try:
        client = _with_warm_sleeper(server.url, guest, Timeout=120)
        caller = threading.Thread(target=_ignore_errors(lambda: client.invoke(FunctionName="slow", Payload=b"60000")))
        caller.start()
        time.sleep(0.5)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(50)
        assert time.monotonic() - started < 40  # the invocation alone would take a minute
        caller.join(60)
    finally:
        server.stop()


def _with_warm_sleeper(url: str, guest: Callable[[str], bytes], **config: Any) -> Any:
    """A client of the server at `url`, which has a function "slow" (the sleep guest) with one warm environment: a
    shutdown test is then about the invocation in flight only."""
    client = lambda_client(url)
    client.create_function(
        FunctionName="slow",
        Role=ROLE,
        Handler="sleep.wasm",
        Code={"ZipFile": zip_of({"sleep.wasm": guest("sleep")})},
        **config,
    )
    client.invoke(FunctionName="slow", Payload=b"0")
    return client


def _ignore_errors(call: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        with contextlib.suppress(Exception):  # the server went away under it: what this test is about
            call()

    return run


def test_a_request_cut_by_the_shutdown_timeout_gets_lambdas_error(
    tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    # uvicorn gives up on a request still running after --shutdown-timeout: its answer was a bare text/plain 500
    # and the server logged a traceback.
    server = start_server(tmp_path / "data", "--shutdown-timeout", "1")
    try:
        _with_warm_sleeper(server.url, guest, Timeout=60)
        outcome: dict[str, Any] = {}

        def call() -> None:
            outcome["response"] = request(f"{server.url}/2015-03-31/functions/slow/invocations", "POST", b"20000")

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        caller.join(60)
        assert server.process.wait(60) == 0
        status, headers, body = outcome["response"]
        assert status == 500 and dict(headers)["x-amzn-errortype"] == "ServiceException"
        assert b"shut down before the request was done" in body
        assert "Traceback" not in "".join(server.output)
    finally:
        server.stop()
