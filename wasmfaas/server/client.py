"""A small client for a wasmfaas server's Lambda API, for the CLI: standard library HTTP plus this package's SigV4.

Credentials (optional: only a server started with credentials needs them) come from `WASMFAAS_ACCESS_KEY_ID` /
`WASMFAAS_SECRET_ACCESS_KEY`, else `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`; the region from `AWS_REGION`,
`AWS_DEFAULT_REGION`, else us-east-1 (the server accepts any).
"""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any, Final
from urllib.parse import quote, urlencode

import msgspec

from .settings import credentials_from_env
from .sigv4 import Credentials, sign_request

__all__ = ["DEFAULT_ENDPOINT", "ApiError", "ApiResponse", "LambdaClient", "UploadProgress", "default_endpoint"]

DEFAULT_ENDPOINT: Final = "http://127.0.0.1:9000"

# Request bodies sent with a progress callback go out in chunks of this size.
UPLOAD_CHUNK: Final = 64 * 1024

UploadProgress = Callable[[int, int], None]
"""Called with (bytes sent so far, total bytes) as a request body goes out."""


def default_endpoint() -> str:
    return os.environ.get("WASMFAAS_ENDPOINT") or DEFAULT_ENDPOINT


class ApiError(Exception):
    """An error response (or no response): `code` is Lambda's error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if status else message)
        self.status = status
        self.code = code
        self.message = message


class ApiResponse(msgspec.Struct, frozen=True):
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.body) if self.body else {}


def _credentials() -> Credentials | None:
    found = credentials_from_env()
    if found is not None:
        return found
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    return Credentials(key, secret) if key and secret else None


def _chunks(body: bytes, progress: UploadProgress) -> Iterator[bytes]:
    view = memoryview(body)
    total = len(body)
    for start in range(0, total, UPLOAD_CHUNK):
        chunk = view[start : start + UPLOAD_CHUNK]
        yield chunk.tobytes()
        progress(start + len(chunk), total)


class LambdaClient:
    def __init__(
        self,
        endpoint: str | None = None,
        *,
        credentials: Credentials | None = None,
        region: str | None = None,
        timeout: float = 960.0,  # past Lambda's longest function timeout
    ) -> None:
        self.endpoint = (endpoint or default_endpoint()).rstrip("/")
        self.credentials = credentials if credentials is not None else _credentials()
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.timeout = timeout

    @staticmethod
    def function_path(prefix: str, name: str, suffix: str = "") -> str:
        return f"/{prefix}/functions/{quote(name, safe='')}{suffix}"

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        json: Any = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        progress: UploadProgress | None = None,
    ) -> ApiResponse:
        """Send a request; `progress`, if given, is called as the body goes out (in UPLOAD_CHUNK pieces)."""
        url = self.endpoint + path + (f"?{urlencode(query, quote_via=quote)}" if query else "")
        send_headers = dict(headers or {})
        if json is not None:
            body = msgspec.json.encode(json)
            send_headers["Content-Type"] = "application/json"
        if self.credentials is not None:
            send_headers = sign_request(method, url, send_headers, body, self.credentials, self.region)
        data: bytes | Iterator[bytes] | None = body if body or method in ("POST", "PUT") else None
        if progress is not None and body:
            data = _chunks(body, progress)
        req = urllib.request.Request(url, data=data, method=method)
        for key, value in send_headers.items():
            if key.lower() != "host":
                req.add_header(key, value)
        if progress is not None and body and not req.has_header("Content-length"):
            req.add_header("Content-Length", str(len(body)))  # an iterable body is otherwise sent chunked
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return ApiResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
        except urllib.error.HTTPError as e:
            data = e.read()
            code = e.headers.get("x-amzn-ErrorType", "") or str(e.code)
            try:
                decoded = msgspec.json.decode(data)
                message = decoded.get("message") or decoded.get("Message") or data.decode(errors="replace")
            except (msgspec.DecodeError, AttributeError):
                message = data.decode(errors="replace")
            raise ApiError(e.code, code.split(":")[0], str(message)) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ApiError(0, "ConnectionError", f"cannot reach {self.endpoint}: {reason}") from None
