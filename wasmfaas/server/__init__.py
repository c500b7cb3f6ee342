"""`wasmfaas serve`: AWS Lambda's REST API over the Platform, so boto3 and the AWS CLI work unchanged.

- `app.LambdaServer`: the ASGI app (control plane, Invoke, function URLs, /metrics, /openapi.json).
- `serve.serve`: run it under uvicorn (uvloop + httptools) or granian.
- `async_invoke.AsyncInvoker`: where Event invocations go; `InMemoryAsyncInvoker` is the non-durable fallback.
- `sigv4`: SigV4 verification (and signing, for the CLI's client).
"""

from __future__ import annotations

from .app import LambdaServer
from .async_invoke import AsyncInvoker, AsyncInvokerFactory, InMemoryAsyncInvoker
from .serve import serve
from .settings import ServerSettings
from .sigv4 import Credentials

__all__ = [
    "AsyncInvoker",
    "AsyncInvokerFactory",
    "Credentials",
    "InMemoryAsyncInvoker",
    "LambdaServer",
    "ServerSettings",
    "serve",
]
