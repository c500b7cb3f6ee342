"""EventInvokeConfig: validation with Lambda's bounds, the wire shapes, and the Put/Get/Update/Delete/List API."""

from __future__ import annotations

import time

import msgspec
import pytest
from events_stack import StackFactory

from wasmfaas.errors import FunctionNotFoundError, InvalidParameterError
from wasmfaas.events import (
    DestinationConfig,
    EventInvokeConfig,
    EventInvokeConfigNotFoundError,
    parse_destination,
)
from wasmfaas.events.invoke_config import Destination

ARN = "arn:aws:lambda:local:000000000000:function:"


def decode(body: bytes) -> EventInvokeConfig:
    return msgspec.json.decode(body, type=EventInvokeConfig)


# -- validation ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"MaximumRetryAttempts": 3}', "MaximumRetryAttempts"),
        (b'{"MaximumRetryAttempts": -1}', "MaximumRetryAttempts"),
        (b'{"MaximumEventAgeInSeconds": 59}', "MaximumEventAgeInSeconds"),
        (b'{"MaximumEventAgeInSeconds": 21601}', "MaximumEventAgeInSeconds"),
        (
            b'{"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"}}}',
            "Destination",
        ),
        (b'{"DestinationConfig": {"OnSuccess": {"Destination": "not a name"}}}', "Destination"),
        (b'{"DestinationConfig": {"OnSuccess": {"Destination": "fn:bad qualifier"}}}', "Destination"),
    ],
)
def test_out_of_bounds_values_are_refused_naming_the_field(body: bytes, field: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=field):
        decode(body)


def test_bounds_are_inclusive_and_python_construction_validates_too() -> None:
    decode(b'{"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}')
    decode(b'{"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600}')
    with pytest.raises(InvalidParameterError) as info:
        EventInvokeConfig(maximum_retry_attempts=5)
    assert info.value.field == "MaximumRetryAttempts"
    with pytest.raises(msgspec.ValidationError):
        decode(b'{"MaximumRetryAttempts": 1, "Unknown": true}')


def test_defaults_are_lambdas() -> None:
    config = EventInvokeConfig()
    assert (config.retry_attempts, config.max_event_age, config.on_success, config.on_failure) == (
        2,
        21600,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("destination", "target"),
    [
        ("fn", ("fn", None)),
        ("fn:live", ("fn", "live")),
        ("fn:3", ("fn", "3")),
        (ARN + "fn", ("fn", None)),
        ("arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST", ("my-function", "$LATEST")),
    ],
)
def test_destinations_are_function_names_or_arns(destination: str, target: tuple[str, str | None]) -> None:
    assert parse_destination(destination) == target


def test_an_empty_destination_is_none() -> None:
    config = decode(b'{"DestinationConfig": {"OnSuccess": {"Destination": ""}, "OnFailure": {}}}')
    assert config.on_success is None
    assert config.on_failure is None


def test_update_merges_only_the_fields_it_sets() -> None:
    current = EventInvokeConfig(
        maximum_retry_attempts=1,
        destination_config=DestinationConfig(
            on_success=Destination(destination="a"), on_failure=Destination(destination="b")
        ),
    )
    merged = current.merged(decode(b'{"MaximumEventAgeInSeconds": 300, "DestinationConfig": {"OnSuccess": {}}}'))
    assert merged.maximum_retry_attempts == 1
    assert merged.maximum_event_age_in_seconds == 300
    assert merged.on_success is None  # cleared by {}
    assert merged.on_failure == ("b", None)  # left alone


# -- the API ---------------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_put_get_update_list_delete(stack: StackFactory) -> None:
    async with stack(run=False) as s:
        await s.deploy("fn", "echo")
        await s.deploy("dest", "recorder")
        with pytest.raises(EventInvokeConfigNotFoundError, match="doesn't have an EventInvokeConfig"):
            await s.events.get_event_invoke_config("fn")
        with pytest.raises(EventInvokeConfigNotFoundError):
            await s.events.update_event_invoke_config("fn", EventInvokeConfig(maximum_retry_attempts=1))

        before = time.time()
        put = await s.events.put_event_invoke_config(
            "fn", decode(b'{"MaximumRetryAttempts": 1, "DestinationConfig": {"OnFailure": {"Destination": "dest"}}}')
        )
        assert before <= put.last_modified <= time.time()
        assert msgspec.json.decode(msgspec.json.encode(put)) == {
            "FunctionArn": ARN + "fn:$LATEST",
            "LastModified": put.last_modified,
            "MaximumRetryAttempts": 1,
            "DestinationConfig": {"OnSuccess": {}, "OnFailure": {"Destination": "dest"}},
        }
        assert await s.events.get_event_invoke_config("fn") == put
        assert await s.events.get_event_invoke_config("fn", qualifier="$LATEST") == put

        updated = await s.events.update_event_invoke_config("fn", decode(b'{"MaximumEventAgeInSeconds": 120}'))
        assert (updated.maximum_retry_attempts, updated.maximum_event_age_in_seconds) == (1, 120)
        assert updated.destination_config.on_failure == Destination(destination="dest")

        # Put replaces the whole configuration.
        replaced = await s.events.put_event_invoke_config("fn", decode(b'{"MaximumEventAgeInSeconds": 90}'))
        assert replaced.maximum_retry_attempts is None
        assert replaced.destination_config == DestinationConfig(on_success=Destination(), on_failure=Destination())

        await s.platform.publish_version("fn")
        versioned = await s.events.put_event_invoke_config("fn", EventInvokeConfig(), qualifier="1")
        assert versioned.function_arn == ARN + "fn:1"
        assert [c.function_arn for c in await s.events.list_event_invoke_configs("fn")] == [
            ARN + "fn:$LATEST",
            ARN + "fn:1",
        ]

        await s.events.delete_event_invoke_config("fn")
        with pytest.raises(EventInvokeConfigNotFoundError):
            await s.events.delete_event_invoke_config("fn")
        assert [c.function_arn for c in await s.events.list_event_invoke_configs("fn")] == [ARN + "fn:1"]

        await s.events.forget_function("fn")
        assert await s.events.list_event_invoke_configs("fn") == []


@pytest.mark.anyio
async def test_configs_of_unknown_functions_are_not_found(stack: StackFactory) -> None:
    async with stack(run=False) as s:
        with pytest.raises(FunctionNotFoundError, match="Function not found"):
            await s.events.put_event_invoke_config("ghost", EventInvokeConfig())
        await s.deploy("fn", "echo")
        with pytest.raises(FunctionNotFoundError):
            await s.events.put_event_invoke_config("fn", EventInvokeConfig(), qualifier="9")
        with pytest.raises(FunctionNotFoundError):
            await s.events.list_event_invoke_configs("ghost")


@pytest.mark.anyio
async def test_configs_are_durable(stack: StackFactory) -> None:
    async with stack(run=False, persistent=True) as s:
        await s.deploy("fn", "echo")
        put = await s.events.put_event_invoke_config("fn", EventInvokeConfig(maximum_retry_attempts=0))
    async with stack(run=False, persistent=True) as s:
        assert await s.events.get_event_invoke_config("fn") == put
