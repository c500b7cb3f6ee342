"""Request and response bodies of the Lambda REST API, as msgspec Structs named after botocore's shapes.

Field names follow the service model (`rename="pascal"`: `memory_size` is `MemorySize`). Request members that are
optional are `UNSET` when absent, so "not given" and "given as empty" stay apart (Lambda treats
`Environment: {"Variables": {}}` as "clear them"). Members this platform has no use for (VpcConfig, Tags, Layers
...) are not declared: msgspec skips unknown fields, so newer botocore versions keep working.

Constraints (`Meta`) are the model's, narrowed to what wasmfaas accepts; they land in the OpenAPI document too.
`WasmfaasConfig` is this platform's one extension: the fuel budget, and (in responses) the guest kind.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from ..config import MAX_EPHEMERAL_STORAGE_MB, MAX_MEMORY_MB, MIN_EPHEMERAL_STORAGE_MB, MIN_MEMORY_MB

__all__ = [
    "AccountLimit",
    "AccountUsage",
    "AliasConfiguration",
    "AliasRoutingConfiguration",
    "Concurrency",
    "Cors",
    "CreateAliasRequest",
    "CreateFunctionRequest",
    "CreateFunctionUrlConfigRequest",
    "CreateFunctionUrlConfigResponse",
    "DeadLetterConfig",
    "EnvironmentRequest",
    "EnvironmentResponse",
    "EphemeralStorage",
    "ErrorBody",
    "FunctionCode",
    "FunctionCodeLocation",
    "FunctionConfiguration",
    "FunctionLayer",
    "FunctionUrlConfig",
    "GetAccountSettingsResponse",
    "GetFunctionResponse",
    "ListAliasesResponse",
    "ListFunctionUrlConfigsResponse",
    "ListFunctionsResponse",
    "ListVersionsByFunctionResponse",
    "LoggingConfig",
    "ProvisionedConcurrencyConfig",
    "ProvisionedConcurrencyConfigList",
    "ProvisionedConcurrencyConfigListItem",
    "PublishVersionRequest",
    "PutFunctionConcurrencyRequest",
    "PutProvisionedConcurrencyConfigRequest",
    "SnapStart",
    "SnapStartResponse",
    "ThrottleErrorBody",
    "TracingConfig",
    "UpdateAliasRequest",
    "UpdateFunctionCodeRequest",
    "UpdateFunctionConfigurationRequest",
    "UpdateFunctionUrlConfigRequest",
    "WasmfaasConfigRequest",
    "WasmfaasConfigResponse",
]

FunctionNameField = Annotated[str, Meta(min_length=1, max_length=140)]
DescriptionField = Annotated[str, Meta(max_length=256)]
HandlerField = Annotated[str, Meta(max_length=128, pattern=r"^[^\s]*$")]  # empty: a bare module's
RoleField = Annotated[str, Meta(pattern=r"^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")]
TimeoutField = Annotated[int, Meta(ge=1, le=900)]
MemorySizeField = Annotated[int, Meta(ge=MIN_MEMORY_MB, le=MAX_MEMORY_MB)]
EphemeralSizeField = Annotated[int, Meta(ge=MIN_EPHEMERAL_STORAGE_MB, le=MAX_EPHEMERAL_STORAGE_MB)]
RuntimeField = Annotated[str, Meta(min_length=1, max_length=64)]
AliasNameField = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^(?![0-9]+$)[a-zA-Z0-9_-]+$")]
VersionField = Annotated[str, Meta(min_length=1, max_length=1024, pattern=r"^(\$LATEST|[0-9]+)$")]
WeightField = Annotated[float, Meta(ge=0.0, le=1.0)]
FuelField = Annotated[int, Meta(ge=1, le=2**63 - 1)]


class Shape(msgspec.Struct, rename="pascal", kw_only=True):
    """Base of every body: PascalCase member names, keyword-only construction."""


# -- shared ------------------------------------------------------------------------------------------------------


class EnvironmentRequest(Shape):
    variables: dict[str, str] | UnsetType = UNSET


class EnvironmentResponse(Shape):
    variables: dict[str, str]


class EphemeralStorage(Shape):
    """The size of the function's /tmp in MB (Lambda's EphemeralStorage)."""

    size: EphemeralSizeField


# -- kept and shown, no effect here (wasm runs on any architecture; no X-Ray, KMS, CloudWatch or SQS/SNS) -----------

ArchitecturesField = Annotated[list[Literal["x86_64", "arm64"]], Meta(min_length=1, max_length=1)]
_ARN_OR_EMPTY = r"^(arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)?$"
ArnOrEmptyField = Annotated[str, Meta(max_length=2048, pattern=_ARN_OR_EMPTY)]


class TracingConfig(Shape):
    mode: Literal["Active", "PassThrough"] | UnsetType = UNSET


LogGroupField = Annotated[str, Meta(min_length=1, max_length=512, pattern=r"^[\.\-_/#A-Za-z0-9]+$")]


class LoggingConfig(Shape):
    log_format: Literal["JSON", "Text"] | UnsetType = UNSET
    application_log_level: Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"] | UnsetType = UNSET
    system_log_level: Literal["DEBUG", "INFO", "WARN"] | UnsetType = UNSET
    log_group: LogGroupField | UnsetType = UNSET


class DeadLetterConfig(Shape):
    target_arn: ArnOrEmptyField | UnsetType = UNSET


class SnapStart(Shape):
    apply_on: Literal["PublishedVersions", "None"] | UnsetType = UNSET


class SnapStartResponse(Shape):
    """As Lambda always shows it; OptimizationStatus stays Off (environments here start from the module itself)."""

    apply_on: str
    optimization_status: str


class WasmfaasConfigRequest(Shape):
    """wasmfaas extension: `Fuel` is the per-invocation fuel budget; null removes it."""

    fuel: FuelField | UnsetType | None = UNSET


class WasmfaasConfigResponse(Shape):
    """wasmfaas extension: the fuel budget (null: none) and the detected guest kind."""

    fuel: int | None
    kind: str


class AliasRoutingConfiguration(Shape):
    additional_version_weights: dict[Annotated[str, Meta(pattern=r"^[0-9]+$")], WeightField] = msgspec.field(
        default_factory=dict
    )


class Cors(Shape):
    allow_credentials: bool | UnsetType = UNSET
    allow_headers: Annotated[list[Annotated[str, Meta(max_length=1024)]], Meta(max_length=100)] | UnsetType = UNSET
    # Lambda's methods are checked where a request sets them (urls.py), not here: a configuration kept by an
    # earlier version that took any method must still load.
    allow_methods: Annotated[list[Annotated[str, Meta(max_length=6)]], Meta(max_length=6)] | UnsetType = UNSET
    allow_origins: (
        Annotated[list[Annotated[str, Meta(min_length=1, max_length=253)]], Meta(max_length=100)] | UnsetType
    ) = UNSET
    expose_headers: Annotated[list[Annotated[str, Meta(max_length=1024)]], Meta(max_length=100)] | UnsetType = UNSET
    max_age: Annotated[int, Meta(ge=0, le=86400)] | UnsetType = UNSET


class ErrorBody(Shape):
    """Lambda's error body: `Type` is "User" or "Service"; the message member is `message` (or `Message`)."""

    type: str
    message: str = msgspec.field(name="message")


class ThrottleErrorBody(Shape):
    type: str
    message: str = msgspec.field(name="message")
    reason: str


# -- functions ---------------------------------------------------------------------------------------------------


class FunctionCode(Shape):
    """The deployment package: `ZipFile` is base64 in JSON (a zip, or a bare .wasm module)."""

    zip_file: bytes | UnsetType = UNSET
    s3_bucket: str | UnsetType = msgspec.field(default=UNSET, name="S3Bucket")
    s3_key: str | UnsetType = msgspec.field(default=UNSET, name="S3Key")
    s3_object_version: str | UnsetType = msgspec.field(default=UNSET, name="S3ObjectVersion")
    image_uri: str | UnsetType = UNSET


class CreateFunctionRequest(Shape):
    function_name: FunctionNameField
    code: FunctionCode
    role: RoleField | UnsetType = UNSET
    runtime: RuntimeField | UnsetType = UNSET
    handler: HandlerField | UnsetType = UNSET
    description: DescriptionField = ""
    timeout: TimeoutField | UnsetType = UNSET
    memory_size: MemorySizeField | UnsetType = UNSET
    publish: bool = False
    environment: EnvironmentRequest | UnsetType = UNSET
    package_type: str | UnsetType = UNSET
    layers: list[str] | UnsetType = UNSET
    tags: dict[str, str] | UnsetType = UNSET
    ephemeral_storage: EphemeralStorage | UnsetType = UNSET
    architectures: ArchitecturesField | UnsetType = UNSET
    tracing_config: TracingConfig | UnsetType = UNSET
    logging_config: LoggingConfig | UnsetType = UNSET
    kms_key_arn: ArnOrEmptyField | UnsetType = msgspec.field(default=UNSET, name="KMSKeyArn")
    dead_letter_config: DeadLetterConfig | UnsetType = UNSET
    snap_start: SnapStart | UnsetType = UNSET
    wasmfaas_config: WasmfaasConfigRequest | UnsetType = UNSET


class UpdateFunctionCodeRequest(Shape):
    zip_file: bytes | UnsetType = UNSET
    s3_bucket: str | UnsetType = msgspec.field(default=UNSET, name="S3Bucket")
    s3_key: str | UnsetType = msgspec.field(default=UNSET, name="S3Key")
    s3_object_version: str | UnsetType = msgspec.field(default=UNSET, name="S3ObjectVersion")
    image_uri: str | UnsetType = UNSET
    publish: bool = False
    dry_run: bool = False
    revision_id: str | UnsetType = UNSET
    architectures: ArchitecturesField | UnsetType = UNSET


class UpdateFunctionConfigurationRequest(Shape):
    role: RoleField | UnsetType = UNSET
    handler: HandlerField | UnsetType = UNSET
    description: DescriptionField | UnsetType = UNSET
    timeout: TimeoutField | UnsetType = UNSET
    memory_size: MemorySizeField | UnsetType = UNSET
    environment: EnvironmentRequest | UnsetType = UNSET
    runtime: RuntimeField | UnsetType = UNSET
    revision_id: str | UnsetType = UNSET
    layers: list[str] | UnsetType = UNSET
    ephemeral_storage: EphemeralStorage | UnsetType = UNSET
    tracing_config: TracingConfig | UnsetType = UNSET
    logging_config: LoggingConfig | UnsetType = UNSET
    kms_key_arn: ArnOrEmptyField | UnsetType = msgspec.field(default=UNSET, name="KMSKeyArn")
    dead_letter_config: DeadLetterConfig | UnsetType = UNSET
    snap_start: SnapStart | UnsetType = UNSET
    wasmfaas_config: WasmfaasConfigRequest | UnsetType = UNSET


class FunctionConfiguration(Shape):
    function_name: str
    function_arn: str
    runtime: str
    role: str
    handler: str
    code_size: int
    description: str
    timeout: int
    memory_size: int
    last_modified: str
    code_sha256: str
    version: str
    revision_id: str
    state: str
    last_update_status: str
    package_type: str
    ephemeral_storage: EphemeralStorage
    architectures: list[str]
    tracing_config: TracingConfig
    logging_config: LoggingConfig
    environment: EnvironmentResponse | UnsetType = UNSET
    layers: list[FunctionLayer] | UnsetType = UNSET
    kms_key_arn: str | UnsetType = msgspec.field(default=UNSET, name="KMSKeyArn")
    dead_letter_config: DeadLetterConfig | UnsetType = UNSET
    snap_start: SnapStartResponse | UnsetType = UNSET
    wasmfaas_config: WasmfaasConfigResponse | UnsetType = UNSET


class FunctionLayer(Shape):
    arn: str
    code_size: int


class FunctionCodeLocation(Shape):
    repository_type: str
    location: str


class Concurrency(Shape):
    reserved_concurrent_executions: int | UnsetType = UNSET


class GetFunctionResponse(Shape):
    configuration: FunctionConfiguration
    code: FunctionCodeLocation
    tags: dict[str, str] | UnsetType = UNSET
    concurrency: Concurrency | UnsetType = UNSET


class ListFunctionsResponse(Shape):
    functions: list[FunctionConfiguration]
    next_marker: str | UnsetType = UNSET


class ListVersionsByFunctionResponse(Shape):
    versions: list[FunctionConfiguration]
    next_marker: str | UnsetType = UNSET


class PublishVersionRequest(Shape):
    code_sha256: str | UnsetType = UNSET
    description: DescriptionField | UnsetType = UNSET
    revision_id: str | UnsetType = UNSET


# -- aliases -----------------------------------------------------------------------------------------------------


class CreateAliasRequest(Shape):
    name: AliasNameField
    function_version: VersionField
    description: DescriptionField = ""
    routing_config: AliasRoutingConfiguration | UnsetType = UNSET


class UpdateAliasRequest(Shape):
    function_version: VersionField | UnsetType = UNSET
    description: DescriptionField | UnsetType = UNSET
    routing_config: AliasRoutingConfiguration | UnsetType = UNSET
    revision_id: str | UnsetType = UNSET


class AliasConfiguration(Shape):
    alias_arn: str
    name: str
    function_version: str
    description: str
    revision_id: str
    routing_config: AliasRoutingConfiguration | UnsetType = UNSET


class ListAliasesResponse(Shape):
    aliases: list[AliasConfiguration]
    next_marker: str | UnsetType = UNSET


# -- concurrency and account -------------------------------------------------------------------------------------


class PutFunctionConcurrencyRequest(Shape):
    reserved_concurrent_executions: Annotated[int, Meta(ge=0)]


class PutProvisionedConcurrencyConfigRequest(Shape):
    provisioned_concurrent_executions: Annotated[int, Meta(ge=1)]


class ProvisionedConcurrencyConfig(Shape):
    requested_provisioned_concurrent_executions: int
    allocated_provisioned_concurrent_executions: int
    available_provisioned_concurrent_executions: int
    status: str
    last_modified: str
    status_reason: str | msgspec.UnsetType = msgspec.UNSET


class ProvisionedConcurrencyConfigListItem(ProvisionedConcurrencyConfig, kw_only=True):
    function_arn: str


class ProvisionedConcurrencyConfigList(Shape):
    provisioned_concurrency_configs: list[ProvisionedConcurrencyConfigListItem]
    next_marker: str | msgspec.UnsetType = msgspec.UNSET


class AccountLimit(Shape):
    total_code_size: int
    code_size_unzipped: int
    code_size_zipped: int
    concurrent_executions: int
    unreserved_concurrent_executions: int


class AccountUsage(Shape):
    total_code_size: int
    function_count: int


class GetAccountSettingsResponse(Shape):
    account_limit: AccountLimit
    account_usage: AccountUsage


# -- function URLs -----------------------------------------------------------------------------------------------

AuthType = Literal["NONE", "AWS_IAM"]
InvokeMode = Literal["BUFFERED", "RESPONSE_STREAM"]


class CreateFunctionUrlConfigRequest(Shape):
    auth_type: AuthType
    cors: Cors | UnsetType = UNSET
    invoke_mode: InvokeMode | UnsetType = UNSET


class UpdateFunctionUrlConfigRequest(Shape):
    auth_type: AuthType | UnsetType = UNSET
    cors: Cors | UnsetType = UNSET
    invoke_mode: InvokeMode | UnsetType = UNSET


class CreateFunctionUrlConfigResponse(Shape):
    function_url: str
    function_arn: str
    auth_type: str
    creation_time: str
    invoke_mode: str
    cors: Cors | UnsetType = UNSET


class FunctionUrlConfig(Shape):
    function_url: str
    function_arn: str
    auth_type: str
    creation_time: str
    last_modified_time: str
    invoke_mode: str
    cors: Cors | UnsetType = UNSET


class ListFunctionUrlConfigsResponse(Shape):
    function_url_configs: list[FunctionUrlConfig]
    next_marker: str | UnsetType = UNSET
