"""Lambda's tagging operations on functions: TagResource, UntagResource and ListTags.

Paths and members as botocore's model has them (`/2017-03-31/tags/{Resource}`, the resource a function ARN,
`?tagKeys=` repeated for UntagResource). Tags belong to the function, not to its versions or aliases: a qualified
ARN is a 400, as on Lambda. The rules on keys and values are `wasmfaas.tags`'s.
"""

from __future__ import annotations

from typing import Final

from .errors import invalid_parameter
from .http import Response, json_response
from .naming import parse_function_name
from .routing import Call, Param, Route
from .shapes import Shape

__all__ = ["ROUTES", "ListTagsResponse", "TagResourceRequest"]


class TagResourceRequest(Shape):
    tags: dict[str, str]


class ListTagsResponse(Shape):
    tags: dict[str, str]


def _function(call: Call) -> str:
    """The function a Resource ARN names; a 400 for anything else, or for a version or alias."""
    raw = call.params["Resource"]
    if not raw.startswith("arn:") or ":function:" not in raw:
        raise invalid_parameter(f"Resource: {raw!r} is not a function ARN")
    name, qualifier = parse_function_name(raw)
    if qualifier is not None:
        raise invalid_parameter("Tags are not supported on function versions or aliases: tag the function's ARN")
    return name


async def tag_resource(call: Call) -> Response:
    body = call.body_as(TagResourceRequest)
    await call.ctx.platform.tag_function(_function(call), body.tags)
    return Response(204)


async def untag_resource(call: Call) -> Response:
    keys = [value for key, value in call.request.query if key == "tagKeys"]
    if not keys:
        raise invalid_parameter("TagKeys: at least one tag key is required (tagKeys=...)")
    await call.ctx.platform.untag_function(_function(call), keys)
    return Response(204)


async def list_tags(call: Call) -> Response:
    return json_response(ListTagsResponse(tags=await call.ctx.platform.list_tags(_function(call))))


_TAGS: Final = "/2017-03-31/tags/{Resource}"

ROUTES: Final = [
    Route(
        "TagResource",
        "POST",
        _TAGS,
        tag_resource,
        204,
        body=TagResourceRequest,
        summary="Add tags to a function (at most 50 in all), or change their values",
    ),
    Route(
        "UntagResource",
        "DELETE",
        _TAGS,
        untag_resource,
        204,
        query=(
            Param(
                "tagKeys",
                schema={"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 128}},
                required=True,
                description="The keys of the tags to remove (repeated)",
            ),
        ),
        summary="Remove tags from a function",
    ),
    Route("ListTags", "GET", _TAGS, list_tags, response=ListTagsResponse, summary="A function's tags"),
]
