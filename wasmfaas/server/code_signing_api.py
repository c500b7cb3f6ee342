"""Lambda's code signing operations, answered for a platform that verifies no signatures.

wasmfaas has no code signing configurations (it cannot check AWS Signer's signatures offline), so there is never
one to attach: GetFunctionCodeSigningConfig says a function has none (an empty `CodeSigningConfigArn`, as Lambda
answers for an unsigned function), DeleteFunctionCodeSigningConfig has nothing to remove, ListCodeSigningConfigs is
empty, and PutFunctionCodeSigningConfig and GetCodeSigningConfig find no configuration of the ARN they are given.
Infrastructure tools read a function's configuration on every refresh (Terraform's aws_lambda_function does), so
these answer rather than fail as unknown operations. Paths and members as botocore's model has them.
"""

from __future__ import annotations

import re
from typing import Any, Final

from msgspec import UNSET, UnsetType

from .errors import LambdaError, invalid_parameter
from .http import Response, json_response
from .lambda_api import int_param, unqualified
from .routing import Call, Param, Route
from .shapes import Shape

__all__ = ["ROUTES"]

# The model's pattern for a CodeSigningConfigArn.
_CSC_ARN: Final = re.compile(
    r"arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
    r"code-signing-config:csc-[a-z0-9]{17}"
)


class FunctionCodeSigningConfig(Shape):
    """GetFunctionCodeSigningConfig's response (and PutFunctionCodeSigningConfig's request body)."""

    code_signing_config_arn: str
    function_name: str | UnsetType = UNSET


class ListCodeSigningConfigsResponse(Shape):
    code_signing_configs: list[dict[str, Any]]
    next_marker: str | UnsetType = UNSET


def _not_found(arn: str) -> LambdaError:
    if not _CSC_ARN.fullmatch(arn):
        return invalid_parameter(f"CodeSigningConfigArn: {arn!r} is not a code signing configuration ARN")
    return LambdaError(
        404,
        "CodeSigningConfigNotFoundException",
        f"Code signing configuration {arn} not found: wasmfaas verifies no code signatures, so it has none",
    )


async def get_function_code_signing_config(call: Call) -> Response:
    name = unqualified(call)
    await call.ctx.platform.get_function(name)  # 404 for an unknown function
    return json_response(FunctionCodeSigningConfig(code_signing_config_arn="", function_name=name))


async def put_function_code_signing_config(call: Call) -> Response:
    body = call.body_as(FunctionCodeSigningConfig)
    await call.ctx.platform.get_function(unqualified(call))
    raise _not_found(body.code_signing_config_arn)


async def delete_function_code_signing_config(call: Call) -> Response:
    await call.ctx.platform.get_function(unqualified(call))
    return Response(204)


async def list_code_signing_configs(call: Call) -> Response:
    int_param(call, "MaxItems", 1, 10000, 50)  # checked as Lambda checks it, though every page is empty
    return json_response(ListCodeSigningConfigsResponse(code_signing_configs=[]))


async def get_code_signing_config(call: Call) -> Response:
    arn = call.params["CodeSigningConfigArn"]
    error = _not_found(arn)
    if error.status == 404:  # GetCodeSigningConfig's model names ResourceNotFoundException for this
        error = LambdaError(404, "ResourceNotFoundException", error.message)
    raise error


_FUNCTION_CSC: Final = "/2020-06-30/functions/{FunctionName}/code-signing-config"

ROUTES: Final = [
    Route(
        "GetFunctionCodeSigningConfig",
        "GET",
        _FUNCTION_CSC,
        get_function_code_signing_config,
        response=FunctionCodeSigningConfig,
        summary="A function's code signing configuration: always none (an empty CodeSigningConfigArn)",
    ),
    Route(
        "PutFunctionCodeSigningConfig",
        "PUT",
        _FUNCTION_CSC,
        put_function_code_signing_config,
        body=FunctionCodeSigningConfig,
        response=FunctionCodeSigningConfig,
        summary="Attach a code signing configuration: there is none to attach (404)",
    ),
    Route(
        "DeleteFunctionCodeSigningConfig",
        "DELETE",
        _FUNCTION_CSC,
        delete_function_code_signing_config,
        204,
        summary="Detach a function's code signing configuration (it has none)",
    ),
    Route(
        "ListCodeSigningConfigs",
        "GET",
        "/2020-04-22/code-signing-configs",
        list_code_signing_configs,
        response=ListCodeSigningConfigsResponse,
        query=(
            Param("Marker", description="The NextMarker of the previous page"),
            Param("MaxItems", schema={"type": "integer", "minimum": 1, "maximum": 10000}),
        ),
        errors=(400,),
        summary="Code signing configurations: none",
    ),
    Route(
        "GetCodeSigningConfig",
        "GET",
        "/2020-04-22/code-signing-configs/{CodeSigningConfigArn}",
        get_code_signing_config,
        summary="A code signing configuration: none exists (404)",
    ),
]
