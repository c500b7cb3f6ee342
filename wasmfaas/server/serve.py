"""Running the app: uvicorn (uvloop + httptools) by default, granian as the alternative.

granian measures better under a flood of throttled requests and on function URLs (bench/bench_server.py, README
"Benchmarks"), but its shutdown is blunter: it waits for in-flight requests without bound, so `shutdown_timeout` is
enforced by having granian kill its worker once the drain has had its time (uvicorn instead cancels the requests
and still runs the app's own shutdown), and a Ctrl-C reaching both of its processes was seen to hang its worker.

The listening socket is bound here, before the server starts, so `--port 0` gets a free port and the address can be
announced ("wasmfaas: serving on http://127.0.0.1:PORT", one line on stdout) once requests are being accepted.
SIGTERM or Ctrl-C starts a graceful shutdown: no new connections, in-flight requests finish (up to
`shutdown_timeout`), then the app drains its event invocations and closes the platform; the process exits 0. A
second Ctrl-C forces the exit.

With granian the app is built in granian's worker process from the settings passed through the environment
(`WASMFAAS_SERVER_SETTINGS`, JSON), with one worker so the server keeps one Platform. The worker asks the kernel to
kill it when the main process dies: after a `kill -9` of the server it would otherwise live on as an orphan, still
serving the port and running queued events beside the server started next. Dying at once is what a `kill -9` of a
one-process server means, and what the durable state is built to survive.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

import msgspec

from .app import LambdaServer
from .settings import ServerSettings

if TYPE_CHECKING:
    import uvicorn

__all__ = ["granian_app", "serve"]

_SETTINGS_ENV: Final = "WASMFAAS_SERVER_SETTINGS"
_ANNOUNCE_ENV: Final = "WASMFAAS_SERVER_ANNOUNCE"
_PARENT_ENV: Final = "WASMFAAS_SERVER_PARENT"
_PR_SET_PDEATHSIG: Final = 1
# The server process's GIL switch interval (Python's default is 5 ms). Threads that run guests off the event loop,
# and the log writer, need the GIL only briefly, but a busy event loop rarely gives it up, so they wait for the
# interval -- their invocations stall, and every forced hand-off stalls the loop too. Measured under a 10x flood
# (bench_server.py, uvicorn): 429 p99 12.8 -> 8.0 ms and 22 % more invocations completed at 0.5 ms; Invoke
# throughput unchanged.
_SWITCH_INTERVAL_S: Final = 0.0005


def announce(url: str) -> None:
    print(f"wasmfaas: serving on {url}", flush=True)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:  # the address is the user's to change: say which, and how
        sock.close()
        if e.errno == errno.EADDRINUSE:
            reason = "the port is in use (another server? choose one with --port, or --port 0 for any free one)"
        elif isinstance(e, socket.gaierror):
            reason = f"no such host ({e.strerror}); --host takes an address of this machine, such as 127.0.0.1"
        else:
            reason = e.strerror or str(e)
        raise OSError(e.errno, f"cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    settings: ServerSettings,
    host: str = "127.0.0.1",
    port: int = 9000,
    *,
    server: str = "uvicorn",
    ready: Callable[[str], None] = announce,
    log_level: str = "warning",
) -> int:
    """Serve until SIGTERM/SIGINT; returns the process exit status."""
    if server == "granian":
        return _serve_granian(settings, host, port, log_level)
    if server != "uvicorn":
        raise ValueError(f"unknown server {server!r}: uvicorn or granian")
    return _serve_uvicorn(settings, host, port, ready, log_level)


def _serve_uvicorn(
    settings: ServerSettings, host: str, port: int, ready: Callable[[str], None], log_level: str
) -> int:
    import uvicorn
    import uvloop

    from .protocol import protocol_class, sweep

    sock = _bind(host, port)
    protocol = protocol_class()
    app = LambdaServer(settings)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http=protocol,  # httptools, with bounds on what clients send (protocol.py)
        lifespan="on",
        log_level=log_level,
        access_log=False,
        server_header=False,
        # The client's address is the connection's: uvicorn would take X-Forwarded-For from any local client (it
        # trusts 127.0.0.1), so a caller could claim any sourceIp. Behind a proxy, --public-url names the address.
        proxy_headers=False,
        timeout_graceful_shutdown=None if settings.shutdown_timeout is None else math.ceil(settings.shutdown_timeout),
        backlog=2048,
    )
    uv = uvicorn.Server(config)
    sys.setswitchinterval(_SWITCH_INTERVAL_S)

    async def run() -> int:
        try:
            await uv.serve(sockets=[sock])
        except SystemExit as e:  # uvicorn exits 3 when the app's startup failed (the app has said why)
            return int(e.code) if isinstance(e.code, int) else 1
        return 130 if uv.force_exit else 0  # a second Ctrl-C: 128 + SIGINT, as a shell reports an interrupt

    async def main() -> int:
        task = asyncio.create_task(run())
        deadlines = asyncio.create_task(sweep(uv, protocol, settings.client_timeout))
        forcing = asyncio.create_task(_on_force_exit(uv, app))
        try:
            while not uv.started and not task.done():
                await asyncio.sleep(0.01)
            if uv.started:
                ready(_url(sock))
            return await task
        finally:
            deadlines.cancel()
            forcing.cancel()

    # uvicorn re-raises the signal that stopped it once it has shut down; with these handlers that is a no-op, so
    # a graceful shutdown ends the process with status 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main())
    finally:
        sock.close()


async def _on_force_exit(uv: uvicorn.Server, app: LambdaServer) -> None:
    """Tell the app when uvicorn is forced to exit (a second Ctrl-C): uvicorn itself goes on waiting for the
    lifespan's shutdown, which would wait for running Event invocations."""
    while not uv.force_exit:
        await asyncio.sleep(0.1)
    app.force_stop()


def _serve_granian(settings: ServerSettings, host: str, port: int, log_level: str) -> int:
    try:
        from granian import Granian
        from granian.constants import Interfaces, Loops
    except ImportError:
        print("wasmfaas: --server granian needs granian (pip install granian)", file=sys.stderr)
        return 2

    try:  # granian takes an IP address only
        host = str(socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0])
    except (socket.gaierror, IndexError):
        print(f"wasmfaas: cannot resolve --host {host}", file=sys.stderr)
        return 2
    if port == 0:  # granian binds by itself: find a free port first
        with _bind(host, 0) as probe:
            port = probe.getsockname()[1]
    os.environ[_SETTINGS_ENV] = msgspec.json.encode(settings, enc_hook=str).decode()
    os.environ[_PARENT_ENV] = str(os.getpid())
    os.environ[_ANNOUNCE_ENV] = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    Granian(
        "wasmfaas.server.serve:granian_app",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        loop=Loops.uvloop,
        factory=True,
        log_enabled=log_level in ("info", "debug"),
        backlog=2048,
        workers_kill_timeout=_kill_timeout(settings.shutdown_timeout),
    ).serve()
    return 0


def _kill_timeout(shutdown_timeout: float | None) -> int | None:
    """How long granian lets its worker shut down before it kills it. granian waits for in-flight requests without
    bound, so `shutdown_timeout` is enforced this way: the requests' time, then as long again for the event drain
    (as with uvicorn), and a few seconds to close. A killed worker loses what a `kill -9` loses: its running events
    go back to the queue; log entries not yet committed (the last 0.1 s) are gone."""
    if shutdown_timeout is None:
        return None
    return math.ceil(2 * shutdown_timeout) + 5


def _path(kind: type, value: object) -> object:
    if kind is Path and isinstance(value, str):
        return Path(value)
    raise NotImplementedError(kind)


def _die_with_parent() -> None:
    """In granian's worker: SIGKILL this process when the main one dies (Linux's PR_SET_PDEATHSIG)."""
    parent = int(os.environ.get(_PARENT_ENV, "0"))
    if not sys.platform.startswith("linux") or not parent:
        return
    # A process group of its own: a terminal's Ctrl-C then reaches the main process only, which stops the worker
    # (granian's worker was seen to hang when signalled by both).
    os.setpgid(0, 0)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return
    if os.getppid() != parent:  # the main process died before the request was made
        os.kill(os.getpid(), signal.SIGKILL)


def granian_app() -> LambdaServer:
    """The app in granian's worker: settings from the environment; announces itself once started."""
    _die_with_parent()
    sys.setswitchinterval(_SWITCH_INTERVAL_S)
    settings = msgspec.json.decode(os.environ[_SETTINGS_ENV].encode(), type=ServerSettings, dec_hook=_path)
    url = os.environ.get(_ANNOUNCE_ENV)
    return LambdaServer(settings, on_started=(lambda: _announce_when_listening(url)) if url else None)


def _announce_when_listening(url: str) -> None:
    """Announce once the port accepts connections. granian starts the app's lifespan before its server listens, and
    offers no hook for "listening", so a thread knocks until it is let in (at most 30 s)."""
    address = urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or 80

    def knock() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, port), timeout=0.5).close()
            except OSError:
                time.sleep(0.01)
                continue
            announce(url)
            return
        print(f"wasmfaas: granian did not start listening on {url} within 30 s", file=sys.stderr, flush=True)

    threading.Thread(target=knock, name="wasmfaas-announce", daemon=True).start()
