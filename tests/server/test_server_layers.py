"""Layers through boto3 against a real server: publish, list, get, use from a function, delete."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from server_helpers import ROLE, request, unique, zip_of

APP = b"""\
def handler(event, context):
    try:
        import shared
    except ImportError:
        return None
    return shared.VALUE
"""


def test_layers(client: Any) -> None:
    name = unique("shared")
    archive = zip_of({"python/shared.py": b"VALUE = 'from the layer'\n"})
    published = client.publish_layer_version(
        LayerName=name,
        Content={"ZipFile": archive},
        Description="shared code",
        CompatibleRuntimes=["python3.14"],
    )
    assert published["ResponseMetadata"]["HTTPStatusCode"] == 201
    arn = published["LayerVersionArn"]
    assert (published["Version"], published["LayerArn"] + ":1") == (1, arn)
    assert arn == f"arn:aws:lambda:us-east-1:000000000000:layer:{name}:1"
    assert published["Content"]["CodeSize"] > 0 and published["CompatibleRuntimes"] == ["python3.14"]
    assert client.get_layer_version(LayerName=name, VersionNumber=1)["LayerVersionArn"] == arn
    assert client.get_layer_version_by_arn(Arn=arn)["Description"] == "shared code"
    # Content.Location downloads the archive as published (a signed link, as a function's Code.Location).
    location = client.get_layer_version(LayerName=name, VersionNumber=1)["Content"]["Location"]
    status, _, body = request(location)
    assert status == 200 and body == archive
    assert request(location.replace("Signature=", "Signature=0"))[0] == 403
    # A layer's link opens no function of the same name (links to each are signed apart).
    client.create_function(
        FunctionName=name,
        Role=ROLE,
        Runtime="python3.14",
        Handler="app.handler",
        Code={"ZipFile": zip_of({"app.py": APP})},
    )
    client.publish_version(FunctionName=name)
    function_link = location.replace("/__wasmfaas/layer-code/", "/__wasmfaas/code/").replace("/1?", "?Qualifier=1&")
    assert request(function_link)[0] == 403
    client.delete_function(FunctionName=name)
    listed = {item["LayerName"]: item for item in client.list_layers()["Layers"]}
    assert listed[name]["LatestMatchingVersion"]["LayerVersionArn"] == arn
    js_layers = client.list_layers(CompatibleRuntime="js-starlingmonkey")["Layers"]
    assert name not in {item["LayerName"] for item in js_layers}

    fn = unique("layered")
    created = client.create_function(
        FunctionName=fn, Runtime="python3.14", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": zip_of({"app.py": APP})}, Layers=[arn],
    )  # fmt: skip
    assert [layer["Arn"] for layer in created["Layers"]] == [arn]
    assert client.invoke(FunctionName=fn)["Payload"].read() == b'"from the layer"'

    second = client.publish_layer_version(
        LayerName=name, Content={"ZipFile": zip_of({"python/shared.py": b"VALUE = 2\n"})}
    )
    assert second["Version"] == 2
    versions = client.list_layer_versions(LayerName=name)["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]
    page = client.list_layer_versions(LayerName=name, MaxItems=1)
    assert [v["Version"] for v in page["LayerVersions"]] == [2]
    rest = client.list_layer_versions(LayerName=name, Marker=page["NextMarker"])
    assert [v["Version"] for v in rest["LayerVersions"]] == [1]

    updated = client.update_function_configuration(FunctionName=fn, Layers=[second["LayerVersionArn"]])
    assert [layer["Arn"] for layer in updated["Layers"]] == [second["LayerVersionArn"]]
    assert client.invoke(FunctionName=fn)["Payload"].read() == b"2"
    assert "Layers" not in client.update_function_configuration(FunctionName=fn, Layers=[])
    assert client.invoke(FunctionName=fn)["Payload"].read() == b"null"

    assert client.delete_layer_version(LayerName=name, VersionNumber=1)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_layer_version(LayerName=name, VersionNumber=1)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.update_function_configuration(FunctionName=fn, Layers=[arn])
    with pytest.raises(ClientError) as e:
        client.create_function(
            FunctionName=unique("wasi"), Runtime="wasi", Role=ROLE, Handler="x.wasm",
            Code={"ZipFile": zip_of({"x.wasm": b"\0asm\1\0\0\0"})}, Layers=[second["LayerVersionArn"]],
        )  # fmt: skip
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as e:
        client.publish_layer_version(LayerName=name, Content={"ZipFile": b"not a zip"})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_compatible_runtimes_and_architectures_as_lambda_takes_them(client: Any) -> None:
    """Any runtime Lambda knows may be named (a layer for java21 is kept, and usable by no function here);
    architectures are kept, shown and filtered on."""
    name = unique("compat")
    published = client.publish_layer_version(
        LayerName=name,
        Content={"ZipFile": zip_of({"python/x.py": b"X = 1\n"})},
        CompatibleRuntimes=["python3.12", "nodejs20.x", "provided.al2023", "java21"],
        CompatibleArchitectures=["arm64"],
    )
    assert published["CompatibleArchitectures"] == ["arm64"]
    assert published["CompatibleRuntimes"] == ["python3.12", "nodejs20.x", "provided.al2023", "java21"]
    assert client.get_layer_version(LayerName=name, VersionNumber=1)["CompatibleArchitectures"] == ["arm64"]

    def names(**filters: str) -> set[str]:
        return {item["LayerName"] for item in client.list_layers(**filters)["Layers"]}

    assert name in names(CompatibleArchitecture="arm64") and name not in names(CompatibleArchitecture="x86_64")
    assert name in names(CompatibleRuntime="provided.al2023", CompatibleArchitecture="arm64")
    for params in ({"CompatibleRuntimes": ["cobol85"]}, {"CompatibleArchitectures": ["sparc"]}):
        with pytest.raises(ClientError) as e:
            client.publish_layer_version(LayerName=name, Content={"ZipFile": zip_of({"a": b""})}, **params)
        assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
