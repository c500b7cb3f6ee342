"""Asynchronous invocation's control plane: Lambda's EventInvokeConfig operations and the dead-letter store.

EventInvokeConfig: botocore's Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s), paths, methods and members as
the service model has them (`/2019-09-25/functions/{FunctionName}/event-invoke-config[/list]`, `?Qualifier=` or
"name:qualifier" for a version or alias). Bodies decode into the server's own request shape (bounds in the OpenAPI
document, unknown members skipped) and become `wasmfaas.events.EventInvokeConfig`; responses are
`FunctionEventInvokeConfig` as it is (LastModified in Unix seconds, rest-json's timestamp form). Destinations are
Lambda functions only (a name or a function ARN); an SQS, SNS, S3 or EventBridge ARN is a 400.

Dead letters (a wasmfaas extra, where Lambda would need an OnFailure destination or a DLQ queue to keep them):
events that failed for good with nowhere to go.

    GET    /__wasmfaas/dlq[?FunctionName=&Marker=&MaxItems=]   list, oldest first
    GET    /__wasmfaas/dlq/{DeadLetterId}                      one
    POST   /__wasmfaas/dlq/{DeadLetterId}/replay               enqueue its event again (a new request id), 202
    DELETE /__wasmfaas/dlq/{DeadLetterId}                      discard it, 204
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec
from msgspec import UNSET, Meta, UnsetType

from ..events import (
    DeadLetter,
    Destination,
    DestinationConfig,
    EventInvokeConfig,
    FunctionEventInvokeConfig,
    InvocationRecord,
)
from ..events.invoke_config import MAX_EVENT_AGE_S, MAX_RETRY_ATTEMPTS, MIN_EVENT_AGE_S
from .http import Response, json_response
from .lambda_api import function_ref, int_param, paginate, unqualified
from .routing import Call, Param, Route
from .shapes import Shape

__all__ = ["ROUTES"]

_FN: Final = "/2019-09-25/functions/{FunctionName}/event-invoke-config"
_QUALIFIER: Final = Param("Qualifier", description="A version number, $LATEST or an alias name")
DEFAULT_DEAD_LETTER_PAGE: Final = 100


# -- shapes ------------------------------------------------------------------------------------------------------


class DestinationRequest(Shape):
    destination: Annotated[str, Meta(max_length=350)] | None = None


class DestinationConfigRequest(Shape):
    on_success: DestinationRequest | UnsetType = UNSET
    on_failure: DestinationRequest | UnsetType = UNSET


class EventInvokeConfigRequest(Shape):
    """The body of Put/UpdateFunctionEventInvokeConfig."""

    maximum_retry_attempts: Annotated[int, Meta(ge=0, le=MAX_RETRY_ATTEMPTS)] | UnsetType = UNSET
    maximum_event_age_in_seconds: Annotated[int, Meta(ge=MIN_EVENT_AGE_S, le=MAX_EVENT_AGE_S)] | UnsetType = UNSET
    destination_config: DestinationConfigRequest | UnsetType = UNSET

    def to_config(self) -> EventInvokeConfig:
        """As the events layer takes it: unset stays None; a side given as `{}` is an empty Destination (which
        clears it on Update)."""
        destinations = None
        if isinstance(self.destination_config, DestinationConfigRequest):
            sides = self.destination_config
            destinations = DestinationConfig(
                on_success=_side(sides.on_success),
                on_failure=_side(sides.on_failure),
            )
        return EventInvokeConfig(
            maximum_retry_attempts=_unset_to_none(self.maximum_retry_attempts),
            maximum_event_age_in_seconds=_unset_to_none(self.maximum_event_age_in_seconds),
            destination_config=destinations,
        )


def _side(side: DestinationRequest | UnsetType) -> Destination | None:
    if isinstance(side, DestinationRequest):
        return Destination(destination=side.destination or None)
    return None


def _unset_to_none(value: int | UnsetType) -> int | None:
    return None if isinstance(value, UnsetType) else value


class ListFunctionEventInvokeConfigsResponse(Shape):
    function_event_invoke_configs: list[FunctionEventInvokeConfig]
    next_marker: str | UnsetType = UNSET


class DeadLetterDescription(Shape):
    """A dead letter: `Payload` is the event as submitted (base64), `Record` Lambda's invocation record (when the
    event ran or aged out), `Condition` why it is here (RetriesExhausted, EventAgeExceeded, DestinationNotFound,
    FunctionNotFound, RequestTooLarge, InvalidRequestContent, RecursiveInvocation)."""

    id: str
    request_id: str
    function_name: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float
    failed_at: float
    condition: str
    reason: str
    attempts: int
    record: InvocationRecord | None = None

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterDescription:
        return cls(**msgspec.structs.asdict(letter))


class ListDeadLettersResponse(Shape):
    dead_letters: list[DeadLetterDescription]
    next_marker: str | UnsetType = UNSET


class ReplayDeadLetterResponse(Shape):
    request_id: str  # the new event's request id


# -- EventInvokeConfig -------------------------------------------------------------------------------------------


async def put_event_invoke_config(call: Call) -> Response:
    body = call.body_as(EventInvokeConfigRequest)
    name, qualifier = function_ref(call)
    config = await call.ctx.events.put_event_invoke_config(name, body.to_config(), qualifier=qualifier)
    return json_response(config)


async def update_event_invoke_config(call: Call) -> Response:
    body = call.body_as(EventInvokeConfigRequest)
    name, qualifier = function_ref(call)
    config = await call.ctx.events.update_event_invoke_config(name, body.to_config(), qualifier=qualifier)
    return json_response(config)


async def get_event_invoke_config(call: Call) -> Response:
    name, qualifier = function_ref(call)
    return json_response(await call.ctx.events.get_event_invoke_config(name, qualifier=qualifier))


async def delete_event_invoke_config(call: Call) -> Response:
    name, qualifier = function_ref(call)
    await call.ctx.events.delete_event_invoke_config(name, qualifier=qualifier)
    return Response(204)


async def list_event_invoke_configs(call: Call) -> Response:
    int_param(call, "MaxItems", 1, 50, 50)  # the model's bound for this operation
    configs = await call.ctx.events.list_event_invoke_configs(unqualified(call))
    page, marker = paginate(call, configs, lambda c: [c.function_arn])
    return json_response(
        ListFunctionEventInvokeConfigsResponse(
            function_event_invoke_configs=page, next_marker=marker if marker is not None else UNSET
        )
    )


# -- dead letters ------------------------------------------------------------------------------------------------


async def list_dead_letters(call: Call) -> Response:
    limit = int_param(call, "MaxItems", 1, 1000, DEFAULT_DEAD_LETTER_PAGE)
    name = call.request.query_param("FunctionName") or None
    after = call.request.query_param("Marker") or None
    letters = await call.ctx.events.list_dead_letters(name, limit=limit, after=after)
    return json_response(
        ListDeadLettersResponse(
            dead_letters=[DeadLetterDescription.of(letter) for letter in letters],
            next_marker=letters[-1].id if len(letters) == limit else UNSET,
        )
    )


async def get_dead_letter(call: Call) -> Response:
    letter = await call.ctx.events.get_dead_letter(call.params["DeadLetterId"])
    return json_response(DeadLetterDescription.of(letter))


async def replay_dead_letter(call: Call) -> Response:
    request_id = await call.ctx.events.replay(call.params["DeadLetterId"])
    response = json_response(ReplayDeadLetterResponse(request_id=request_id), 202)
    response.request_id = request_id
    return response


async def delete_dead_letter(call: Call) -> Response:
    await call.ctx.events.delete_dead_letter(call.params["DeadLetterId"])
    return Response(204)


_DLQ: Final = "/__wasmfaas/dlq"

ROUTES: Final = [
    Route(
        "PutFunctionEventInvokeConfig",
        "PUT",
        _FN,
        put_event_invoke_config,
        body=EventInvokeConfigRequest,
        response=FunctionEventInvokeConfig,
        query=(_QUALIFIER,),
        errors=(400, 404, 409),
        summary="Set a function's (version's, alias's) options for asynchronous invocation, replacing them all",
    ),
    Route(
        "GetFunctionEventInvokeConfig",
        "GET",
        _FN,
        get_event_invoke_config,
        response=FunctionEventInvokeConfig,
        query=(_QUALIFIER,),
        summary="A function's (version's, alias's) options for asynchronous invocation",
    ),
    Route(
        "UpdateFunctionEventInvokeConfig",
        "POST",
        _FN,
        update_event_invoke_config,
        body=EventInvokeConfigRequest,
        response=FunctionEventInvokeConfig,
        query=(_QUALIFIER,),
        errors=(400, 404, 409),
        summary="Change some of the options for asynchronous invocation",
    ),
    Route(
        "DeleteFunctionEventInvokeConfig",
        "DELETE",
        _FN,
        delete_event_invoke_config,
        204,
        query=(_QUALIFIER,),
        errors=(400, 404, 409),
        summary="Remove the options for asynchronous invocation (the defaults apply again)",
    ),
    Route(
        "ListFunctionEventInvokeConfigs",
        "GET",
        f"{_FN}/list",
        list_event_invoke_configs,
        response=ListFunctionEventInvokeConfigsResponse,
        query=(
            Param("Marker", description="The NextMarker of the previous page"),
            Param("MaxItems", schema={"type": "integer", "minimum": 1, "maximum": 50}),
        ),
        summary="The options for asynchronous invocation of each of a function's versions and aliases",
    ),
    Route(
        "WasmfaasListDeadLetters",
        "GET",
        _DLQ,
        list_dead_letters,
        response=ListDeadLettersResponse,
        query=(
            Param("FunctionName", description="Only this function's"),
            Param("Marker", description="The NextMarker of the previous page"),
            Param("MaxItems", schema={"type": "integer", "minimum": 1, "maximum": 1000}),
        ),
        errors=(400,),
        tag="wasmfaas",
        summary="Dead letters: events that failed for good with no destination to take them, oldest first",
    ),
    Route(
        "WasmfaasGetDeadLetter",
        "GET",
        f"{_DLQ}/{{DeadLetterId}}",
        get_dead_letter,
        response=DeadLetterDescription,
        tag="wasmfaas",
        summary="A dead letter",
    ),
    Route(
        "WasmfaasReplayDeadLetter",
        "POST",
        f"{_DLQ}/{{DeadLetterId}}/replay",
        replay_dead_letter,
        202,
        response=ReplayDeadLetterResponse,
        tag="wasmfaas",
        summary="Enqueue a dead letter's event again (a new request id, age and retries) and remove the letter",
    ),
    Route(
        "WasmfaasDeleteDeadLetter",
        "DELETE",
        f"{_DLQ}/{{DeadLetterId}}",
        delete_dead_letter,
        204,
        tag="wasmfaas",
        summary="Discard a dead letter",
    ),
]
