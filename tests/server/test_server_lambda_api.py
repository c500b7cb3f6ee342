"""The control plane through boto3 against a real server: every operation, its status codes and error codes."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import urllib.request
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import wasmtime
from botocore.exceptions import ClientError
from server_helpers import ROLE, ServerProcess, lambda_client, unique, zip_of

Create = Callable[..., dict[str, Any]]


ARN_PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def test_create_function_from_a_zip(client: Any, create: Create, guest: Callable[[str], bytes]) -> None:
    name = unique("echo")
    created = create(
        "echo", name, MemorySize=256, Timeout=5, Description="hi", Environment={"Variables": {"AB": "1"}}
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionName"] == name
    assert created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert created["Runtime"] == "wasi"
    assert created["Handler"] == "echo.wasm"
    assert (created["MemorySize"], created["Timeout"], created["Description"]) == (256, 5, "hi")
    assert created["Environment"] == {"Variables": {"AB": "1"}}
    assert created["Version"] == "$LATEST"
    assert created["State"] == "Active" and created["LastUpdateStatus"] == "Successful"
    module = guest("echo")
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(module).digest()).decode()
    assert created["CodeSize"] == len(module)
    assert created["LastModified"].endswith("+0000")
    assert len(created["RevisionId"]) == 36
    # The role is echoed as given (infrastructure tools compare it after applying), and can be changed.
    assert created["Role"] == ROLE
    other = "arn:aws:iam::000000000000:role/other"
    assert client.update_function_configuration(FunctionName=name, Role=other)["Role"] == other
    assert client.get_function_configuration(FunctionName=name)["Role"] == other


@pytest.mark.parametrize("handler", ["hello.wasm", "hello", "hello.handler"])
def test_handler_names_the_module_in_the_zip(
    client: Any, create: Create, guest: Callable[[str], bytes], handler: str
) -> None:
    code = zip_of({"README": b"not a module", "hello.wasm": guest("echo"), "other.wasm": guest("trap")})
    created = create("echo", Handler=handler, Code={"ZipFile": code})
    assert client.invoke(FunctionName=created["FunctionName"], Payload=b'"x"')["Payload"].read() == b'"x"'


def test_raw_wasm_bytes_are_a_package_too(client: Any, create: Create, guest: Callable[[str], bytes]) -> None:
    created = create("echo", Handler="", Code={"ZipFile": guest("echo")})
    assert created["Handler"] == "function.wasm"
    assert client.invoke(FunctionName=created["FunctionName"], Payload=b"1")["Payload"].read() == b"1"


def test_a_zip_with_one_module_needs_no_handler(client: Any, create: Create, guest: Callable[[str], bytes]) -> None:
    created = create("echo", Handler="", Code={"ZipFile": zip_of({"lib/only.wasm": guest("echo")})})
    assert created["Handler"] == "lib/only.wasm"


@pytest.mark.parametrize(
    ("files", "handler", "message"),
    [
        ({"../evil.wasm": b"\0asm"}, "evil", "path traversal"),
        ({"/abs.wasm": b"\0asm"}, "abs", "path traversal"),
        ({"a.wasm": b"\0asm", "b.wasm": b"\0asm"}, "", "name the module"),
        ({"a.wasm": b"\0asm"}, "missing", "no module 'missing.wasm'"),
    ],
)
def test_bad_packages_are_400(client: Any, files: dict[str, bytes], handler: str, message: str) -> None:
    with pytest.raises(ClientError) as e:
        client.create_function(
            FunctionName=unique("bad"), Runtime="wasi", Role=ROLE, Handler=handler, Code={"ZipFile": zip_of(files)}
        )
    status, code, text = error_of(e)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert message in text


def test_not_a_zip_and_not_wasm_is_400(client: Any) -> None:
    with pytest.raises(ClientError) as e:
        client.create_function(FunctionName=unique("bad"), Runtime="wasi", Role=ROLE, Code={"ZipFile": b"hello"})
    assert error_of(e)[:2] == (400, "InvalidParameterValueException")
    assert "Could not unzip" in error_of(e)[2]


def test_invalid_wasm_is_400(client: Any) -> None:
    with pytest.raises(ClientError) as e:
        client.create_function(FunctionName=unique("bad"), Runtime="wasi", Role=ROLE, Code={"ZipFile": b"\0asm\x01"})
    assert error_of(e)[:2] == (400, "InvalidParameterValueException")


def test_s3_code_and_layers_are_refused(client: Any, guest: Callable[[str], bytes]) -> None:
    with pytest.raises(ClientError) as e:
        client.create_function(FunctionName=unique("s3"), Role=ROLE, Code={"S3Bucket": "bucket", "S3Key": "key"})
    assert "S3" in error_of(e)[2]
    with pytest.raises(ClientError) as e:
        client.create_function(
            FunctionName=unique("l"), Role=ROLE, Code={"ZipFile": guest("echo")}, Layers=["arn:aws:lambda:x"]
        )
    assert "Layers" in error_of(e)[2]


def test_out_of_bounds_configuration_is_400(client: Any, guest: Callable[[str], bytes]) -> None:
    # A bound is told in Lambda's words (msgspec's had been "Expected `int` <= 900 - at `$.Timeout`").
    detected = "1 validation error detected: Value {}at '{}' failed to satisfy constraint: Member must have {}"
    at_most = "value less than or equal to {}"
    for params, message in (
        ({"MemorySize": 20000}, detected.format("'20000' ", "memorySize", at_most.format(10240))),
        ({"Timeout": 901}, detected.format("'901' ", "timeout", at_most.format(900))),
        ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, None),
        ({"EphemeralStorage": {"Size": 99999}},
         detected.format("'99999' ", "ephemeralStorage.size", at_most.format(10240))),
        ({"Description": "d" * 257}, detected.format("", "description", "length less than or equal to 256")),
        # The pattern itself, not msgspec's repr of it (which doubled its backslashes).
        ({"Handler": "a b"}, "1 validation error detected: Value 'a b' at 'handler' failed to satisfy constraint: "
                             "Member must satisfy regular expression pattern: ^[^\\s]*$"),
    ):  # fmt: skip
        with pytest.raises(ClientError) as e:
            client.create_function(FunctionName=unique("b"), Role=ROLE, Code={"ZipFile": guest("echo")}, **params)
        assert error_of(e)[:2] == (400, "InvalidParameterValueException"), params
        if message is not None:
            assert error_of(e)[2] == message


def test_create_twice_is_409(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    with pytest.raises(ClientError) as e:
        create("echo", name)
    assert error_of(e)[:2] == (409, "ResourceConflictException")


def test_get_function_and_download_its_code(client: Any, create: Create, guest: Callable[[str], bytes]) -> None:
    created = create("echo")
    name = created["FunctionName"]
    got = client.get_function(FunctionName=name)
    assert got["Configuration"]["FunctionName"] == name
    assert got["Configuration"]["CodeSha256"] == created["CodeSha256"]
    assert got["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(got["Code"]["Location"]) as response:
        assert response.headers["Content-Type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(response.read())) as archive:
            assert archive.read("echo.wasm") == guest("echo")
    assert "Concurrency" not in got
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    assert client.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 3}


def test_a_tampered_code_link_is_refused(client: Any, create: Create) -> None:
    location = client.get_function(FunctionName=create("echo")["FunctionName"])["Code"]["Location"]
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(location.replace("Signature=", "Signature=0"))
    assert e.value.code == 403


def test_get_function_configuration_and_qualified_names(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    config = client.get_function_configuration(FunctionName=name)
    assert config["FunctionArn"].endswith(f":function:{name}")
    client.publish_version(FunctionName=name)
    assert client.get_function_configuration(FunctionName=name, Qualifier="1")["Version"] == "1"
    assert client.get_function_configuration(FunctionName=f"{name}:1")["FunctionArn"].endswith(f"{name}:1")
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert client.get_function_configuration(FunctionName=arn)["FunctionName"] == name


def test_not_found_is_404_resource_not_found(client: Any) -> None:
    for call in (
        lambda: client.get_function(FunctionName="no-such-function"),
        lambda: client.get_function_configuration(FunctionName="no-such-function"),
        lambda: client.delete_function(FunctionName="no-such-function"),
        lambda: client.invoke(FunctionName="no-such-function"),
    ):
        with pytest.raises(client.exceptions.ResourceNotFoundException) as e:
            call()
        # Lambda's message names the ARN.
        assert e.value.response["Error"]["Message"] == f"Function not found: {ARN_PREFIX}no-such-function"
        assert e.value.response["Type"] == "User"
    with pytest.raises(client.exceptions.ResourceNotFoundException) as e:
        client.get_function(FunctionName="no-such-function", Qualifier="live")
    assert e.value.response["Error"]["Message"] == f"Function not found: {ARN_PREFIX}no-such-function:live"


def test_list_functions_pages_with_marker(client: Any, server: ServerProcess, create: Create) -> None:
    for _ in range(5):
        create("echo")
    seen: list[str] = []
    kwargs: dict[str, Any] = {"MaxItems": 2}
    while True:
        page = client.list_functions(**kwargs)
        assert len(page["Functions"]) <= 2
        seen.extend(f["FunctionName"] for f in page["Functions"])
        if "NextMarker" not in page:
            break
        kwargs["Marker"] = page["NextMarker"]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) >= 5
    everything = [
        f["FunctionName"] for p in client.get_paginator("list_functions").paginate() for f in p["Functions"]
    ]
    assert everything == seen


def test_list_functions_all_versions(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    client.publish_version(FunctionName=name)
    versions = [
        f["Version"]
        for p in client.get_paginator("list_functions").paginate(FunctionVersion="ALL")
        for f in p["Functions"]
        if f["FunctionName"] == name
    ]
    assert versions == ["$LATEST", "1"]


def test_bad_marker_and_max_items_are_400(client: Any, create: Create) -> None:
    create("echo")  # something to list, so a marker's shape can be told
    foreign = base64.urlsafe_b64encode(b'["a","b","c"]').decode()  # well-formed, of no listing of functions
    for marker in ("garbage!", foreign):
        with pytest.raises(ClientError) as e:
            client.list_functions(Marker=marker)
        assert error_of(e)[:2] == (400, "InvalidParameterValueException")


def test_update_function_code(client: Any, create: Create, guest: Callable[[str], bytes]) -> None:
    created = create("echo")
    name = created["FunctionName"]
    updated = client.update_function_code(FunctionName=name, ZipFile=zip_of({"echo.wasm": guest("trap")}))
    assert updated["CodeSha256"] != created["CodeSha256"]
    assert client.invoke(FunctionName=name, Payload=b'"hi"')["Payload"].read() == b"ok"
    with pytest.raises(ClientError) as e:
        client.update_function_code(FunctionName=name, ZipFile=guest("echo"), RevisionId=created["RevisionId"])
    assert error_of(e)[:2] == (412, "PreconditionFailedException")
    published = client.update_function_code(FunctionName=name, ZipFile=guest("echo"), Publish=True)
    assert published["Version"] == "1"


def test_update_function_configuration(client: Any, create: Create) -> None:
    name = create("echo", Environment={"Variables": {"KEEP": "no"}})["FunctionName"]
    updated = client.update_function_configuration(
        FunctionName=name,
        MemorySize=512,
        Timeout=10,
        Environment={"Variables": {"NEW": "yes"}},
        Handler="echo.wasm",
        Runtime="wasi",
        Description="updated",
    )
    assert (updated["MemorySize"], updated["Timeout"], updated["Description"]) == (512, 10, "updated")
    assert updated["Environment"] == {"Variables": {"NEW": "yes"}}
    assert updated["EphemeralStorage"] == {"Size": 512}  # Lambda's default /tmp
    bigger = client.update_function_configuration(FunctionName=name, EphemeralStorage={"Size": 2048})
    assert client.get_function_configuration(FunctionName=name)["EphemeralStorage"] == {"Size": 2048}
    assert bigger["MemorySize"] == 512
    cleared = client.update_function_configuration(FunctionName=name, Environment={})
    assert "Environment" not in cleared
    assert cleared["MemorySize"] == 512 and cleared["EphemeralStorage"] == {"Size": 2048}  # untouched fields stay
    with pytest.raises(ClientError) as e:
        client.update_function_configuration(FunctionName=name, MemorySize=100000)
    assert error_of(e)[:2] == (400, "InvalidParameterValueException")


def test_settings_with_no_effect_here_are_kept_and_shown(
    client: Any, create: Create, guest: Callable[[str], bytes]
) -> None:
    """Architectures, TracingConfig, LoggingConfig, KMSKeyArn, DeadLetterConfig and SnapStart change nothing here, but
    tools compare what they applied with what they read back: each is kept (with versions) and shown as Lambda shows
    it."""
    plain = create("echo")
    assert plain["Architectures"] == ["x86_64"] and plain["TracingConfig"] == {"Mode": "PassThrough"}
    assert plain["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{plain['FunctionName']}"}
    assert "KMSKeyArn" not in plain and "DeadLetterConfig" not in plain
    assert plain["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}  # Lambda shows it always
    kms = "arn:aws:kms:us-east-1:000000000000:key/1234"
    dlq = "arn:aws:sqs:us-east-1:000000000000:dlq"
    created = create(
        "echo",
        Architectures=["arm64"],
        TracingConfig={"Mode": "Active"},
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"},
        KMSKeyArn=kms,
        DeadLetterConfig={"TargetArn": dlq},
        SnapStart={"ApplyOn": "PublishedVersions"},
    )
    name = created["FunctionName"]
    assert created["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    shown = client.get_function_configuration(FunctionName=name)
    assert shown["Architectures"] == ["arm64"] and shown["TracingConfig"] == {"Mode": "Active"}
    assert shown["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "DEBUG",
        "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{name}",
    }
    assert shown["KMSKeyArn"] == kms and shown["DeadLetterConfig"] == {"TargetArn": dlq}
    assert client.invoke(FunctionName=name, Payload=b"1")["Payload"].read() == b"1"
    assert client.publish_version(FunctionName=name)["Version"] == "1"
    # Changed, cleared: and a change of them alone (or of the role) is a new version to publish.
    updated = client.update_function_configuration(
        FunctionName=name, TracingConfig={"Mode": "PassThrough"}, KMSKeyArn="", DeadLetterConfig={"TargetArn": ""}
    )
    assert updated["TracingConfig"] == {"Mode": "PassThrough"} and updated["Architectures"] == ["arm64"]
    assert "KMSKeyArn" not in updated and "DeadLetterConfig" not in updated
    cleared = client.update_function_configuration(FunctionName=name, SnapStart={"ApplyOn": "None"})
    assert cleared["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    assert client.publish_version(FunctionName=name)["Version"] == "2"
    client.update_function_configuration(FunctionName=name, Role="arn:aws:iam::000000000000:role/other")
    assert client.publish_version(FunctionName=name)["Version"] == "3"
    assert client.publish_version(FunctionName=name)["Version"] == "3"  # nothing changed since
    code = client.update_function_code(FunctionName=name, ZipFile=guest("echo"), Architectures=["x86_64"])
    assert code["Architectures"] == ["x86_64"]
    assert client.get_function_configuration(FunctionName=name, Qualifier="1")["KMSKeyArn"] == kms
    text = client.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "Text"})
    assert text["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    bad: list[dict[str, Any]] = [
        {"LoggingConfig": {"SystemLogLevel": "WARN"}},  # levels need LogFormat JSON
        {"TracingConfig": {"Mode": "Sometimes"}},
        {"KMSKeyArn": "not-an-arn"},
        {"Role": "not-a-role"},
        {"Handler": "two words"},
    ]
    for params in bad:
        with pytest.raises(ClientError) as e:
            client.update_function_configuration(FunctionName=name, **params)
        assert error_of(e)[:2] == (400, "InvalidParameterValueException"), params
    for architectures in (["sparc"], ["x86_64", "arm64"]):
        with pytest.raises(ClientError) as e:
            client.update_function_code(FunctionName=name, ZipFile=guest("echo"), Architectures=architectures)
        assert error_of(e)[:2] == (400, "InvalidParameterValueException")


def test_delete_function_and_one_version(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    client.publish_version(FunctionName=name)
    client.update_function_configuration(FunctionName=name, MemorySize=256)
    client.publish_version(FunctionName=name)
    response = client.delete_function(FunctionName=name, Qualifier="1")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    versions = [v["Version"] for v in client.list_versions_by_function(FunctionName=name)["Versions"]]
    assert versions == ["$LATEST", "2"]
    for gone in ("1", "77"):  # a version that is not there is a 404, as on Lambda
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.delete_function(FunctionName=name, Qualifier=gone)
    client.delete_function(FunctionName=name)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName=name)


def test_publish_and_list_versions(client: Any, create: Create) -> None:
    created = create("echo")
    name = created["FunctionName"]
    v1 = client.publish_version(FunctionName=name, Description="first")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (v1["Version"], v1["Description"]) == ("1", "first")
    assert v1["FunctionArn"].endswith(f"{name}:1")
    with pytest.raises(ClientError) as e:
        client.publish_version(FunctionName=name, CodeSha256="not-the-hash")
    assert error_of(e)[:2] == (400, "InvalidParameterValueException")  # as Lambda answers it
    client.update_function_configuration(FunctionName=name, MemorySize=256)
    v2 = client.publish_version(FunctionName=name, CodeSha256=created["CodeSha256"])
    assert v2["Version"] == "2" and v2["MemorySize"] == 256
    listed = client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in listed] == ["$LATEST", "1", "2"]
    assert listed[0]["FunctionArn"].endswith(f"{name}:$LATEST")
    page = client.list_versions_by_function(FunctionName=name, MaxItems=2)
    assert [v["Version"] for v in page["Versions"]] == ["$LATEST", "1"]
    rest = client.list_versions_by_function(FunctionName=name, Marker=page["NextMarker"])
    assert [v["Version"] for v in rest["Versions"]] == ["2"] and "NextMarker" not in rest


def test_aliases(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    client.publish_version(FunctionName=name)
    client.update_function_configuration(FunctionName=name, MemorySize=256)
    client.publish_version(FunctionName=name)
    alias = client.create_alias(
        FunctionName=name,
        Name="live",
        FunctionVersion="1",
        Description="prod",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
    )
    assert alias["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert alias["AliasArn"].endswith(f"function:{name}:live")
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    got = client.get_alias(FunctionName=name, Name="live")
    assert (got["FunctionVersion"], got["Description"]) == ("1", "prod")
    with pytest.raises(ClientError) as e:
        client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert error_of(e)[:2] == (409, "ResourceConflictException")
    with pytest.raises(ClientError) as e:
        client.update_alias(FunctionName=name, Name="live", RevisionId="00000000-0000-0000-0000-000000000000")
    assert error_of(e)[:2] == (412, "PreconditionFailedException")
    updated = client.update_alias(
        FunctionName=name, Name="live", FunctionVersion="2", RoutingConfig={}, RevisionId=got["RevisionId"]
    )
    assert updated["FunctionVersion"] == "2" and "RoutingConfig" not in updated
    assert updated["RevisionId"] != got["RevisionId"]
    client.create_alias(FunctionName=name, Name="beta", FunctionVersion="$LATEST")
    assert [a["Name"] for a in client.list_aliases(FunctionName=name)["Aliases"]] == ["beta", "live"]
    assert [a["Name"] for a in client.list_aliases(FunctionName=name, FunctionVersion="2")["Aliases"]] == ["live"]
    page = client.list_aliases(FunctionName=name, MaxItems=1)
    assert [a["Name"] for a in page["Aliases"]] == ["beta"] and page["NextMarker"]
    with pytest.raises(ClientError) as e:
        client.create_alias(
            FunctionName=name, Name="bad", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 1.5}}
        )
    assert error_of(e)[:2] == (400, "InvalidParameterValueException")
    assert client.delete_alias(FunctionName=name, Name="beta")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_alias(FunctionName=name, Name="beta")


def test_one_of_concurrent_writers_with_a_revision_id_wins(server: ServerProcess, create: Create) -> None:
    # Each checks the RevisionId it read; the platform holds the change to that revision, so exactly one lands.
    name = create("echo")["FunctionName"]
    clients = [lambda_client(server.url) for _ in range(8)]
    for round_ in range(3):
        revision = clients[0].get_function_configuration(FunctionName=name)["RevisionId"]
        outcomes = _race(clients, name, revision, str(round_))
        assert sorted(outcomes) == ["PreconditionFailedException"] * (len(clients) - 1) + ["ok"], outcomes
        winner = outcomes.index("ok")
        assert clients[0].get_function_configuration(FunctionName=name)["Description"] == f"{round_}-{winner}"


def _race(clients: list[Any], name: str, revision: str, tag: str) -> list[str]:
    """Every client updates the function's description at once, on condition of `revision`: "ok" or the error."""
    barrier = threading.Barrier(len(clients))

    def update(i: int) -> str:
        barrier.wait(10)
        try:
            clients[i].update_function_configuration(FunctionName=name, Description=f"{tag}-{i}", RevisionId=revision)
        except ClientError as e:
            return str(e.response["Error"]["Code"])
        return "ok"

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(update, range(len(clients))))


def test_function_concurrency(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(FunctionName=name)
    before = client.get_function_configuration(FunctionName=name)
    put = client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    assert put["ReservedConcurrentExecutions"] == 5
    after = client.get_function_configuration(FunctionName=name)  # not a change of the configuration
    assert (after["RevisionId"], after["LastModified"]) == (before["RevisionId"], before["LastModified"])
    assert client.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    assert client.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 5
    settings = client.get_account_settings()["AccountLimit"]
    assert settings["ConcurrentExecutions"] == 100
    assert settings["UnreservedConcurrentExecutions"] <= 95
    deleted = client.delete_function_concurrency(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(FunctionName=name)
    with pytest.raises(ClientError) as e:
        client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=91)  # 100, 10 kept free
    assert error_of(e)[:2] == (400, "InvalidParameterValueException")
    assert error_of(e)[2] == (  # Lambda's words exactly, unprefixed: tools match on them
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
        "below its minimum value of [10]."
    )


def test_provisioned_concurrency_whose_init_fails_is_failed(client: Any) -> None:
    name = unique("initfail")
    wat = '(module (memory (export "memory") 1) (func (export "_initialize") unreachable)'
    wat += ' (func (export "wasmfaas_buffer") (param i32) (result i32) (i32.const 1024))'
    wat += ' (func (export "wasmfaas_handle") (param i32 i32) (result i32) (i32.const 0)))'
    client.create_function(
        FunctionName=name, Runtime="wasi", Role=ROLE, Handler="", Code={"ZipFile": wasmtime.wat2wasm(wat)}
    )
    client.publish_version(FunctionName=name)
    put = client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    got = client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    for config in (put, got):
        assert (config["Status"], config["AllocatedProvisionedConcurrentExecutions"]) == ("FAILED", 0)
        assert config["StatusReason"].startswith("FUNCTION_ERROR_INIT_FAILURE: Runtime.InitError")


def test_provisioned_concurrency(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    client.publish_version(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(client.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    put = client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 2 and put["Status"] == "READY"
    got = client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert got["AllocatedProvisionedConcurrentExecutions"] == 2
    listed = client.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert [(c["FunctionArn"].rsplit(":", 1)[1], c["AllocatedProvisionedConcurrentExecutions"]) for c in listed] == [
        ("live", 2)
    ]
    client.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    first = client.list_provisioned_concurrency_configs(FunctionName=name, MaxItems=1)
    rest = client.list_provisioned_concurrency_configs(FunctionName=name, Marker=first["NextMarker"])
    pages = [
        [c["FunctionArn"].rsplit(":", 1)[1] for c in page["ProvisionedConcurrencyConfigs"]] for page in (first, rest)
    ]
    assert pages == [["1"], ["live"]] and "NextMarker" not in rest
    client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    with pytest.raises(ClientError) as e:
        client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    assert error_of(e)[:2] == (400, "InvalidParameterValueException")
    with pytest.raises(ClientError) as e:  # more than the account could ever run: refused, not built
        client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=100_000
        )
    assert error_of(e)[:2] == (400, "InvalidParameterValueException")
    deleted = client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(client.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    with pytest.raises(ClientError) as e:  # Delete's modelled error is ResourceNotFoundException (Get's differs)
        client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    assert error_of(e)[:2] == (404, "ResourceNotFoundException")
    with pytest.raises(ClientError) as e:
        client.list_provisioned_concurrency_configs(FunctionName=name, MaxItems=51)
    assert error_of(e)[:2] == (400, "InvalidParameterValueException")


def test_tags(client: Any, create: Create) -> None:
    created = create("echo", Tags={"team": "data", "cost-center": "42"})
    name, arn = created["FunctionName"], created["FunctionArn"]
    assert client.list_tags(Resource=arn)["Tags"] == {"team": "data", "cost-center": "42"}
    assert client.get_function(FunctionName=name)["Tags"] == {"team": "data", "cost-center": "42"}
    tagged = client.tag_resource(Resource=arn, Tags={"team": "platform", "env": "dev ü"})
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client.list_tags(Resource=arn)["Tags"] == {"team": "platform", "cost-center": "42", "env": "dev ü"}
    untagged = client.untag_resource(Resource=arn, TagKeys=["cost-center", "env", "not-there"])
    assert untagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client.list_tags(Resource=arn)["Tags"] == {"team": "platform"}
    client.untag_resource(Resource=arn, TagKeys=["team"])
    assert client.list_tags(Resource=arn)["Tags"] == {}
    assert "Tags" not in client.get_function(FunctionName=name)
    client.publish_version(FunctionName=name)
    for resource, tags in (
        (f"{arn}:1", {"a": "b"}),  # a version: tags are the function's
        (name, {"a": "b"}),  # not an ARN
        (arn, {"aws:reserved": "x"}),
        (arn, {"bad*key": "x"}),
        (arn, {"k": "v" * 257}),
        (arn, {f"k{i}": "v" for i in range(51)}),
    ):
        with pytest.raises(ClientError) as e:
            client.tag_resource(Resource=resource, Tags=tags)
        assert error_of(e)[:2] == (400, "InvalidParameterValueException"), resource
    assert client.list_tags(Resource=arn)["Tags"] == {}  # a refused request changed nothing
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.list_tags(Resource=arn.replace(name, unique("missing")))
    with pytest.raises(ClientError) as e:
        create("echo", Tags={"aws:x": "y"})
    assert error_of(e)[:2] == (400, "InvalidParameterValueException")


def test_account_settings(client: Any, create: Create) -> None:
    create("echo")
    settings = client.get_account_settings()
    assert settings["AccountLimit"]["CodeSizeZipped"] == 50 * 1024 * 1024
    assert settings["AccountLimit"]["CodeSizeUnzipped"] == 250 * 1024 * 1024
    assert settings["AccountUsage"]["FunctionCount"] >= 1
    assert settings["AccountUsage"]["TotalCodeSize"] > 0


def test_fuel_extension_over_raw_http(server: ServerProcess, create: Create) -> None:
    import json

    name = create("echo")["FunctionName"]
    request = urllib.request.Request(
        f"{server.url}/2015-03-31/functions/{name}/configuration",
        data=json.dumps({"WasmfaasConfig": {"Fuel": 1000000}}).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["WasmfaasConfig"] == {"Fuel": 1000000, "Kind": "reactor"}
    with urllib.request.urlopen(f"{server.url}/2015-03-31/functions/{name}/configuration") as response:
        assert json.load(response)["WasmfaasConfig"]["Fuel"] == 1000000
