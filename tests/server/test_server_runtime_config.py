"""Runtime-management and recursion configurations: answered with what this server does (a function's runtime is
its build's, kept until its code is deployed again; no recursive loop is detected), and refused otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError


def error_of(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as excinfo:
        call()
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def test_runtime_management_is_function_update(client: Any, create: Callable[..., dict[str, Any]]) -> None:
    created = create("echo")
    name, arn = created["FunctionName"], created["FunctionArn"]
    got = client.get_runtime_management_config(FunctionName=name)
    assert (got["UpdateRuntimeOn"], got["FunctionArn"]) == ("FunctionUpdate", arn)
    client.publish_version(FunctionName=name)
    assert client.get_runtime_management_config(FunctionName=name, Qualifier="1")["FunctionArn"] == f"{arn}:1"
    put = client.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="FunctionUpdate")
    assert put["UpdateRuntimeOn"] == "FunctionUpdate"
    status, code, message = error_of(
        lambda: client.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Auto")
    )
    assert (status, code) == (400, "InvalidParameterValueException") and "FunctionUpdate" in message
    manual = lambda: client.put_runtime_management_config(  # noqa: E731
        FunctionName=name,
        UpdateRuntimeOn="Manual",
        RuntimeVersionArn="arn:aws:lambda:us-east-1::runtime:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    )
    assert error_of(manual)[:2] == (400, "InvalidParameterValueException")
    for call in (
        lambda: client.get_runtime_management_config(FunctionName=f"{name}-missing"),
        lambda: client.get_runtime_management_config(FunctionName=name, Qualifier="7"),
    ):
        assert error_of(call)[:2] == (404, "ResourceNotFoundException")


def test_recursion_is_allowed_as_nothing_detects_it(client: Any, create: Callable[..., dict[str, Any]]) -> None:
    name = create("echo")["FunctionName"]
    assert client.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Allow"
    assert client.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")["RecursiveLoop"] == "Allow"
    status, code, message = error_of(
        lambda: client.put_function_recursion_config(FunctionName=name, RecursiveLoop="Terminate")
    )
    assert (status, code) == (400, "InvalidParameterValueException") and "does not detect" in message
    assert error_of(lambda: client.get_function_recursion_config(FunctionName=f"{name}-missing"))[:2] == (
        404,
        "ResourceNotFoundException",
    )
