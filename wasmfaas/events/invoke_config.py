"""EventInvokeConfig: Lambda's per function (and per version or alias) options for asynchronous invocation.

The Structs carry Lambda's wire names (`MaximumRetryAttempts`, `DestinationConfig.OnSuccess.Destination`, ...) so
the server decodes request bodies into them and encodes responses from them as they are. Values are checked on
construction with Lambda's bounds and raise `InvalidParameterError` naming the field (wrapped in a
`msgspec.ValidationError` with the same message when decoding JSON), as `FunctionConfig` does.

A field left unset (None) keeps Lambda's default: 2 retries, 6 hours of event age, no destination. `Put` replaces
the whole configuration; `Update` changes only the fields it sets (`{"OnSuccess": {}}` clears that destination).
"""

from __future__ import annotations

from typing import Final

import msgspec

from ..config import validate_function_name
from ..errors import FunctionNotFoundError, InvalidParameterError

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_MAX_EVENT_AGE_S",
    "DEFAULT_MAX_RETRY_ATTEMPTS",
    "DEFAULT_REGION",
    "LATEST",
    "MAX_EVENT_AGE_S",
    "MAX_RETRY_ATTEMPTS",
    "MIN_EVENT_AGE_S",
    "Destination",
    "DestinationConfig",
    "EventInvokeConfig",
    "EventInvokeConfigNotFoundError",
    "FunctionEventInvokeConfig",
    "StoredInvokeConfig",
    "function_arn",
    "parse_destination",
]

LATEST: Final = "$LATEST"
MAX_RETRY_ATTEMPTS: Final = 2
DEFAULT_MAX_RETRY_ATTEMPTS: Final = 2
MIN_EVENT_AGE_S: Final = 60
MAX_EVENT_AGE_S: Final = 21600
DEFAULT_MAX_EVENT_AGE_S: Final = 21600
# The same placeholder identity the guests see in their invoked function ARN (guests/base.py).
DEFAULT_REGION: Final = "local"
DEFAULT_ACCOUNT_ID: Final = "000000000000"

_MAX_DESTINATION_LEN: Final = 350  # Lambda's limit on a destination ARN


class EventInvokeConfigNotFoundError(FunctionNotFoundError):
    """The function (version, alias) has no EventInvokeConfig: Lambda's ResourceNotFoundException."""


def function_arn(name: str, qualifier: str | None = None, *, region: str, account_id: str) -> str:
    """`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`."""
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def _valid_qualifier(qualifier: str) -> bool:
    # $LATEST, a version number, or an alias name (Lambda: 1-128 of letters, digits, '-' and '_').
    return qualifier == LATEST or (
        0 < len(qualifier) <= 128 and all(c.isascii() and (c.isalnum() or c in "-_") for c in qualifier)
    )


def parse_destination(destination: str, field: str = "Destination") -> tuple[str, str | None]:
    """The function a destination names: `(name, qualifier or None)`.

    Accepts a function name, `name:qualifier`, or a function ARN `arn:aws:lambda:<region>:<account>:function:<name>`
    with an optional `:<qualifier>`. Only Lambda functions are destinations here (not SQS, SNS or EventBridge).
    """
    if len(destination) > _MAX_DESTINATION_LEN:
        raise InvalidParameterError(field, f"must be at most {_MAX_DESTINATION_LEN} characters")
    parts = destination.split(":")
    if parts[0] == "arn":
        if len(parts) not in (7, 8) or parts[2] != "lambda" or parts[5] != "function":
            raise InvalidParameterError(
                field,
                f"only Lambda function destinations are supported (arn:aws:lambda:...:function:NAME), got "
                f"{destination!r}",
            )
        parts = parts[6:]
    elif len(parts) > 2:
        raise InvalidParameterError(field, f"is neither a function name nor a function ARN: {destination!r}")
    name, qualifier = parts[0], parts[1] if len(parts) == 2 else None
    try:
        validate_function_name(name)
    except InvalidParameterError as e:
        raise InvalidParameterError(field, f"names no valid function: {destination!r}") from e
    if qualifier is not None and not _valid_qualifier(qualifier):
        raise InvalidParameterError(field, f"has an invalid version or alias: {destination!r}")
    return name, qualifier


class Destination(
    msgspec.Struct, frozen=True, kw_only=True, rename="pascal", omit_defaults=True, forbid_unknown_fields=True
):
    """One side of a DestinationConfig; `Destination` unset (or "") means none."""

    destination: str | None = None

    def __post_init__(self) -> None:
        if self.destination:
            parse_destination(self.destination)

    @property
    def target(self) -> tuple[str, str | None] | None:
        """The destination function as `(name, qualifier)`, or None."""
        return parse_destination(self.destination) if self.destination else None


class DestinationConfig(msgspec.Struct, frozen=True, kw_only=True, rename="pascal", forbid_unknown_fields=True):
    on_success: Destination | None = None
    on_failure: Destination | None = None


class EventInvokeConfig(
    msgspec.Struct, frozen=True, kw_only=True, rename="pascal", omit_defaults=True, forbid_unknown_fields=True
):
    """The body of Put/UpdateFunctionEventInvokeConfig; None means "not set" (Lambda's default applies)."""

    maximum_retry_attempts: int | None = None
    maximum_event_age_in_seconds: int | None = None
    destination_config: DestinationConfig | None = None

    def __post_init__(self) -> None:
        retries = self.maximum_retry_attempts
        if retries is not None and (isinstance(retries, bool) or not 0 <= retries <= MAX_RETRY_ATTEMPTS):
            raise InvalidParameterError(
                "MaximumRetryAttempts", f"must be an integer from 0 to {MAX_RETRY_ATTEMPTS}, got {retries!r}"
            )
        age = self.maximum_event_age_in_seconds
        if age is not None and (isinstance(age, bool) or not MIN_EVENT_AGE_S <= age <= MAX_EVENT_AGE_S):
            raise InvalidParameterError(
                "MaximumEventAgeInSeconds",
                f"must be an integer from {MIN_EVENT_AGE_S} to {MAX_EVENT_AGE_S}, got {age!r}",
            )

    @property
    def retry_attempts(self) -> int:
        return DEFAULT_MAX_RETRY_ATTEMPTS if self.maximum_retry_attempts is None else self.maximum_retry_attempts

    @property
    def max_event_age(self) -> int:
        age = self.maximum_event_age_in_seconds
        return DEFAULT_MAX_EVENT_AGE_S if age is None else age

    @property
    def on_success(self) -> tuple[str, str | None] | None:
        side = self.destination_config.on_success if self.destination_config else None
        return side.target if side else None

    @property
    def on_failure(self) -> tuple[str, str | None] | None:
        side = self.destination_config.on_failure if self.destination_config else None
        return side.target if side else None

    def merged(self, update: EventInvokeConfig) -> EventInvokeConfig:
        """This configuration with the fields `update` sets replaced (UpdateFunctionEventInvokeConfig)."""
        destinations = self.destination_config or DestinationConfig()
        if update.destination_config is not None:
            new = update.destination_config
            destinations = DestinationConfig(
                on_success=new.on_success if new.on_success is not None else destinations.on_success,
                on_failure=new.on_failure if new.on_failure is not None else destinations.on_failure,
            )
        return EventInvokeConfig(
            maximum_retry_attempts=(
                self.maximum_retry_attempts
                if update.maximum_retry_attempts is None
                else update.maximum_retry_attempts
            ),
            maximum_event_age_in_seconds=(
                self.maximum_event_age_in_seconds
                if update.maximum_event_age_in_seconds is None
                else update.maximum_event_age_in_seconds
            ),
            destination_config=destinations,
        )


class StoredInvokeConfig(msgspec.Struct, frozen=True, kw_only=True):
    """An EventInvokeConfig as kept in the store: whose it is and when it last changed (Unix seconds)."""

    function_name: str
    qualifier: str  # "$LATEST" for the unqualified function
    config: EventInvokeConfig
    last_modified: float


class FunctionEventInvokeConfig(msgspec.Struct, frozen=True, kw_only=True, rename="pascal", omit_defaults=True):
    """The response of Get/Put/Update/ListFunctionEventInvokeConfig(s), as Lambda sends it.

    `LastModified` is Unix seconds (rest-json's timestamp form); `DestinationConfig` is always present, with `{}`
    for a side that has no destination.
    """

    function_arn: str
    last_modified: float
    destination_config: DestinationConfig
    maximum_retry_attempts: int | None = None
    maximum_event_age_in_seconds: int | None = None

    @classmethod
    def from_stored(cls, stored: StoredInvokeConfig, *, region: str, account_id: str) -> FunctionEventInvokeConfig:
        config = stored.config
        destinations = config.destination_config or DestinationConfig()
        return cls(
            function_arn=function_arn(stored.function_name, stored.qualifier, region=region, account_id=account_id),
            last_modified=stored.last_modified,
            destination_config=DestinationConfig(
                on_success=destinations.on_success or Destination(),
                on_failure=destinations.on_failure or Destination(),
            ),
            maximum_retry_attempts=config.maximum_retry_attempts,
            maximum_event_age_in_seconds=config.maximum_event_age_in_seconds,
        )
