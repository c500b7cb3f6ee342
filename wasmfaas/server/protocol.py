"""uvicorn's httptools protocol with the bounds a server facing clients needs, which it lacks.

uvicorn's httptools backend (the fast one) puts no limit on a request's head and no deadline on reading it or its
body: one endless header held the event loop for seconds and grew the process by hundreds of MB, and connections
that never finished a request stayed open until the file descriptors ran out (nobody else could connect) or
kept a graceful shutdown waiting. It also appends a chunked body's trailer fields to the request's headers, after
the app has looked at them -- a SigV4 check included. So, per connection:

- the head (request line and headers) is at most `MAX_HEAD` bytes: past it, 431 and the connection closes;
- the head must arrive within `client_timeout` seconds of its first byte (or of the connection): else 408, or a
  plain close when nothing came;
- a body, and a response the client does not read, may stall for at most `client_timeout` seconds (no byte in or
  out): else the connection closes (408 first for a body), and the app sees the client gone;
- trailer fields are ignored.

Deadlines are checked by `sweep`, once a second over the open connections, rather than by a timer per request: the
per-request cost stays a few attribute stores.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    import uvicorn

__all__ = ["MAX_HEAD", "BoundedHttpToolsProtocol", "bounded_protocol", "sweep"]

MAX_HEAD: Final = 64 * 1024  # bytes of request line and headers; botocore's largest are a few KB
_SWEEP_EVERY_S: Final = 1.0


def _response(status: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


_TOO_LARGE: Final = _response(b"431 Request Header Fields Too Large")
_TIMEOUT: Final = _response(b"408 Request Timeout")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    client_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # between requests or within a head (not yet on_headers_complete)
        self._head_bytes = 0
        self._head_since: float | None = None  # when the current head began (None: no request under way)
        self._in_body = False  # the head is done, the body is not
        self._last_read = 0.0
        self._write_stalled_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._last_read = self._head_since = self.loop.time()

    def data_received(self, data: bytes) -> None:
        self._last_read = self.loop.time()
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Counted per read: a read that also carries the start of the body is judged by whether the head ended in
        # it, and the parser never holds more than one read (at most 256 KB) of an unfinished head past the limit.
        if self._in_head and self._head_bytes > MAX_HEAD and not self.transport.is_closing():
            self._refuse(_TOO_LARGE)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True  # (its bytes are counted already: this runs inside the read that brought them)
        if self._head_since is None:
            self._head_since = self.loop.time()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_head:  # else a chunked body's trailer: not a header of the request
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_since = None
        self._in_body = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        self._in_head = True
        self._head_bytes = 0
        super().on_message_complete()

    def pause_writing(self) -> None:
        self._write_stalled_since = self.loop.time()
        super().pause_writing()

    def resume_writing(self) -> None:
        self._write_stalled_since = None
        super().resume_writing()

    def check_deadlines(self, now: float) -> None:
        """Close the connection if its client has stalled past `client_timeout` (see the module's doc)."""
        transport = self.transport
        if transport is None:
            return
        limit = self.client_timeout
        if self._write_stalled_since is not None and now - self._write_stalled_since > limit:
            transport.abort()  # even a closing one: a close waits for the unread response to be taken
            return
        if transport.is_closing():
            return
        if self._head_since is not None and now - self._head_since > limit:
            if self._head_bytes:
                self._refuse(_TIMEOUT)
            else:
                self.transport.close()
        elif self._in_body and not self.flow.read_paused and now - self._last_read > limit:
            # (Reading paused is the server's choice: a pipelined request waiting its turn, or an app behind.)
            self._refuse(_TIMEOUT)

    def _refuse(self, response: bytes) -> None:
        if self.cycle is not None and not self.cycle.response_complete and self.cycle.response_started:
            self.transport.close()  # a response is under way: nothing else can be said
            return
        if self.cycle is not None:
            self.cycle.disconnected = True  # the app's receive says so, and its response, if any, goes nowhere
            self.cycle.message_event.set()
        self.transport.write(response)
        self.transport.close()


def bounded_protocol(client_timeout: float) -> type[BoundedHttpToolsProtocol]:
    """The protocol class for uvicorn's `Config(http=...)`, with its client timeout."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {"client_timeout": client_timeout})


async def sweep(server: uvicorn.Server) -> None:
    """Check every open connection's deadlines, once a second, until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(_SWEEP_EVERY_S)
        now = loop.time()
        for connection in list(server.server_state.connections):
            if isinstance(connection, BoundedHttpToolsProtocol):
                connection.check_deadlines(now)
