"""The server's settings: where it keeps data, who it answers as, its limits and its credentials."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from ..events import DEAD_LETTER_RETENTION_S
from .sigv4 import Credentials

__all__ = ["ServerSettings", "credentials_from_env"]

ACCESS_KEY_ENV = "WASMFAAS_ACCESS_KEY_ID"
SECRET_KEY_ENV = "WASMFAAS_SECRET_ACCESS_KEY"


def credentials_from_env() -> Credentials | None:
    """`WASMFAAS_ACCESS_KEY_ID` and `WASMFAAS_SECRET_ACCESS_KEY`, when both are set."""
    key, secret = os.environ.get(ACCESS_KEY_ENV), os.environ.get(SECRET_KEY_ENV)
    if key and secret:
        return Credentials(key, secret)
    return None


class ServerSettings(msgspec.Struct, kw_only=True):
    """
    - `data_dir`: the platform's data (registry, code, compiled modules), the event queue, the log store and the
      server's function URLs; None uses the platform's default (`$WASMFAAS_DATA_DIR` or `~/.cache/wasmfaas`).
    - `persistent`: keep functions across restarts (the platform's registry).
    - `account_concurrency`: the account-wide concurrency limit.
    - `unreserved_minimum`: what reserved concurrency must leave unreserved (None: Lambda's 100, or the whole limit
      when that is 100 or less).
    - `region`, `account_id`: what ARNs say.
    - `credentials`: when set, every API request must carry a valid SigV4 signature made with them, and function
      URLs with AuthType AWS_IAM can be called.
    - `public_url`: the base of FunctionUrl and Code.Location (default: the scheme and Host the client used).
    - `shutdown_timeout`: seconds to wait for in-flight invocations at shutdown (None: until they finish; each is
      bounded by its function's timeout); Event invocations that are running get as long again.
    - `log_entries`, `log_bytes`: the log store's retention per function (`<data_dir>/logs.sqlite3`).
    - `event_concurrency`: Event invocations run at once (`<data_dir>/events.sqlite3` holds the queue).
    - `dead_letter_retention_s`: how long dead letters are kept (default 14 days; None: until replayed or deleted).
    - `inline`: run functions that have shown themselves fast on the event loop's thread (`Platform(inline=)`).
    - `worker_nice`: how much nicer than the event loop the invocations on threads run (`Platform(worker_nice=)`).
    - `idle_ttl`, `max_idle`: seconds an idle environment is kept, and idle environments kept per function version
      (`Platform(idle_ttl=, max_idle=)`): after a burst, its environments' memory goes back when they expire.
    - `client_timeout`: how long a client may take to send a request's head, or stall sending its body or reading
      the response, before its connection is closed (under uvicorn; see server/protocol.py).
    """

    data_dir: Path | None = None
    persistent: bool = True
    account_concurrency: int = 1000
    unreserved_minimum: int | None = None
    region: str = "us-east-1"
    account_id: str = "000000000000"
    credentials: Credentials | None = None
    public_url: str | None = None
    shutdown_timeout: float | None = None
    log_entries: int = 10_000
    log_bytes: int = 32 * 1024 * 1024
    event_concurrency: int = 16
    dead_letter_retention_s: float | None = DEAD_LETTER_RETENTION_S
    inline: bool = True
    worker_nice: int = 0
    idle_ttl: float = 600.0
    max_idle: int = 1000
    client_timeout: float = 30.0
