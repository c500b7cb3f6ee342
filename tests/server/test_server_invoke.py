"""Invoke through boto3 against a real server: invocation types, logs, function errors, limits, throttling."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError
from server_helpers import ServerProcess, request

Create = Callable[..., dict[str, Any]]


def test_request_response(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    response = client.invoke(FunctionName=name, Payload=b'{"hello": "world"}')
    assert response["StatusCode"] == 200
    assert response["Payload"].read() == b'{"hello": "world"}'
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response and "LogResult" not in response
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"


def test_tail_returns_the_log(client: Any, create: Create) -> None:
    name = create("log")["FunctionName"]
    response = client.invoke(FunctionName=name, LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["RequestId"]
    assert log.startswith(f"START RequestId: {request_id} Version: $LATEST\n")
    assert "line 1\nline 2\nline 3\n" in log
    assert f"END RequestId: {request_id}\n" in log
    assert f"REPORT RequestId: {request_id}\tDuration: " in log


def test_tail_keeps_the_last_4_kb(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    client.update_function_configuration(FunctionName=name, Environment={"Variables": {"XX": "y"}})
    response = client.invoke(FunctionName=name, LogType="Tail", Payload=b"1")
    assert len(base64.b64decode(response["LogResult"])) <= 4096


def test_handled_and_unhandled_errors(client: Any, create: Create) -> None:
    name = create("trap")["FunctionName"]
    handled = client.invoke(FunctionName=name, Payload=b'"error"')
    assert handled["StatusCode"] == 200 and handled["FunctionError"] == "Handled"
    body = json.loads(handled["Payload"].read())
    assert body == {"errorMessage": "something went wrong", "errorType": "MyError", "stackTrace": []}
    unhandled = client.invoke(FunctionName=name, Payload=b'"trap"', LogType="Tail")
    assert unhandled["StatusCode"] == 200 and unhandled["FunctionError"] == "Unhandled"
    body = json.loads(unhandled["Payload"].read())
    assert (
        body["errorType"].startswith("Runtime.") and body["requestId"] == unhandled["ResponseMetadata"]["RequestId"]
    )
    assert "[ERROR]" in base64.b64decode(unhandled["LogResult"]).decode()


def test_versions_aliases_and_qualifiers(client: Any, create: Create) -> None:
    name = create("context")["FunctionName"]
    client.publish_version(FunctionName=name)
    client.update_function_configuration(FunctionName=name, MemorySize=256)
    client.publish_version(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")

    def ran(**kwargs: Any) -> tuple[str, int]:
        response = (
            client.invoke(FunctionName=name, **kwargs) if "FunctionName" not in kwargs else client.invoke(**kwargs)
        )
        return response["ExecutedVersion"], json.loads(response["Payload"].read())["memory_limit_mb"]

    assert ran() == ("$LATEST", 256)
    assert ran(Qualifier="1") == ("1", 128)
    assert ran(Qualifier="2") == ("2", 256)
    assert ran(Qualifier="live") == ("1", 128)
    assert ran(FunctionName=f"{name}:live") == ("1", 128)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName=name, Qualifier="9")
    with pytest.raises(ClientError) as e:
        client.invoke(FunctionName=f"{name}:1", Qualifier="2")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    client.update_alias(FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    versions = {ran(Qualifier="live")[0] for _ in range(60)}
    assert versions == {"1", "2"}


def test_dry_run(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    assert client.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="nope", InvocationType="DryRun")


def stream_events(response: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """The PayloadChunks joined, and the InvokeComplete event, of an InvokeWithResponseStream response."""
    chunks, complete = [], None
    for event in response["EventStream"]:
        assert complete is None, "InvokeComplete must be the last event"
        if "PayloadChunk" in event:
            chunks.append(event["PayloadChunk"]["Payload"])
        else:
            complete = event["InvokeComplete"]
    assert complete is not None
    return b"".join(chunks), complete


def test_invoke_with_response_stream(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    client.publish_version(FunctionName=name)
    payload = json.dumps({"big": "x" * (3 * 1024 * 1024)}).encode()  # streams as several chunks
    response = client.invoke_with_response_stream(FunctionName=name, Payload=payload, Qualifier="1")
    assert response["StatusCode"] == 200 and response["ExecutedVersion"] == "1"
    assert response["ResponseStreamContentType"] == "application/vnd.amazon.eventstream"
    body, complete = stream_events(response)
    assert body == payload and complete == {}
    tailed = client.invoke_with_response_stream(FunctionName=name, Payload=b"{}", LogType="Tail")
    body, complete = stream_events(tailed)
    request_id = tailed["ResponseMetadata"]["RequestId"]
    assert body == b"{}" and set(complete) == {"LogResult"}
    assert base64.b64decode(complete["LogResult"]).decode().startswith(f"START RequestId: {request_id} ")
    assert client.invoke_with_response_stream(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke_with_response_stream(FunctionName=f"{name}-missing")
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.invoke_with_response_stream(FunctionName=name, InvocationType="Event")


def test_a_streamed_function_error_ends_in_invoke_complete(client: Any, create: Create) -> None:
    name = create("trap")["FunctionName"]
    body, complete = stream_events(client.invoke_with_response_stream(FunctionName=name, Payload=b'"error"'))
    assert json.loads(body)["errorType"] == "MyError"
    assert complete == {"ErrorCode": "MyError", "ErrorDetails": "something went wrong"}
    body, complete = stream_events(client.invoke_with_response_stream(FunctionName=name, Payload=b'"trap"'))
    assert complete["ErrorCode"].startswith("Runtime.") and complete["ErrorCode"] == json.loads(body)["errorType"]


def test_event_invocation_runs_later(client: Any, server: ServerProcess, create: Create) -> None:
    name = create("recorder")["FunctionName"]
    response = client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 7}')
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    assert response["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{server.url}/__wasmfaas/logs/{name}") as logs:
            events = json.load(logs)["events"]
        if events:
            assert 'EVENT {"n": 7}' in events[0]["message"]
            return
        time.sleep(0.05)
    pytest.fail("the event was never invoked")


def test_event_with_tail_is_400(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    with pytest.raises(ClientError) as e:
        client.invoke(FunctionName=name, InvocationType="Event", LogType="Tail")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_payload_limits(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    with pytest.raises(ClientError) as e:
        client.invoke(FunctionName=name, Payload=b"x" * (6 * 1024 * 1024 + 1))
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert e.value.response["Error"]["Code"] == "RequestTooLargeException"
    with pytest.raises(ClientError) as e:
        client.invoke(FunctionName=name, InvocationType="Event", Payload=b"x" * (1024 * 1024 + 1))
    assert e.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert "smaller than 1048576 bytes for the InvokeAsync operation" in e.value.response["Error"]["Message"]
    big = b'"' + b"x" * (6 * 1024 * 1024 - 2) + b'"'
    assert client.invoke(FunctionName=name, Payload=big)["Payload"].read() == big


def test_bad_invocation_headers_are_400(server: ServerProcess, create: Create) -> None:
    name = create("echo")["FunctionName"]
    request = urllib.request.Request(
        f"{server.url}/2015-03-31/functions/{name}/invocations", data=b"1", headers={"X-Amz-Invocation-Type": "Later"}
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request)
    assert e.value.code == 400
    assert e.value.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"
    assert json.loads(e.value.read())["Type"] == "User"


def test_throttling_with_reserved_concurrency(client: Any, server: ServerProcess, create: Create) -> None:
    name = create("sleep")["FunctionName"]
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)

    def call(_: int) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"{server.url}/2015-03-31/functions/{name}/invocations", data=b"700")
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses.count(200) == 2 and statuses.count(429) == 6, statuses
    _, headers, body = next(r for r in results if r[0] == 429)
    assert headers["x-amzn-errortype"] == "TooManyRequestsException"
    assert headers["retry-after"].isdigit()
    assert json.loads(body)["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(client.invoke, FunctionName=name, Payload=b"500") for _ in range(3)]
        errors = [f.exception() for f in futures]
    throttled = [e for e in errors if e is not None]
    assert len(throttled) == 1
    assert isinstance(throttled[0], client.exceptions.TooManyRequestsException)
    assert throttled[0].response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.invoke(FunctionName=name, Payload=b"0")


def test_the_common_invoke_and_the_general_route_answer_alike(server: ServerProcess, create: Create) -> None:
    """A plain RequestResponse Invoke is parsed without the route table (invoke.plain_invoke); the same request in
    another form (a function ARN, a Qualifier) takes the general route. Both must answer the same."""
    echo = create("echo")["FunctionName"]
    trap = create("trap")["FunctionName"]
    limited = create("echo")["FunctionName"]
    status, _, _ = request(
        f"{server.url}/2017-10-31/functions/{limited}/concurrency", "PUT", b'{"ReservedConcurrentExecutions": 0}'
    )
    assert status == 200

    def forms(name: str) -> list[str]:
        plain = f"/2015-03-31/functions/{name}/invocations"
        arn = f"/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:{name}/invocations"
        return [plain, arn, plain + "?Qualifier=%24LATEST"]

    cases = [
        (echo, b'{"a": 1}', [], 200),
        (echo, b"1", [("X-Amz-Log-Type", "Tail"), ("X-Amz-Invocation-Type", "RequestResponse")], 200),
        (trap, b'"error"', [], 200),
        (trap, b'"trap"', [], 200),
        (limited, b"1", [], 429),
        (echo, b"x" * (6 * 1024 * 1024 + 1), [], 413),
        (echo, b"1", [("X-Amz-Log-Type", "Everything")], 400),
        (echo, b"1", [("X-Amz-Invocation-Type", "RequestResponse")] * 2, 400),  # repeated: joined, then refused
        (limited, b"x" * (6 * 1024 * 1024 + 1), [], 413),  # too large comes before throttled, on every path
    ]
    for name, body, headers, expected in cases:
        answers = []
        for path in forms(name):
            status, got, data = request(f"{server.url}{path}", "POST", body, headers)
            kept = {k: v for k, v in got if k not in ("x-amzn-requestid", "date", "x-amz-log-result")}
            if ("x-amz-function-error", "Unhandled") in got:
                data = json.dumps({**json.loads(data), "requestId": "-"}).encode()  # each has its own id
            tails = [base64.b64decode(v).decode().split(" ")[:2] for k, v in got if k == "x-amz-log-result"]
            answers.append((status, kept, data, tails))
        assert answers[0][0] == expected, (name, headers, answers[0])
        assert answers[0] == answers[1] == answers[2], (name, body[:20], headers, answers)


def test_client_context_must_be_base64_json(client: Any, server: ServerProcess, create: Create) -> None:
    name = create("echo")["FunctionName"]
    context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    assert client.invoke(FunctionName=name, ClientContext=context, Payload=b"1")["StatusCode"] == 200
    url = f"{server.url}/2015-03-31/functions/{name}/invocations"
    for bad in ("!!!", base64.b64encode(b"not json").decode(), base64.b64encode(b"[1]").decode(), "x" * 4000):
        status, headers, _ = request(url, "POST", b"1", [("X-Amz-Client-Context", bad)])
        assert (status, dict(headers)["x-amzn-errortype"]) == (400, "InvalidParameterValueException"), bad
