"""Lambda's control plane: functions, code, configuration, versions, aliases, concurrency and account settings.

Paths, methods, status codes and member names are botocore's (`botocore/data/lambda/2015-03-31/service-2.json`).
FunctionConfig maps onto the API as MemorySize <-> memory_mb, Timeout <-> timeout, Environment.Variables <->
environment, ReservedConcurrentExecutions <-> reserved_concurrency, and the `WasmfaasConfig.Fuel` extension <->
fuel; Layers are layer version ARNs (layers_api.py), Role and Tags are kept. Architectures, TracingConfig,
LoggingConfig, KMSKeyArn and DeadLetterConfig have no effect here but are kept with each version and shown as
Lambda shows them (defaults included), since tools compare what they applied with what they read back; other members
the platform has no notion of (VpcConfig, SnapStart ...) are accepted and not kept; what would silently change
behaviour if ignored (S3 or image code) is refused with a 400.

Code: for a language runtime (`python3.14`, `js-starlingmonkey`) the ZipFile is the sources, handed to the platform,
which builds them (a build failure is a 400 with the builder's message); CodeSha256 and CodeSize are the package's
and Code.Location serves the package as uploaded, as on AWS. For `wasi` the package holds a module (see packages.py);
by design CodeSha256 and CodeSize then describe the module (the package's other files are not kept), and
Code.Location serves a zip of that module.
"""

from __future__ import annotations

import base64
import contextlib
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Final, TypeVar
from urllib.parse import quote

import anyio
import anyio.to_thread
import msgspec
from msgspec import UNSET

from .. import runtimes
from ..config import FunctionConfig, is_decimal
from ..errors import FunctionNotFoundError, PreconditionFailedError
from ..registry import LATEST, AliasInfo, FunctionInfo
from ..results import FunctionError
from .context import ServerContext
from .errors import LambdaError, conflict, invalid_parameter, not_found, precondition_failed
from .http import Response, json_response
from .naming import decode_marker, encode_marker, parse_function_name, revision_id
from .packages import MAX_UNZIPPED, MAX_ZIPPED, build_zip, module_file_name, open_package
from .routing import Call, KiB, Param, Route
from .shapes import (
    AccountLimit,
    AccountUsage,
    AliasConfiguration,
    AliasRoutingConfiguration,
    Concurrency,
    CreateAliasRequest,
    CreateFunctionRequest,
    DeadLetterConfig,
    EnvironmentRequest,
    EnvironmentResponse,
    EphemeralStorage,
    FunctionCodeLocation,
    FunctionConfiguration,
    FunctionLayer,
    GetAccountSettingsResponse,
    GetFunctionResponse,
    ListAliasesResponse,
    ListFunctionsResponse,
    ListVersionsByFunctionResponse,
    LoggingConfig,
    ProvisionedConcurrencyConfig,
    ProvisionedConcurrencyConfigList,
    ProvisionedConcurrencyConfigListItem,
    PublishVersionRequest,
    PutFunctionConcurrencyRequest,
    PutProvisionedConcurrencyConfigRequest,
    SnapStart,
    SnapStartResponse,
    TracingConfig,
    UpdateAliasRequest,
    UpdateFunctionCodeRequest,
    UpdateFunctionConfigurationRequest,
    WasmfaasConfigRequest,
    WasmfaasConfigResponse,
)

__all__ = [
    "ROUTES",
    "function_configuration",
    "function_ref",
    "int_param",
    "paginate",
    "unqualified",
    "zip_download",
]

T = TypeVar("T")

# A CreateFunction body carries the zip base64-encoded (4/3 of its size) plus the other members.
CODE_BODY_LIMIT: Final = MAX_ZIPPED * 4 // 3 + 64 * KiB
DEFAULT_PAGE: Final = 50
_VERSION_RE: Final = re.compile(r"\$LATEST|[0-9]{1,1024}")
# Lambda's TotalCodeSize quota (75 GB), reported by GetAccountSettings.
TOTAL_CODE_SIZE: Final = 80_530_636_800
# The longest a log long poll waits (it also delays a graceful shutdown by up to this long).
MAX_LOG_WAIT: Final = 20

_QUALIFIER = Param("Qualifier", description="A version number, $LATEST or an alias name")
_MARKER = Param("Marker", description="The NextMarker of the previous page")
_MAX_ITEMS = Param("MaxItems", schema={"type": "integer", "minimum": 1, "maximum": 10000})
_FUNCTION_VERSION = Param("FunctionVersion", schema={"type": "string", "enum": ["ALL"]})


# -- helpers -----------------------------------------------------------------------------------------------------


def function_ref(call: Call) -> tuple[str, str | None]:
    """The (name, qualifier) a request is about: from the path's FunctionName and the `Qualifier` parameter."""
    return parse_function_name(call.params["FunctionName"], call.request.query_param("Qualifier"))


def unqualified(call: Call) -> str:
    name, qualifier = parse_function_name(call.params["FunctionName"])
    if qualifier is not None:
        raise invalid_parameter("FunctionName: this operation takes an unqualified function name")
    return name


def int_param(call: Call, name: str, low: int, high: int, default: int) -> int:
    text = call.request.query_param(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise invalid_parameter(f"{name}: {text!r} is not an integer") from None
    if not low <= value <= high:
        raise invalid_parameter(f"{name}: must be within {low} and {high}, got {value}")
    return value


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def code_sha256_b64(hex_digest: str) -> str:
    """Lambda's CodeSha256 is the base64 of the digest; the platform keeps it in hex."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def function_revision_id(ctx: ServerContext, info: FunctionInfo) -> str:
    """The version's RevisionId: it changes with the version and with its resource policy (AddPermission,
    RemovePermission), as on Lambda; a version without a policy keeps the id it had before policies existed."""
    policy = ctx.policies.fingerprint(info.name, None if info.version == LATEST else info.version)
    parts = (info.name, info.version, info.revision, info.last_modified, *((policy,) if policy else ()))
    return revision_id("function", *parts)


def alias_revision_id(ctx: ServerContext, alias: AliasInfo) -> str:
    """The alias's RevisionId: with its resource policy, as function_revision_id."""
    policy = ctx.policies.fingerprint(alias.function_name, alias.name)
    return revision_id("alias", alias.function_name, alias.name, alias.revision_id, *((policy,) if policy else ()))


def function_configuration(
    ctx: ServerContext, info: FunctionInfo, arn_qualifier: str | None
) -> FunctionConfiguration:
    config = info.config
    inert = info.inert_settings
    return FunctionConfiguration(
        function_name=info.name,
        function_arn=ctx.identity.function_arn(info.name, arn_qualifier),
        runtime=info.runtime,
        role=info.role or ctx.identity.default_role,  # the role it was created with, as Lambda echoes it
        handler=info.handler,
        code_size=info.code_size,
        description=info.description,
        # Lambda's Timeout is whole seconds; a fractional one (set through the Python API) is rounded up.
        timeout=math.ceil(config.timeout),
        memory_size=config.memory_mb,
        last_modified=info.last_modified,
        code_sha256=code_sha256_b64(info.code_sha256),
        version=info.version,
        revision_id=function_revision_id(ctx, info),
        state="Active",
        last_update_status="Successful",
        package_type="Zip",
        ephemeral_storage=EphemeralStorage(size=config.ephemeral_storage_mb),
        architectures=inert.get("Architectures", ["x86_64"]),
        tracing_config=TracingConfig(mode=inert.get("TracingConfig", {}).get("Mode", "PassThrough")),
        logging_config=msgspec.convert(_logging_config(info), LoggingConfig),
        kms_key_arn=inert.get("KMSKeyArn", UNSET),
        dead_letter_config=msgspec.convert(inert["DeadLetterConfig"], DeadLetterConfig)
        if "DeadLetterConfig" in inert
        else UNSET,
        environment=EnvironmentResponse(variables=dict(config.environment)) if config.environment else UNSET,
        snap_start=SnapStartResponse(
            apply_on=inert.get("SnapStart", {}).get("ApplyOn", "None"), optimization_status="Off"
        ),
        layers=[
            FunctionLayer(arn=ctx.identity.layer_arn(layer.name, layer.version), code_size=layer.code_size)
            for layer in info.layers
        ]
        if info.layers
        else UNSET,
        wasmfaas_config=WasmfaasConfigResponse(fuel=config.fuel, kind=info.kind.value),
    )


def _logging_config(info: FunctionInfo) -> dict[str, Any]:
    """The function's LoggingConfig as Lambda shows it: its own values over Lambda's defaults."""
    kept = info.inert_settings.get("LoggingConfig", {})
    logging = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{info.name}", **kept}
    if logging["LogFormat"] == "JSON":
        logging = {"ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO", **logging}
    return logging


def _inert_changes(
    current: FunctionInfo | None,
    body: CreateFunctionRequest | UpdateFunctionConfigurationRequest | UpdateFunctionCodeRequest,
) -> dict[str, Any]:
    """The settings a request changes that are kept and shown but have no effect here (platform `inert_settings`;
    None removes one): each as Lambda takes it, an empty value clearing it. (Architectures come with the code,
    the others with the configuration: a request without a member leaves its setting as it is.)"""
    architectures = getattr(body, "architectures", UNSET)
    tracing = getattr(body, "tracing_config", UNSET)
    logging = getattr(body, "logging_config", UNSET)
    kms_key_arn = getattr(body, "kms_key_arn", UNSET)
    dead_letter = getattr(body, "dead_letter_config", UNSET)
    snap_start = getattr(body, "snap_start", UNSET)
    changes: dict[str, Any] = {}
    if isinstance(snap_start, SnapStart):
        changes["SnapStart"] = msgspec.to_builtins(snap_start) if snap_start.apply_on == "PublishedVersions" else None
    if architectures is not UNSET:
        changes["Architectures"] = list(architectures)
    if isinstance(tracing, TracingConfig):
        changes["TracingConfig"] = msgspec.to_builtins(tracing) or None
    if kms_key_arn is not UNSET:
        changes["KMSKeyArn"] = kms_key_arn or None
    if isinstance(dead_letter, DeadLetterConfig):
        changes["DeadLetterConfig"] = msgspec.to_builtins(dead_letter) if dead_letter.target_arn else None
    if isinstance(logging, LoggingConfig):
        given = msgspec.to_builtins(logging)
        kept = current.inert_settings.get("LoggingConfig", {}) if current is not None else {}
        merged = {**kept, **given}
        if merged.get("LogFormat", "Text") != "JSON":
            if {"ApplicationLogLevel", "SystemLogLevel"} & set(given):
                raise invalid_parameter("LoggingConfig: log levels can only be set with LogFormat JSON")
            merged = {k: v for k, v in merged.items() if k not in ("ApplicationLogLevel", "SystemLogLevel")}
        changes["LoggingConfig"] = merged or None
    return changes


def _version_key(version: str) -> int:
    return -1 if version == LATEST else int(version)


def paginate(
    call: Call,
    items: Sequence[T],
    key: Callable[[T], list[str]],
    *,
    compare: Callable[[list[str]], Any] = tuple,
    most: int = 10000,
) -> tuple[list[T], str | None]:
    """One page of `items` (sorted by `key`): those after the Marker, at most MaxItems (itself at most `most`, the
    operation's bound in Lambda's model); and the next marker."""
    max_items = int_param(call, "MaxItems", 1, most, min(DEFAULT_PAGE, most))
    marker = call.request.query_param("Marker")
    start = 0
    if marker:
        decoded = decode_marker(marker)
        try:
            if items and len(decoded) != len(key(items[0])):  # a marker of another listing
                raise ValueError(decoded)
            position = compare(decoded)
        except (ValueError, IndexError):
            raise invalid_parameter("Marker: not a marker this API returned") from None
        while start < len(items) and compare(key(items[start])) <= position:
            start += 1
    page = list(items[start : start + max_items])
    more = start + max_items < len(items)
    return page, encode_marker(key(page[-1])) if more and page else None


def _check_revision(expected: str | Any, actual: str, what: str) -> None:
    if expected is not UNSET and expected != actual:
        raise _revision_mismatch(what)


def _revision_mismatch(what: str) -> LambdaError:
    return precondition_failed(
        f"The Revision Id provided does not match the latest Revision Id. Call the {what} API to retrieve the "
        "latest Revision Id"
    )


def _if_revision(expected: str | Any, current: FunctionInfo) -> int | None:
    """The revision a RevisionId was checked against, for the platform to hold the change to; None without one."""
    return current.revision if expected is not UNSET else None


@contextlib.contextmanager
def _revision_held(what: str) -> Iterator[None]:
    """The platform found a newer revision than the one a RevisionId was checked against (another writer came
    between the check and the change, which it makes under its lock): Lambda's 412 as for any mismatch."""
    try:
        yield
    except PreconditionFailedError:
        raise _revision_mismatch(what) from None


def _refuse_unsupported_code(s3_bucket: Any, s3_key: Any, image_uri: Any, package_type: Any = UNSET) -> None:
    if s3_bucket is not UNSET or s3_key is not UNSET:
        raise invalid_parameter("Code.S3Bucket/S3Key: this server has no S3; upload the package as ZipFile")
    if image_uri is not UNSET or package_type == "Image":
        raise invalid_parameter("PackageType Image: container images are not supported; upload a ZipFile")
    if package_type is not UNSET and package_type != "Zip":
        raise invalid_parameter(f"PackageType: {package_type!r} is not Zip")


def _config_changes(
    memory: Any,
    timeout: Any,
    environment: EnvironmentRequest | Any,
    storage: EphemeralStorage | Any,
    extra: WasmfaasConfigRequest | Any,
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if isinstance(storage, EphemeralStorage):
        changes["ephemeral_storage_mb"] = storage.size
    if memory is not UNSET:
        changes["memory_mb"] = memory
    if timeout is not UNSET:
        changes["timeout"] = float(timeout)
    if isinstance(environment, EnvironmentRequest):
        changes["environment"] = {} if environment.variables is UNSET else dict(environment.variables)
    if isinstance(extra, WasmfaasConfigRequest) and extra.fuel is not UNSET:
        changes["fuel"] = extra.fuel
    return changes


async def _package(zip_file: bytes, handler: str) -> tuple[bytes, str]:
    # Inflating up to 250 MB is CPU work: off the event loop.
    package = await anyio.to_thread.run_sync(open_package, zip_file, handler)
    return package.module, package.file_name


async def _code(runtime: str, zip_file: bytes, handler: str) -> tuple[bytes, str]:
    """What the platform is given: a language runtime's sources as uploaded (it builds them), or wasi's module."""
    if runtime == runtimes.WASI:
        return await _package(zip_file, handler)
    return zip_file, handler


async def _forget(ctx: ServerContext, name: str, qualifier: str | None, deleted_at: float) -> None:
    """What goes with a deleted function (every qualifier) or version: its queued events (those enqueued before
    `deleted_at`: not a new function's that took the name meanwhile) and EventInvokeConfigs, policies; and with a
    whole function its URLs, metrics and logs."""
    await ctx.events.forget_function(name, qualifier, deleted_at=deleted_at)
    async with ctx.lock:
        if qualifier is None:
            await anyio.to_thread.run_sync(ctx.urls.delete_function, name)
        await anyio.to_thread.run_sync(ctx.policies.delete_function, name, qualifier)
    if qualifier is None:
        ctx.metrics.forget(name)
        await ctx.logs.delete(name)


async def _exists(ctx: ServerContext, name: str, qualifier: str | None) -> bool:
    try:
        await ctx.platform.get_function(name, qualifier)
    except FunctionNotFoundError:
        return False
    return True


async def finish_deletions(ctx: ServerContext) -> None:
    """At a start, before any queued event runs: finish the deletions a crash cut short. The registry forgets a
    function first and the rest goes after; in between, its queued events would have run on a new function of the
    same name, which would also have taken over its URL. A noted deletion whose function is still there never
    happened, and is dropped."""
    for token, name, qualifier in await ctx.events.pending_deletions():
        if not await _exists(ctx, name, qualifier):
            await _forget(ctx, name, qualifier, time.time())
        await ctx.events.end_deletion(token)


# -- functions ---------------------------------------------------------------------------------------------------


async def create_function(call: Call) -> Response:
    body = call.body_as(CreateFunctionRequest)
    ctx = call.ctx
    name, qualifier = parse_function_name(body.function_name)
    if qualifier is not None:
        raise invalid_parameter("FunctionName: a new function's name cannot carry a qualifier")
    code = body.code
    _refuse_unsupported_code(code.s3_bucket, code.s3_key, code.image_uri, body.package_type)
    if code.zip_file is UNSET:
        raise invalid_parameter("Code.ZipFile: the deployment package is required")
    handler = body.handler if body.handler is not UNSET else ""
    runtime = body.runtime if body.runtime is not UNSET else runtimes.WASI
    module, file_name = await _code(runtime, code.zip_file, handler)
    config = FunctionConfig(
        **_config_changes(
            body.memory_size, body.timeout, body.environment, body.ephemeral_storage, body.wasmfaas_config
        )
    )
    info = await ctx.platform.create_function(
        name,
        module,
        runtime=runtime,
        handler=handler or file_name,
        config=config,
        description=body.description,
        role=body.role if body.role is not UNSET else "",
        publish=body.publish,
        tags=body.tags if body.tags is not UNSET else None,
        layers=body.layers if body.layers is not UNSET else (),
        inert_settings=_inert_changes(None, body),
    )
    arn_qualifier = info.version if info.version != LATEST else None
    return json_response(function_configuration(ctx, info, arn_qualifier), 201)


async def get_function(call: Call) -> Response:
    ctx = call.ctx
    name, qualifier = function_ref(call)
    info = await ctx.platform.get_function(name, qualifier)
    latest = info if info.version == LATEST else await ctx.platform.get_function(name)
    location = (
        f"{ctx.base_url(call.request.base_url)}/__wasmfaas/code/{quote(name, safe='')}"
        f"?Qualifier={quote(info.version, safe='')}&{ctx.code_urls.query(name, info.version)}"
    )
    reserved = latest.config.reserved_concurrency
    tags = await ctx.platform.list_tags(name)
    return json_response(
        GetFunctionResponse(
            configuration=function_configuration(ctx, info, qualifier),
            code=FunctionCodeLocation(repository_type="S3", location=location),
            tags=tags if tags else UNSET,
            concurrency=Concurrency(reserved_concurrent_executions=reserved) if reserved is not None else UNSET,
        )
    )


async def get_function_configuration(call: Call) -> Response:
    name, qualifier = function_ref(call)
    info = await call.ctx.platform.get_function(name, qualifier)
    return json_response(function_configuration(call.ctx, info, qualifier))


async def list_functions(call: Call) -> Response:
    ctx = call.ctx
    version = call.request.query_param("FunctionVersion")
    if version not in (None, "ALL"):
        raise invalid_parameter(f"FunctionVersion: must be ALL, got {version!r}")
    infos = await ctx.platform.list_functions()
    if version == "ALL":
        every: list[FunctionInfo] = []
        for info in infos:
            try:
                every.extend(await ctx.platform.list_versions(info.name))
            except FunctionNotFoundError:
                continue  # deleted while listing
        infos = every
    page, marker = paginate(
        call,
        infos,
        lambda i: [i.name, i.version],
        compare=lambda k: (k[0], _version_key(k[1])) if len(k) == 2 else (),
    )
    return json_response(
        ListFunctionsResponse(
            functions=[function_configuration(ctx, i, i.version if version == "ALL" else None) for i in page],
            next_marker=marker if marker is not None else UNSET,
        )
    )


async def update_function_code(call: Call) -> Response:
    body = call.body_as(UpdateFunctionCodeRequest)
    ctx = call.ctx
    name = unqualified(call)
    _refuse_unsupported_code(body.s3_bucket, body.s3_key, body.image_uri)
    if body.zip_file is UNSET:
        raise invalid_parameter("ZipFile: the deployment package is required")
    current = await ctx.platform.get_function(name)
    _check_revision(body.revision_id, function_revision_id(ctx, current), "GetFunction")
    module, _ = await _code(current.runtime, body.zip_file, current.handler)
    if body.dry_run:
        return json_response(function_configuration(ctx, current, None))
    with _revision_held("GetFunction"):
        info = await ctx.platform.update_function_code(
            name,
            module,
            publish=body.publish,
            if_revision=_if_revision(body.revision_id, current),
            inert_settings=_inert_changes(current, body),
        )
    return json_response(function_configuration(ctx, info, info.version if info.version != LATEST else None))


async def update_function_configuration(call: Call) -> Response:
    body = call.body_as(UpdateFunctionConfigurationRequest)
    ctx = call.ctx
    name = unqualified(call)
    current = await ctx.platform.get_function(name)
    _check_revision(body.revision_id, function_revision_id(ctx, current), "GetFunction")
    with _revision_held("GetFunction"):
        info = await _update_configuration(ctx, name, body, _if_revision(body.revision_id, current), current)
    return json_response(function_configuration(ctx, info, None))


async def _update_configuration(
    ctx: ServerContext,
    name: str,
    body: UpdateFunctionConfigurationRequest,
    if_revision: int | None,
    current: FunctionInfo,
) -> FunctionInfo:
    return await ctx.platform.update_function_configuration(
        name,
        if_revision=if_revision,
        handler=body.handler if body.handler is not UNSET else None,
        description=body.description if body.description is not UNSET else None,
        runtime=body.runtime if body.runtime is not UNSET else None,
        role=body.role if body.role is not UNSET else None,
        layers=body.layers if body.layers is not UNSET else None,
        inert_settings=_inert_changes(current, body),
        **_config_changes(
            body.memory_size, body.timeout, body.environment, body.ephemeral_storage, body.wasmfaas_config
        ),
    )


async def delete_function(call: Call) -> Response:
    ctx = call.ctx
    name, qualifier = function_ref(call)
    if qualifier is not None and not is_decimal(qualifier):
        raise invalid_parameter(f"Qualifier: {qualifier!r} is not a version number; only versions can be deleted")
    await ctx.platform.get_function(name, qualifier)  # a 404 before anything is noted
    token = await ctx.events.note_deletion(name, qualifier)  # durable before the registry changes
    try:
        await ctx.platform.delete_function(name, qualifier)
    finally:
        with anyio.CancelScope(shield=True):
            if not await _exists(ctx, name, qualifier):  # else it was refused (a version an alias uses...)
                await _forget(ctx, name, qualifier, time.time())
            await ctx.events.end_deletion(token)
    return Response(204)


# -- versions ----------------------------------------------------------------------------------------------------


async def publish_version(call: Call) -> Response:
    body = call.body_as(PublishVersionRequest)
    ctx = call.ctx
    name = unqualified(call)
    description = body.description if body.description is not UNSET else ""
    # Each precondition is checked against $LATEST as read, and the platform publishes only if $LATEST is still at
    # that revision. A change in between fails a RevisionId; a CodeSha256 alone is checked again on the new
    # revision (a configuration change leaves the code as it was).
    for _ in range(3):
        latest = await ctx.platform.get_function(name)
        if body.code_sha256 is not UNSET and body.code_sha256 not in (
            code_sha256_b64(latest.code_sha256),
            latest.code_sha256,
        ):
            raise invalid_parameter(  # Lambda's type for it (a stale RevisionId is the 412)
                f"CodeSHA256 ({body.code_sha256}) is different from current CodeSHA256 in $LATEST "
                f"({code_sha256_b64(latest.code_sha256)}). Please try again with the CodeSHA256 in $LATEST."
            )
        _check_revision(body.revision_id, function_revision_id(ctx, latest), "GetFunction")
        conditional = body.revision_id is not UNSET or body.code_sha256 is not UNSET
        try:
            info = await ctx.platform.publish_version(
                name, description=description, if_revision=latest.revision if conditional else None
            )
        except PreconditionFailedError:
            if body.revision_id is not UNSET:
                raise _revision_mismatch("GetFunction") from None
            continue
        break
    else:
        raise conflict(f"$LATEST of {name} kept changing while it was being published; try again")
    return json_response(function_configuration(ctx, info, info.version), 201)


async def list_versions_by_function(call: Call) -> Response:
    ctx = call.ctx
    name = unqualified(call)
    versions = await ctx.platform.list_versions(name)
    page, marker = paginate(
        call, versions, lambda i: [i.version], compare=lambda k: (_version_key(k[0]),) if k else ()
    )
    return json_response(
        ListVersionsByFunctionResponse(
            versions=[function_configuration(ctx, i, i.version) for i in page],
            next_marker=marker if marker is not None else UNSET,
        )
    )


# -- aliases -----------------------------------------------------------------------------------------------------


def alias_configuration(ctx: ServerContext, alias: AliasInfo) -> AliasConfiguration:
    return AliasConfiguration(
        alias_arn=ctx.identity.function_arn(alias.function_name, alias.name),
        name=alias.name,
        function_version=alias.function_version,
        description=alias.description,
        revision_id=alias_revision_id(ctx, alias),
        routing_config=(
            AliasRoutingConfiguration(additional_version_weights=dict(alias.routing)) if alias.routing else UNSET
        ),
    )


def _routing(config: AliasRoutingConfiguration | Any) -> dict[str, float] | None:
    if isinstance(config, AliasRoutingConfiguration):
        return dict(config.additional_version_weights)
    return None


async def create_alias(call: Call) -> Response:
    body = call.body_as(CreateAliasRequest)
    ctx = call.ctx
    alias = await ctx.platform.create_alias(
        unqualified(call),
        body.name,
        body.function_version,
        description=body.description,
        routing=_routing(body.routing_config),
    )
    return json_response(alias_configuration(ctx, alias), 201)


async def get_alias(call: Call) -> Response:
    alias = await call.ctx.platform.get_alias(unqualified(call), call.params["Name"])
    return json_response(alias_configuration(call.ctx, alias))


async def update_alias(call: Call) -> Response:
    body = call.body_as(UpdateAliasRequest)
    ctx = call.ctx
    name = unqualified(call)
    current = await ctx.platform.get_alias(name, call.params["Name"])
    _check_revision(body.revision_id, alias_revision_id(ctx, current), "GetAlias")
    with _revision_held("GetAlias"):
        alias = await ctx.platform.update_alias(
            name,
            current.name,
            version=body.function_version if body.function_version is not UNSET else None,
            description=body.description if body.description is not UNSET else None,
            routing=_routing(body.routing_config),
            if_revision=current.revision_id if body.revision_id is not UNSET else None,
        )
    return json_response(alias_configuration(ctx, alias))


async def delete_alias(call: Call) -> Response:
    ctx = call.ctx
    name = unqualified(call)
    alias = call.params["Name"]
    await ctx.platform.delete_alias(name, alias)
    async with ctx.lock:
        await anyio.to_thread.run_sync(ctx.urls.delete_function, name, alias)
        await anyio.to_thread.run_sync(ctx.policies.delete_function, name, alias)
    await ctx.events.forget_function(name, alias)
    return Response(204)


async def list_aliases(call: Call) -> Response:
    ctx = call.ctx
    name = unqualified(call)
    aliases = await ctx.platform.list_aliases(name)
    version = call.request.query_param("FunctionVersion")
    if version is not None:
        if not _VERSION_RE.fullmatch(version):
            raise invalid_parameter(f"FunctionVersion: {version!r} is not a version number or $LATEST")
        aliases = [a for a in aliases if a.function_version == version]
    page, marker = paginate(call, aliases, lambda a: [a.name])
    return json_response(
        ListAliasesResponse(
            aliases=[alias_configuration(ctx, a) for a in page], next_marker=marker if marker is not None else UNSET
        )
    )


# -- concurrency -------------------------------------------------------------------------------------------------


async def put_function_concurrency(call: Call) -> Response:
    body = call.body_as(PutFunctionConcurrencyRequest)
    count = body.reserved_concurrent_executions
    await call.ctx.platform.put_function_concurrency(unqualified(call), count)
    return json_response(Concurrency(reserved_concurrent_executions=count))


async def get_function_concurrency(call: Call) -> Response:
    info = await call.ctx.platform.get_function(unqualified(call))
    reserved = info.config.reserved_concurrency
    return json_response(Concurrency(reserved_concurrent_executions=reserved if reserved is not None else UNSET))


async def delete_function_concurrency(call: Call) -> Response:
    await call.ctx.platform.put_function_concurrency(unqualified(call), None)
    return Response(204)


def _provisioned_qualifier(call: Call) -> tuple[str, str]:
    name = unqualified(call)
    qualifier = call.request.query_param("Qualifier")
    if not qualifier:
        raise invalid_parameter("Qualifier: a version number or alias name is required")
    return name, qualifier  # the platform refuses $LATEST and an alias of it


async def put_provisioned_concurrency_config(call: Call) -> Response:
    body = call.body_as(PutProvisionedConcurrencyConfigRequest)
    ctx = call.ctx
    name, qualifier = _provisioned_qualifier(call)
    count = body.provisioned_concurrent_executions
    await ctx.platform.put_provisioned_concurrency(name, qualifier, count)
    # The platform does not timestamp provisioned configs; the server remembers when it set one.
    stamp = ctx.provisioned_stamps[(name, qualifier)] = _now()
    # The platform initialises the environments before returning: they are allocated and ready, or have failed.
    failure = await ctx.platform.provisioned_failure(name, qualifier)
    return json_response(_provisioned(count, stamp, failure), 202)


def _provisioned(count: int, stamp: str, failure: FunctionError | None) -> ProvisionedConcurrencyConfig:
    if failure is not None:  # Lambda's FAILED, with what went wrong
        return ProvisionedConcurrencyConfig(
            requested_provisioned_concurrent_executions=count,
            allocated_provisioned_concurrent_executions=0,
            available_provisioned_concurrent_executions=0,
            status="FAILED",
            status_reason=f"FUNCTION_ERROR_INIT_FAILURE: {failure.error_type}: {failure.error_message}",
            last_modified=stamp,
        )
    return ProvisionedConcurrencyConfig(
        requested_provisioned_concurrent_executions=count,
        allocated_provisioned_concurrent_executions=count,
        available_provisioned_concurrent_executions=count,
        status="READY",
        last_modified=stamp,
    )


async def get_provisioned_concurrency_config(call: Call) -> Response:
    ctx = call.ctx
    if call.request.query_param("List") == "ALL":  # ListProvisionedConcurrencyConfigs: the same path, ?List=ALL
        return await _list_provisioned_concurrency_configs(call)
    name, qualifier = _provisioned_qualifier(call)
    await ctx.platform.get_function(name, qualifier)  # 404 for an unknown function, version or alias
    count = await ctx.platform.get_provisioned_concurrency(name, qualifier)
    if count is None:
        raise LambdaError(
            404,
            "ProvisionedConcurrencyConfigNotFoundException",
            "No Provisioned Concurrency Config found for this function",
        )
    stamp = ctx.provisioned_stamps.get((name, qualifier))
    if stamp is None:
        stamp = (await ctx.platform.get_function(name, qualifier)).last_modified
    return json_response(_provisioned(count, stamp, await ctx.platform.provisioned_failure(name, qualifier)))


async def _list_provisioned_concurrency_configs(call: Call) -> Response:
    ctx = call.ctx
    name = unqualified(call)
    configs = await ctx.platform.list_provisioned_concurrency(name)
    page, marker = paginate(call, sorted(configs), lambda qualifier: [qualifier], most=50)  # the model's bound
    items = []
    for qualifier in page:
        count = configs[qualifier]
        stamp = ctx.provisioned_stamps.get((name, qualifier))
        if stamp is None:  # set before this server started: as Get answers
            stamp = (await ctx.platform.get_function(name, qualifier)).last_modified
        config = _provisioned(count, stamp, await ctx.platform.provisioned_failure(name, qualifier))
        items.append(
            ProvisionedConcurrencyConfigListItem(
                function_arn=ctx.identity.function_arn(name, qualifier), **msgspec.structs.asdict(config)
            )
        )
    return json_response(
        ProvisionedConcurrencyConfigList(
            provisioned_concurrency_configs=items, next_marker=marker if marker is not None else UNSET
        )
    )


async def delete_provisioned_concurrency_config(call: Call) -> Response:
    ctx = call.ctx
    name, qualifier = _provisioned_qualifier(call)
    await ctx.platform.get_function(name, qualifier)
    try:
        await ctx.platform.delete_provisioned_concurrency(name, qualifier)
    except FunctionNotFoundError:  # the model's error for Delete (Get's is ProvisionedConcurrencyConfigNotFound)
        raise not_found("No Provisioned Concurrency Config found for this function") from None
    ctx.provisioned_stamps.pop((name, qualifier), None)
    return Response(204)


async def get_account_settings(call: Call) -> Response:
    platform = call.ctx.platform
    settings = platform.account_settings()
    functions = await platform.list_functions()
    total = 0
    for info in functions:
        try:
            total += sum(v.code_size for v in await platform.list_versions(info.name))
        except FunctionNotFoundError:
            continue
    return json_response(
        GetAccountSettingsResponse(
            account_limit=AccountLimit(
                total_code_size=TOTAL_CODE_SIZE,
                code_size_unzipped=MAX_UNZIPPED,
                code_size_zipped=MAX_ZIPPED,
                concurrent_executions=settings.concurrent_executions,
                unreserved_concurrent_executions=settings.unreserved_concurrent_executions,
            ),
            account_usage=AccountUsage(total_code_size=total, function_count=len(functions)),
        )
    )


# -- wasmfaas extras ---------------------------------------------------------------------------------------------


async def download_code(call: Call) -> Response:
    """Code.Location, for a link GetFunction signed in the last 10 minutes: a language runtime's package as
    uploaded, or a zip of a wasi function's module."""
    ctx = call.ctx
    name = call.params["FunctionName"]
    version = call.request.query_param("Qualifier") or ""
    query = call.request.query_param
    if not ctx.code_urls.check_query(name, version, query("Expires"), query("Signature")):
        raise LambdaError(403, "AccessDeniedException", "The code link is invalid or has expired: call GetFunction")
    info = await ctx.platform.get_function(name, version)
    code = await ctx.platform.get_function_code(name, version)
    if info.runtime == runtimes.WASI:
        data = await anyio.to_thread.run_sync(build_zip, module_file_name(info.handler or "function.wasm"), code)
    else:
        data = code
    return zip_download(data, f"{name}-{version.lstrip('$')}.zip")


def zip_download(data: bytes, filename: str) -> Response:
    """A zip archive sent as a file to save (the code links' answer)."""
    disposition = f'attachment; filename="{filename}"'.encode()
    return Response(200, data, [(b"content-type", b"application/zip"), (b"content-disposition", disposition)])


class LogEvent(msgspec.Struct, rename="camel"):
    """One invocation's log: `seq` orders them (a follower's cursor), `timestamp` in Unix milliseconds."""

    seq: int
    timestamp: int
    request_id: str
    version: str
    message: str


async def read_logs(call: Call) -> Response:
    """A function's invocation logs from the log store, for `wasmfaas logs`.

    `?tail=N`: the newest N entries. Else the entries after `after` (the last `seq` seen; 0 for the oldest kept),
    at most `limit`; with `wait=S` (up to 20 s) and nothing there yet, the request waits up to S seconds for one
    (a long poll: `wasmfaas logs --follow` loops on it). The answer is `{"events": [...], "next": seq}`; `next` is
    the `after` of the following request.
    """
    ctx = call.ctx
    name = unqualified(call)
    await ctx.platform.get_function(name)
    after = int_param(call, "after", 0, 2**63 - 1, 0)
    limit = int_param(call, "limit", 1, 1000, 1000)
    wait = int_param(call, "wait", 0, MAX_LOG_WAIT, 0)
    await ctx.logs.flush()  # what was invoked before this request is there to read
    if call.request.query_param("tail") is not None and call.request.query_param("after") is None:
        entries, after = await ctx.logs.tail(name, int_param(call, "tail", 0, 1000, 100))
    else:
        entries = await _unless_disconnected(call, ctx.logs.wait(name, after=after, limit=limit, timeout=wait), [])
    events = [
        LogEvent(
            seq=e.id, timestamp=int(e.timestamp * 1000), request_id=e.request_id, version=e.version, message=e.text
        )
        for e in entries
    ]
    return json_response({"events": events, "next": max(after, events[-1].seq) if events else after})


async def _unless_disconnected(call: Call, waiting: Awaitable[T], gone: T) -> T:
    """`waiting`'s result, or `gone` as soon as the client hangs up (a long poll then stops polling at once: 300
    clients that left had kept the server polling for each until its wait ran out)."""
    receive = call.receive
    if receive is None:
        return await waiting
    result = gone

    async def wait() -> None:
        nonlocal result
        result = await waiting
        tg.cancel_scope.cancel()

    async def watch() -> None:
        # Once the body is read, the next message is the disconnect (uvicorn's and granian's receive wait for it);
        # anything else, and the wait runs its course.
        try:
            message = await receive()
        except Exception:  # a server whose receive refuses a call past the body: the wait runs its course
            return
        if message["type"] == "http.disconnect":
            tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        tg.start_soon(watch)
    return result


async def health(call: Call) -> Response:
    return json_response({"status": "ok", "time": int(time.time())})


_FN = "/2015-03-31/functions/{FunctionName}"

ROUTES: Final = [
    Route(
        "CreateFunction",
        "POST",
        "/2015-03-31/functions",
        create_function,
        201,
        body=CreateFunctionRequest,
        response=FunctionConfiguration,
        errors=(400, 409, 413),
        body_limit=CODE_BODY_LIMIT,
        summary="Create a function from a zip (or a bare .wasm module) in Code.ZipFile",
    ),
    Route(
        "ListFunctions",
        "GET",
        "/2015-03-31/functions",
        list_functions,
        response=ListFunctionsResponse,
        query=(_FUNCTION_VERSION, _MARKER, _MAX_ITEMS),
        errors=(400,),
        summary="List functions, a page at a time",
    ),
    Route(
        "GetFunction",
        "GET",
        _FN,
        get_function,
        response=GetFunctionResponse,
        query=(_QUALIFIER,),
        summary="A function's configuration and a link to its code",
    ),
    Route(
        "DeleteFunction",
        "DELETE",
        _FN,
        delete_function,
        204,
        query=(_QUALIFIER,),
        errors=(400, 404, 409),
        summary="Delete a function, or one published version of it",
    ),
    Route(
        "GetFunctionConfiguration",
        "GET",
        f"{_FN}/configuration",
        get_function_configuration,
        response=FunctionConfiguration,
        query=(_QUALIFIER,),
        summary="A function version's configuration",
    ),
    Route(
        "UpdateFunctionConfiguration",
        "PUT",
        f"{_FN}/configuration",
        update_function_configuration,
        body=UpdateFunctionConfigurationRequest,
        response=FunctionConfiguration,
        errors=(400, 404, 409, 412),
        summary="Change MemorySize, Timeout, Environment, Handler, Runtime, Description (and fuel)",
    ),
    Route(
        "UpdateFunctionCode",
        "PUT",
        f"{_FN}/code",
        update_function_code,
        body=UpdateFunctionCodeRequest,
        response=FunctionConfiguration,
        errors=(400, 404, 409, 412, 413),
        body_limit=CODE_BODY_LIMIT,
        summary="Replace $LATEST's code",
    ),
    Route(
        "PublishVersion",
        "POST",
        f"{_FN}/versions",
        publish_version,
        201,
        body=PublishVersionRequest,
        response=FunctionConfiguration,
        errors=(400, 404, 409, 412),
        summary="Publish $LATEST as a version",
    ),
    Route(
        "ListVersionsByFunction",
        "GET",
        f"{_FN}/versions",
        list_versions_by_function,
        response=ListVersionsByFunctionResponse,
        query=(_MARKER, _MAX_ITEMS),
        summary="A function's versions",
    ),
    Route(
        "CreateAlias",
        "POST",
        f"{_FN}/aliases",
        create_alias,
        201,
        body=CreateAliasRequest,
        response=AliasConfiguration,
        errors=(400, 404, 409),
        summary="Create an alias for a version",
    ),
    Route(
        "ListAliases",
        "GET",
        f"{_FN}/aliases",
        list_aliases,
        response=ListAliasesResponse,
        query=(Param("FunctionVersion"), _MARKER, _MAX_ITEMS),
        summary="A function's aliases",
    ),
    Route("GetAlias", "GET", f"{_FN}/aliases/{{Name}}", get_alias, response=AliasConfiguration, summary="An alias"),
    Route(
        "UpdateAlias",
        "PUT",
        f"{_FN}/aliases/{{Name}}",
        update_alias,
        body=UpdateAliasRequest,
        response=AliasConfiguration,
        errors=(400, 404, 409, 412),
        summary="Point an alias elsewhere",
    ),
    Route(
        "DeleteAlias",
        "DELETE",
        f"{_FN}/aliases/{{Name}}",
        delete_alias,
        204,
        errors=(400, 404, 409),
        summary="Delete an alias",
    ),
    Route(
        "PutFunctionConcurrency",
        "PUT",
        "/2017-10-31/functions/{FunctionName}/concurrency",
        put_function_concurrency,
        body=PutFunctionConcurrencyRequest,
        response=Concurrency,
        errors=(400, 404, 409),
        summary="Reserve concurrency for a function",
    ),
    Route(
        "DeleteFunctionConcurrency",
        "DELETE",
        "/2017-10-31/functions/{FunctionName}/concurrency",
        delete_function_concurrency,
        204,
        errors=(400, 404, 409),
        summary="Remove a function's reservation",
    ),
    Route(
        "GetFunctionConcurrency",
        "GET",
        "/2019-09-30/functions/{FunctionName}/concurrency",
        get_function_concurrency,
        response=Concurrency,
        summary="A function's reserved concurrency",
    ),
    Route(
        "PutProvisionedConcurrencyConfig",
        "PUT",
        "/2019-09-30/functions/{FunctionName}/provisioned-concurrency",
        put_provisioned_concurrency_config,
        202,
        body=PutProvisionedConcurrencyConfigRequest,
        response=ProvisionedConcurrencyConfig,
        query=(Param("Qualifier", required=True),),
        errors=(400, 404, 409),
        summary="Keep environments of a version or alias initialised",
    ),
    Route(
        "GetProvisionedConcurrencyConfig",
        "GET",
        "/2019-09-30/functions/{FunctionName}/provisioned-concurrency",
        get_provisioned_concurrency_config,
        response=ProvisionedConcurrencyConfig,
        query=(Param("Qualifier", required=True), _MARKER, _MAX_ITEMS),
        summary="A version's or alias's provisioned concurrency (with ?List=ALL instead of a Qualifier: "
        "ListProvisionedConcurrencyConfigs, the function's configs, paged by Marker and MaxItems)",
    ),
    Route(
        "DeleteProvisionedConcurrencyConfig",
        "DELETE",
        "/2019-09-30/functions/{FunctionName}/provisioned-concurrency",
        delete_provisioned_concurrency_config,
        204,
        query=(Param("Qualifier", required=True),),
        errors=(400, 404, 409),
        summary="Stop keeping environments initialised",
    ),
    Route(
        "GetAccountSettings",
        "GET",
        "/2016-08-19/account-settings",
        get_account_settings,
        response=GetAccountSettingsResponse,
        errors=(),
        summary="Account limits and usage",
    ),
    Route(
        "WasmfaasDownloadCode",
        "GET",
        "/__wasmfaas/code/{FunctionName}",
        download_code,
        response_media="application/zip",
        signed=False,
        errors=(403, 404),
        tag="wasmfaas",
        query=(Param("Qualifier", required=True), Param("Expires", required=True), Param("Signature", required=True)),
        summary="Download a function's code (the link GetFunction returns)",
    ),
    Route(
        "WasmfaasReadLogs",
        "GET",
        "/__wasmfaas/logs/{FunctionName}",
        read_logs,
        tag="wasmfaas",
        query=(
            Param("after", schema={"type": "integer", "minimum": 0}, description="The last seq seen"),
            Param("limit", schema={"type": "integer", "minimum": 1, "maximum": 1000}),
            Param("tail", schema={"type": "integer", "minimum": 0, "maximum": 1000}, description="The newest N"),
            Param(
                "wait",
                schema={"type": "integer", "minimum": 0, "maximum": MAX_LOG_WAIT},
                description="Seconds to wait for a new entry when there is none (a long poll)",
            ),
        ),
        summary="A function's invocation logs (a page after a cursor, the newest N, or a long poll)",
    ),
    Route(
        "WasmfaasHealth",
        "GET",
        "/__wasmfaas/health",
        health,
        signed=False,
        errors=(),
        tag="wasmfaas",
        summary="Liveness",
    ),
]
