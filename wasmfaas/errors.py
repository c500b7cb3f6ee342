"""The one exception tree of wasmfaas.

    WasmfaasError
    ├── InvalidParameterError        a bad configuration value or argument (names the field)
    ├── InvalidCodeError             code that does not validate or fits no guest kind
    ├── BuildError                   a runtime or toolchain could not build the source
    ├── FunctionNotFoundError        no function (or version, or alias) by that name
    ├── LayerNotFoundError           no layer (or layer version) by that name and number
    ├── ResourceConflictError        the change conflicts with the current state (Lambda's 409)
    │   └── FunctionExistsError      create of a name that exists
    ├── PreconditionFailedError      `if_revision` no longer matches: changed meanwhile (Lambda's 412)
    ├── TooManyRequestsError         throttled: a concurrency limit is reached (never queued)
    ├── PayloadTooLargeError         request or response over its limit
    ├── InvalidPayloadError          a Python or JavaScript function's payload is not JSON
    └── PlatformClosedError          the platform is not running (not entered yet, or closed)

Also `RuntimeError` for a Platform entered twice (a programming error, as anyio raises for its own objects).

Errors *of a function* (a timeout, a trap, a handled error) are not exceptions: an invocation returns an
`InvocationResult` whose `function_error` says what happened, as Lambda's Invoke does.
"""

from __future__ import annotations

__all__ = [
    "BuildError",
    "FunctionExistsError",
    "FunctionNotFoundError",
    "InvalidCodeError",
    "InvalidParameterError",
    "InvalidPayloadError",
    "LayerNotFoundError",
    "PayloadTooLargeError",
    "PlatformClosedError",
    "PreconditionFailedError",
    "ResourceConflictError",
    "TooManyRequestsError",
    "WasmfaasError",
]


class WasmfaasError(Exception):
    """Base of every error wasmfaas raises."""


class InvalidParameterError(WasmfaasError, ValueError):
    """A configuration value or argument is invalid; `field` names it, `detail` says why. `verbatim`: the detail is
    Lambda's own message, which the server passes on unprefixed (tools match on it)."""

    def __init__(self, field: str, message: str, *, verbatim: bool = False) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message
        self.verbatim = verbatim


class InvalidCodeError(WasmfaasError, ValueError):
    """The code does not validate as WebAssembly, or fits none of the guest kinds (see docs/abi.md)."""


class BuildError(WasmfaasError):
    """A runtime or toolchain failed to build the function's source; the message is the builder's."""


class FunctionNotFoundError(WasmfaasError, LookupError):
    """No function, version or alias by that name."""


class LayerNotFoundError(WasmfaasError, LookupError):
    """No layer, or no version of it, by that name and number."""


class ResourceConflictError(WasmfaasError):
    """The change conflicts with the resource's current state (an alias exists, a version is in use...)."""


class FunctionExistsError(ResourceConflictError):
    """A function by that name exists already."""


class PreconditionFailedError(WasmfaasError):
    """A change made on condition of the revision it was read at (`if_revision`) found a newer one: someone else
    changed the function or alias in between, and this change was not made."""


class TooManyRequestsError(WasmfaasError):
    """The invocation was refused at once because a concurrency limit is reached.

    `reason` is Lambda's: `ReservedFunctionConcurrentInvocationLimitExceeded` or
    `ConcurrentInvocationLimitExceeded`.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PayloadTooLargeError(WasmfaasError, ValueError):
    """A request payload is over its limit (6 MB synchronous, as Lambda)."""


class InvalidPayloadError(WasmfaasError, ValueError):
    """A payload the function's runtime cannot take: Python and JavaScript functions take JSON (or nothing), as on
    Lambda, whose Invoke refuses anything else (InvalidRequestContentException) before the function runs. Wasm
    functions of one's own take any bytes."""


class PlatformClosedError(WasmfaasError, RuntimeError):
    """The platform was used outside its `async with` block, or after it closed."""
