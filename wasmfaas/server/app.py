"""The ASGI application: lifespan (one Platform for the server's life), routing, SigV4, errors.

    app = LambdaServer(ServerSettings(data_dir=...))   # any ASGI server; `wasmfaas serve` runs it under uvicorn

Request flow: `/__hello` and `/__echo` are answered first (bare routes, to measure the server's own overhead: a
constant response, and a request body sent back); `/urls/<id>/...`
goes to the function URL (which does its own auth); everything else is matched against the route table, its body
read under the route's limit (413 past it), its SigV4 signature checked when the server has credentials, its JSON
body decoded and validated by msgspec (400 on any mismatch), and its handler run. Every error leaves as Lambda's
error response; a handler bug is logged and answered 500 ServiceException, never a traceback. Every response
carries `x-amzn-RequestId`.

Event invocations go to the durable `wasmfaas.events.AsyncInvoker` (its queue in `<data_dir>/events.sqlite3`), whose
attempts run through the same `InvocationRunner` as synchronous ones (metrics, logs); every invocation's framed log
goes to the `LogStore` (`<data_dir>/logs.sqlite3`).

At shutdown (the lifespan's shutdown event, after the ASGI server has stopped taking requests and finished the ones
in flight) the async invoker starts no more events and lets the running ones finish (at most `shutdown_timeout`;
one still running then is handed back to the queue and runs again on the next start), then the log store commits
what it holds and the platform closes.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any, Final

import anyio
import anyio.abc
import anyio.lowlevel
import msgspec

from ..errors import WasmfaasError
from ..events import MAX_ASYNC_PAYLOAD, AsyncInvoker
from ..invoker import new_request_id
from ..logstore import LogStore
from ..platform import Platform
from . import (
    code_signing_api,
    events_api,
    invoke,
    lambda_api,
    layers_api,
    policy_api,
    runtime_config_api,
    tags_api,
    urls,
)
from .context import CodeUrlSigner, ServerContext
from .errors import (
    LambdaError,
    from_platform_error,
    invalid_request_content,
    request_too_large,
    service_error,
    throttle_parts,
    unknown_operation,
    validation_error,
)
from .http import JSON, BodyTooLarge, ClientDisconnected, Receive, Request, Response, Scope, Send, read_body
from .invocations import InvocationRunner
from .metrics import CONTENT_TYPE, Metrics
from .naming import Identity
from .openapi import openapi_document
from .policy_store import PolicyStore
from .routing import Call, Route, Router
from .settings import ServerSettings
from .sigv4 import SignatureError, SigV4Verifier
from .url_store import UrlStore

__all__ = ["LambdaServer", "all_routes"]

logger = logging.getLogger("wasmfaas.server")

_HELLO: Final = b"hello, world\n"
_HELLO_START: Final = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(_HELLO)).encode())],
}
_HELLO_BODY: Final = {"type": "http.response.body", "body": _HELLO}
_URL_PREFIX_BYTES: Final = urls.URL_PREFIX.encode()
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}


def all_routes() -> list[Route]:
    return [
        *lambda_api.ROUTES,
        *tags_api.ROUTES,
        *policy_api.ROUTES,
        *layers_api.ROUTES,
        *invoke.ROUTES,
        *events_api.ROUTES,
        *urls.ROUTES,
        *code_signing_api.ROUTES,
        *runtime_config_api.ROUTES,
    ]


def _decoder(kind: type) -> msgspec.json.Decoder[Any]:
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    return decoder


class LambdaServer:
    """The ASGI 3 application serving Lambda's API, function URLs, /metrics and /openapi.json."""

    def __init__(
        self,
        settings: ServerSettings | None = None,
        *,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings or ServerSettings()
        self.identity = Identity(self.settings.region, self.settings.account_id)
        self.routes = all_routes()
        self.router = Router(self.routes)
        self._invoke_route = next(route for route in self.routes if route.operation == "Invoke")
        # An Event's body is read under its own limit, and a 413 names it as Lambda does.
        self._event_route = dataclasses.replace(
            self._invoke_route, body_limit=MAX_ASYNC_PAYLOAD, limit_name="InvokeAsync"
        )
        credentials = self.settings.credentials
        self.verifier = SigV4Verifier(credentials) if credentials is not None else None
        self.metrics = Metrics()
        self.ctx: ServerContext | None = None
        self._openapi: bytes | None = None
        self._on_started = on_started
        self._forced = False  # a second Ctrl-C (`force_stop`): the shutdown waits for nothing more
        self._draining: anyio.CancelScope | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if path == "/__hello":
                await send(_HELLO_START)
                await send(_HELLO_BODY)
                return
            if path == "/__echo":  # the second baseline: a request body read and sent back
                try:
                    echo = Response(200, await read_body(scope, receive, 64 * 1024), [(b"content-type", JSON)])
                except BodyTooLarge:
                    echo = _error_response(request_too_large("/__echo takes at most 65536 bytes"))
                except ClientDisconnected:
                    return
                await echo.send(send)
                return
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    # -- lifespan ----------------------------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        started = False
        try:
            # What the imports made lives as long as the process: out of the collector's sight, a full collection
            # no longer walks it (one had fallen inside a first cold start). Before the platform starts: its
            # environments hold native memory, which must stay collectable when their functions go.
            gc.freeze()
            async with AsyncExitStack() as stack:
                await self._start(stack)
                started = True
                try:
                    await send({"type": "lifespan.startup.complete"})
                    if self._on_started is not None:
                        self._on_started()
                    try:
                        while (await receive())["type"] != "lifespan.shutdown":
                            pass
                    except anyio.get_cancelled_exc_class():  # uvicorn's forced exit, before the lifespan's shutdown
                        self.force_stop()
                        raise
                    logger.info("shutting down: draining event invocations, closing the platform")
                finally:
                    self.ctx = None
            await send({"type": "lifespan.shutdown.complete"})
        except anyio.get_cancelled_exc_class():
            if not started:
                raise
            # A forced exit, said in one line by force_stop (the platform was closed as the cancellation unwound
            # the stack), not as uvicorn's traceback.
        except Exception as e:
            if not isinstance(e, WasmfaasError):
                logger.exception("lifespan failed")
            elif started:  # a reason to give, not a bug: one line (the server prints a failed start's message)
                logger.error("cannot stop: %s", e)
            kind = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": kind, "message": f"{type(e).__name__}: {e}"})

    async def _start(self, stack: AsyncExitStack) -> None:
        settings = self.settings
        platform = await stack.enter_async_context(
            Platform(
                data_dir=settings.data_dir,
                persistent=settings.persistent,
                account_concurrency=settings.account_concurrency,
                unreserved_minimum=settings.unreserved_minimum,
                region=settings.region,
                account_id=settings.account_id,
                inline=settings.inline,
                worker_nice=settings.worker_nice,
                idle_ttl=settings.idle_ttl,
                max_idle=settings.max_idle,
            )
        )
        logs = await stack.enter_async_context(
            LogStore(platform.data_dir, max_entries=settings.log_entries, max_bytes=settings.log_bytes)
        )
        runner = InvocationRunner(platform, self.metrics, logs)
        self.metrics.bind_account(platform.scheduler.in_flight)  # no open check: a scrape may come at shutdown
        events = await stack.enter_async_context(
            AsyncInvoker(
                platform,
                invoke=runner.invoke_event,
                concurrency=settings.event_concurrency,
                dead_letter_retention_s=settings.dead_letter_retention_s,
                region=settings.region,
                account_id=settings.account_id,
            )
        )
        server_dir = platform.data_dir / "server" if settings.persistent else None
        ctx = ServerContext(
            settings=settings,
            identity=self.identity,
            platform=platform,
            runner=runner,
            metrics=self.metrics,
            logs=logs,
            urls=UrlStore(server_dir / "function-urls.json" if server_dir else None),
            policies=PolicyStore(server_dir / "policies.json" if server_dir else None),
            events=events,
            verifier=self.verifier,
            code_urls=CodeUrlSigner.kept_in(server_dir / "code-url.key" if server_dir else None),
        )
        # The platform has restored the functions by now: deletions a crash cut short are finished before any
        # queued event runs, and the rest of the queued events find their functions.
        await lambda_api.finish_deletions(ctx)
        tg = await stack.enter_async_context(anyio.create_task_group())
        await tg.start(events.run)
        stack.push_async_callback(self._stop_events, events, tg)
        self.ctx = ctx

    def force_stop(self) -> None:
        """A second Ctrl-C (the server calls it): stop waiting for anything; running Event invocations go back to
        the queue. Call on the event loop's thread."""
        if self._forced:
            return
        self._forced = True
        logger.warning("forced exit: in-flight requests and Event invocations were cut short")
        if self._draining is not None:
            self._draining.cancel()

    async def _stop_events(self, events: AsyncInvoker, tg: anyio.abc.TaskGroup) -> None:
        drained = False
        with anyio.CancelScope(shield=True) as self._draining:  # only force_stop ends the wait early
            drained = await events.drain(0 if self._forced else self.settings.shutdown_timeout)
        self._draining = None
        if not drained:
            logger.warning("event invocations still running at shutdown go back to the queue; they run again")
        tg.cancel_scope.cancel()

    # -- requests ----------------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response | None = None
        try:
            response = await self._respond(scope, receive)
            # Let the other requests that are ready compute their responses first, so that the responses leave in
            # a burst: each write to a client asleep in epoll wakes it (on a VM, an interrupt to an idle CPU: ~20 us
            # of this thread's time), and a burst wakes it once. Invoke under load: +27 % requests/s (bench_server).
            # (The one step the hot path has that answers nothing itself: it pays for itself many times over.)
            await anyio.lowlevel.checkpoint()
        except anyio.get_cancelled_exc_class():
            # The ASGI server stopped waiting at shutdown (--shutdown-timeout): a response already made is sent,
            # else Lambda's error rather than the server's bare 500 and a traceback (an invocation still running
            # ends as the platform closes). The task ends here, as the server wants it to.
            if response is None:
                response = _error_response(service_error("The server shut down before the request was done."))
                response.headers.append((b"x-amzn-requestid", new_request_id().encode()))
            with anyio.CancelScope(shield=True):
                await response.send(send)
            return
        await response.send(send)

    async def _respond(self, scope: Scope, receive: Receive) -> Response:
        ctx = self.ctx
        if ctx is None:
            response = _error_response(LambdaError(503, "ServiceException", "The server is not running."))
        elif self.verifier is None and (plain := invoke.plain_invoke(scope)) is not None:
            response = await self._plain_invoke(ctx, scope, receive, *plain)
        elif scope.get("raw_path", b"").startswith(_URL_PREFIX_BYTES) or scope["path"].startswith(urls.URL_PREFIX):
            response = await urls.serve_function_url(ctx, scope, receive)
        else:
            response = await self._api(ctx, scope, receive)
        request_id = response.request_id or new_request_id()
        response.headers.append((b"x-amzn-requestid", request_id.encode()))
        return response

    async def _plain_invoke(
        self, ctx: ServerContext, scope: Scope, receive: Receive, name: str, tail: bool, declared: int
    ) -> Response:
        """The common Invoke, without the route table (invoke.plain_invoke); errors as the general route's."""
        try:
            # Over a concurrency limit: answered before the body is read (unless the body is too large anyway,
            # which the general route would say first).
            if declared <= self._invoke_route.body_limit:
                refused = ctx.runner.refusal(name)
                if refused is not None:
                    body, headers = throttle_parts(str(refused), refused.reason)
                    return Response(429, body, list(headers))
            payload = await _read(scope, receive, self._invoke_route)
            return await invoke.run_request_response(ctx, name, None, payload, tail=tail)
        except LambdaError as e:
            return _error_response(e)
        except WasmfaasError as e:
            return _error_response(from_platform_error(e))
        except Exception:
            logger.exception("Invoke %s failed", name)
            return _error_response(service_error())

    async def _api(self, ctx: ServerContext, scope: Scope, receive: Receive) -> Response:
        if scope["method"] != "HEAD":
            return await self._api_call(ctx, scope, receive)
        # HEAD is GET without the body (health checks use it); the request keeps its method, which a signature covers.
        response = await self._api_call(ctx, scope, receive, method="GET")
        response.omit_body = True
        return response

    async def _api_call(
        self, ctx: ServerContext, scope: Scope, receive: Receive, method: str | None = None
    ) -> Response:
        request = Request(scope)
        path = scope["path"]
        method = method or request.method
        if method == "GET" and path == "/metrics":
            return Response(200, await self.metrics.render(), [(b"content-type", CONTENT_TYPE.encode())])
        if method == "GET" and path == "/openapi.json":
            return Response(200, self.openapi(), [(b"content-type", b"application/json")])
        try:
            matched = self.router.match(method, request.raw_path.decode("latin-1"))
            if matched is None:
                if self.verifier is not None:
                    await self._read_and_verify(request, receive, 64 * 1024)
                raise unknown_operation(request.method, path)
            route, params = matched
            if route is self._invoke_route and request.header("x-amz-invocation-type") == "Event":
                route = self._event_route  # refused on its headers (before a 100 Continue), not after 6 MB came
            if route.signed and self.verifier is not None:
                await self._read_and_verify(request, receive, route.body_limit, route)
            else:
                request.body = await _read(scope, receive, route)
            call = Call(request, params, ctx, receive=receive)
            if route.body is not None:
                call.body = _decoder(route.body).decode(request.body or b"{}")
            return await route.handler(call)
        except LambdaError as e:
            return _error_response(e)
        except WasmfaasError as e:
            return _error_response(from_platform_error(e))
        except msgspec.ValidationError as e:
            return _error_response(validation_error(e, request.body or b"{}"))
        except (msgspec.DecodeError, UnicodeDecodeError) as e:  # msgspec reports bad UTF-8 in a string as the latter
            return _error_response(invalid_request_content(f"Could not parse request body into json: {e}"))
        except Exception:
            logger.exception("%s %s failed", request.method, path)
            return _error_response(service_error())

    async def _read_and_verify(
        self, request: Request, receive: Receive, limit: int, route: Route | None = None
    ) -> None:
        assert self.verifier is not None
        raw_path = request.raw_path.decode("latin-1")
        try:
            # Headers first: an unsigned request is refused before its body is read (it could be 50 MB).
            checked = self.verifier.check(
                request.method,
                raw_path,
                request.query_string.decode("latin-1"),
                [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
            )
            request.body = await _read(request.scope, receive, route, limit)
            self.verifier.finish(request.method, raw_path, checked, request.body)
        except SignatureError as e:
            raise LambdaError(403, e.code, e.message) from None

    def openapi(self) -> bytes:
        if self._openapi is None:
            document = openapi_document(self.routes, signed=self.verifier is not None)
            self._openapi = msgspec.json.encode(document)
        return self._openapi


async def _read(scope: Scope, receive: Receive, route: Route | None, limit: int | None = None) -> bytes:
    limit = limit if limit is not None else (route.body_limit if route is not None else 0)
    try:
        return await read_body(scope, receive, limit)
    except BodyTooLarge:
        name = (route.limit_name or route.operation) if route is not None else "this"
        raise request_too_large(f"Request must be smaller than {limit} bytes for the {name} operation") from None
    except ClientDisconnected:  # nobody will read the answer; what matters is that nothing acts on half a body
        raise invalid_request_content("The request body ended before its end (the client disconnected)") from None


def _error_response(error: LambdaError) -> Response:
    return Response(error.status, error.body(), error.response_headers())
