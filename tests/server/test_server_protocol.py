"""The bounds wasmfaas puts on what clients send under uvicorn (wasmfaas/server/protocol.py), with raw sockets: a
head of at most 64 KiB, heads, bodies and responses that may not stall past --client-timeout, trailers that are not
headers. The server here runs with a 1 s client timeout; deadlines are checked once a second."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from server_helpers import ServerProcess, create_guest, lambda_client, start_server

WAIT_S = 10.0  # far past the 1 s timeout and the sweep's second: only a server that never acts waits this long


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, guest: Callable[[str], bytes]) -> Iterator[ServerProcess]:
    process = start_server(tmp_path_factory.mktemp("protocol") / "data", "--client-timeout", "1")
    client = lambda_client(process.url)
    create_guest(client, "echo", "echo", guest("echo"), MemorySize=256)
    create_guest(client, "sleep", "sleep", guest("sleep"), Timeout=30)
    yield process
    assert process.stop() == 0


def connect(server: ServerProcess) -> socket.socket:
    address = urlsplit(server.url)
    assert address.hostname is not None and address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=WAIT_S)


def response_of(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or WAIT_S passes)."""
    data = b""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def exchange(server: ServerProcess, request: bytes) -> bytes:
    """Send `request` on a new connection; what the server answers until it closes."""
    with connect(server) as sock:
        sock.sendall(request)
        return response_of(sock)


def closes(sock: socket.socket) -> bool:
    """Whether the server closes the connection (within WAIT_S), whatever it sends first."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
    return False


def hello(server: ServerProcess) -> bytes:
    return exchange(server, b"GET /__hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


def test_a_head_past_64_kib_is_refused_with_431(server: ServerProcess) -> None:
    # One header that never ends had held the event loop for seconds and grown the process by hundreds of MB.
    with connect(server) as sock:
        sock.sendall(b"GET /__hello HTTP/1.1\r\nHost: x\r\nX-Big: ")
        try:
            for _ in range(64):
                sock.sendall(b"a" * 16384)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before all of it was sent
        assert response_of(sock).startswith(b"HTTP/1.1 431 ")
    assert hello(server).startswith(b"HTTP/1.1 200 ")
    big = b"GET /__hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"a" * 60000 + b"\r\n\r\n"
    assert exchange(server, big).startswith(b"HTTP/1.1 200 ")  # a large head within the bound is served


def test_a_head_that_does_not_arrive_in_time_is_408_and_a_silent_connection_is_closed(server: ServerProcess) -> None:
    # Such connections had stayed open for good: ~1000 of them locked every other client out.
    with connect(server) as silent, connect(server) as partial:
        partial.sendall(b"GET /__hello HTTP/1.1\r\nHost: x\r\n")
        assert response_of(partial).startswith(b"HTTP/1.1 408 ")
        assert response_of(silent) == b""


def test_a_stalled_body_is_408_but_a_slow_one_is_served(server: ServerProcess) -> None:
    head = b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n"
    with connect(server) as stalled:
        stalled.sendall(head + b"ab")
        assert response_of(stalled).startswith(b"HTTP/1.1 408 ")
    with connect(server) as slow:  # a byte every 0.4 s: 3 s in all, never 1 s without one
        slow.sendall(head.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n"))
        for byte in b'"abcdef"':
            time.sleep(0.4)
            slow.sendall(bytes([byte]))
        answer = response_of(slow)
        assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'"abcdef"'), answer


def test_trailer_fields_are_not_request_headers(server: ServerProcess) -> None:
    # A trailer had been merged into the headers after they were checked (SigV4 included): this one turned an
    # Invoke into a DryRun.
    answer = exchange(
        server,
        b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b'Transfer-Encoding: chunked\r\n\r\n4\r\n"hi"\r\n0\r\nX-Amz-Invocation-Type: DryRun\r\n\r\n',
    )
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'"hi"'), answer


def test_a_client_that_does_not_read_its_response_does_not_hold_the_shutdown(
    tmp_path: Path, guest: Callable[[str], bytes]
) -> None:
    server = start_server(tmp_path / "data", "--client-timeout", "1")
    try:
        client: Any = lambda_client(server.url)
        create_guest(client, "echo", "echo", guest("echo"), MemorySize=256)
        with connect(server) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            body = b'"' + b"x" * (5 * 1024 * 1024) + b'"'
            sock.sendall(
                b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\n"
                + b"Content-Length: %d\r\n\r\n" % len(body)
                + body
            )
            time.sleep(0.5)  # the 5 MB response waits on a client that reads none of it
            server.process.send_signal(signal.SIGTERM)
            try:
                assert server.process.wait(WAIT_S) == 0
            except subprocess.TimeoutExpired:
                pytest.fail("the shutdown waited on a client that does not read")
    finally:
        server.stop()


def test_head_is_get_without_the_body(server: ServerProcess) -> None:
    # Load balancers' health checks use HEAD; it had been 404 UnknownOperationException.
    for path in (b"/__wasmfaas/health", b"/metrics", b"/2015-03-31/functions/echo"):
        answer = exchange(server, b"HEAD " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: " in head.lower() and body == b"", head


def test_an_event_too_large_is_refused_before_its_body_is_sent(server: ServerProcess) -> None:
    # With Expect: 100-continue the client waits for a go-ahead: the 1 MB limit of an Event is known from the
    # headers, so the answer is 413 at once, not a 100 Continue and 2 MB uploaded for nothing.
    answer = exchange(
        server,
        b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"X-Amz-Invocation-Type: Event\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 413 ") and b"RequestTooLargeException" in answer, answer


def test_a_slow_reader_that_keeps_reading_gets_the_whole_response(server: ServerProcess) -> None:
    # Judged by progress: a 6 MB response read at ~1.5 MB/s waits on the client for seconds, longer than the
    # timeout (the kernel's buffers hold only part of it), and is not cut.
    body = b'"' + b"y" * (6_000_000) + b'"'
    with connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.sendall(
            b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + b"Content-Length: %d\r\n\r\n" % len(body)
            + body
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            time.sleep(0.04)
    assert received.startswith(b"HTTP/1.1 200 ") and received.endswith(body), len(received)


def test_a_stray_line_end_on_an_idle_connection_does_not_keep_it_open(server: ServerProcess) -> None:
    # A CRLF between requests is skipped by the parser and had cancelled the keep-alive timer for good.
    with connect(server) as sock:
        sock.sendall(b"GET /__hello HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"\r\n")
        assert closes(sock)


def test_a_late_head_behind_a_running_request_does_not_take_its_answer(server: ServerProcess) -> None:
    # The next request's head stalls while the first runs: the first's 200 goes out, then the connection closes
    # (a 408 in its place would have been read as the first request's answer, and retried).
    with connect(server) as sock:
        sock.sendall(
            b"POST /2015-03-31/functions/sleep/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n3000"
        )
        time.sleep(0.3)
        sock.sendall(b"GET /__hello HTTP/1.1\r\n")
        answer = response_of(sock)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"slept") and b" 408 " not in answer, answer


def test_an_early_answer_to_a_stalled_body_is_the_only_answer(server: ServerProcess) -> None:
    # Refused on its headers (past every limit), then the body stalls: the connection closes without a 408 after
    # the 413 (a second status line for one request).
    with connect(server) as sock:
        sock.sendall(
            b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nab"
        )
        answer = response_of(sock)
    assert answer.startswith(b"HTTP/1.1 413 ") and answer.count(b"HTTP/1.1 ") == 1, answer
