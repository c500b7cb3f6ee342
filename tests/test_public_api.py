"""The public surface: what `import wasmfaas` exports is deliberate, and every name resolves."""

import wasmfaas
import wasmfaas.errors

EXPECTED = {
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
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(wasmfaas.__all__) == EXPECTED
    for name in wasmfaas.__all__:
        assert getattr(wasmfaas, name) is not None


def test_every_error_is_a_wasmfaas_error() -> None:
    for name in wasmfaas.errors.__all__:
        cls = getattr(wasmfaas.errors, name)
        assert issubclass(cls, wasmfaas.WasmfaasError)
        assert getattr(wasmfaas, name) is cls
