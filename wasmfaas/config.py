"""Function configuration: msgspec Structs validated on construction with Lambda's bounds.

Every bad value raises `InvalidParameterError` naming the field, whether the Struct was built in Python or decoded
from JSON (msgspec wraps it in a `msgspec.ValidationError` then, with the same message).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, NoReturn, Self, TypedDict

import msgspec

from .errors import InvalidParameterError

__all__ = [
    "MAX_EPHEMERAL_STORAGE_MB",
    "MAX_MEMORY_MB",
    "MAX_TIMEOUT_S",
    "MIN_EPHEMERAL_STORAGE_MB",
    "MIN_MEMORY_MB",
    "RESERVED_ENV_KEYS",
    "ConfigChanges",
    "FunctionConfig",
    "is_decimal",
    "validate_function_name",
]

MIN_MEMORY_MB: Final = 128
MAX_MEMORY_MB: Final = 10240
MAX_TIMEOUT_S: Final = 900.0
# Lambda's EphemeralStorage bounds (/tmp), in MB.
MIN_EPHEMERAL_STORAGE_MB: Final = 512
MAX_EPHEMERAL_STORAGE_MB: Final = 10240
MAX_ENV_BYTES: Final = 4096
MAX_FUEL: Final = 2**63 - 1

_NAME_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Lambda's rule for environment variable keys: a letter, then letters, digits or underscores (2+ characters).
_ENV_KEY_RE: Final = re.compile(r"[a-zA-Z][a-zA-Z0-9_]+")

# Keys Lambda sets itself and refuses in a function's configuration.
RESERVED_ENV_KEYS: Final = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
    }
)


def is_decimal(text: str) -> bool:
    """Whether `text` is ASCII digits: a version number, a count ("²".isdigit() is true, and int() refuses it)."""
    return text.isascii() and text.isdigit()


def validate_function_name(name: object) -> str:
    """Return `name` if it follows Lambda's rule (1-64 of `[A-Za-z0-9_-]`), else raise InvalidParameterError."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidParameterError("FunctionName", f"must be 1-64 characters of [A-Za-z0-9_-], got {name!r}")
    return name


class ConfigChanges(TypedDict, total=False):
    """The fields of a `FunctionConfig` that `update_function_configuration(name, **changes)` may change, typed, so
    that a type checker catches a misspelt one (`memroy_mb=`)."""

    memory_mb: int
    timeout: float
    environment: Mapping[str, str]
    fuel: int | None
    reserved_concurrency: int | None
    provisioned_concurrency: int
    ephemeral_storage_mb: int


class FunctionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A function's configuration.

    - `memory_mb`: the cap on the guest's linear memory, in MB (128-10240, default 128), as Lambda's MemorySize.
    - `timeout`: seconds an invocation may run (0 < t <= 900, default 3); fractions are allowed here.
    - `environment`: the guest's environment variables (Lambda's key rule, 4 KB in all, reserved keys refused).
    - `fuel`: an optional budget of wasm fuel per invocation (roughly one unit per instruction).
    - `reserved_concurrency`: at most this many concurrent invocations, reserved out of the account's limit;
      0 disables the function (every invocation is throttled), `None` shares the unreserved pool.
    - `provisioned_concurrency`: this many environments are kept initialised ahead of traffic.
    - `ephemeral_storage_mb`: the size of a component's `/tmp` in MB (512-10240, default 512), as Lambda's
      EphemeralStorage (checked after each invocation: past it the environment is replaced).
    """

    memory_mb: int = 128
    timeout: float = 3.0
    environment: dict[str, str] = msgspec.field(default_factory=dict)
    fuel: int | None = None
    reserved_concurrency: int | None = None
    provisioned_concurrency: int = 0
    ephemeral_storage_mb: int = MIN_EPHEMERAL_STORAGE_MB

    def __post_init__(self) -> None:
        # msgspec checks the types of decoded JSON, not of a Struct built in Python: checked here, so a value the
        # registry could not read back (a float memory size) never reaches it.
        if not _is_int(self.memory_mb) or not MIN_MEMORY_MB <= self.memory_mb <= MAX_MEMORY_MB:
            raise InvalidParameterError(
                "memory_mb", f"must be an integer from {MIN_MEMORY_MB} to {MAX_MEMORY_MB}, got {self.memory_mb!r}"
            )
        if not (_is_int(self.timeout) or type(self.timeout) is float) or not 0 < self.timeout <= MAX_TIMEOUT_S:
            raise InvalidParameterError(
                "timeout", f"must be a number > 0 and <= {MAX_TIMEOUT_S:g} seconds, got {self.timeout!r}"
            )
        if self.fuel is not None and (not _is_int(self.fuel) or not 0 < self.fuel <= MAX_FUEL):
            raise InvalidParameterError("fuel", f"must be a positive integer or None, got {self.fuel!r}")
        if self.reserved_concurrency is not None and (
            not _is_int(self.reserved_concurrency) or self.reserved_concurrency < 0
        ):
            raise InvalidParameterError(
                "reserved_concurrency", f"must be an integer >= 0 or None, got {self.reserved_concurrency!r}"
            )
        if not _is_int(self.provisioned_concurrency) or self.provisioned_concurrency < 0:
            raise InvalidParameterError(
                "provisioned_concurrency", f"must be an integer >= 0, got {self.provisioned_concurrency!r}"
            )
        if self.reserved_concurrency is not None and self.provisioned_concurrency > self.reserved_concurrency:
            raise InvalidParameterError(
                "provisioned_concurrency",
                f"{self.provisioned_concurrency} exceeds the reserved concurrency {self.reserved_concurrency}",
            )
        if (
            not _is_int(self.ephemeral_storage_mb)
            or not MIN_EPHEMERAL_STORAGE_MB <= self.ephemeral_storage_mb <= MAX_EPHEMERAL_STORAGE_MB
        ):
            raise InvalidParameterError(
                "ephemeral_storage_mb",
                f"must be an integer from {MIN_EPHEMERAL_STORAGE_MB} to {MAX_EPHEMERAL_STORAGE_MB}, "
                f"got {self.ephemeral_storage_mb!r}",
            )
        if not isinstance(self.environment, dict):
            raise InvalidParameterError("environment", f"must be a dict of strings, got {self.environment!r}")
        _validate_environment(self.environment)
        # A copy of its own that cannot change: the caller's dict, or a FunctionInfo's, must not alter the stored
        # configuration behind the platform's back.
        msgspec.structs.force_setattr(self, "environment", FrozenEnvironment(self.environment))


class FrozenEnvironment(dict[str, str]):
    """A configuration's environment variables: a dict (it encodes as one) that refuses changes."""

    def _read_only(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a FunctionConfig's environment cannot change; make a new FunctionConfig")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _read_only

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: object) -> Self:
        return self

    def __reduce__(self) -> tuple[type[FrozenEnvironment], tuple[dict[str, str]]]:
        return FrozenEnvironment, (dict(self),)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_environment(env: dict[str, str]) -> None:
    size = 0
    for key, value in env.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidParameterError(f"environment.{key}", f"keys and values must be strings, got {value!r}")
        if not _ENV_KEY_RE.fullmatch(key):
            raise InvalidParameterError(
                f"environment.{key}",
                "keys must start with a letter, hold only letters, digits and '_', and be at least 2 characters long",
            )
        if key in RESERVED_ENV_KEYS:
            raise InvalidParameterError(f"environment.{key}", "is reserved by the platform")
        if "\0" in value:
            raise InvalidParameterError(f"environment.{key}", "values may not contain NUL")
        try:
            size += len(key.encode()) + len(value.encode())
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 for the guest's environment
            raise InvalidParameterError(f"environment.{key}", "values must be UTF-8 text") from None
    if size > MAX_ENV_BYTES:
        raise InvalidParameterError("environment", f"is {size} bytes; the limit is {MAX_ENV_BYTES} bytes in all")
