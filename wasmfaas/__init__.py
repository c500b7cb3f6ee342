"""wasmfaas: a serverless function platform on AWS Lambda's model, every function a WebAssembly guest in Wasmtime."""

from __future__ import annotations

from .config import ConfigChanges, FunctionConfig
from .engine import EngineSettings
from .errors import (
    BuildError,
    FunctionExistsError,
    FunctionNotFoundError,
    InvalidCodeError,
    InvalidParameterError,
    InvalidPayloadError,
    LayerNotFoundError,
    PayloadTooLargeError,
    PlatformClosedError,
    PreconditionFailedError,
    ResourceConflictError,
    TooManyRequestsError,
    WasmfaasError,
)
from .layers import LayerRef, LayerVersionInfo
from .modules import GuestKind
from .platform import AccountSettings, AliasInfo, FunctionInfo, Platform
from .pool import PoolStats
from .results import FunctionError, InvocationResult
from .sync import SyncPlatform

__version__ = "0.1.0"

__all__ = [
    "AccountSettings",
    "AliasInfo",
    "BuildError",
    "ConfigChanges",
    "EngineSettings",
    "FunctionConfig",
    "FunctionError",
    "FunctionExistsError",
    "FunctionInfo",
    "FunctionNotFoundError",
    "GuestKind",
    "InvalidCodeError",
    "InvalidParameterError",
    "InvalidPayloadError",
    "InvocationResult",
    "LayerNotFoundError",
    "LayerRef",
    "LayerVersionInfo",
    "PayloadTooLargeError",
    "Platform",
    "PlatformClosedError",
    "PoolStats",
    "PreconditionFailedError",
    "ResourceConflictError",
    "SyncPlatform",
    "TooManyRequestsError",
    "WasmfaasError",
    "__version__",
]
