"""Lambda's layer operations: PublishLayerVersion, GetLayerVersion(ByArn), ListLayers, ListLayerVersions and
DeleteLayerVersion (wasmfaas.layers has the platform's side).

Paths and members as botocore's model has them (`/2018-10-31/layers[/{LayerName}/versions[/{VersionNumber}]]`);
GetLayerVersionByArn shares ListLayers' path, told apart by `?find=LayerVersion`. A layer's content is uploaded as
Content.ZipFile; its Content.Location is a link to this server valid 10 minutes (as a function's Code.Location).
"""

from __future__ import annotations

from typing import Annotated, Final, Literal
from urllib.parse import quote

import msgspec
from msgspec import UNSET, Meta, UnsetType

from ..config import is_decimal
from ..layers import LayerVersionInfo, parse_layer_ref
from .context import ServerContext
from .errors import LambdaError, invalid_parameter
from .http import Response, json_response
from .lambda_api import CODE_BODY_LIMIT, code_sha256_b64, paginate, zip_download
from .routing import Call, Param, Route
from .shapes import Shape

__all__ = ["ROUTES"]


class LayerContentInput(Shape):
    zip_file: bytes | UnsetType = UNSET
    s3_bucket: str | UnsetType = UNSET
    s3_key: str | UnsetType = UNSET


class PublishLayerVersionRequest(Shape):
    content: LayerContentInput
    description: Annotated[str, Meta(max_length=256)] = ""
    compatible_runtimes: Annotated[list[str], Meta(max_length=15)] = []  # noqa: RUF012 - msgspec copies defaults
    compatible_architectures: Annotated[list[Literal["x86_64", "arm64"]], Meta(max_length=2)] = []  # noqa: RUF012
    license_info: Annotated[str, Meta(max_length=512)] = ""


class LayerContentOutput(Shape):
    code_sha256: str
    code_size: int
    location: str | UnsetType = UNSET


class LayerVersion(Shape):
    """PublishLayerVersion's and GetLayerVersion's response."""

    content: LayerContentOutput
    layer_arn: str
    layer_version_arn: str
    description: str
    created_date: str
    version: int
    compatible_runtimes: list[str]
    compatible_architectures: list[str]
    license_info: str | UnsetType = UNSET


class LayerVersionsListItem(Shape):
    layer_version_arn: str
    version: int
    description: str
    created_date: str
    compatible_runtimes: list[str]
    compatible_architectures: list[str]
    license_info: str | UnsetType = UNSET


class LayersListItem(Shape):
    layer_name: str
    layer_arn: str
    latest_matching_version: LayerVersionsListItem


class ListLayersResponse(Shape):
    layers: list[LayersListItem]
    next_marker: str | UnsetType = UNSET


class ListLayerVersionsResponse(Shape):
    layer_versions: list[LayerVersionsListItem]
    next_marker: str | UnsetType = UNSET


def _layer_name(call: Call) -> str:
    raw = call.params["LayerName"]
    if raw.startswith("arn:"):  # LayerNameOrArn: a layer ARN names it too
        _, sep, name = raw.rpartition(":layer:")
        if not sep or ":" in name:
            raise invalid_parameter(f"LayerName: {raw!r} is not a layer name or layer ARN")
        return name
    return raw


def _version_number(call: Call) -> int:
    text = call.params["VersionNumber"]
    if not is_decimal(text) or len(text) > 18:
        raise invalid_parameter(f"VersionNumber: {text!r} is not a version number")
    return int(text)


def _layer_version(ctx: ServerContext, info: LayerVersionInfo, base_url: str) -> LayerVersion:
    location = (
        f"{ctx.base_url(base_url)}/__wasmfaas/layer-code/{quote(info.name, safe='')}/{info.version}"
        f"?{ctx.code_urls.query(_LINK_PREFIX + info.name, str(info.version))}"
    )
    return LayerVersion(
        content=LayerContentOutput(
            code_sha256=code_sha256_b64(info.code_sha256), code_size=info.code_size, location=location
        ),
        layer_arn=ctx.identity.layer_arn(info.name),
        **msgspec.structs.asdict(_list_item(ctx, info)),
    )


# Links to layers are signed under a name no function can have (":" is not in names): a function's link cannot be
# turned into a layer's.
_LINK_PREFIX: Final = "layer:"


async def download_layer(call: Call) -> Response:
    """Content.Location, for a link a layer operation signed in the last 10 minutes: the archive as published."""
    ctx = call.ctx
    name = call.params["LayerName"]
    version = _version_number(call)
    query = call.request.query_param
    if not ctx.code_urls.check_query(_LINK_PREFIX + name, str(version), query("Expires"), query("Signature")):
        raise LambdaError(403, "AccessDeniedException", "The layer link is invalid or has expired: get it again")
    return zip_download(await ctx.platform.get_layer_version_content(name, version), f"{name}-{version}.zip")


def _list_item(ctx: ServerContext, info: LayerVersionInfo) -> LayerVersionsListItem:
    return LayerVersionsListItem(
        layer_version_arn=ctx.identity.layer_arn(info.name, info.version),
        version=info.version,
        description=info.description,
        created_date=info.created,
        compatible_runtimes=list(info.compatible_runtimes),
        compatible_architectures=list(info.compatible_architectures),
        license_info=info.license_info or UNSET,
    )


def _matches(call: Call, info: LayerVersionInfo) -> bool:
    runtime = call.request.query_param("CompatibleRuntime")
    architecture = call.request.query_param("CompatibleArchitecture")
    return (not runtime or runtime in info.compatible_runtimes) and (
        not architecture or architecture in info.compatible_architectures
    )


async def publish_layer_version(call: Call) -> Response:
    body = call.body_as(PublishLayerVersionRequest)
    if body.content.s3_bucket is not UNSET or body.content.s3_key is not UNSET:
        raise invalid_parameter("Content.S3Bucket/S3Key: this server has no S3; upload the layer as ZipFile")
    if body.content.zip_file is UNSET:
        raise invalid_parameter("Content.ZipFile: the layer's archive is required")
    info = await call.ctx.platform.publish_layer_version(
        _layer_name(call),
        body.content.zip_file,
        description=body.description,
        compatible_runtimes=body.compatible_runtimes,
        license_info=body.license_info,
        compatible_architectures=body.compatible_architectures,
    )
    return json_response(_layer_version(call.ctx, info, call.request.base_url), 201)


async def get_layer_version(call: Call) -> Response:
    info = await call.ctx.platform.get_layer_version(_layer_name(call), _version_number(call))
    return json_response(_layer_version(call.ctx, info, call.request.base_url))


async def list_layers(call: Call) -> Response:
    ctx = call.ctx
    if call.request.query_param("find") == "LayerVersion":  # GetLayerVersionByArn: the same path
        arn = call.request.query_param("Arn") or ""
        if not arn.startswith("arn:"):
            raise invalid_parameter(f"Arn: {arn!r} is not a layer version ARN")
        name, version = parse_layer_ref(arn)
        info = await ctx.platform.get_layer_version(name, version)
        return json_response(_layer_version(ctx, info, call.request.base_url))
    newest: list[LayerVersionInfo] = []
    for layer in await ctx.platform.list_layers():  # each layer by its newest version that matches the filter
        matching = [v for v in await ctx.platform.list_layer_versions(layer.name) if _matches(call, v)]
        if matching:
            newest.append(matching[0])
    page, marker = paginate(call, newest, lambda v: [v.name], most=MAX_LAYER_ITEMS)
    items = [
        LayersListItem(
            layer_name=v.name, layer_arn=ctx.identity.layer_arn(v.name), latest_matching_version=_list_item(ctx, v)
        )
        for v in page
    ]
    return json_response(ListLayersResponse(layers=items, next_marker=marker if marker is not None else UNSET))


async def list_layer_versions(call: Call) -> Response:
    ctx = call.ctx
    versions = [v for v in await ctx.platform.list_layer_versions(_layer_name(call)) if _matches(call, v)]
    # Newest first; the marker compares on the negated number so that later pages hold older versions.
    page, marker = paginate(
        call, versions, lambda v: [str(-v.version)], compare=lambda k: int(k[0]), most=MAX_LAYER_ITEMS
    )
    return json_response(
        ListLayerVersionsResponse(
            layer_versions=[_list_item(ctx, v) for v in page], next_marker=marker if marker is not None else UNSET
        )
    )


async def delete_layer_version(call: Call) -> Response:
    await call.ctx.platform.delete_layer_version(_layer_name(call), _version_number(call))
    return Response(204)


# Lambda's bound on MaxItems of ListLayers and ListLayerVersions.
MAX_LAYER_ITEMS: Final = 50
_LAYERS: Final = "/2018-10-31/layers"
_VERSIONS: Final = f"{_LAYERS}/{{LayerName}}/versions"
_PAGING: Final = (
    Param("CompatibleRuntime", description="Only layers (versions) declared compatible with this runtime"),
    Param(
        "CompatibleArchitecture",
        schema={"type": "string", "enum": ["x86_64", "arm64"]},
        description="Only layers (versions) declared compatible with this architecture",
    ),
    Param("Marker", description="The NextMarker of the previous page"),
    Param("MaxItems", schema={"type": "integer", "minimum": 1, "maximum": MAX_LAYER_ITEMS}),
)

ROUTES: Final = [
    Route(
        "WasmfaasDownloadLayer",
        "GET",
        "/__wasmfaas/layer-code/{LayerName}/{VersionNumber}",
        download_layer,
        response_media="application/zip",
        signed=False,
        errors=(403, 404),
        tag="wasmfaas",
        query=(Param("Expires", required=True), Param("Signature", required=True)),
        summary="Download a layer version's archive (the Content.Location layer operations return)",
    ),
    Route(
        "PublishLayerVersion",
        "POST",
        _VERSIONS,
        publish_layer_version,
        201,
        body=PublishLayerVersionRequest,
        response=LayerVersion,
        body_limit=CODE_BODY_LIMIT,
        summary="Publish a new version of a layer from a zip archive in Content.ZipFile",
    ),
    Route(
        "ListLayerVersions",
        "GET",
        _VERSIONS,
        list_layer_versions,
        response=ListLayerVersionsResponse,
        query=_PAGING,
        summary="A layer's versions, newest first",
    ),
    Route(
        "GetLayerVersion",
        "GET",
        f"{_VERSIONS}/{{VersionNumber}}",
        get_layer_version,
        response=LayerVersion,
        summary="One layer version",
    ),
    Route(
        "DeleteLayerVersion",
        "DELETE",
        f"{_VERSIONS}/{{VersionNumber}}",
        delete_layer_version,
        204,
        summary="Delete a layer version (functions that use it keep their copy)",
    ),
    Route(
        "ListLayers",
        "GET",
        _LAYERS,
        list_layers,
        response=ListLayersResponse,
        query=(*_PAGING, Param("find", schema={"type": "string", "enum": ["LayerVersion"]}), Param("Arn")),
        summary="Layers by their newest matching version; with ?find=LayerVersion&Arn=, GetLayerVersionByArn",
    ),
]
