"""Asynchronous invocation through the server: request ids, EventInvokeConfig over boto3, destinations, dead letters
(HTTP and `wasmfaas dlq`), and the log store behind `/__wasmfaas/logs` and `wasmfaas logs --follow`."""

from __future__ import annotations

import base64
import datetime
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from botocore.exceptions import ClientError
from server_helpers import ServerProcess, create_guest, lambda_client, request, start_server, unique

from wasmfaas.server.app import LambdaServer
from wasmfaas.server.settings import ServerSettings

Create = Callable[..., dict[str, Any]]
ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def wasmfaas(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASMFAAS_ENDPOINT": server.url}
    for key in ("WASMFAAS_ACCESS_KEY_ID", "WASMFAAS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "wasmfaas.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def metrics(server: ServerProcess) -> str:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as response:
        text: str = response.read().decode()
    return text


def logs_of(server: ServerProcess, name: str, query: str = "") -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.url}/__wasmfaas/logs/{name}{query}", timeout=30) as response:
        page: dict[str, Any] = json.load(response)
    return page


def wait_for_lines(server: ServerProcess, name: str, prefix: str, count: int, timeout: float = 15.0) -> list[str]:
    """The first `count` log lines of a function starting with `prefix` (prefix removed), waiting for them."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [
            line[len(prefix) :]
            for event in logs_of(server, name)["events"]
            for line in event["message"].splitlines()
            if line.startswith(prefix)
        ]
        if len(lines) >= count:
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}: {len(lines)} of {count} {prefix!r} lines after {timeout} s")
        time.sleep(0.05)


def dlq(server: ServerProcess, method: str = "GET", path: str = "") -> tuple[int, Any]:
    status, _, body = request(f"{server.url}/__wasmfaas/dlq{path}", method, b"" if method == "POST" else None)
    return status, json.loads(body) if body else None


def dead_letters(server: ServerProcess, name: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        letters: list[dict[str, Any]] = dlq(server, path=f"?FunctionName={name}")[1]["DeadLetters"]
        if len(letters) >= count:
            return letters
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}: {len(letters)} of {count} dead letters after {timeout} s")
        time.sleep(0.05)


def test_the_202s_request_id_is_the_one_the_function_sees(client: Any, server: ServerProcess, create: Create) -> None:
    name = create("context")["FunctionName"]
    response = client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert response["StatusCode"] == 202
    request_id = response["ResponseMetadata"]["RequestId"]
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == request_id
    assert wait_for_lines(server, name, "context: stdout line for ", 1) == [request_id]
    (event,) = logs_of(server, name)["events"]
    assert event["requestId"] == request_id and event["message"].startswith(f"START RequestId: {request_id} ")


def test_invoke_async_queues_an_event(client: Any, server: ServerProcess, create: Create) -> None:
    """Lambda's deprecated InvokeAsync (boto3's invoke_async) is an Event invocation by another path."""
    name = create("context")["FunctionName"]
    response = client.invoke_async(FunctionName=name, InvokeArgs=b"{}")
    assert response["Status"] == 202
    request_id = response["ResponseMetadata"]["RequestId"]
    assert wait_for_lines(server, name, "context: stdout line for ", 1) == [request_id]
    with pytest.raises(ClientError) as excinfo:
        client.invoke_async(FunctionName=f"{name}-missing", InvokeArgs=b"{}")
    assert excinfo.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # Lambda's limit for this call is 256 KB (Invoke's Event takes up to 1 MB).
    assert client.invoke_async(FunctionName=name, InvokeArgs=b"x" * 262_144)["Status"] == 202
    with pytest.raises(ClientError) as excinfo:
        client.invoke_async(FunctionName=name, InvokeArgs=b"x" * (262_144 + 1))
    assert excinfo.value.response["Error"]["Code"] == "RequestTooLargeException"


def test_event_invoke_config_crud(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    target = create("recorder")["FunctionName"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_event_invoke_config(FunctionName=name)

    put = client.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": f"{ARN}{target}"}},
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert put["FunctionArn"] == f"{ARN}{name}:$LATEST"
    assert put["MaximumRetryAttempts"] == 1 and "MaximumEventAgeInSeconds" not in put
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": f"{ARN}{target}"}}
    assert isinstance(put["LastModified"], datetime.datetime)

    got = client.get_function_event_invoke_config(FunctionName=name)
    assert {k: v for k, v in got.items() if k != "ResponseMetadata"} == {
        k: v for k, v in put.items() if k != "ResponseMetadata"
    }

    updated = client.update_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=120, DestinationConfig={"OnSuccess": {"Destination": target}}
    )
    assert updated["MaximumRetryAttempts"] == 1 and updated["MaximumEventAgeInSeconds"] == 120
    assert updated["DestinationConfig"] == {
        "OnSuccess": {"Destination": target},
        "OnFailure": {"Destination": f"{ARN}{target}"},
    }
    cleared = client.update_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {}})
    assert cleared["DestinationConfig"]["OnFailure"] == {}

    # Versions and aliases have configurations of their own; the list has them all, a page at a time.
    client.publish_version(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    client.put_function_event_invoke_config(FunctionName=name, Qualifier="1", MaximumRetryAttempts=0)
    client.put_function_event_invoke_config(FunctionName=f"{name}:live", MaximumRetryAttempts=2)
    listed = client.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [f"{ARN}{name}:{q}" for q in ("$LATEST", "1", "live")]
    first = client.list_function_event_invoke_configs(FunctionName=name, MaxItems=2)
    assert len(first["FunctionEventInvokeConfigs"]) == 2
    rest = client.list_function_event_invoke_configs(FunctionName=name, Marker=first["NextMarker"])
    assert [c["FunctionArn"] for c in rest["FunctionEventInvokeConfigs"]] == [f"{ARN}{name}:live"]
    assert "NextMarker" not in rest
    assert client.get_function_event_invoke_config(FunctionName=name, Qualifier="live")["MaximumRetryAttempts"] == 2

    deleted = client.delete_function_event_invoke_config(FunctionName=name, Qualifier="1")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_event_invoke_config(FunctionName=name, Qualifier="1")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.delete_function_event_invoke_config(FunctionName=name, Qualifier="1")
    # Deleting the alias drops its configuration, as on Lambda.
    client.delete_alias(FunctionName=name, Name="live")
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_event_invoke_config(FunctionName=f"{name}:live")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"MaximumRetryAttempts": 3}, "Value '3' at 'maximumRetryAttempts' failed to satisfy constraint"),  # Lambda's
        ({"MaximumEventAgeInSeconds": 21601}, "Value '21601' at 'maximumEventAgeInSeconds' failed to satisfy"),
        ({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:q"}}}, "Lambda"),
    ],
)
def test_bad_event_invoke_configs_are_400(client: Any, create: Create, params: dict[str, Any], message: str) -> None:
    name = create("echo")["FunctionName"]
    with pytest.raises(ClientError) as e:
        client.put_function_event_invoke_config(FunctionName=name, **params)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert message in e.value.response["Error"]["Message"]


def test_configs_of_unknown_functions_are_404(client: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.put_function_event_invoke_config(FunctionName=unique("nope"), MaximumRetryAttempts=0)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.list_function_event_invoke_configs(FunctionName=unique("nope"))


def test_a_deleted_function_takes_its_configs_with_it(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    client.delete_function(FunctionName=name)
    create("echo", name)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_event_invoke_config(FunctionName=name)


def test_destinations_receive_invocation_records(client: Any, server: ServerProcess, create: Create) -> None:
    name = create("trap")["FunctionName"]
    sink = create("recorder")["FunctionName"]
    client.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnSuccess": {"Destination": sink}, "OnFailure": {"Destination": f"{ARN}{sink}"}},
    )
    ok = client.invoke(FunctionName=name, InvocationType="Event", Payload=b'"fine"')
    bad = client.invoke(FunctionName=name, InvocationType="Event", Payload=b'"error"')
    records = {}
    for line in wait_for_lines(server, sink, "EVENT ", 2):
        record = json.loads(line)
        records[record["requestContext"]["requestId"]] = record
    success = records[ok["ResponseMetadata"]["RequestId"]]
    assert success["requestContext"]["condition"] == "Success"
    assert success["requestContext"]["functionArn"] == f"{ARN}{name}:$LATEST"
    assert success["requestPayload"] == "fine" and success["responsePayload"] == "ok"
    failure = records[bad["ResponseMetadata"]["RequestId"]]
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 1
    assert failure["responseContext"]["functionError"] == "Handled"
    assert failure["responsePayload"]["errorType"] == "MyError"


def test_dead_letters_over_http(client: Any, server: ServerProcess, create: Create) -> None:
    name = create("trap")["FunctionName"]
    client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    request_id = client.invoke(FunctionName=name, InvocationType="Event", Payload=b'"error"')["ResponseMetadata"][
        "RequestId"
    ]
    (letter,) = dead_letters(server, name, 1)
    assert letter["RequestId"] == request_id and letter["FunctionName"] == name
    assert letter["Condition"] == "RetriesExhausted" and letter["Attempts"] == 1
    assert base64.b64decode(letter["Payload"]) == b'"error"'
    assert letter["Record"]["responsePayload"]["errorType"] == "MyError"
    assert "MyError" in letter["Reason"]
    assert dlq(server, path=f"/{letter['Id']}") == (200, letter)
    assert letter in dlq(server)[1]["DeadLetters"]  # unfiltered

    status, replayed = dlq(server, "POST", f"/{letter['Id']}/replay")
    assert status == 202 and replayed["RequestId"] != request_id
    assert dlq(server, path=f"/{letter['Id']}")[0] == 404  # replayed: gone ...
    (again,) = dead_letters(server, name, 1)  # ... and it failed again, under its new request id
    assert again["RequestId"] == replayed["RequestId"]

    assert dlq(server, "DELETE", f"/{again['Id']}") == (204, None)
    assert dlq(server, path=f"?FunctionName={name}")[1] == {"DeadLetters": []}
    status, error = dlq(server, "DELETE", f"/{again['Id']}")
    assert status == 404 and "Dead letter not found" in error["Message"]
    assert dlq(server, "POST", "/no-such-letter/replay")[0] == 404
    assert dlq(server, path="?MaxItems=0")[0] == 400


def test_wasmfaas_dlq_commands(client: Any, server: ServerProcess, create: Create) -> None:
    name = create("trap")["FunctionName"]
    client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    for _ in range(3):
        client.invoke(FunctionName=name, InvocationType="Event", Payload=b'"error"')
    letters = dead_letters(server, name, 3)

    listed = wasmfaas(server, "dlq", "list", "--function", name)
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()
    assert rows[0].split()[:4] == ["ID", "FUNCTION", "FAILED", "CONDITION"]
    assert [row.split()[0] for row in rows[1:]] == [letter["Id"] for letter in letters]
    assert all("RetriesExhausted" in row for row in rows[1:])
    as_json = wasmfaas(server, "dlq", "list", "--function", name, "--json")
    assert [json.loads(line)["Id"] for line in as_json.stdout.splitlines()] == [letter["Id"] for letter in letters]
    shown = wasmfaas(server, "dlq", "show", letters[0]["Id"])
    assert shown.returncode == 0 and json.loads(shown.stdout)["Payload"] == "error"

    replayed = wasmfaas(server, "dlq", "replay", letters[0]["Id"])
    assert replayed.returncode == 0 and replayed.stdout.startswith(f"replayed {letters[0]['Id']} as request ")
    deleted = wasmfaas(server, "dlq", "delete", letters[1]["Id"])
    assert deleted.returncode == 0 and deleted.stdout == f"deleted {letters[1]['Id']}\n"
    # One that cannot go is reported, and the others still go: exit status 1.
    missing = wasmfaas(server, "dlq", "delete", letters[1]["Id"], letters[2]["Id"])
    assert missing.returncode == 1 and f"{letters[1]['Id']}: ResourceNotFoundException" in missing.stderr
    assert missing.stdout == f"deleted {letters[2]['Id']}\n"
    assert wasmfaas(server, "dlq", "replay").returncode == 2  # neither IDs nor --function

    dead_letters(server, name, 1)  # the replayed one, which failed again
    emptied = wasmfaas(server, "dlq", "delete", "--function", name)
    assert emptied.returncode == 0 and emptied.stdout.count("deleted ") == 1
    assert wasmfaas(server, "dlq", "list", "--function", name).stdout.splitlines()[1:] == []


def test_logs_long_poll_answers_when_an_entry_arrives(client: Any, server: ServerProcess, create: Create) -> None:
    name = create("echo")["FunctionName"]
    client.invoke(FunctionName=name, Payload=b'"first"')
    page = logs_of(server, name, "?tail=10")
    assert len(page["events"]) == 1
    # tail=0 (`wasmfaas logs --follow --tail 0`): nothing yet, and a cursor that skips everything there is.
    assert logs_of(server, name, "?tail=0") == {"events": [], "next": page["next"]}
    started = time.monotonic()
    assert logs_of(server, name, f"?after={page['next']}&wait=1") == {"events": [], "next": page["next"]}
    assert time.monotonic() - started >= 0.9  # it waited for nothing
    answer: dict[str, Any] = {}

    def poll() -> None:
        answer["page"] = logs_of(server, name, f"?after={page['next']}&wait=20")
        answer["at"] = time.monotonic()

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.3)
    invoked_at = time.monotonic()
    request_id = client.invoke(FunctionName=name, Payload=b'"second"')["ResponseMetadata"]["RequestId"]
    poller.join(30)
    assert [e["requestId"] for e in answer["page"]["events"]] == [request_id]
    assert answer["at"] - invoked_at < 5  # woken by the commit, not by the 20 s timeout
    assert logs_of(server, name, "?tail=1")["events"][0]["requestId"] == request_id


def test_wasmfaas_logs_follow_streams_new_entries(client: Any, server: ServerProcess, create: Create) -> None:
    name = create("echo")["FunctionName"]
    client.invoke(FunctionName=name, Payload=b'"before"')
    follower = subprocess.Popen(
        [sys.executable, "-m", "wasmfaas.cli", "logs", name, "--follow", "--tail", "5", "--endpoint", server.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        seen: list[str] = []
        deadline = time.monotonic() + 30

        def starts() -> list[str]:
            return [line.split()[2] for line in seen if line.startswith("START RequestId: ")]

        while len(starts()) < 1 and time.monotonic() < deadline:
            seen.append(follower.stdout.readline())
        request_ids = [
            client.invoke(FunctionName=name, Payload=f'"after {i}"'.encode())["ResponseMetadata"]["RequestId"]
            for i in range(2)
        ]
        while len(starts()) < 3 and time.monotonic() < deadline:
            seen.append(follower.stdout.readline())
        assert starts()[1:] == request_ids, "".join(seen)
    finally:
        follower.kill()
        follower.wait()


def test_logs_of_a_deleted_function_go_with_it(client: Any, server: ServerProcess, create: Create) -> None:
    name = create("echo")["FunctionName"]
    client.invoke(FunctionName=name, Payload=b"1")
    assert len(logs_of(server, name)["events"]) == 1
    client.delete_function(FunctionName=name)
    create("echo", name)
    assert logs_of(server, name)["events"] == []


def test_an_invocation_running_through_its_functions_deletion_logs_nowhere(
    client: Any, server: ServerProcess, create: Create
) -> None:
    # Its log went into the logs of a function made again under the name while it ran.
    name = create("sleep")["FunctionName"]
    client.invoke(FunctionName=name, Payload=b"0")  # warm: the slow call below is the only one running
    caller = threading.Thread(target=lambda: client.invoke(FunctionName=name, Payload=b"1500"))
    caller.start()
    time.sleep(0.5)
    client.delete_function(FunctionName=name)
    create("sleep", name)
    caller.join(30)
    assert logs_of(server, name)["events"] == []


def test_sigterm_lets_running_event_invocations_finish(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        client = lambda_client(server.url)
        create_guest(client, "slow", "sleep", guest("sleep"))
        client.invoke(FunctionName="slow", InvocationType="Event", Payload=b"1500")
        deadline = time.monotonic() + 15
        while 'wasmfaas_concurrent_executions{function="slow"} 1.0' not in metrics(server):
            assert time.monotonic() < deadline, "the event never started"
            time.sleep(0.02)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(30) == 0
        assert time.monotonic() - started >= 1.0  # it waited for the event
    finally:
        server.stop()
    # It finished before the exit: its log is there, and it does not run again after a restart.
    restarted = start_server(data)
    try:
        (event,) = logs_of(restarted, "slow")["events"]
        assert "REPORT RequestId:" in event["message"]
        with sqlite3.connect(data / "events.sqlite3") as db:
            assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    finally:
        assert restarted.stop() == 0


@pytest.mark.anyio
async def test_a_long_poll_ends_when_its_client_hangs_up(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    """300 clients that left had kept the server polling the log store for each until its 20 s wait ran out."""
    app = LambdaServer(ServerSettings(data_dir=tmp_path))
    startup: list[dict[str, Any]] = [{"type": "lifespan.startup"}]
    shutdown = anyio.Event()
    started = anyio.Event()

    async def lifespan_receive() -> dict[str, Any]:
        if startup:
            return startup.pop()
        await shutdown.wait()
        return {"type": "lifespan.shutdown"}

    async def lifespan_send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(app, {"type": "lifespan"}, lifespan_receive, lifespan_send)
        await started.wait()
        assert app.ctx is not None
        await app.ctx.platform.create_function("quiet", guest("echo"))
        gone = anyio.Event()
        messages = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await gone.wait()
            return {"type": "http.disconnect"}

        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http", "method": "GET", "path": "/__wasmfaas/logs/quiet", "raw_path": b"/__wasmfaas/logs/quiet",
            "query_string": b"after=0&wait=20", "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 1),
            "scheme": "http", "server": ("127.0.0.1", 80),
        }  # fmt: skip
        with anyio.fail_after(10):  # well short of the 20 s wait: the hang-up ended it
            async with anyio.create_task_group() as request:
                request.start_soon(app, scope, receive, send)
                await anyio.sleep(0.2)
                assert not sent  # still waiting for an entry
                gone.set()
        shutdown.set()
