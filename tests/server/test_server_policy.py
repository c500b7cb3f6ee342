"""Resource-based policies (AddPermission, GetPolicy, RemovePermission) through boto3 against a real server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from server_helpers import ROLE, lambda_client, start_server, unique, zip_of

Create = Callable[..., dict[str, Any]]


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def statements(client: Any, name: str, **qualifier: str) -> list[dict[str, Any]]:
    return list(json.loads(client.get_policy(FunctionName=name, **qualifier)["Policy"])["Statement"])


def test_statements_as_lambda_writes_them(client: Any, create: Create) -> None:
    created = create("echo")
    name, arn = created["FunctionName"], created["FunctionArn"]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_policy(FunctionName=name)
    added = client.add_permission(
        FunctionName=name,
        StatementId="s3-invoke",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::my-bucket",
        SourceAccount="123456789012",
    )
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"]) == {
        "Sid": "s3-invoke",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": arn,
        "Condition": {
            "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"},
            "StringEquals": {"AWS:SourceAccount": "123456789012"},
        },
    }
    client.add_permission(
        FunctionName=name,
        StatementId="url",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    client.add_permission(FunctionName=name, StatementId="acct", Action="lambda:*", Principal="210987654321")
    policy = client.get_policy(FunctionName=name)
    document = json.loads(policy["Policy"])
    assert (document["Version"], document["Id"]) == ("2012-10-17", "default")
    assert [s["Sid"] for s in document["Statement"]] == ["s3-invoke", "url", "acct"]
    url, account = document["Statement"][1:]
    assert url["Principal"] == "*" and url["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
    assert account["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"} and "Condition" not in account
    # As on Lambda, GetPolicy's RevisionId is the function's, and it moves with each statement added or removed: a
    # writer holding one read before another writer's change (from GetPolicy or GetFunction) is refused.
    assert policy["RevisionId"] == client.get_function_configuration(FunctionName=name)["RevisionId"]
    client.add_permission(FunctionName=name, StatementId="other", Action="lambda:*", Principal="*")
    for stale in (
        lambda: client.add_permission(
            FunctionName=name, StatementId="mine", Action="lambda:*", Principal="*", RevisionId=policy["RevisionId"]
        ),
        lambda: client.remove_permission(FunctionName=name, StatementId="other", RevisionId=policy["RevisionId"]),
        lambda: client.update_function_configuration(FunctionName=name, RevisionId=policy["RevisionId"]),
    ):
        with pytest.raises(ClientError) as e:
            stale()
        assert error_of(e)[:2] == (412, "PreconditionFailedException")
    current = client.get_function_configuration(FunctionName=name)["RevisionId"]
    assert current == client.get_policy(FunctionName=name)["RevisionId"] != policy["RevisionId"]
    client.remove_permission(FunctionName=name, StatementId="other", RevisionId=current)

    with pytest.raises(ClientError) as e:
        client.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunction", Principal="*")
    assert error_of(e)[:2] == (409, "ResourceConflictException")
    with pytest.raises(ClientError) as e:
        client.add_permission(
            FunctionName=name, StatementId="stale", Action="lambda:*", Principal="*", RevisionId="not-the-revision"
        )
    assert error_of(e)[:2] == (412, "PreconditionFailedException")
    for principal, action in (("nodots", "lambda:InvokeFunction"), ("*", "s3:GetObject"), ("two words", "*")):
        with pytest.raises(ClientError) as e:
            client.add_permission(FunctionName=name, StatementId="bad", Action=action, Principal=principal)
        assert error_of(e)[:2] == (400, "InvalidParameterValueException"), (principal, action)
    with pytest.raises(ClientError) as e:  # Lambda's 20 KB policy limit
        client.add_permission(FunctionName=name, StatementId="big", Action="*", Principal="*", SourceArn="a" * 1000)
        for i in range(30):
            client.add_permission(
                FunctionName=name, StatementId=f"big{i}", Action="*", Principal="*", SourceArn="a" * 1000
            )
    assert error_of(e)[:2] == (400, "PolicyLengthExceededException")

    removed = client.remove_permission(FunctionName=name, StatementId="url")
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "url" not in [s["Sid"] for s in statements(client, name)]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.remove_permission(FunctionName=name, StatementId="url")


def test_versions_and_aliases_have_policies_of_their_own(client: Any, create: Create) -> None:
    name = create("echo")["FunctionName"]
    client.publish_version(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    client.add_permission(FunctionName=name, StatementId="fn", Action="lambda:InvokeFunction", Principal="*")
    client.add_permission(
        FunctionName=name, Qualifier="live", StatementId="alias", Action="lambda:InvokeFunction", Principal="*"
    )
    client.add_permission(
        FunctionName=f"{name}:1", StatementId="version", Action="lambda:InvokeFunction", Principal="*"
    )
    assert [s["Sid"] for s in statements(client, name)] == ["fn"]
    (alias,) = statements(client, name, Qualifier="live")
    assert alias["Sid"] == "alias" and alias["Resource"].endswith(f":function:{name}:live")
    assert [s["Sid"] for s in statements(client, name, Qualifier="1")] == ["version"]
    alias_revision = client.get_alias(FunctionName=name, Name="live")["RevisionId"]  # an alias's own RevisionId
    assert client.get_policy(FunctionName=name, Qualifier="live")["RevisionId"] == alias_revision
    client.remove_permission(FunctionName=name, Qualifier="live", StatementId="alias", RevisionId=alias_revision)
    assert client.get_alias(FunctionName=name, Name="live")["RevisionId"] != alias_revision
    client.add_permission(
        FunctionName=name, Qualifier="live", StatementId="alias", Action="lambda:InvokeFunction", Principal="*"
    )
    for qualifier, status in (("$LATEST", 400), ("nope", 404)):
        with pytest.raises(ClientError) as e:
            client.add_permission(
                FunctionName=name, Qualifier=qualifier, StatementId="x", Action="lambda:*", Principal="*"
            )
        assert error_of(e)[0] == status
    # A deleted alias, version or function takes its policy with it.
    client.delete_alias(FunctionName=name, Name="live")
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_policy(FunctionName=name, Qualifier="live")
    client.delete_alias(FunctionName=name, Name="live")
    client.delete_function(FunctionName=name, Qualifier="1")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_policy(FunctionName=name, Qualifier="1")
    client.delete_function(FunctionName=name)
    create("echo", name)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_policy(FunctionName=name)


def test_policies_survive_a_restart(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        client = lambda_client(server.url)
        name = unique("kept")
        client.create_function(
            FunctionName=name, Runtime="wasi", Role=ROLE, Handler="echo.wasm",
            Code={"ZipFile": zip_of({"echo.wasm": guest("echo")})},
        )  # fmt: skip
        client.add_permission(FunctionName=name, StatementId="keep", Action="lambda:InvokeFunction", Principal="*")
    finally:
        assert server.stop() == 0, "".join(server.output)
    server = start_server(data)
    try:
        assert [s["Sid"] for s in statements(lambda_client(server.url), name)] == ["keep"]
    finally:
        assert server.stop() == 0, "".join(server.output)
