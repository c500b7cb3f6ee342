"""Function URLs: their configuration API, and serving them over plain HTTP on this server.

A function URL is `<base>/urls/<url-id>/` (`<base>` is `--public-url`, else the scheme and Host the client used:
`http://127.0.0.1:PORT`). Anything under it -- `/urls/<url-id>/any/path?query` -- invokes the function with an
API Gateway payload format 2.0 event, as AWS's `https://<url-id>.lambda-url.<region>.on.aws/any/path?query` does:

- `rawPath` is the path after `/urls/<url-id>` ("/" at least), `rawQueryString` the query as sent;
- `headers` are lower-cased, repeated ones joined with ","; `cookies` (split from the Cookie headers) are not in
  `headers`; `queryStringParameters` join repeated names with ",";
- the body is text when the content type is textual (text/*, JSON, XML, JavaScript, form data) and valid UTF-8,
  else base64 with `isBase64Encoded: true`.

The function's result maps back: an object with `statusCode` gives the status, `headers`, `cookies` (each one a
Set-Cookie header) and `body` (base64-decoded when `isBase64Encoded`); any other result is a 200 application/json
response whose body is the raw payload. A function error is a 502, a throttle a 429, as on AWS; so is a result whose
header names or values are not HTTP's (a control character, say). The result cannot set the response's framing
(Content-Length, Transfer-Encoding and the other hop-by-hop headers), Date or x-amzn-RequestId: they are dropped.

AuthType AWS_IAM requires a SigV4 signature by the server's credentials (service "lambda"); NONE is public. A CORS
configuration answers preflight requests itself and adds the Access-Control-* headers to responses.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl

import anyio
import anyio.to_thread
import msgspec
from msgspec import UNSET

from ..config import is_decimal
from ..errors import FunctionNotFoundError, PayloadTooLargeError, TooManyRequestsError
from ..invoker import MAX_SYNC_PAYLOAD, new_request_id
from .context import ServerContext
from .errors import conflict, invalid_parameter, not_found
from .http import BodyTooLarge, ClientDisconnected, Receive, Request, Response, Scope, json_response, read_body
from .lambda_api import int_param
from .naming import decode_marker, encode_marker, parse_function_name
from .routing import Call, Param, Route
from .shapes import (
    Cors,
    CreateFunctionUrlConfigRequest,
    CreateFunctionUrlConfigResponse,
    FunctionUrlConfig,
    ListFunctionUrlConfigsResponse,
    UpdateFunctionUrlConfigRequest,
)
from .sigv4 import SignatureError
from .url_store import UrlConfig, new_url_id

__all__ = ["ROUTES", "URL_PREFIX", "serve_function_url"]

URL_PREFIX: Final = "/urls/"
_TEXT_TYPES: Final = (
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
    "application/graphql",
    "application/yaml",
    "application/x-yaml",
)


# -- the configuration API ---------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _url_ref(call: Call) -> tuple[str, str | None]:
    name, qualifier = parse_function_name(call.params["FunctionName"], call.request.query_param("Qualifier"))
    if qualifier is not None and (is_decimal(qualifier) or qualifier == "$LATEST"):
        raise invalid_parameter("Qualifier: a function URL's qualifier must be an alias name")
    return name, qualifier


async def _check_target(ctx: ServerContext, name: str, qualifier: str | None) -> None:
    await ctx.platform.get_function(name)
    if qualifier is not None:
        await ctx.platform.get_alias(name, qualifier)


def function_url(ctx: ServerContext, call: Call, config: UrlConfig) -> str:
    return f"{ctx.base_url(call.request.base_url)}{URL_PREFIX}{config.url_id}/"


def _view(ctx: ServerContext, call: Call, config: UrlConfig) -> FunctionUrlConfig:
    return FunctionUrlConfig(
        function_url=function_url(ctx, call, config),
        function_arn=ctx.identity.function_arn(config.function_name, config.qualifier),
        auth_type=config.auth_type,
        creation_time=config.creation_time,
        last_modified_time=config.last_modified_time,
        invoke_mode=config.invoke_mode,
        cors=config.cors if config.cors is not None else UNSET,
    )


def _check_invoke_mode(mode: str | Any) -> None:
    # Responses are buffered whole; claiming to stream them would be a lie a client could notice.
    if mode == "RESPONSE_STREAM":
        raise invalid_parameter("InvokeMode: RESPONSE_STREAM is not supported; use BUFFERED")


# Lambda's list: "You can use GET, PUT, POST, DELETE, HEAD, PATCH, and the wildcard character (*)".
_CORS_METHODS: Final = frozenset({"GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "*"})


def _checked_cors(cors: Cors) -> Cors:
    for method in cors.allow_methods or ():
        if method.upper() not in _CORS_METHODS:
            raise invalid_parameter(
                f"Cors.AllowMethods: {method!r} is not a method a function URL allows: use GET, PUT, POST, DELETE, "
                "HEAD, PATCH, or the wildcard character (*)"
            )
    return cors


async def create_function_url_config(call: Call) -> Response:
    body = call.body_as(CreateFunctionUrlConfigRequest)
    ctx = call.ctx
    name, qualifier = _url_ref(call)
    _check_invoke_mode(body.invoke_mode)
    await _check_target(ctx, name, qualifier)
    async with ctx.lock:
        if ctx.urls.get(name, qualifier) is not None:
            raise conflict(
                f"Failed to create function url config for [functionArn = "
                f"{ctx.identity.function_arn(name, qualifier)}]. Error message:  FunctionUrlConfig "
                "exists for this Lambda function"
            )
        stamp = _now()
        config = UrlConfig(
            url_id=new_url_id(),
            function_name=name,
            qualifier=qualifier,
            auth_type=body.auth_type,
            invoke_mode=body.invoke_mode if body.invoke_mode is not UNSET else "BUFFERED",
            creation_time=stamp,
            last_modified_time=stamp,
            cors=_checked_cors(body.cors) if body.cors is not UNSET else None,
        )
        await anyio.to_thread.run_sync(ctx.urls.put, config)
    return json_response(
        CreateFunctionUrlConfigResponse(
            function_url=function_url(ctx, call, config),
            function_arn=ctx.identity.function_arn(name, qualifier),
            auth_type=config.auth_type,
            creation_time=config.creation_time,
            invoke_mode=config.invoke_mode,
            cors=config.cors if config.cors is not None else UNSET,
        ),
        201,
    )


def _existing(ctx: ServerContext, name: str, qualifier: str | None) -> UrlConfig:
    config = ctx.urls.get(name, qualifier)
    if config is None:
        raise not_found("The resource you requested does not exist.")
    return config


async def get_function_url_config(call: Call) -> Response:
    ctx = call.ctx
    name, qualifier = _url_ref(call)
    await ctx.platform.get_function(name)
    return json_response(_view(ctx, call, _existing(ctx, name, qualifier)))


async def update_function_url_config(call: Call) -> Response:
    body = call.body_as(UpdateFunctionUrlConfigRequest)
    ctx = call.ctx
    name, qualifier = _url_ref(call)
    _check_invoke_mode(body.invoke_mode)
    await ctx.platform.get_function(name)
    async with ctx.lock:
        config = msgspec.structs.replace(_existing(ctx, name, qualifier), last_modified_time=_now())
        if body.auth_type is not UNSET:
            config.auth_type = body.auth_type
        if body.invoke_mode is not UNSET:
            config.invoke_mode = body.invoke_mode
        if body.cors is not UNSET:
            config.cors = _checked_cors(body.cors)
        await anyio.to_thread.run_sync(ctx.urls.put, config)
    return json_response(_view(ctx, call, config))


async def delete_function_url_config(call: Call) -> Response:
    ctx = call.ctx
    name, qualifier = _url_ref(call)
    await ctx.platform.get_function(name)
    async with ctx.lock:
        if not await anyio.to_thread.run_sync(ctx.urls.delete, name, qualifier):
            raise not_found("The resource you requested does not exist.")
    return Response(204)


async def list_function_url_configs(call: Call) -> Response:
    ctx = call.ctx
    name, qualifier = parse_function_name(call.params["FunctionName"])
    if qualifier is not None:
        raise invalid_parameter("FunctionName: this operation takes an unqualified function name")
    await ctx.platform.get_function(name)
    configs = ctx.urls.list(name)
    max_items = int_param(call, "MaxItems", 1, 50, 50)
    marker = call.request.query_param("Marker")
    start = 0
    if marker:
        position = decode_marker(marker)
        while start < len(configs) and [configs[start].qualifier or "", configs[start].url_id] <= position:
            start += 1
    page = configs[start : start + max_items]
    more = start + max_items < len(configs)
    return json_response(
        ListFunctionUrlConfigsResponse(
            function_url_configs=[_view(ctx, call, c) for c in page],
            next_marker=encode_marker([page[-1].qualifier or "", page[-1].url_id]) if more and page else UNSET,
        )
    )


_URL = "/2021-10-31/functions/{FunctionName}/url"
_Q = (Param("Qualifier", description="An alias name"),)

ROUTES: Final = [
    Route(
        "CreateFunctionUrlConfig",
        "POST",
        _URL,
        create_function_url_config,
        201,
        body=CreateFunctionUrlConfigRequest,
        response=CreateFunctionUrlConfigResponse,
        query=_Q,
        errors=(400, 404, 409),
        tag="Function URLs",
        summary="Give a function (or alias) a URL",
    ),
    Route(
        "GetFunctionUrlConfig",
        "GET",
        _URL,
        get_function_url_config,
        response=FunctionUrlConfig,
        query=_Q,
        tag="Function URLs",
        summary="A function URL's configuration",
    ),
    Route(
        "UpdateFunctionUrlConfig",
        "PUT",
        _URL,
        update_function_url_config,
        body=UpdateFunctionUrlConfigRequest,
        response=FunctionUrlConfig,
        query=_Q,
        errors=(400, 404, 409),
        tag="Function URLs",
        summary="Change a function URL's auth type, CORS or invoke mode",
    ),
    Route(
        "DeleteFunctionUrlConfig",
        "DELETE",
        _URL,
        delete_function_url_config,
        204,
        query=_Q,
        errors=(400, 404, 409),
        tag="Function URLs",
        summary="Remove a function URL",
    ),
    Route(
        "ListFunctionUrlConfigs",
        "GET",
        "/2021-10-31/functions/{FunctionName}/urls",
        list_function_url_configs,
        response=ListFunctionUrlConfigsResponse,
        query=(Param("Marker"), Param("MaxItems", schema={"type": "integer", "minimum": 1, "maximum": 50})),
        tag="Function URLs",
        summary="A function's URLs",
    ),
]


# -- serving -----------------------------------------------------------------------------------------------------


def _plain(status: int, message: str, request_id: str) -> Response:
    body = msgspec.json.encode({"Message": message})
    return Response(status, body, [(b"content-type", b"application/json")], request_id=request_id)


def is_textual(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith("+json") or media.endswith("+xml")


_time_cache: tuple[int, str] = (-1, "")


def _event_time(second: int) -> str:
    """The event's `requestContext.time` ("26/Nov/2026:20:34:27 +0000"), formatted once per second."""
    global _time_cache
    cached_second, text = _time_cache
    if cached_second != second:
        text = datetime.fromtimestamp(second, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        _time_cache = (second, text)
    return text


def _header_text(value: bytes) -> str:
    """A header's value as text: UTF-8 as clients send it, or Latin-1 (HTTP's old default) when it is not UTF-8."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


def build_event(
    request: Request, config: UrlConfig, ctx: ServerContext, raw_path: str, request_id: str, caller: str | None
) -> dict[str, Any]:
    """The payload format 2.0 event for one request."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name_bytes, value_bytes in request.scope["headers"]:
        name = name_bytes.decode("latin-1").lower()
        value = _header_text(value_bytes)
        if name == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    host = headers.get("host", "")
    scheme = request.scope.get("scheme", "http")
    server = request.scope.get("server") or ("127.0.0.1", 80)
    # What the client says of the hops before it is kept, and its own address added (it cannot be claimed); the
    # protocol and port are this server's.
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {request.client_ip}" if forwarded else request.client_ip
    headers["x-forwarded-proto"] = scheme
    headers["x-forwarded-port"] = str(server[1])
    raw_query = request.query_string.decode("latin-1")
    now = time.time()
    http_version = request.scope.get("http_version", "1.1")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if raw_query:
        params: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            params[key] = f"{params[key]},{value}" if key in params else value
        event["queryStringParameters"] = params
    context: dict[str, Any] = {
        "accountId": ctx.identity.account_id if caller else "anonymous",
        "apiId": config.url_id,
        "domainName": host,
        "domainPrefix": config.url_id,
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": f"HTTP/{http_version}",
            "sourceIp": request.client_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": _event_time(int(now)),
        "timeEpoch": int(now * 1000),
    }
    if caller:
        context["authorizer"] = {
            "iam": {
                "accessKey": caller,
                "accountId": ctx.identity.account_id,
                "callerId": caller,
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": f"arn:aws:iam::{ctx.identity.account_id}:user/{caller}",
                "userId": caller,
            }
        }
    event["requestContext"] = context
    body = request.body
    if body:
        text: str | None = None
        if is_textual(headers.get("content-type")):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        event["body"] = text if text is not None else base64.b64encode(body).decode()
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    return event


class _InvalidResult(ValueError):
    pass


# RFC 9110's token (a header name), and what a header value may not hold (controls other than tab).
_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Headers a function's result does not set: the framing and hop-by-hop ones (two Content-Lengths, or one with
# Transfer-Encoding, is how responses are smuggled past proxies), and those the server sets itself.
_SERVERS_HEADERS: Final = frozenset(
    {
        "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer",
        "proxy-connection", "date", "x-amzn-requestid",
    }
)  # fmt: skip


def map_result(payload: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The HTTP response for a function's result (see the module docstring)."""
    try:
        value = msgspec.json.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError):  # not JSON (bad UTF-8 in a string included): a bare value
        value = None
    if not isinstance(value, dict) or "statusCode" not in value:
        return 200, [(b"content-type", b"application/json")], payload
    status = value["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
        # 1xx are interim answers (101 would hand a proxy the connection): a function's result is a final one
        raise _InvalidResult("statusCode must be an integer HTTP status from 200 to 599")
    headers: list[tuple[bytes, bytes]] = []
    raw_headers = value.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise _InvalidResult("headers must be an object")
    for key, item in raw_headers.items():
        text = item if isinstance(item, str) else msgspec.json.encode(item).decode()
        if not _TOKEN.fullmatch(key):
            raise _InvalidResult(f"{key!r} is not a header name")
        if _CONTROL.search(text):
            raise _InvalidResult(f"header {key!r}: a value may not hold control characters")
        name = key.lower()
        if name in _SERVERS_HEADERS:  # the server frames the response and names it; a function cannot
            continue
        headers.append((name.encode(), text.encode()))  # UTF-8, not "?" for what Latin-1 lacks
    if not any(name == b"content-type" for name, _ in headers):
        headers.append((b"content-type", b"application/json"))
    cookies = value.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) and not _CONTROL.search(c) for c in cookies):
        raise _InvalidResult("cookies must be a list of strings")
    headers.extend((b"set-cookie", c.encode()) for c in cookies)
    body = value.get("body", "")
    if body is None:
        body = ""
    if not isinstance(body, str):
        data = msgspec.json.encode(body)
    elif value.get("isBase64Encoded") is True:
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise _InvalidResult("body is not valid base64") from None
    else:
        data = body.encode()
    return status, headers, data


# A configuration of nothing (`Cors={}`) is none: the function answers preflights itself, as without one.
_NO_CORS: Final = Cors()


def _cors_headers(cors: Cors, origin: str | None) -> list[tuple[bytes, bytes]]:
    if origin is None:
        return []
    origins = cors.allow_origins if cors.allow_origins is not UNSET else []
    if "*" not in origins and origin not in origins:
        return []
    credentials = cors.allow_credentials is True
    headers = [
        (b"access-control-allow-origin", (origin if credentials or "*" not in origins else "*").encode("latin-1")),
        (b"vary", b"Origin"),
    ]
    if credentials:
        headers.append((b"access-control-allow-credentials", b"true"))
    if cors.expose_headers is not UNSET and cors.expose_headers:
        headers.append((b"access-control-expose-headers", ",".join(cors.expose_headers).encode("latin-1")))
    return headers


def _preflight(cors: Cors, request: Request, request_id: str) -> Response:
    headers = _cors_headers(cors, request.header("origin"))
    if headers:
        if cors.allow_methods is not UNSET and cors.allow_methods:
            headers.append((b"access-control-allow-methods", ",".join(cors.allow_methods).encode("latin-1")))
        if cors.allow_headers is not UNSET and cors.allow_headers:
            headers.append((b"access-control-allow-headers", ",".join(cors.allow_headers).encode("latin-1")))
        if cors.max_age is not UNSET:
            headers.append((b"access-control-max-age", str(cors.max_age).encode()))
    return Response(200, b"", headers, request_id=request_id)


async def serve_function_url(ctx: ServerContext, scope: Scope, receive: Receive) -> Response:
    """Answer a request under /urls/<url-id>/ (the app routes them here before the API's routes)."""
    request = Request(scope)
    request_id = new_request_id()
    rest = request.raw_path.decode("latin-1")[len(URL_PREFIX) :]
    url_id, slash, tail = rest.partition("/")
    config = ctx.urls.by_id(url_id)
    if config is None:
        return _plain(404, "Not Found", request_id)
    raw_path = "/" + tail if slash else "/"
    cors = config.cors if config.cors != _NO_CORS else None
    if cors is not None and request.method == "OPTIONS" and request.header("access-control-request-method"):
        return _preflight(cors, request, request_id)  # unsigned, as browsers send them; its body is not read
    checked = None
    if config.auth_type == "AWS_IAM":
        if ctx.verifier is None:
            return _with_cors(_plain(403, "Forbidden", request_id), cors, request)
        try:  # before the body is read: an unsigned request costs its headers, not 6 MB
            checked = ctx.verifier.check(
                request.method,
                request.raw_path.decode("latin-1"),
                request.query_string.decode("latin-1"),
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            )
        except SignatureError:
            return _with_cors(_plain(403, "Forbidden", request_id), cors, request)
    try:
        request.body = await read_body(scope, receive, MAX_SYNC_PAYLOAD)
    except BodyTooLarge:
        return _with_cors(_plain(413, "Request Entity Too Large", request_id), cors, request)
    except ClientDisconnected:  # the function must not run on half a body
        return _plain(400, "Bad Request", request_id)
    caller: str | None = None
    if checked is not None:
        assert ctx.verifier is not None
        try:
            caller = ctx.verifier.finish(request.method, request.raw_path.decode("latin-1"), checked, request.body)
        except SignatureError:
            return _with_cors(_plain(403, "Forbidden", request_id), cors, request)
    event = msgspec.json.encode(build_event(request, config, ctx, raw_path, request_id, caller))
    try:
        # One id throughout, as on Lambda: the event's requestContext.requestId, the context's aws_request_id, the
        # log's and the x-amzn-RequestId header.
        result = await ctx.runner.invoke(config.function_name, config.qualifier, event, request_id=request_id)
    except TooManyRequestsError:
        return _with_cors(_plain(429, "Rate Exceeded.", request_id), cors, request)
    except FunctionNotFoundError:
        return _with_cors(_plain(404, "Not Found", request_id), cors, request)
    except PayloadTooLargeError:
        return _with_cors(_plain(413, "Request Entity Too Large", request_id), cors, request)
    if result.function_error is not None:
        return _with_cors(_plain(502, "Internal Server Error", result.request_id), cors, request)
    try:
        status, headers, data = map_result(result.payload)
    except _InvalidResult:
        return _with_cors(_plain(502, "Internal Server Error", result.request_id), cors, request)
    if cors is not None:
        # The URL's CORS configuration answers for CORS, as on Lambda: the function's own such headers would
        # duplicate them (two Access-Control-Allow-Origin values, which browsers refuse).
        headers = [(name, value) for name, value in headers if not name.startswith(b"access-control-")]
        headers.extend(_cors_headers(cors, request.header("origin")))
    return Response(status, data, headers, request_id=result.request_id)


def _with_cors(response: Response, cors: Cors | None, request: Request) -> Response:
    """An error the URL itself answers carries the CORS headers too ("Lambda adds the CORS headers to all
    responses through the function URL"): a browser would otherwise hide a 403, 429 or 502 behind a CORS
    failure."""
    if cors is not None:
        response.headers.extend(_cors_headers(cors, request.header("origin")))
    return response
