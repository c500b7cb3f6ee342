"""The bits of ASGI HTTP the server needs: a request with its body read under a limit, and responses.

Written against the ASGI 3 spec directly: a request is one `http` scope plus its `http.request` messages; a response
is one `http.response.start` and one `http.response.body`. Header names arrive lower-cased from every ASGI server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

import msgspec

__all__ = [
    "ASGIApp",
    "BodyTooLarge",
    "ClientDisconnected",
    "Receive",
    "Request",
    "Response",
    "Scope",
    "Send",
    "json_response",
    "read_body",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON: Final = b"application/json"


class BodyTooLarge(Exception):
    """The request body is over the route's limit (raised before the rest of it is read)."""


class ClientDisconnected(Exception):
    """The client went away before its request body was complete: the partial body must not be acted on."""


# A body over its route's limit is still read (and dropped) up to this much before the error is sent: a client that
# is still sending when the answer comes and the connection closes sees a broken pipe, not the 413. Not when the
# client asked to be told first (`Expect: 100-continue`: reading would invite the upload), nor past this bound.
DRAIN_LIMIT: Final = 32 * 1024 * 1024


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body; `BodyTooLarge` once it passes `limit` bytes (after dropping the rest, see
    DRAIN_LIMIT); `ClientDisconnected` if the client leaves before the end."""
    declared = -1
    expects_continue = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = -1
        elif name == b"expect":
            expects_continue = value.lower() == b"100-continue"
    drain = not expects_continue and declared <= DRAIN_LIMIT
    if declared > limit:
        if drain:
            await _drain(receive, 0)
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        more = message.get("more_body", False)
        if size > limit:
            if more and drain:
                await _drain(receive, size)
            raise BodyTooLarge
        chunks.append(chunk)
        if not more:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _drain(receive: Receive, size: int) -> None:
    """Receive and drop the rest of the body, until its end, a disconnect, or DRAIN_LIMIT bytes in all."""
    while size <= DRAIN_LIMIT:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return
        size += len(message.get("body", b""))


class Request:
    """One HTTP request: method, paths, query, headers and (once read) body."""

    __slots__ = ("_headers", "_query", "body", "method", "path", "raw_path", "scope")

    def __init__(self, scope: Scope, body: bytes = b"") -> None:
        self.scope = scope
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        raw = scope.get("raw_path")
        # raw_path keeps percent-escapes (an escaped "/" inside a name), and SigV4 signs the path as sent.
        self.raw_path: bytes = raw.split(b"?", 1)[0] if raw else self.path.encode()
        self.body = body
        self._headers: dict[str, str] | None = None
        self._query: list[tuple[str, str]] | None = None

    @property
    def query_string(self) -> bytes:
        qs: bytes = self.scope.get("query_string", b"")
        return qs

    @property
    def headers(self) -> dict[str, str]:
        """Lower-cased names; repeated headers joined with ", " (as HTTP allows)."""
        if self._headers is None:
            headers: dict[str, str] = {}
            for name, value in self.scope["headers"]:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
            self._headers = headers
        return self._headers

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @property
    def query(self) -> list[tuple[str, str]]:
        if self._query is None:
            qs: bytes = self.scope.get("query_string", b"")
            self._query = parse_qsl(qs.decode("latin-1"), keep_blank_values=True) if qs else []
        return self._query

    def query_param(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None

    def path_segments(self) -> list[str]:
        """The path split on "/" before percent-decoding, each segment then decoded (UTF-8)."""
        return [unquote(part) for part in self.raw_path.decode("latin-1").split("/")]

    @property
    def client_ip(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else "127.0.0.1"

    @property
    def base_url(self) -> str:
        """The scheme and authority the client used to reach this server."""
        scheme = self.scope.get("scheme", "http")
        host = self.header("host")
        if not host:
            server = self.scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scheme}://{host}"


class Response:
    """A complete response: status, headers and body."""

    __slots__ = ("body", "headers", "omit_body", "request_id", "status")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else []
        self.request_id = request_id  # the x-amzn-RequestId to send (an invocation's own id); else a fresh one
        self.omit_body = False  # the answer to a HEAD: the GET's headers, Content-Length included, and no body

    async def send(self, send: Send) -> None:
        headers = self.headers
        body = self.body
        if self.status in _NO_BODY:  # HTTP forbids both a body and a Content-Length on these
            body = b""
        else:
            headers.append((b"content-length", str(len(body)).encode()))
            if self.omit_body:
                body = b""
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


_NO_BODY: Final = frozenset({204, 304})


_ENCODER: Final = msgspec.json.Encoder()


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, _ENCODER.encode(value), [(b"content-type", JSON)])
