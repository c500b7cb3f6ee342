"""Lambda's error responses, as botocore parses them.

botocore's rest-json parser takes the error code from the `x-amzn-ErrorType` header and the message from the body's
`message` (or `Message`); the other body members fill the modelled exception's fields (`Type`, `Reason`). The body's
message member is spelled as the service model spells it for that exception (`ResourceNotFoundException` has
`Message`, most others `message`), so `error.response["message"]`-style access works as against AWS.

`LambdaError` is raised by handlers; `from_platform_error` maps the platform's exception tree onto it. Anything else
that escapes a handler is a bug and becomes a 500 `ServiceException` (logged), never a raw traceback.
"""

from __future__ import annotations

import ast
import functools
import operator
import re
from typing import Any, Final

import msgspec

from ..errors import (
    BuildError,
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

__all__ = [
    "LambdaError",
    "conflict",
    "from_platform_error",
    "invalid_parameter",
    "invalid_request_content",
    "not_found",
    "precondition_failed",
    "request_too_large",
    "service_error",
    "throttle_parts",
    "too_many_requests",
    "unknown_operation",
]

# Exceptions whose message member the model spells `Message`; every other one uses `message`.
_CAPITAL_MESSAGE: Final = frozenset(
    {
        "ResourceNotFoundException",
        "ServiceException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
        "MissingAuthenticationTokenException",
        "AccessDeniedException",
    }
)

# Platform field names (FunctionConfig's) as the API spells them, for error messages.
_FIELD_NAMES: Final = {
    "memory_mb": "MemorySize",
    "timeout": "Timeout",
    "environment": "Environment.Variables",
    "fuel": "WasmfaasConfig.Fuel",
    "reserved_concurrency": "ReservedConcurrentExecutions",
    "provisioned_concurrency": "ProvisionedConcurrentExecutions",
    "handler": "Handler",
    "code": "Code",
    "payload": "Payload",
}


class LambdaError(Exception):
    """An error response: HTTP `status`, Lambda error `code`, `message`, and any extra body members or headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        extra: dict[str, str] | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}
        self.headers = headers or []

    def body(self) -> bytes:
        body: dict[str, str] = {"Type": "Service" if self.status >= 500 else "User"}
        body["Message" if self.code in _CAPITAL_MESSAGE else "message"] = self.message
        body.update(self.extra)
        return msgspec.json.encode(body)

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"content-type", b"application/json"),
            (b"x-amzn-errortype", self.code.encode()),
            *self.headers,
        ]


def invalid_parameter(message: str) -> LambdaError:
    return LambdaError(400, "InvalidParameterValueException", message)


# msgspec's wording of a constraint a body broke, and Lambda's (its API says "1 validation error detected: Value '64'
# at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128").
_CONSTRAINT: Final = re.compile(
    r"Expected `\w+` (?:(?P<op>>=|<=|>|<) (?P<bound>\S+)|of length (?P<lop><=|>=) (?P<length>\d+)"
    r"|matching regex (?P<regex>'.*'|\".*\")) - at `\$(?P<path>[^`]*)`"
)
# msgspec's comparison: Lambda's words for it, and the test.
_OPS: Final = {
    ">=": ("greater than or equal to", operator.ge),
    "<=": ("less than or equal to", operator.le),
    ">": ("greater than", operator.gt),
    "<": ("less than", operator.lt),
}
_STEP: Final = re.compile(r"\.(\w+)|\[(\d+)\]")


def validation_error(error: msgspec.ValidationError, body: bytes) -> LambdaError:
    """A 400 for a request body that broke a constraint of the API's, in Lambda's words where msgspec's say which
    bound ("Expected `int` >= 128 - at `$.MemorySize`" named neither the value nor the bound as Lambda does)."""
    text = str(error)
    found = _CONSTRAINT.fullmatch(text)
    if found is None:
        return invalid_parameter(text)
    try:
        return invalid_parameter(_lambda_wording(found, body))
    except (ValueError, SyntaxError, re.error):  # a wording of msgspec's this does not know: its own, not a 500
        return invalid_parameter(text)


def _lambda_wording(found: re.Match[str], body: bytes) -> str:
    steps = [(m.group(1), m.group(2)) for m in _STEP.finditer(found["path"])]
    where = ".".join(name[:1].lower() + name[1:] if name else f"[{index}]" for name, index in steps)
    value = _value_at(body, steps)
    if found["op"]:
        words, holds = _OPS[found["op"]]
        rule = f"Member must have value {words} {found['bound']}"
        broken = isinstance(value, int | float) and not holds(value, float(found["bound"]))
    elif found["lop"]:
        words, holds = _OPS[found["lop"]]
        rule = f"Member must have length {words} {found['length']}"
        broken = isinstance(value, str) and not holds(len(value), int(found["length"]))
    else:
        # msgspec shows the pattern as Python's repr (backslashes doubled, quotes chosen): the pattern itself.
        pattern = ast.literal_eval(found["regex"])
        rule = f"Member must satisfy regular expression pattern: {pattern}"
        broken = isinstance(value, str) and re.search(pattern, value) is None
    # Shown only if it is the value that broke the rule (of a member given twice, msgspec checks each and the
    # lookup finds the last).
    shown = f" '{value}'" if broken and len(str(value)) <= 256 else ""
    at = where.replace(".[", "[")
    return f"1 validation error detected: Value{shown} at '{at}' failed to satisfy constraint: {rule}"


def _value_at(body: bytes, steps: list[tuple[str, str]]) -> Any:
    # msgspec.Raw: only the members on the path are decoded (a CreateFunction body is up to ~70 MB of base64, which
    # json.loads copied whole, on the event loop, to show a number beside it).
    value: Any = body
    try:
        for name, index in steps:
            if name:
                value = msgspec.json.decode(value, type=dict[str, msgspec.Raw])[name]
            else:
                value = msgspec.json.decode(value, type=list[msgspec.Raw])[int(index)]
        decoded = msgspec.json.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError, KeyError, IndexError, ValueError):
        return None
    return decoded if isinstance(decoded, str | int | float) and not isinstance(decoded, bool) else None


def invalid_request_content(message: str) -> LambdaError:
    return LambdaError(400, "InvalidRequestContentException", message)


def not_found(message: str) -> LambdaError:
    return LambdaError(404, "ResourceNotFoundException", message)


def conflict(message: str) -> LambdaError:
    return LambdaError(409, "ResourceConflictException", message)


def precondition_failed(message: str) -> LambdaError:
    return LambdaError(412, "PreconditionFailedException", message)


def request_too_large(message: str) -> LambdaError:
    return LambdaError(413, "RequestTooLargeException", message)


def too_many_requests(message: str, reason: str, retry_after: int = 1) -> LambdaError:
    return LambdaError(
        429,
        "TooManyRequestsException",
        message,
        extra={"Reason": reason},
        headers=[(b"retry-after", str(retry_after).encode())],
    )


@functools.lru_cache(maxsize=1024)
def throttle_parts(message: str, reason: str) -> tuple[bytes, tuple[tuple[bytes, bytes], ...]]:
    """The body and headers of `too_many_requests(message, reason)`, made once per distinct throttle: under a flood
    of over-the-limit requests they are most of what the server sends, and the same each time."""
    error = too_many_requests(message, reason)
    return error.body(), tuple(error.response_headers())


def unknown_operation(method: str, path: str) -> LambdaError:
    return LambdaError(404, "UnknownOperationException", f"Unknown operation: {method} {path}")


def service_error(message: str = "An internal error occurred.") -> LambdaError:
    return LambdaError(500, "ServiceException", message)


def api_field(field: str) -> str:
    """The API's name of a platform field (`memory_mb` -> `MemorySize`, `environment.KEY` -> its variable)."""
    head, dot, rest = field.partition(".")
    name = _FIELD_NAMES.get(head, head)
    return f"{name}.{rest}" if dot else name


def from_platform_error(error: WasmfaasError) -> LambdaError:
    """The response for one of the platform's exceptions (see wasmfaas.errors)."""
    if isinstance(error, InvalidParameterError):
        if error.verbatim:
            return invalid_parameter(error.detail)
        detail = str(error).partition(": ")[2] or str(error)
        return invalid_parameter(f"{api_field(error.field)}: {detail}")
    if isinstance(error, InvalidCodeError | BuildError):
        return invalid_parameter(str(error))
    if isinstance(error, FunctionNotFoundError | LayerNotFoundError):
        return not_found(str(error))
    if isinstance(error, PreconditionFailedError):
        return precondition_failed(str(error))
    if isinstance(error, ResourceConflictError):
        return conflict(str(error))
    if isinstance(error, TooManyRequestsError):
        return too_many_requests(str(error), error.reason)
    if isinstance(error, PayloadTooLargeError):
        return request_too_large(str(error))
    if isinstance(error, InvalidPayloadError):
        return invalid_request_content(str(error))
    if isinstance(error, PlatformClosedError):
        return LambdaError(503, "ServiceException", "The service is shutting down.")
    return service_error(str(error))
