"""Invoke: `POST /2015-03-31/functions/{FunctionName}/invocations`.

- `X-Amz-Invocation-Type`: RequestResponse (200, the response payload), Event (202 once the event is stored durably
  in the server's event queue; `x-amzn-RequestId` is the request id the function will run with), DryRun (204, only
  checks that the function and qualifier exist).
- `X-Amz-Log-Type: Tail` (RequestResponse only): `X-Amz-Log-Result` is the base64 of the last 4 KB of the log.
- `X-Amz-Function-Error`: Handled or Unhandled on a function error (the body is then Lambda's error object).
- `X-Amz-Executed-Version`: the version that ran (an alias with weights picks one).
- `?Qualifier=` or "name:qualifier": a version, $LATEST or an alias.
- Payload limits: 6 MB synchronous, 1 MB Event; past them 413 RequestTooLargeException.

Unlike AWS, a wasm function's payload need not be JSON: wasm guests take bytes (a WASI command reads them on stdin).
A Python or JavaScript function's must be, as on AWS (the platform's `InvalidPayloadError`: 400
InvalidRequestContentException).

The common case -- RequestResponse of a plain function name, no query string, no client context, on a server without
SigV4 -- is recognised straight from the ASGI scope (`plain_invoke`) without the route table, the `Request` object or
a header dict; the invocation and its response are then built by the same code as the general route's
(`run_request_response`). On a hello-world function that parsing was a third of the server's time per Invoke. A
function already at its concurrency limit is answered 429 at that point, before the body is read or an invocation
is set up: under a flood of throttled requests that is most of the server's work.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

import msgspec

from ..invoker import MAX_SYNC_PAYLOAD
from . import eventstream
from .context import ServerContext
from .errors import invalid_parameter
from .http import Response, Scope
from .lambda_api import function_ref
from .routing import Call, Param, Route

__all__ = ["LOG_TAIL_BYTES", "ROUTES", "plain_invoke", "run_request_response"]

LOG_TAIL_BYTES: Final = 4096
_INVOCATION_TYPES: Final = ("RequestResponse", "Event", "DryRun")
_STREAM_INVOCATION_TYPES: Final = ("RequestResponse", "DryRun")
_STREAM_CHUNK: Final = 1024 * 1024
_MAX_CLIENT_CONTEXT: Final = 3583  # Lambda's limit on the base64 X-Amz-Client-Context
_INVOKE_ASYNC_PAYLOAD: Final = 256 * 1024  # Lambda's for the deprecated InvokeAsync (an Event Invoke takes 1 MB)
_JSON: Final = (b"content-type", b"application/json")


def _invocation_headers(call: Call, types: tuple[str, ...]) -> tuple[str, bool]:
    """The request's invocation type (one of `types`) and whether it wants the log's tail; a 400 for bad values."""
    request = call.request
    invocation_type = request.header("x-amz-invocation-type") or "RequestResponse"
    if invocation_type not in types:
        raise invalid_parameter(
            f"X-Amz-Invocation-Type: must be {', '.join(types[:-1])} or {types[-1]}, not {invocation_type!r}"
        )
    log_type = request.header("x-amz-log-type") or "None"
    if log_type not in ("None", "Tail"):
        raise invalid_parameter(f"X-Amz-Log-Type: must be None or Tail, not {log_type!r}")
    if log_type == "Tail" and invocation_type == "Event":
        raise invalid_parameter("X-Amz-Log-Type: Tail is only supported for RequestResponse invocations")
    _check_client_context(request.header("x-amz-client-context"))
    return invocation_type, log_type == "Tail"


async def invoke(call: Call) -> Response:
    ctx = call.ctx
    name, qualifier = function_ref(call)
    invocation_type, tail = _invocation_headers(call, _INVOCATION_TYPES)
    payload = call.request.body

    if invocation_type == "RequestResponse":
        return await run_request_response(ctx, name, qualifier, payload, tail=tail)
    # (An Event's body was read under its 1 MB: the server's app reads it so.)
    if invocation_type == "DryRun":
        return await _dry_run(ctx, name, qualifier)
    # 404 for an unknown function, version or alias now, not later in the queue; returns once the event is durable.
    request_id = await ctx.events.submit(name, qualifier, payload)
    return Response(202, b"", [], request_id=request_id)


async def _dry_run(ctx: ServerContext, name: str, qualifier: str | None) -> Response:
    info = await ctx.platform.get_function(name, qualifier)
    return Response(204, b"", [(b"x-amz-executed-version", info.version.encode())])


async def invoke_with_response_stream(call: Call) -> Response:
    """InvokeWithResponseStream: the response as an event stream, a PayloadChunk per MiB of it, then InvokeComplete
    (with the function error's type and message as ErrorCode and ErrorDetails, and the log's tail if asked).

    Functions here return their response whole, so it streams once the invocation is done -- as a buffered
    function's response does on Lambda; the client reads it with the same code as a streaming function's."""
    ctx = call.ctx
    name, qualifier = function_ref(call)
    invocation_type, tail = _invocation_headers(call, _STREAM_INVOCATION_TYPES)
    if invocation_type == "DryRun":
        return await _dry_run(ctx, name, qualifier)
    result = await ctx.runner.invoke(name, qualifier, call.request.body)
    payload = result.payload
    messages = [
        eventstream.event_message("PayloadChunk", "application/octet-stream", payload[at : at + _STREAM_CHUNK])
        for at in range(0, len(payload), _STREAM_CHUNK)
    ]
    complete: dict[str, str] = {}
    error = result.function_error
    if error is not None:
        complete["ErrorCode"] = error.error_type
        complete["ErrorDetails"] = error.error_message
    if tail:
        complete["LogResult"] = _log_tail(result.log)
    messages.append(eventstream.event_message("InvokeComplete", "application/json", msgspec.json.encode(complete)))
    headers = [
        (b"content-type", b"application/vnd.amazon.eventstream"),
        (b"x-amz-executed-version", result.executed_version.encode()),
    ]
    return Response(200, b"".join(messages), headers, request_id=result.request_id)


def _log_tail(log: str) -> str:
    return base64.b64encode(log.encode()[-LOG_TAIL_BYTES:]).decode()


async def run_request_response(
    ctx: ServerContext, name: str, qualifier: str | None, payload: bytes, *, tail: bool
) -> Response:
    """Invoke synchronously and answer as Lambda does (raises the platform's errors: not found, throttled...)."""
    result = await ctx.runner.invoke(name, qualifier, payload)
    headers = [_JSON, (b"x-amz-executed-version", result.executed_version.encode())]
    if result.function_error is not None:
        headers.append((b"x-amz-function-error", result.function_error.kind.encode()))
    if tail:
        headers.append((b"x-amz-log-result", _log_tail(result.log).encode()))
    return Response(200, result.payload, headers, request_id=result.request_id)


async def invoke_async(call: Call) -> Response:
    """InvokeAsync, Lambda's deprecated form of an Event invocation (boto3's `invoke_async`): the same queue."""
    name, qualifier = function_ref(call)
    request_id = await call.ctx.events.submit(name, qualifier, call.request.body)  # the route bounds it at 256 KB
    return Response(202, b'{"Status":202}', [_JSON], request_id=request_id)


_PLAIN_PATH: Final = re.compile(rb"/2015-03-31/functions/([A-Za-z0-9_-]{1,64})/invocations")


def plain_invoke(scope: Scope) -> tuple[str, bool, int] | None:
    """(function name, whether the log tail is wanted, the declared Content-Length or -1) if this request is the
    common Invoke (see the module's doc), else None -- and then the general route handles it, errors and all.
    Reads nothing but the scope."""
    if scope["method"] != "POST" or scope.get("query_string"):
        return None
    matched = _PLAIN_PATH.fullmatch(scope.get("raw_path") or scope["path"].encode())
    if matched is None:
        return None
    tail = False
    declared = -1
    seen: set[bytes] = set()
    for key, value in scope["headers"]:
        if key == b"content-length":
            declared = int(value) if value.isdigit() else -1  # bytes: ASCII digits only
        elif key.startswith(b"x-amz-"):
            if key in seen:  # repeated: the general route joins the values and judges the result
                return None
            seen.add(key)
            if key == b"x-amz-invocation-type":
                if value != b"RequestResponse":
                    return None
            elif key == b"x-amz-log-type":
                if value == b"Tail":
                    tail = True
                elif value != b"None":
                    return None
            elif key == b"x-amz-client-context":
                return None
    return matched.group(1).decode(), tail, declared


def _check_client_context(value: str | None) -> None:
    if value is None:
        return
    if len(value) > _MAX_CLIENT_CONTEXT:
        raise invalid_parameter(f"X-Amz-Client-Context: at most {_MAX_CLIENT_CONTEXT} bytes of base64")
    try:
        context = msgspec.json.decode(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError, msgspec.DecodeError):  # ValueError covers bad UTF-8 in a JSON string too
        context = None
    if not isinstance(context, dict):
        raise invalid_parameter("X-Amz-Client-Context: must be a base64-encoded JSON object")


_QUALIFIER: Final = (Param("Qualifier", description="A version number, $LATEST or an alias name"),)


def _invocation_params(types: tuple[str, ...]) -> tuple[Param, ...]:
    return (
        Param("X-Amz-Invocation-Type", "header", {"type": "string", "enum": list(types)}),
        Param("X-Amz-Log-Type", "header", {"type": "string", "enum": ["None", "Tail"]}),
        Param("X-Amz-Client-Context", "header"),
    )


ROUTES: Final = [
    Route(
        "Invoke",
        "POST",
        "/2015-03-31/functions/{FunctionName}/invocations",
        invoke,
        other_statuses=(202, 204),
        raw_body="application/octet-stream",
        response_media="application/octet-stream",
        query=_QUALIFIER,
        headers=_invocation_params(_INVOCATION_TYPES),
        errors=(400, 404, 413, 429),
        body_limit=MAX_SYNC_PAYLOAD,
        limit_name="InvokeFunction",
        summary="Invoke a function (RequestResponse, Event or DryRun)",
    ),
    Route(
        "InvokeWithResponseStream",
        "POST",
        "/2021-11-15/functions/{FunctionName}/response-streaming-invocations",
        invoke_with_response_stream,
        other_statuses=(204,),
        raw_body="application/octet-stream",
        response_media="application/vnd.amazon.eventstream",
        query=_QUALIFIER,
        headers=_invocation_params(_STREAM_INVOCATION_TYPES),
        errors=(400, 404, 413, 429),
        body_limit=MAX_SYNC_PAYLOAD,
        limit_name="InvokeWithResponseStream",
        summary="Invoke a function and read its response as an event stream (PayloadChunk..., InvokeComplete)",
    ),
    Route(
        "InvokeAsync",
        "POST",
        "/2014-11-13/functions/{FunctionName}/invoke-async",
        invoke_async,
        202,
        raw_body="application/octet-stream",
        errors=(400, 404, 413),
        body_limit=_INVOKE_ASYNC_PAYLOAD,
        limit_name="InvokeAsync",
        summary="Queue an Event invocation (Lambda deprecated it for Invoke with X-Amz-Invocation-Type: Event)",
    ),
]
