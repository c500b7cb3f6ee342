"""wasmfaas: a serverless function platform on AWS Lambda's model, every function a WebAssembly guest in Wasmtime."""

from __future__ import annotations

from .config import FunctionConfig
from .engine import EngineSettings
from .errors import (
    BuildError,
    FunctionExistsError,
    FunctionNotFoundError,
    InvalidCodeError,
    InvalidParameterError,
    LayerNotFoundError,
    PayloadTooLargeError,
    PlatformClosedError,
    PreconditionFailedError,
    ResourceConflictError,
    TooManyRequestsError,
    WasmfaasError,
)
from .layers import LayerVersionInfo
from .modules import GuestKind
from .platform import AccountSettings, AliasInfo, FunctionInfo, Platform
from .results import FunctionError, InvocationResult
from .sync import SyncPlatform

__version__ = "0.1.0"

__all__ = [
    "AccountSettings",
    "AliasInfo",
    "BuildError",
    "EngineSettings",
    "FunctionConfig",
    "FunctionError",
    "FunctionExistsError",
    "FunctionInfo",
    "FunctionNotFoundError",
    "GuestKind",
    "InvalidCodeError",
    "InvalidParameterError",
    "InvocationResult",
    "LayerNotFoundError",
    "LayerVersionInfo",
    "PayloadTooLargeError",
    "Platform",
    "PlatformClosedError",
    "PreconditionFailedError",
    "ResourceConflictError",
    "SyncPlatform",
    "TooManyRequestsError",
    "WasmfaasError",
    "__version__",
]
