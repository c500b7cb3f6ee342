"""The rest of the HTTP surface: /metrics, /openapi.json, unknown routes, malformed bodies, request ids."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from server_helpers import ServerProcess, request

Create = Callable[..., dict[str, Any]]


def metrics(server: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"{server.url}/metrics") as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_per_function(client: Any, server: ServerProcess, create: Create) -> None:
    name = create("trap")["FunctionName"]
    for payload in (b'"ok"', b'"ok"', b'"error"', b'"trap"'):
        client.invoke(FunctionName=name, Payload=payload)
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(client.exceptions.TooManyRequestsException):
        client.invoke(FunctionName=name)
    m = metrics(server)
    fn = (("function", name),)
    assert m[("wasmfaas_invocations_total", fn)] == 4
    assert m[("wasmfaas_errors_total", (("function", name), ("kind", "Handled")))] == 1
    assert m[("wasmfaas_errors_total", (("function", name), ("kind", "Unhandled")))] == 1
    reason = "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert m[("wasmfaas_throttles_total", (("function", name), ("reason", reason)))] == 1
    assert m[("wasmfaas_duration_seconds_count", fn)] == 4
    assert m[("wasmfaas_cold_starts_total", fn)] >= 1
    assert m[("wasmfaas_concurrent_executions", fn)] == 0
    assert ("wasmfaas_account_concurrent_executions", ()) in m
    # A version or alias the function does not have is a 404 that leaves its counts be.
    for missing in ({"Qualifier": "77"}, {"Qualifier": "nope"}):
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.invoke(FunctionName=name, **missing)
    assert metrics(server)[("wasmfaas_invocations_total", fn)] == 4
    client.delete_function(FunctionName=name)
    assert ("wasmfaas_invocations_total", fn) not in metrics(server)


def test_openapi_document(server: ServerProcess) -> None:
    with urllib.request.urlopen(f"{server.url}/openapi.json") as response:
        document = json.load(response)
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    assert paths["/2015-03-31/functions"]["post"]["operationId"] == "CreateFunction"
    assert paths["/2015-03-31/functions/{FunctionName}/invocations"]["post"]["operationId"] == "Invoke"
    assert set(paths["/2021-10-31/functions/{FunctionName}/url"]) == {"get", "post", "put", "delete"}
    operations = {op["operationId"] for methods in paths.values() for op in methods.values()}
    assert {
        "ListAliases",
        "PutProvisionedConcurrencyConfig",
        "GetAccountSettings",
        "ListFunctionUrlConfigs",
    } <= operations
    assert "CreateFunctionRequest" in document["components"]["schemas"]
    # As the server takes them: a function's name may be a full ARN with a qualifier (Lambda's 256 characters);
    # the benchmark routes are not part of the API.
    (name,) = [
        p
        for p in paths["/2015-03-31/functions/{FunctionName}/invocations"]["post"]["parameters"]
        if p["name"] == "FunctionName"
    ]
    assert name["schema"]["maxLength"] == 256
    assert "/__hello" not in paths and "/__echo" not in paths
    # Layer listings page by at most 50, as Lambda's; the server refuses more, as its document says.
    assert request(f"{server.url}/2018-10-31/layers?MaxItems=51")[0] == 400
    assert request(f"{server.url}/2018-10-31/layers?MaxItems=50")[0] == 200


def test_unknown_routes_are_lambda_style_404(server: ServerProcess) -> None:
    for method, path in (
        ("GET", "/nope"),
        ("PATCH", "/2015-03-31/functions"),
        ("GET", "/2015-03-31/functions/a/b/c"),
    ):
        status, headers, body = request(f"{server.url}{path}", method)
        assert status == 404
        assert dict(headers)["x-amzn-errortype"] == "UnknownOperationException"
        assert json.loads(body)["Type"] == "User"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "InvalidRequestContentException"),
        (b'{"FunctionName": "x", "Description": "\xff"}', "InvalidRequestContentException"),  # not UTF-8
        (b'{"FunctionName": 5, "Code": {}}', "InvalidParameterValueException"),
        (b'{"FunctionName": "x", "Code": {"ZipFile": "!!!"}}', "InvalidParameterValueException"),
        (
            b'{"FunctionName": "x", "Code": {"ZipFile": "AA=="}, "MemorySize": "big"}',
            "InvalidParameterValueException",
        ),
        (b"[]", "InvalidParameterValueException"),
    ],
)
def test_bad_bodies_are_400(server: ServerProcess, body: bytes, code: str) -> None:
    status, headers, _ = request(f"{server.url}/2015-03-31/functions", "POST", body)
    assert (status, dict(headers)["x-amzn-errortype"]) == (400, code)


def test_a_broken_constraint_names_the_value_that_broke_it(server: ServerProcess) -> None:
    # Of a member given twice msgspec checks the first and json.loads keeps the last: the message must not show 256.
    twice = b'{"FunctionName": "x", "Code": {"ZipFile": "AA=="}, "MemorySize": 64, "MemorySize": 256}'
    status, _, body = request(f"{server.url}/2015-03-31/functions", "POST", twice)
    assert status == 400
    assert json.loads(body)["message"] == (
        "1 validation error detected: Value at 'memorySize' failed to satisfy constraint: Member must have value "
        "greater than or equal to 128"
    )


def test_every_response_has_a_request_id(server: ServerProcess) -> None:
    for path in ("/2015-03-31/functions", "/nope", "/metrics"):
        assert dict(request(f"{server.url}{path}")[1]).get("x-amzn-requestid")


def test_hello_route(server: ServerProcess) -> None:
    status, _, body = request(f"{server.url}/__hello")
    assert (status, body) == (200, b"hello, world\n")


def test_echo_route(server: ServerProcess) -> None:
    status, headers, body = request(f"{server.url}/__echo", "POST", b'{"x": [1, 2]}')
    assert (status, body) == (200, b'{"x": [1, 2]}')
    assert ("content-type", "application/json") in headers
    status, headers, body = request(f"{server.url}/__echo", "POST", b"x" * 70_000)
    assert status == 413 and dict(headers)["x-amzn-errortype"] == "RequestTooLargeException"


def test_a_body_cut_short_is_not_acted_on(server: ServerProcess, create: Create) -> None:
    """A client that disconnects mid-body: nothing runs on the half it sent (an Event would be stored durably)."""
    name = create("echo")["FunctionName"]
    before = metrics(server).get(("wasmfaas_invocations_total", (("function", name),)), 0)
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(
            f"POST /2015-03-31/functions/{name}/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            "X-Amz-Invocation-Type: Event\r\n\r\n".encode()
            + b"x" * 300
        )
        time.sleep(0.3)
    time.sleep(0.5)
    assert metrics(server).get(("wasmfaas_invocations_total", (("function", name),)), 0) == before
    status, _, _ = request(f"{server.url}/__echo", "POST", b"[1]", [("Expect", "100-continue")])
    assert status == 200  # a client that asks before sending still gets its answer


def test_digits_that_are_not_ascii_are_not_numbers(server: ServerProcess) -> None:
    # "²".isdigit() is true and int("²") raises: a version number of it had been a 500 (schemathesis found it).
    for path, status in (
        ("/2018-10-31/layers/x/versions/%C2%B2", 400),
        ("/__wasmfaas/layer-code/x/%C2%B2?Expires=1&Signature=x", 400),
        ("/2015-03-31/functions/nope/policy?Qualifier=%C2%B2", 400),
    ):
        assert request(f"{server.url}{path}")[0] == status, path
    assert (
        request(f"{server.url}/2015-03-31/functions/x/invocations", "POST", b"", [("Content-Length", "²")])[0] < 500
    )


def test_a_constraint_wording_not_known_is_msgspecs_own_not_a_500() -> None:
    import msgspec

    from wasmfaas.server.errors import validation_error

    for text in ("Expected `str` matching regex '[' - at `$.Handler`", "Expected `int` >= 1x - at `$.MemorySize`"):
        error = validation_error(msgspec.ValidationError(text), b'{"Handler": "a b", "MemorySize": 1}')
        assert (error.status, error.code, error.message) == (400, "InvalidParameterValueException", text)
