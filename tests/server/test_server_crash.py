"""`kill -9` of a real server process, then a restart on the same data directory.

- During Event ingestion: every event the server answered 202 for must run after the restart (at least once), counted
  from the log store (the recorder guest logs `EVENT <payload>`; an event's log is committed before it is
  acknowledged, so an event that ran before the kill is in the log store too).
- During registry writes (UpdateFunctionConfiguration / PublishVersion / CreateAlias / CreateFunction in a loop): the
  registry opens again, every acknowledged change is there, each function, version and alias is whole (a change is
  all there or not at all) and invocable.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from botocore.exceptions import BotoCoreError, ClientError
from server_helpers import ROLE, ServerProcess, lambda_client, start_server, zip_of

from wasmfaas.events.queue import SqliteEventQueue
from wasmfaas.registry import SqliteRegistry

PRODUCERS = 4


def kill_9(server: ServerProcess) -> None:
    server.process.kill()  # SIGKILL: no shutdown, no flush, no lease handed back
    server.process.wait(10)


def create(client: Any, name: str, guest: bytes, guest_name: str, **params: Any) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="wasi",
        Role=ROLE,
        Handler=f"{guest_name}.wasm",
        Code={"ZipFile": zip_of({f"{guest_name}.wasm": guest})},
        **params,
    )


def recorded(url: str, name: str) -> list[int]:
    """Every `EVENT {"n": N}` line in the function's logs, in order."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    seen: list[int] = []
    after = 0
    try:
        while True:
            connection.request("GET", f"/__wasmfaas/logs/{name}?after={after}&limit=1000")
            response = connection.getresponse()
            page = json.loads(response.read())
            assert response.status == 200, page
            for event in page["events"]:
                for line in event["message"].splitlines():
                    if line.startswith("EVENT "):
                        seen.append(json.loads(line[6:])["n"])
            if not page["events"]:
                return seen
            after = page["next"]
    finally:
        connection.close()


@pytest.mark.parametrize("kind", ["uvicorn", "granian"])
def test_every_acknowledged_event_runs_after_a_kill_9_during_ingestion(
    tmp_path: Path, guest: Callable[[str], bytes], kind: str
) -> None:
    data = tmp_path / "data"
    # One event at a time, so a backlog builds up while the producers are fast.
    server = start_server(data, "--event-concurrency", "1", "--server", kind)
    try:
        create(lambda_client(server.url), "rec", guest("recorder"), "recorder")
        acked: list[int] = []
        counter = iter(range(1_000_000))
        lock = threading.Lock()
        stop = threading.Event()
        parts = urlsplit(server.url)

        def produce() -> None:
            connection = http.client.HTTPConnection(parts.netloc, timeout=10)
            while not stop.is_set():
                with lock:
                    n = next(counter)
                try:
                    connection.request(
                        "POST",
                        "/2015-03-31/functions/rec/invocations",
                        body=json.dumps({"n": n}).encode(),
                        headers={"X-Amz-Invocation-Type": "Event"},
                    )
                    response = connection.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    return  # the server is gone: this event was never acknowledged
                assert response.status == 202
                with lock:
                    acked.append(n)
            connection.close()

        producers = [threading.Thread(target=produce) for _ in range(PRODUCERS)]
        for producer in producers:
            producer.start()
        deadline = time.monotonic() + 15
        target = 150 + random.randrange(100)
        while len(acked) < target and time.monotonic() < deadline:
            time.sleep(0.005)
        kill_9(server)  # with PRODUCERS requests in flight
        stop.set()
        for producer in producers:
            producer.join(15)
        assert len(acked) >= 50, f"only {len(acked)} events acknowledged before the kill"
    finally:
        stop.set()
        if server.process.poll() is None:
            server.process.kill()
    with sqlite3.connect(data / "events.sqlite3") as db:
        backlog = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    print(f"{len(acked)} events acknowledged; {backlog} still queued at the kill")

    restarted = start_server(data, "--server", kind)
    try:
        deadline = time.monotonic() + 20
        while True:
            seen = recorded(restarted.url, "rec")
            missing = set(acked) - set(seen)
            if not missing:
                break
            assert time.monotonic() < deadline, (
                f"{len(missing)} acknowledged events never ran: {sorted(missing)[:20]}"
            )
            time.sleep(0.1)
        # Nothing ran that was not submitted (at most the requests in flight at the kill, unacknowledged).
        assert len(set(seen) - set(acked)) <= PRODUCERS
    finally:
        assert restarted.stop() == 0, "".join(restarted.output)


def test_the_registry_is_whole_after_a_kill_9_during_writes(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    echo = guest("echo")
    done: dict[str, Any] = {"updates": 0, "versions": [], "aliases": {}, "functions": ["reg"]}
    try:
        client = lambda_client(server.url, read_timeout=10)
        create(client, "reg", echo, "echo", Description="d0", Environment={"Variables": {"NUM": "0"}})
        stop = threading.Event()

        def write() -> None:
            i = 0
            try:
                while not stop.is_set():
                    i += 1
                    client.update_function_configuration(
                        FunctionName="reg", Description=f"d{i}", Environment={"Variables": {"NUM": str(i)}}
                    )
                    done["updates"] = i
                    version = client.publish_version(FunctionName="reg")["Version"]
                    done["versions"].append(version)
                    client.create_alias(FunctionName="reg", Name=f"a{i}", FunctionVersion=version)
                    done["aliases"][f"a{i}"] = version
                    if i % 3 == 0:
                        create(client, f"extra{i}", echo, "echo")
                        done["functions"].append(f"extra{i}")
            except (BotoCoreError, ClientError, OSError):
                return  # the server is gone mid-request

        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 15
        while done["updates"] < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(random.uniform(0, 0.05))  # land somewhere inside an operation
        kill_9(server)
        stop.set()
        writer.join(15)
        assert done["updates"] >= 3, f"only {done['updates']} loops before the kill"
    finally:
        if server.process.poll() is None:
            server.process.kill()

    restarted = start_server(data)
    try:
        client = lambda_client(restarted.url)
        names = [f["FunctionName"] for f in client.list_functions()["Functions"]]
        # Every acknowledged function is there; at most one more (the create in flight at the kill).
        assert set(done["functions"]) <= set(names) and len(names) <= len(done["functions"]) + 1
        for name in names:
            assert client.invoke(FunctionName=name, Payload=b'"hi"')["Payload"].read() == b'"hi"'

        latest = client.get_function_configuration(FunctionName="reg")
        n = int(latest["Environment"]["Variables"]["NUM"])
        assert n in (done["updates"], done["updates"] + 1)  # the last acknowledged update, or the one in flight
        assert latest["Description"] == f"d{n}"  # both fields of one update, never half of it

        versions = [v for v in client.list_versions_by_function(FunctionName="reg")["Versions"]]
        published = [v["Version"] for v in versions if v["Version"] != "$LATEST"]
        assert published[: len(done["versions"])] == done["versions"]
        assert len(published) <= len(done["versions"]) + 1
        for version in versions:
            assert version["Description"] == f"d{version['Environment']['Variables']['NUM']}"
            if version["Version"] != "$LATEST":
                response = client.invoke(FunctionName="reg", Qualifier=version["Version"], Payload=b"1")
                assert response["Payload"].read() == b"1" and response["ExecutedVersion"] == version["Version"]

        aliases = {a["Name"]: a["FunctionVersion"] for a in client.list_aliases(FunctionName="reg")["Aliases"]}
        assert done["aliases"].items() <= aliases.items()
        assert len(aliases) <= len(done["aliases"]) + 1
        for alias, version in aliases.items():
            assert version in published
            assert client.invoke(FunctionName="reg", Qualifier=alias, Payload=b"2")["ExecutedVersion"] == version

        # And the registry takes writes again.
        client.update_function_configuration(
            FunctionName="reg", Description="after", Environment={"Variables": {"NUM": "-1"}}
        )
        assert client.publish_version(FunctionName="reg")["Description"] == "after"
    finally:
        assert restarted.stop() == 0, "".join(restarted.output)


@pytest.fixture(autouse=True)
def _bounded(request: pytest.FixtureRequest) -> Any:
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    assert elapsed < 30, f"{request.node.name} took {elapsed:.1f} s"


def test_what_a_deletion_cut_short_left_behind_goes_at_the_next_start(
    tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    # DeleteFunction drops the function from the registry first, then its queued events, URL, policies and logs. A
    # crash in between left events that ran on a new function of the same name, and its URL for that function.
    data = tmp_path / "data"
    server = start_server(data)
    try:
        client = lambda_client(server.url)
        # The events wait, throttled behind an invocation that holds the function's one slot (a reservation of 0
        # would send them on at once, as Lambda does).
        create(client, "q", guest("sleep"), "sleep", Timeout=60)
        client.put_function_concurrency(FunctionName="q", ReservedConcurrentExecutions=1)
        holder = lambda_client(server.url)

        def hold() -> None:
            with contextlib.suppress(BotoCoreError, ClientError):  # the server is killed under it
                holder.invoke(FunctionName="q", Payload=b"60000")

        threading.Thread(target=hold, daemon=True).start()
        deadline = time.monotonic() + 30
        running = 'wasmfaas_concurrent_executions{function="q"} 1.0'
        while running not in urllib.request.urlopen(f"{server.url}/metrics").read().decode():
            assert time.monotonic() < deadline, "the holding invocation never started"
            time.sleep(0.05)
        for n in range(5):
            client.invoke(FunctionName="q", InvocationType="Event", Payload=json.dumps({"n": n}).encode())
        client.create_function_url_config(FunctionName="q", AuthType="NONE")
        client.add_permission(FunctionName="q", StatementId="s", Action="lambda:InvokeFunction", Principal="*")
        create(client, "keep", guest("recorder"), "recorder")
        client.create_function_url_config(FunctionName="keep", AuthType="NONE")
    finally:
        kill_9(server)
    anyio.run(_note_deletion, data, "keep")  # noted, and the crash came before the registry was written
    # A DeleteFunction's first steps, as the crash leaves them: the deletion noted, the registry written.
    anyio.run(_note_deletion, data, "q")
    registry = SqliteRegistry(data)
    registry.delete("q")
    registry.close()
    server = start_server(data)
    try:
        client = lambda_client(server.url)
        create(client, "q", guest("recorder"), "recorder")
        for call in (client.get_function_url_config, client.get_policy):
            with pytest.raises(ClientError, match="ResourceNotFound"):
                call(FunctionName="q")
        assert client.get_function_url_config(FunctionName="keep")["AuthType"] == "NONE"  # never deleted: kept
        connection = http.client.HTTPConnection(urlsplit(server.url).netloc, timeout=30)
        connection.request("GET", "/__wasmfaas/dlq?FunctionName=q")
        letters = json.loads(connection.getresponse().read())["DeadLetters"]
        connection.close()
        assert len(letters) == 5 and {letter["Condition"] for letter in letters} == {"FunctionNotFound"}
        client.invoke(FunctionName="q", InvocationType="Event", Payload=b'{"n": 99}')  # the new function's own
        deadline = time.monotonic() + 30
        while not recorded(server.url, "q") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert recorded(server.url, "q") == [99]
    finally:
        assert server.stop() == 0


async def _note_deletion(data: Path, name: str) -> None:
    async with SqliteEventQueue(data) as queue:
        await queue.note_deletion(name, None)
