"""Lambda's runtime-management and recursion configurations, answered with what this server does.

- Runtime management: a Python or JavaScript function's runtime is built into it when its code is deployed, and a
  deployed function keeps its build until its code is deployed again. That is Lambda's `FunctionUpdate` mode, the
  only one here: GetRuntimeManagementConfig says so, and PutRuntimeManagementConfig takes it and refuses `Auto` and
  `Manual` (a runtime changed under running functions, or pinned to a runtime version ARN) with a 400.
- Recursion: nothing here detects a function that invokes itself in a loop (through a destination, say), so a
  function's RecursiveLoop is `Allow`; PutFunctionRecursionConfig takes `Allow` and refuses `Terminate`, which it
  could not honour.

Inventory tools read these for every function and Terraform's resources for them apply and read them back, so they
answer rather than fail as unknown operations. Paths and members as botocore's model has them.
"""

from __future__ import annotations

from typing import Final, Literal

from msgspec import UNSET, UnsetType

from ..registry import LATEST
from .errors import invalid_parameter
from .http import Response, json_response
from .lambda_api import function_ref, unqualified
from .routing import Call, Param, Route
from .shapes import Shape

__all__ = ["ROUTES"]

UPDATE_RUNTIME_ON: Final = "FunctionUpdate"
RECURSIVE_LOOP: Final = "Allow"


class PutRuntimeManagementConfigRequest(Shape):
    update_runtime_on: Literal["Auto", "Manual", "FunctionUpdate"]
    runtime_version_arn: str | UnsetType = UNSET


class RuntimeManagementConfig(Shape):
    update_runtime_on: str
    function_arn: str


class RecursionConfig(Shape):
    recursive_loop: Literal["Allow", "Terminate"]


async def _runtime_management(call: Call) -> RuntimeManagementConfig:
    name, qualifier = function_ref(call)
    info = await call.ctx.platform.get_function(name, qualifier)  # 404 for an unknown function, version or alias
    arn_qualifier = qualifier if qualifier not in (None, LATEST) else None
    return RuntimeManagementConfig(
        update_runtime_on=UPDATE_RUNTIME_ON, function_arn=call.ctx.identity.function_arn(info.name, arn_qualifier)
    )


async def get_runtime_management_config(call: Call) -> Response:
    return json_response(await _runtime_management(call))


async def put_runtime_management_config(call: Call) -> Response:
    body = call.body_as(PutRuntimeManagementConfigRequest)
    config = await _runtime_management(call)
    if body.update_runtime_on != UPDATE_RUNTIME_ON:
        raise invalid_parameter(
            f"UpdateRuntimeOn: {body.update_runtime_on} is not available here. A function's runtime is built into it "
            "when its code is deployed and kept until its code is deployed again (FunctionUpdate)"
        )
    if body.runtime_version_arn is not UNSET:
        raise invalid_parameter("RuntimeVersionArn: only with UpdateRuntimeOn Manual, which is not available here")
    return json_response(config)


async def get_function_recursion_config(call: Call) -> Response:
    await call.ctx.platform.get_function(unqualified(call))
    return json_response(RecursionConfig(recursive_loop=RECURSIVE_LOOP))


async def put_function_recursion_config(call: Call) -> Response:
    body = call.body_as(RecursionConfig)
    await call.ctx.platform.get_function(unqualified(call))
    if body.recursive_loop != RECURSIVE_LOOP:
        raise invalid_parameter(
            "RecursiveLoop: Terminate is not available here: wasmfaas does not detect recursive invocation loops"
        )
    return json_response(RecursionConfig(recursive_loop=RECURSIVE_LOOP))


_RUNTIME_MANAGEMENT: Final = "/2021-07-20/functions/{FunctionName}/runtime-management-config"
_RECURSION: Final = "/2024-08-31/functions/{FunctionName}/recursion-config"
_QUALIFIER: Final = Param("Qualifier", description="A version number, $LATEST or an alias name")

ROUTES: Final = [
    Route(
        "GetRuntimeManagementConfig",
        "GET",
        _RUNTIME_MANAGEMENT,
        get_runtime_management_config,
        response=RuntimeManagementConfig,
        query=(_QUALIFIER,),
        summary="How the function's runtime is updated: when its code is deployed (FunctionUpdate)",
    ),
    Route(
        "PutRuntimeManagementConfig",
        "PUT",
        _RUNTIME_MANAGEMENT,
        put_runtime_management_config,
        body=PutRuntimeManagementConfigRequest,
        response=RuntimeManagementConfig,
        query=(_QUALIFIER,),
        summary="Set how the function's runtime is updated (FunctionUpdate only)",
    ),
    Route(
        "GetFunctionRecursionConfig",
        "GET",
        _RECURSION,
        get_function_recursion_config,
        response=RecursionConfig,
        summary="Whether recursive invocation loops are stopped (Allow: none is detected here)",
    ),
    Route(
        "PutFunctionRecursionConfig",
        "PUT",
        _RECURSION,
        put_function_recursion_config,
        body=RecursionConfig,
        response=RecursionConfig,
        summary="Set the recursion setting (Allow only)",
    ),
]
