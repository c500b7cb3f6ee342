"""Function URLs against a real server: their configuration API and HTTP requests as payload 2.0 events."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from server_helpers import ServerProcess, header, request

from wasmfaas.errors import WasmfaasError
from wasmfaas.server.policy_store import PolicyStore
from wasmfaas.server.url_store import UrlStore
from wasmfaas.server.urls import map_result

Create = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def http_function(client: Any, create: Create) -> tuple[str, str]:
    name = create("http")["FunctionName"]
    config = client.create_function_url_config(FunctionName=name, AuthType="NONE")
    return name, config["FunctionUrl"]


def test_url_config_api(client: Any, server: ServerProcess, create: Create) -> None:
    name = create("http")["FunctionName"]
    created = client.create_function_url_config(
        FunctionName=name, AuthType="NONE", Cors={"AllowOrigins": ["https://example.com"]}
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    url = created["FunctionUrl"]
    assert url.startswith(f"{server.url}/urls/") and url.endswith("/")
    assert len(url.rstrip("/").rsplit("/", 1)[1]) == 32
    assert created["FunctionArn"].endswith(f":function:{name}")
    assert (created["AuthType"], created["InvokeMode"]) == ("NONE", "BUFFERED")
    with pytest.raises(ClientError) as e:
        client.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    got = client.get_function_url_config(FunctionName=name)
    assert got["FunctionUrl"] == url and got["Cors"] == {"AllowOrigins": ["https://example.com"]}
    updated = client.update_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    assert updated["AuthType"] == "AWS_IAM" and updated["FunctionUrl"] == url
    client.publish_version(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    aliased = client.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    assert aliased["FunctionArn"].endswith(f":function:{name}:live")
    listed = client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert sorted(c["FunctionUrl"] for c in listed) == sorted([url, aliased["FunctionUrl"]])
    page = client.list_function_url_configs(FunctionName=name, MaxItems=1)
    assert len(page["FunctionUrlConfigs"]) == 1 and page["NextMarker"]
    with pytest.raises(ClientError) as e:
        client.create_function_url_config(FunctionName=name, Qualifier="1", AuthType="NONE")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as e:
        client.update_function_url_config(FunctionName=name, InvokeMode="RESPONSE_STREAM")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    for methods in (["FOO"], ["TRACE"], ["OPTION"], ["GET", "CONNECT"]):  # Lambda's six methods and "*" only
        with pytest.raises(ClientError) as e:
            client.update_function_url_config(FunctionName=name, Cors={"AllowMethods": methods})
        assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert client.update_function_url_config(FunctionName=name, Cors={"AllowMethods": ["GET", "*"]})["Cors"] == {
        "AllowMethods": ["GET", "*"]
    }
    deleted = client.delete_function_url_config(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_url_config(FunctionName=name)
    assert request(url)[0] == 404
    client.delete_function(FunctionName=name)
    assert request(aliased["FunctionUrl"])[0] == 404  # deleting the function removed its URLs


def test_get_with_query_and_cookies(http_function: tuple[str, str]) -> None:
    _, url = http_function
    status, headers, body = request(
        url + "some/path?a=1&b=two&a=3&empty=",
        headers=[
            ("Cookie", "c1=v1; c2=v2"),
            ("Cookie", "c3=v3"),
            ("X-Multi", "one"),
            ("X-Multi", "two"),
            ("User-Agent", "tester/1.0"),
            ("X-Forwarded-For", "6.6.6.6"),  # a client cannot claim another address
            ("X-Text", "café".encode().decode("latin-1")),  # UTF-8 on the wire
        ],
    )
    assert status == 200
    assert header(headers, "x-text")[0].encode("latin-1").decode() == "café €"  # UTF-8 back, not "caf? ?"
    assert header(headers, "x-guest") == ["http"]
    assert header(headers, "set-cookie") == ["session=abc; Path=/", "theme=dark"]
    assert header(headers, "x-amzn-requestid")
    event = json.loads(body)
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/some/path"
    assert event["rawQueryString"] == "a=1&b=two&a=3&empty="
    assert event["queryStringParameters"] == {"a": "1,3", "b": "two", "empty": ""}
    assert event["cookies"] == ["c1=v1", "c2=v2", "c3=v3"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one,two"
    assert event["headers"]["user-agent"] == "tester/1.0"
    assert event["headers"]["x-text"] == "café"
    assert event["headers"]["x-forwarded-for"] == "6.6.6.6, 127.0.0.1"
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/some/path",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tester/1.0",
    }
    assert context["apiId"] == url.rstrip("/").rsplit("/", 1)[1]
    assert context["accountId"] == "anonymous"
    assert (context["routeKey"], context["stage"]) == ("$default", "$default")
    assert context["requestId"] and context["time"].endswith("+0000") and context["timeEpoch"] > 0
    assert header(headers, "x-amzn-requestid") == [context["requestId"]]  # the invocation's own id
    assert event["isBase64Encoded"] is False and "body" not in event


def test_post_text_and_binary_bodies(http_function: tuple[str, str]) -> None:
    _, url = http_function
    status, _, body = request(url, "POST", b'{"k": "v"}', [("Content-Type", "application/json")])
    event = json.loads(body)
    assert status == 200 and event["body"] == '{"k": "v"}' and event["isBase64Encoded"] is False
    assert event["rawPath"] == "/" and event["requestContext"]["http"]["method"] == "POST"
    binary = bytes(range(256))
    status, _, body = request(url, "POST", binary, [("Content-Type", "application/octet-stream")])
    event = json.loads(body)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == binary
    status, _, body = request(url, "PUT", "héllo".encode(), [("Content-Type", "text/plain; charset=utf-8")])
    assert json.loads(body)["body"] == "héllo"


def test_result_mapping(http_function: tuple[str, str]) -> None:
    _, url = http_function
    status, headers, body = request(url + "binary")
    assert status == 200 and body == b"\x00\x01\x02\xff"
    assert header(headers, "content-type") == ["application/octet-stream"]
    status, _, _ = request(url + "teapot")
    assert status == 418
    status, headers, body = request(url + "empty")  # 204: no body, and no Content-Length (HTTP forbids it)
    assert (status, body, header(headers, "content-length")) == (204, b"", [])
    status, headers, body = request(url + "raw")
    assert (status, body) == (200, b'{"raw":true}')
    assert header(headers, "content-type") == ["application/json"]
    status, _, body = request(url + "fail")
    assert status == 502 and json.loads(body) == {"Message": "Internal Server Error"}


def test_a_result_with_bad_utf8_is_a_bare_value() -> None:
    # Not JSON (a string holds a byte that is not UTF-8): passed through as a bare value, never a server error.
    payload = b'{"statusCode": 201, "body": "\xff"}'
    assert map_result(payload) == (200, [(b"content-type", b"application/json")], payload)


def test_a_result_cannot_frame_the_response_or_break_http() -> None:
    def result(headers: dict[str, str]) -> bytes:
        return json.dumps({"statusCode": 200, "headers": headers, "body": "hello"}).encode()

    # Framing and hop-by-hop headers (two Content-Lengths, or Transfer-Encoding beside one, smuggle responses past
    # proxies), Date and the request id are the server's: dropped. What is left passes as given.
    framing = {
        "Content-Length": "999999",
        "Transfer-Encoding": "chunked",
        "Connection": "close",
        "Date": "yesterday",
        "x-amzn-RequestId": "forged",
        "X-Kept": "yes",
    }
    status, headers, body = map_result(result(framing))
    assert (status, body) == (200, b"hello")
    assert headers == [(b"x-kept", b"yes"), (b"content-type", b"application/json")]
    # What HTTP cannot carry is the function's fault: a 502, as any invalid result.
    for bad in ({"X-Nul": "a\u0000b"}, {"": "empty name"}, {"Bad Name": "x"}, {"X-Bell": "\u0007"}):
        with pytest.raises(ValueError):
            map_result(result(bad))
    with pytest.raises(ValueError):
        map_result(json.dumps({"statusCode": 200, "cookies": ["a=\u0000"]}).encode())
    # 1xx are interim answers: sent as the final one, a client would read the body as the next response (101
    # would hand a proxy the connection). A result's status is a final one.
    for status in (100, 101, 103, 199):
        with pytest.raises(ValueError):
            map_result(json.dumps({"statusCode": status, "body": "HTTP/1.1 200 OK\r\n\r\n"}).encode())
    assert map_result(json.dumps({"statusCode": 200}).encode())[0] == 200


def test_non_http_result_is_a_json_200(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    url = client.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    status, headers, body = request(url + "x?y=1")
    assert status == 200 and header(headers, "content-type") == ["application/json"]
    assert json.loads(body)["rawPath"] == "/x"  # the echo guest returns the event itself


def test_cors(client: Any, create: Create) -> None:
    name = create("http")["FunctionName"]
    url = client.create_function_url_config(
        FunctionName=name,
        AuthType="NONE",
        Cors={
            "AllowOrigins": ["https://app.example"],
            "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["x-custom"],
            "ExposeHeaders": ["x-guest"],
            "MaxAge": 300,
            "AllowCredentials": True,
        },
    )["FunctionUrl"]
    status, headers, body = request(
        url, "OPTIONS", headers=[("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST")]
    )
    assert status == 200 and body == b""
    assert header(headers, "access-control-allow-origin") == ["https://app.example"]
    assert header(headers, "access-control-allow-methods") == ["GET,POST"]
    assert header(headers, "access-control-allow-headers") == ["x-custom"]
    assert header(headers, "access-control-max-age") == ["300"]
    status, headers, _ = request(url, headers=[("Origin", "https://app.example")])
    # The URL's configuration answers for CORS: the function's own "*" is not sent beside it.
    assert header(headers, "access-control-allow-origin") == ["https://app.example"]
    assert header(headers, "access-control-allow-credentials") == ["true"]
    assert header(headers, "access-control-expose-headers") == ["x-guest"]
    status, headers, _ = request(url, headers=[("Origin", "https://evil.example")])
    assert status == 200 and not header(headers, "access-control-allow-origin")
    # The URL's own errors carry CORS headers too: a page can read the 413 or 429 instead of a CORS failure.
    status, headers, _ = request(url, "POST", b"x" * (6 * 1024 * 1024 + 1), [("Origin", "https://app.example")])
    assert status == 413 and header(headers, "access-control-allow-origin") == ["https://app.example"]
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    status, headers, _ = request(url, headers=[("Origin", "https://app.example")])
    assert status == 429 and header(headers, "access-control-allow-origin") == ["https://app.example"]
    client.delete_function_concurrency(FunctionName=name)
    # A configuration of nothing is none: the function answers the preflight (and sends its own CORS headers).
    client.update_function_url_config(FunctionName=name, Cors={})
    status, headers, body = request(
        url, "OPTIONS", headers=[("Origin", "https://app.example"), ("Access-Control-Request-Method", "POST")]
    )
    assert status == 200 and json.loads(body)["requestContext"]["http"]["method"] == "OPTIONS"
    assert header(headers, "access-control-allow-origin") == ["*"]


def test_iam_url_without_server_credentials_is_forbidden(client: Any, create: Create) -> None:
    name = create("http")["FunctionName"]
    url = client.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    status, _, body = request(url)
    assert status == 403 and json.loads(body) == {"Message": "Forbidden"}


def test_unknown_url_id_is_404(server: ServerProcess) -> None:
    assert request(f"{server.url}/urls/{'x' * 32}/")[0] == 404


def test_a_damaged_url_store_says_which_file_and_what_to_do(tmp_path: Path) -> None:
    for store, name in ((UrlStore, "function-urls.json"), (PolicyStore, "policies.json")):
        path = tmp_path / name
        path.write_bytes(b'[{"url_id": "abc", "fun')  # truncated outside wasmfaas
        with pytest.raises(WasmfaasError, match=f"{name} cannot be read .*move it away to start without"):
            store(path)


def test_a_url_kept_by_an_earlier_version_loads(tmp_path: Path) -> None:
    # Kept before AllowMethods took Lambda's methods only: it loads as it was (refusing it would lose every URL).
    config = {
        "url_id": "a" * 32, "function_name": "fn", "qualifier": None, "auth_type": "NONE", "invoke_mode": "BUFFERED",
        "creation_time": "t", "last_modified_time": "t", "cors": {"AllowMethods": ["TRACE"]},
    }  # fmt: skip
    path = tmp_path / "function-urls.json"
    path.write_text(json.dumps([config]))
    loaded = UrlStore(path).by_id("a" * 32)
    assert loaded is not None and loaded.cors is not None and loaded.cors.allow_methods == ["TRACE"]
