"""SigV4: the verifier against botocore's own signer, and a server that requires signatures end to end."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError
from server_helpers import (
    ACCESS_KEY,
    SECRET_KEY,
    ServerProcess,
    create_guest,
    lambda_client,
    request,
    start_server,
    unique,
)

from wasmfaas.server.sigv4 import Credentials, SignatureError, SigV4Verifier, sign_request

VERIFIER = SigV4Verifier(Credentials(ACCESS_KEY, SECRET_KEY))


def botocore_signed(
    method: str,
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    query: bool = False,
    key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    region: str = "eu-west-1",
) -> tuple[str, str, str, list[tuple[str, str]], bytes]:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    signer = SigV4QueryAuth if query else SigV4Auth
    signer(BotoCredentials(key, secret), "lambda", region).add_auth(request)
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    sent = [(k.lower(), v) for k, v in prepared.headers.items()]
    if not any(k == "host" for k, _ in sent):
        sent.append(("host", parts.netloc))  # the HTTP client adds it
    return method, parts.path, parts.query, sent, prepared.body or b""


@pytest.mark.parametrize(
    ("method", "url", "body", "headers"),
    [
        ("GET", "http://127.0.0.1:9000/2015-03-31/functions", b"", {}),
        ("GET", "http://127.0.0.1:9000/2015-03-31/functions?MaxItems=2&Marker=a%2Bb%3D%3D", b"", {}),
        (
            "POST",
            "http://127.0.0.1:9000/2015-03-31/functions/my-fn%3Alive/invocations?Qualifier=%24LATEST",
            b'{"x": 1}',
            {"X-Amz-Invocation-Type": "Event", "X-Amz-Log-Type": "None"},
        ),
        (
            "PUT",
            "http://localhost/2015-03-31/functions/f/configuration",
            '{"Description": "é"}'.encode(),
            {"Content-Type": "application/json", "X-Spaced": "  a   b  "},
        ),
        (
            "DELETE",
            "http://127.0.0.1:9000/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af",
            b"",
            {},
        ),
        ("GET", "http://127.0.0.1:9000/urls/abc/a/b//c//d/?q=a%20b&q=c", b"", {}),
    ],
)
@pytest.mark.parametrize("query", [False, True])
def test_botocore_signatures_verify(method: str, url: str, body: bytes, headers: dict[str, str], query: bool) -> None:
    assert VERIFIER.verify(*botocore_signed(method, url, body, headers, query=query)) == ACCESS_KEY


def test_any_region_is_accepted() -> None:
    for region in ("us-east-1", "ap-southeast-2", "local"):
        signed = botocore_signed("GET", "http://h/2015-03-31/functions", region=region)
        assert VERIFIER.verify(*signed) == ACCESS_KEY


def expect(code: str, call: Callable[[], object]) -> str:
    with pytest.raises(SignatureError) as e:
        call()
    assert e.value.code == code
    return e.value.message


def test_wrong_secret_tampering_and_unknown_keys_are_refused() -> None:
    url = "http://h/2015-03-31/functions/f/invocations"
    _, path, query, headers, body = botocore_signed("POST", url, b"payload")
    expect("InvalidSignatureException", lambda: VERIFIER.verify("POST", path, query, headers, b"tampered"))
    expect("InvalidSignatureException", lambda: VERIFIER.verify("PUT", path, query, headers, body))
    expect("InvalidSignatureException", lambda: VERIFIER.verify("POST", path + "x", query, headers, body))
    expect("InvalidSignatureException", lambda: VERIFIER.verify("POST", path, "Qualifier=1", headers, body))
    expect("InvalidSignatureException", lambda: VERIFIER.verify(*botocore_signed("POST", url, secret="nope")))
    expect("UnrecognizedClientException", lambda: VERIFIER.verify(*botocore_signed("POST", url, key="OTHER")))
    expect("MissingAuthenticationTokenException", lambda: VERIFIER.verify("GET", path, "", [("host", "h")], b""))
    changed = [(k, "evil" if k == "x-amz-date" else v) for k, v in headers]
    expect("InvalidSignatureException", lambda: VERIFIER.verify("POST", path, query, changed, body))


def test_dot_segments_are_refused_though_the_signature_holds() -> None:
    # SigV4 signs the path with its dot segments removed; the router dispatches the path as sent. A request signed
    # for /urls/a/ sent as /urls/b/../a/ would run b's function under a's signature (a presigned link for one URL
    # would open every other): refused before the body is read.
    for path in ("/urls/b/../a/hello", "/2015-03-31/functions/f/aliases/..", "/urls/a/./hello", "/urls/a/.."):
        _, _, query, headers, _ = botocore_signed("GET", f"http://h{path}")
        message = expect("InvalidSignatureException", lambda: VERIFIER.check("GET", path, query, headers))  # noqa: B023
        assert "'.' or '..'" in message


def test_old_signatures_expire() -> None:
    signed = botocore_signed("GET", "http://h/2015-03-31/functions")
    later = datetime.now(UTC) + timedelta(minutes=6)
    assert "Signature expired" in expect("InvalidSignatureException", lambda: VERIFIER.verify(*signed, now=later))
    presigned = botocore_signed("GET", "http://h/urls/x/", query=True)
    assert VERIFIER.verify(*presigned, now=datetime.now(UTC) + timedelta(minutes=30)) == ACCESS_KEY
    expect("InvalidSignatureException", lambda: VERIFIER.verify(*presigned, now=later + timedelta(hours=2)))


def test_malformed_authorization_headers() -> None:
    base = [("host", "h"), ("x-amz-date", datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))]
    for value in (
        "Basic abc",
        "AWS4-HMAC-SHA256 Credential=x",
        "AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=0",
    ):
        expect(  # AWS's type for a signature that cannot be read (a wrong one is InvalidSignatureException)
            "IncompleteSignatureException",
            lambda v=value: VERIFIER.verify("GET", "/", "", [*base, ("authorization", v)], b""),
        )  # type: ignore[misc]


def test_our_signer_matches_the_verifier() -> None:
    url = "http://127.0.0.1:9000/2015-03-31/functions/f%3A1/invocations?Qualifier=1&b=%2B"
    headers = sign_request("POST", url, {"X-Amz-Log-Type": "Tail"}, b"hi", Credentials(ACCESS_KEY, SECRET_KEY), "r")
    parts = urlsplit(url)
    sent = [(k.lower(), v) for k, v in headers.items()]
    assert VERIFIER.verify("POST", parts.path, parts.query, sent, b"hi") == ACCESS_KEY


def test_content_sha256_header_must_match_the_body() -> None:
    _, path, query, headers, body = botocore_signed("POST", "http://h/x", b"abc", {"X-Amz-Content-SHA256": "0" * 64})
    expect("InvalidSignatureException", lambda: VERIFIER.verify("POST", path, query, headers, body))


# -- a server that requires signatures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"WASMFAAS_ACCESS_KEY_ID": ACCESS_KEY, "WASMFAAS_SECRET_ACCESS_KEY": SECRET_KEY}
    proc = start_server(tmp_path_factory.mktemp("signed"), "--auth", env=env)
    yield proc
    assert proc.stop() == 0


def test_signed_server_accepts_its_credentials(signed_server: ServerProcess, guest: Callable[[str], bytes]) -> None:
    client = lambda_client(signed_server.url, key=ACCESS_KEY, secret=SECRET_KEY)
    name = unique("signed")
    create_guest(client, name, "echo", guest("echo"))
    assert client.invoke(FunctionName=name, Payload=b'"ok"')["Payload"].read() == b'"ok"'
    assert any(f["FunctionName"] == name for f in client.list_functions()["Functions"])


def test_signed_server_refuses_others(signed_server: ServerProcess) -> None:
    with pytest.raises(ClientError) as e:
        lambda_client(signed_server.url, key=ACCESS_KEY, secret="wrong").list_functions()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as e:
        lambda_client(signed_server.url, key="SOMEONEELSE", secret=SECRET_KEY).list_functions()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    status, headers, _ = request(f"{signed_server.url}/2015-03-31/functions")
    assert status == 403
    assert dict(headers)["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert request(f"{signed_server.url}/no/such/route")[0] == 403  # no hints about routes to strangers
    assert request(f"{signed_server.url}/metrics")[0] == 200
    assert request(f"{signed_server.url}/__wasmfaas/health")[0] == 200
    # The command line without keys says which ones to set.
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_ACCESS_KEY_ID", "_SECRET_ACCESS_KEY"))}
    listed = subprocess.run(
        [sys.executable, "-m", "wasmfaas.cli", "list", "--endpoint", signed_server.url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 2 and "MissingAuthenticationTokenException" in listed.stderr
    assert "set WASMFAAS_ACCESS_KEY_ID and WASMFAAS_SECRET_ACCESS_KEY" in listed.stderr


def test_iam_function_url(signed_server: ServerProcess, guest: Callable[[str], bytes]) -> None:
    client = lambda_client(signed_server.url, key=ACCESS_KEY, secret=SECRET_KEY)
    name = unique("iam")
    create_guest(client, name, "http", guest("http"))
    url = client.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    assert request(url + "x")[0] == 403
    _, _, _, headers, body = botocore_signed("POST", url + "x?a=1", b'{"n":1}', {"Content-Type": "application/json"})
    sent = [(k, v) for k, v in headers if k not in ("host", "content-length")]
    status, _, response = request(url + "x?a=1", "POST", body, sent)
    assert status == 200, response
    event = json.loads(response)
    assert event["requestContext"]["authorizer"]["iam"]["accessKey"] == ACCESS_KEY
    assert event["requestContext"]["accountId"] == "000000000000"
    _, _, _, headers, body = botocore_signed("POST", url + "x", b"abc", secret="wrong")
    sent = [(k, v) for k, v in headers if k not in ("host", "content-length")]
    assert request(url + "x", "POST", body, sent)[0] == 403


def test_unsigned_bodies_are_not_read(signed_server: ServerProcess, guest: Callable[[str], bytes]) -> None:
    """An unsigned request is refused on its headers: the server never waits for (or buffers) its 50 MB body. An
    AWS_IAM URL's CORS preflight is answered on its headers too, and its 403 carries the CORS headers."""
    client = lambda_client(signed_server.url, key=ACCESS_KEY, secret=SECRET_KEY)
    name = unique("unread")
    create_guest(client, name, "http", guest("http"))
    url = client.create_function_url_config(
        FunctionName=name, AuthType="AWS_IAM", Cors={"AllowOrigins": ["https://app.example"], "AllowMethods": ["*"]}
    )["FunctionUrl"]
    host, port = urlsplit(signed_server.url).netloc.split(":")
    url_path = urlsplit(url).path + "x"
    for method, path, extra, status in (
        ("POST", "/2015-03-31/functions", "", b"403"),
        ("POST", url_path, "Origin: https://app.example\r\n", b"403"),
        ("OPTIONS", url_path, "Origin: https://app.example\r\nAccess-Control-Request-Method: POST\r\n", b"200"),
    ):
        with socket.create_connection((host, int(port)), timeout=20) as sock:
            head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: 52428800\r\n\r\n"
            sock.sendall(head.encode() + b"x" * 65536)  # a first part only: the rest never comes
            answer = sock.recv(4096)  # raises TimeoutError if the server waits for the body
        assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
        if extra:
            assert b"access-control-allow-origin: https://app.example" in answer.lower(), answer


def test_a_signature_for_one_url_does_not_open_another(
    signed_server: ServerProcess, guest: Callable[[str], bytes]
) -> None:
    client = lambda_client(signed_server.url, key=ACCESS_KEY, secret=SECRET_KEY)
    urls = []
    for _ in range(2):
        name = unique("iamdot")
        create_guest(client, name, "http", guest("http"))
        urls.append(client.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"])
    a, b = urls
    _, _, _, headers, _ = botocore_signed("GET", a + "hello")
    sent = [(k, v) for k, v in headers if k != "host"]
    assert request(a + "hello", "GET", None, sent)[0] == 200
    b_id = urlsplit(b).path.strip("/").split("/")[1]
    a_path = urlsplit(a).path
    # Sent raw: /urls/<b>/../<a>/hello, which SigV4 reads as a's path.
    forged = f"{signed_server.url}/urls/{b_id}/..{a_path[len('/urls') :]}hello"
    assert request(forged, "GET", None, sent)[0] == 403


def test_unsigned_server_ignores_signatures(server: ServerProcess) -> None:
    assert lambda_client(server.url, key="anything", secret="at-all").list_functions()["Functions"] is not None


def test_a_declared_payload_hash_lets_a_forged_signature_be_refused_before_the_body() -> None:
    """With x-amz-content-sha256 (which wasmfaas's own client sends) the signature covers the declared hash: a
    request that knows the access key id but not the secret is refused on its headers, before 50 MB are read."""
    body = b"x" * 1000
    digest = hashlib.sha256(body).hexdigest()
    _, path, query, headers, _ = botocore_signed("POST", "http://h/x", body, {"X-Amz-Content-SHA256": digest})
    checked = VERIFIER.check("POST", path, query, headers)  # the signature holds: only the body is left
    assert VERIFIER.finish("POST", path, checked, body) == ACCESS_KEY
    expect("InvalidSignatureException", lambda: VERIFIER.finish("POST", path, checked, b"swapped"))
    forged = [(k, v[:-4] + "0000" if k == "authorization" else v) for k, v in headers]
    expect("InvalidSignatureException", lambda: VERIFIER.check("POST", path, query, forged))
    # Our client declares it, and the verifier takes its signature on the headers.
    url = "http://127.0.0.1:9000/2015-03-31/functions"
    sent = sign_request("POST", url, {}, body, Credentials(ACCESS_KEY, SECRET_KEY), "r")
    assert sent["X-Amz-Content-Sha256"] == digest
    lower = [(k.lower(), v) for k, v in sent.items()]
    assert VERIFIER.finish(
        "POST", "/2015-03-31/functions", VERIFIER.check("POST", "/2015-03-31/functions", "", lower), body
    )
