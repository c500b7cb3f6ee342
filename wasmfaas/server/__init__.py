"""`wasmfaas serve`: AWS Lambda's REST API over the Platform, so boto3 and the AWS CLI work unchanged.

- `app.LambdaServer`: the ASGI app (control plane, Invoke, EventInvokeConfig, function URLs, /metrics,
  /openapi.json, the extras under /__wasmfaas/: logs, dead letters, code downloads, health).
- `serve.serve`: run it under uvicorn (uvloop + httptools, the default) or granian.
- Event invocations go to the durable `wasmfaas.events.AsyncInvoker`, logs to `wasmfaas.logstore.LogStore`, both
  under the data directory.
- `sigv4`: SigV4 verification (and signing, for the CLI's client).

See docs/server.md.
"""

from __future__ import annotations

from .app import LambdaServer
from .serve import serve
from .settings import ServerSettings
from .sigv4 import Credentials

__all__ = [
    "Credentials",
    "LambdaServer",
    "ServerSettings",
    "serve",
]
