"""The public surface: what `import wasmfaas` exports is deliberate, and every name resolves."""

import inspect
from pathlib import Path

import mypy.api

import wasmfaas
import wasmfaas.errors

EXPECTED = {
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


# Platform's methods that SyncPlatform leaves out on purpose: the server's own hooks (a caller of the sync API has
# `invoke`, which runs in its thread).
_ASYNC_ONLY = {"compiled", "incarnation", "invoke_sync", "refusal"}


def test_the_sync_platform_offers_the_same_calls() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_")
        }

    platform, sync = public(wasmfaas.Platform), public(wasmfaas.SyncPlatform)
    assert set(platform) - set(sync) == _ASYNC_ONLY
    for name, signature in sync.items():
        if name in platform:
            assert list(signature.parameters) == list(platform[name].parameters), name
        assert getattr(wasmfaas.SyncPlatform, name).__doc__, f"SyncPlatform.{name} has no docstring"


def test_a_misspelt_configuration_change_is_a_type_error(tmp_path: Path) -> None:
    program = tmp_path / "typed.py"
    program.write_text(
        "from wasmfaas import SyncPlatform\n"
        "def change(p: SyncPlatform) -> None:\n"
        "    p.update_function_configuration('f', memory_mb=256, timeout=5.5, fuel=None)\n"
        "    p.update_function_configuration('f', memroy_mb=256)\n"
    )
    out, _, status = mypy.api.run(["--strict", "--no-incremental", "--follow-imports=silent", str(program)])
    assert status == 1 and out.count("error:") == 1 and '"memroy_mb"' in out and ":4:" in out, out
