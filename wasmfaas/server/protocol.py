"""uvicorn's httptools protocol with the bounds a server facing clients needs, which it lacks.

uvicorn's httptools backend (the fast one) puts no limit on a request's head and no deadline on reading it or its
body: one endless header held the event loop for seconds and grew the process by hundreds of MB, and connections
that never finished a request stayed open until the file descriptors ran out (nobody else could connect) or
kept a graceful shutdown waiting. It also appends a chunked body's trailer fields to the request's headers, after
the app has looked at them -- a SigV4 check included. So, per connection:

- the head (request line and headers) is at most about `MAX_HEAD` bytes (checked per read: a head that ends within
  the read that crosses the bound is served): past it, 431 and the connection closes;
- the head must arrive within `client_timeout` seconds (`sweep`'s) of its first byte (or of the connection): else
  408, or a plain close when nothing came;
- a body, and a response the client does not read, may stall for at most `client_timeout` seconds (no byte in, or
  none of the response taken): else the connection closes (408 first for a body), and the app sees the client gone;
- trailer fields are ignored.

Deadlines are checked by `sweep`, once a second over the open connections (so they act up to a second late), rather
than by a timer per request: the per-request cost stays a few attribute stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import struct
import sys
from typing import TYPE_CHECKING, Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    import uvicorn

__all__ = ["MAX_HEAD", "BoundedHttpToolsProtocol", "protocol_class", "sweep"]

MAX_HEAD: Final = 64 * 1024  # bytes of request line and headers; botocore's largest are a few KB
_SWEEP_EVERY_S: Final = 1.0


def _response(status: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


_TOO_LARGE: Final = _response(b"431 Request Header Fields Too Large")
_TIMEOUT: Final = _response(b"408 Request Timeout")


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """For uvicorn's `Config(http=...)`, made per server by `protocol_class`; `sweep` enforces its deadlines."""

    # Time as `sweep` counts it: one tick a sweep. A request stamps itself with the tick, not the clock, and a
    # stall is a sweep that finds no progress: a few attribute stores a request, where timers cost microseconds.
    tick: int = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # between requests or within a head (not yet on_headers_complete)
        self._head_bytes = 0
        self._head_tick: int | None = None  # the tick the current head's first byte came at (None: none yet)
        self._head_headers = 0  # how many headers the head had: more at the end of the body are trailer fields
        self._in_body = False  # the head is done, the body is not
        self._reads = 0
        self._reads_seen = 0  # at the last sweep
        self._read_stalls = 0  # sweeps in a row that found no new read
        self._taken = -(1 << 62)  # `_taken` at the last sweep
        self._write_stalls = 0  # sweeps in a row that found no more of the response taken

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_tick = self.tick

    def data_received(self, data: bytes) -> None:
        self._reads += 1
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_tick is None:  # the next request's first bytes (a stray CRLF too: it held a deadline off)
                self._head_tick = self.tick
        super().data_received(data)
        # Counted per read: a read that also carries the start of the body is judged by whether the head ended in
        # it, and the parser never holds more than one read (at most 256 KB) of an unfinished head past the limit.
        if self._in_head and self._head_bytes > MAX_HEAD and not self.transport.is_closing():
            self._refuse(_TOO_LARGE)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_tick = None
        self._in_body = True
        self._head_headers = len(self.headers)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        self._in_head = True
        self._head_bytes = 0
        if len(self.headers) > self._head_headers:  # a chunked body's trailer: not headers of the request
            del self.headers[self._head_headers :]
        super().on_message_complete()

    def check_deadlines(self, tick: int, limit: int) -> None:
        """Close the connection if its client has stalled for more than `limit` ticks (see the module's doc)."""
        transport = self.transport
        if transport is None:
            return
        if self.flow.write_paused:  # a response waits on the client: is it taking any of it?
            taken = _taken(transport)
            self._write_stalls = self._write_stalls + 1 if taken <= self._taken else 0
            self._taken = taken
            if self._write_stalls > limit:
                transport.abort()  # even a closing one: a close waits for the unread response to be taken
                return
        else:
            self._write_stalls = 0
        if transport.is_closing():
            return
        if self._head_tick is not None and tick - self._head_tick > limit:
            if self._head_bytes:
                self._refuse(_TIMEOUT)
            else:
                transport.close()
        elif self._in_body and not self.flow.read_paused:
            # (Reading paused is the server's choice: a pipelined request waiting its turn, or an app behind.)
            self._read_stalls = self._read_stalls + 1 if self._reads == self._reads_seen else 0
            self._reads_seen = self._reads
            if self._read_stalls > limit:
                self._refuse(_TIMEOUT)

    def _refuse(self, response: bytes) -> None:
        cycle = self.cycle
        if cycle is not None and self._in_head and not cycle.response_complete:
            # The head is the next request's, and the one before it has its answer still to come: that answer goes
            # out, then the connection closes -- a 408 or 431 now would be taken as the earlier request's.
            cycle.keep_alive = False
            self.flow.pause_reading()
            return
        if cycle is not None and self._in_body:
            if cycle.response_started:  # the app answered already (413 before the body, say): nothing to add
                self.transport.close()
                return
            cycle.disconnected = True  # the app's receive says so, and its response, if any, goes nowhere
            cycle.message_event.set()
        self.transport.write(response)
        self.transport.close()


# Linux's struct tcp_info: tcpi_bytes_acked, a u64 at this offset (since Linux 4.1).
_TCP_INFO_BYTES_ACKED: Final = 120


def _taken(transport: asyncio.Transport) -> int:
    """A count that grows as the client takes the response: the bytes it has acknowledged (Linux), else the
    write buffer's size, negated. The buffer alone misleads: uvloop hands libuv large slices that it does not
    count down, so a client reading steadily showed no progress for seconds."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_BYTES_ACKED + 8)
            if len(info) >= _TCP_INFO_BYTES_ACKED + 8:
                return int(struct.unpack_from("Q", info, _TCP_INFO_BYTES_ACKED)[0])
    return -transport.get_write_buffer_size()


def protocol_class() -> type[BoundedHttpToolsProtocol]:
    """A class of the protocol for one server: its ticks are its own sweep's."""
    return type("BoundedHttpToolsProtocol", (BoundedHttpToolsProtocol,), {})


async def sweep(server: uvicorn.Server, protocol: type[BoundedHttpToolsProtocol], client_timeout: float) -> None:
    """Check every open connection's deadlines, once a second, until cancelled."""
    limit = math.ceil(client_timeout / _SWEEP_EVERY_S)
    while True:
        await asyncio.sleep(_SWEEP_EVERY_S)
        protocol.tick = tick = protocol.tick + 1
        for connection in list(server.server_state.connections):
            if isinstance(connection, protocol):
                connection.check_deadlines(tick, limit)
