"""Lambda's resource-based policy operations: AddPermission, RemovePermission and GetPolicy.

Paths and members as botocore's model has them (`/2015-03-31/functions/{FunctionName}/policy[/{StatementId}]`,
`?Qualifier=` for a version or alias, never `$LATEST`). Each AddPermission becomes the statement Lambda's GetPolicy
shows -- Principal as `*`, `{"AWS": ...}` or `{"Service": ...}`; SourceArn, SourceAccount, PrincipalOrgID,
FunctionUrlAuthType, EventSourceToken and InvokedViaFunctionUrl as Conditions -- so that infrastructure tools can
apply and compare them. They are kept, not enforced: with `--auth`, any valid signature may call anything.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

import anyio.to_thread
import msgspec
from msgspec import UNSET, Meta, UnsetType

from ..config import is_decimal
from ..registry import LATEST
from .errors import LambdaError, conflict, invalid_parameter, not_found, precondition_failed
from .http import Response, json_response
from .lambda_api import alias_revision_id, function_ref, function_revision_id
from .routing import Call, Param, Route
from .shapes import Shape

__all__ = ["ROUTES", "AddPermissionRequest", "AddPermissionResponse", "GetPolicyResponse"]

# Lambda's limit on a function's (or a version's or alias's) whole policy document.
MAX_POLICY_BYTES: Final = 20480
_ACCOUNT_RE: Final = re.compile(r"\d{12}")


class AddPermissionRequest(Shape):
    statement_id: Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[a-zA-Z0-9_-]+$")]
    action: Annotated[str, Meta(max_length=10000, pattern=r"^(lambda:[*]|lambda:[a-zA-Z]+|[*])$")]
    principal: Annotated[str, Meta(min_length=1, max_length=2048, pattern=r"^[^\s]+$")]
    source_arn: Annotated[str, Meta(max_length=1024)] | UnsetType = UNSET
    source_account: Annotated[str, Meta(max_length=12, pattern=r"^\d{12}$")] | UnsetType = UNSET
    principal_org_id: Annotated[str, Meta(min_length=12, max_length=34)] | UnsetType = msgspec.field(
        default=UNSET, name="PrincipalOrgID"
    )
    event_source_token: Annotated[str, Meta(max_length=256)] | UnsetType = UNSET
    function_url_auth_type: Literal["NONE", "AWS_IAM"] | UnsetType = UNSET
    invoked_via_function_url: bool | UnsetType = UNSET
    revision_id: str | UnsetType = UNSET


class AddPermissionResponse(Shape):
    statement: str


class GetPolicyResponse(Shape):
    policy: str
    revision_id: str


def _principal(principal: str) -> Any:
    if principal == "*":
        return "*"
    if _ACCOUNT_RE.fullmatch(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if principal.startswith("arn:"):
        return {"AWS": principal}
    if re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", principal):  # a service: s3.amazonaws.com
        return {"Service": principal}
    raise invalid_parameter("The provided principal was invalid. Please check the principal and try again.")


def _statement(body: AddPermissionRequest, resource: str) -> dict[str, Any]:
    conditions: dict[str, dict[str, str]] = {}
    if body.source_arn is not UNSET:
        conditions.setdefault("ArnLike", {})["AWS:SourceArn"] = body.source_arn
    if body.source_account is not UNSET:
        conditions.setdefault("StringEquals", {})["AWS:SourceAccount"] = body.source_account
    if body.principal_org_id is not UNSET:
        conditions.setdefault("StringEquals", {})["aws:PrincipalOrgID"] = body.principal_org_id
    if body.event_source_token is not UNSET:
        conditions.setdefault("StringEquals", {})["lambda:EventSourceToken"] = body.event_source_token
    if body.function_url_auth_type is not UNSET:
        conditions.setdefault("StringEquals", {})["lambda:FunctionUrlAuthType"] = body.function_url_auth_type
    if body.invoked_via_function_url is True:
        conditions.setdefault("Bool", {})["lambda:InvokedViaFunctionUrl"] = "true"
    statement: dict[str, Any] = {
        "Sid": body.statement_id,
        "Effect": "Allow",
        "Principal": _principal(body.principal),
        "Action": body.action,
        "Resource": resource,
    }
    if conditions:
        statement["Condition"] = conditions
    return statement


def _policy(statements: list[dict[str, Any]]) -> bytes:
    return msgspec.json.encode({"Version": "2012-10-17", "Id": "default", "Statement": statements})


async def _target(call: Call) -> tuple[str, str | None, str]:
    """(name, qualifier, RevisionId) of the function, version or alias the request names; 404 if there is none.
    The RevisionId is the version's or the alias's own, which its policy is part of (GetPolicy shows it)."""
    name, qualifier = function_ref(call)
    if qualifier == LATEST:
        raise invalid_parameter("We currently do not support adding policies for $LATEST.")
    ctx = call.ctx
    if qualifier is not None and not is_decimal(qualifier):
        return name, qualifier, alias_revision_id(ctx, await ctx.platform.get_alias(name, qualifier))
    return name, qualifier, function_revision_id(ctx, await ctx.platform.get_function(name, qualifier))


def _check_revision(given: str | None, current: str) -> None:
    if given and given != current:
        raise precondition_failed(
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
        )


async def add_permission(call: Call) -> Response:
    body = call.body_as(AddPermissionRequest)
    ctx = call.ctx
    async with ctx.lock:
        name, qualifier, revision = await _target(call)
        _check_revision(body.revision_id if body.revision_id is not UNSET else None, revision)
        statements = ctx.policies.statements(name, qualifier)
        if any(s.get("Sid") == body.statement_id for s in statements):
            raise conflict(
                f"The statement id ({body.statement_id}) provided already exists. Please provide a new statement "
                "id, or remove the existing statement."
            )
        statement = _statement(body, ctx.identity.function_arn(name, qualifier))
        size = len(_policy([*statements, statement]))
        if size > MAX_POLICY_BYTES:
            raise LambdaError(
                400,
                "PolicyLengthExceededException",
                f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES}).",
            )
        await anyio.to_thread.run_sync(ctx.policies.add, name, qualifier, statement)
    return json_response(AddPermissionResponse(statement=msgspec.json.encode(statement).decode()), 201)


async def get_policy(call: Call) -> Response:
    ctx = call.ctx
    name, qualifier, revision = await _target(call)
    statements = ctx.policies.statements(name, qualifier)
    if not statements:
        raise not_found("The resource you requested does not exist.")
    return json_response(GetPolicyResponse(policy=_policy(statements).decode(), revision_id=revision))


async def remove_permission(call: Call) -> Response:
    ctx = call.ctx
    sid = call.params["StatementId"]
    async with ctx.lock:
        name, qualifier, revision = await _target(call)
        _check_revision(call.request.query_param("RevisionId"), revision)
        if not await anyio.to_thread.run_sync(ctx.policies.remove, name, qualifier, sid):
            raise not_found(f"Statement {sid} is not found in resource policy.")
    return Response(204)


_POLICY: Final = "/2015-03-31/functions/{FunctionName}/policy"
_QUALIFIER: Final = Param("Qualifier", description="A version number or an alias name (not $LATEST)")

ROUTES: Final = [
    Route(
        "AddPermission",
        "POST",
        _POLICY,
        add_permission,
        201,
        body=AddPermissionRequest,
        response=AddPermissionResponse,
        query=(_QUALIFIER,),
        errors=(400, 404, 409, 412),
        summary="Add a statement to the function's (or a version's or alias's) resource-based policy",
    ),
    Route(
        "GetPolicy",
        "GET",
        _POLICY,
        get_policy,
        response=GetPolicyResponse,
        query=(_QUALIFIER,),
        summary="The resource-based policy of a function, version or alias",
    ),
    Route(
        "RemovePermission",
        "DELETE",
        f"{_POLICY}/{{StatementId}}",
        remove_permission,
        204,
        query=(_QUALIFIER, Param("RevisionId", description="Only if the function's revision id is this")),
        errors=(400, 404, 412),
        summary="Remove a statement from a resource-based policy",
    ),
]
