"""Code signing operations: a platform without code signing configurations answers as Lambda does for an unsigned
function, so that tools that read them on every refresh (Terraform's aws_lambda_function) work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

CSC_ARN = "arn:aws:lambda:us-east-1:000000000000:code-signing-config:csc-0123456789abcdef0"


def error_of(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ClientError) as excinfo:
        call()
    response = excinfo.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_a_function_has_no_code_signing_config(client: Any, create: Callable[..., dict[str, Any]]) -> None:
    created = create("echo")
    name = created["FunctionName"]
    got = client.get_function_code_signing_config(FunctionName=created["FunctionArn"])
    assert (got["CodeSigningConfigArn"], got["FunctionName"]) == ("", name)
    assert client.delete_function_code_signing_config(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    put = lambda: client.put_function_code_signing_config(FunctionName=name, CodeSigningConfigArn=CSC_ARN)  # noqa: E731
    assert error_of(put) == (404, "CodeSigningConfigNotFoundException")
    bad = lambda: client.put_function_code_signing_config(FunctionName=name, CodeSigningConfigArn="csc-1")  # noqa: E731
    assert error_of(bad) == (400, "InvalidParameterValueException")
    missing = f"{name}-missing"
    for call in (
        lambda: client.get_function_code_signing_config(FunctionName=missing),
        lambda: client.delete_function_code_signing_config(FunctionName=missing),
        lambda: client.put_function_code_signing_config(FunctionName=missing, CodeSigningConfigArn=CSC_ARN),
    ):
        assert error_of(call) == (404, "ResourceNotFoundException")


def test_there_are_no_code_signing_configs(client: Any) -> None:
    assert client.list_code_signing_configs()["CodeSigningConfigs"] == []
    assert client.list_code_signing_configs(MaxItems=1)["CodeSigningConfigs"] == []
    assert error_of(lambda: client.get_code_signing_config(CodeSigningConfigArn=CSC_ARN)) == (
        404,
        "ResourceNotFoundException",
    )
