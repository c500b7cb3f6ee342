"""Language runtimes through the server: a Python function deployed with boto3 from a zip of sources, as on Lambda.

The platform builds the sources (componentize-py; ~10 s the first time, then cached by content in
~/.cache/wasmfaas/builds); the package's sha256 and size are what the API reports, and Code.Location serves it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from server_helpers import ROLE, unique, zip_of

APP = b"""\
from helpers.text import shout


def handler(event, context):
    print("handling", context.aws_request_id)
    return {"shout": shout(event.get("name", "world")), "request_id": context.aws_request_id}
"""
SOURCE = zip_of(
    {
        "app.py": APP,
        "helpers/__init__.py": b"",
        "helpers/text.py": b"def shout(s):\n    return s.upper() + '!'\n",
    }
)


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_a_python_function_from_a_zip_of_sources(client: Any) -> None:
    name = unique("py")
    created = client.create_function(
        FunctionName=name, Runtime="python3.14", Role=ROLE, Handler="app.handler", Code={"ZipFile": SOURCE}
    )
    assert created["Runtime"] == "python3.14" and created["Handler"] == "app.handler"
    assert created["CodeSha256"] == b64_sha256(SOURCE) and created["CodeSize"] == len(SOURCE)

    response = client.invoke(FunctionName=name, Payload=b'{"name": "lambda"}', LogType="Tail")
    assert "FunctionError" not in response
    body = json.loads(response["Payload"].read())
    request_id = response["ResponseMetadata"]["RequestId"]
    assert body == {"shout": "LAMBDA!", "request_id": request_id}
    assert f"handling {request_id}" in base64.b64decode(response["LogResult"]).decode()
    # A payload that is not JSON is Lambda's 400, synchronous or queued, and nothing runs.
    for invocation_type in ("RequestResponse", "Event"):
        with pytest.raises(client.exceptions.InvalidRequestContentException, match="Could not parse request body"):
            client.invoke(FunctionName=name, InvocationType=invocation_type, Payload=b"name=lambda")

    # Code.Location serves the package as it was uploaded.
    got = client.get_function(FunctionName=name)
    assert got["Configuration"]["CodeSha256"] == b64_sha256(SOURCE)
    with urllib.request.urlopen(got["Code"]["Location"]) as download:
        assert download.headers["Content-Type"] == "application/zip"
        assert download.read() == SOURCE

    # New sources: built again; the published version keeps the old code.
    client.publish_version(FunctionName=name)
    new_source = zip_of(
        {
            "app.py": b"def handler(event, context):\n    if event:\n        raise ValueError(event)\n"
            b"    return ['v2', context.invoked_function_arn]\n"
        }
    )
    updated = client.update_function_code(FunctionName=name, ZipFile=new_source)
    assert updated["CodeSha256"] == b64_sha256(new_source) and updated["CodeSize"] == len(new_source)
    assert json.loads(client.invoke(FunctionName=name)["Payload"].read()) == ["v2", created["FunctionArn"]]
    client.publish_version(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    via_alias = json.loads(client.invoke(FunctionName=name, Qualifier="live")["Payload"].read())
    assert via_alias == ["v2", f"{created['FunctionArn']}:live"]  # the context names the ARN it was invoked by
    # A raised exception is Unhandled, as on Lambda, with Lambda's error body (request id included).
    failed = client.invoke(FunctionName=name, Payload=b'{"bad": 1}')
    assert failed["FunctionError"] == "Unhandled"
    error = json.loads(failed["Payload"].read())
    assert error["errorType"] == "ValueError" and error["requestId"] == failed["ResponseMetadata"]["RequestId"]
    assert json.loads(client.invoke(FunctionName=name, Qualifier="1")["Payload"].read())["shout"] == "WORLD!"


def test_a_syntax_error_fails_the_invocation_as_on_lambda(client: Any) -> None:
    # Lambda takes the code and fails each cold start: Invoke answers 200 with the runtime's error, Unhandled.
    broken = zip_of({"app.py": b"def handler(event, context)\n    return 1\n"})
    name = unique("py-bad")
    created = client.create_function(
        FunctionName=name, Runtime="python3.14", Role=ROLE, Handler="app.handler", Code={"ZipFile": broken}
    )
    assert created["State"] == "Active"
    response = client.invoke(FunctionName=name, Payload=b"{}")
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    error = json.loads(response["Payload"].read())
    assert error["errorType"] == "Runtime.UserCodeSyntaxError"
    assert "Syntax error in module 'app'" in error["errorMessage"]
    client.delete_function(FunctionName=name)


def test_lambdas_runtime_identifiers_are_kept(client: Any) -> None:
    """A deployment configuration's `python3.12` works unchanged: it runs on python3.14 and is shown as given."""
    name = unique("py312")
    created = client.create_function(
        FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler", Code={"ZipFile": SOURCE}
    )
    assert created["Runtime"] == "python3.12"
    assert client.get_function_configuration(FunctionName=name)["Runtime"] == "python3.12"
    assert json.loads(client.invoke(FunctionName=name, Payload=b'{"name": "x"}')["Payload"].read())["shout"] == "X!"


def test_an_unknown_runtime_is_a_400(client: Any) -> None:
    with pytest.raises(ClientError) as e:
        client.create_function(
            FunctionName=unique("rb"), Runtime="ruby3.3", Role=ROLE, Handler="app.handler", Code={"ZipFile": SOURCE}
        )
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "Runtime" in e.value.response["Error"]["Message"]
