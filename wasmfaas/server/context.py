"""What the handlers share while the server runs: the platform and the services around it."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from .._files import atomic_write
from ..events import AsyncInvoker
from ..logstore import LogStore
from ..platform import Platform
from .invocations import InvocationRunner
from .metrics import Metrics
from .naming import Identity
from .policy_store import PolicyStore
from .settings import ServerSettings
from .sigv4 import SigV4Verifier
from .url_store import UrlStore

__all__ = ["CodeUrlSigner", "ServerContext"]


@dataclass(frozen=True, slots=True)
class CodeUrlSigner:
    """Short-lived download links for Code.Location, like S3's presigned URLs (valid 10 minutes by default)."""

    secret: bytes = field(default_factory=lambda: os.urandom(32))
    lifetime: int = 600

    @classmethod
    def kept_in(cls, path: Path | None) -> CodeUrlSigner:
        """A signer whose secret is kept at `path` (made on first use, readable by the owner only), so links
        given out stay good across a restart; None: a secret of this process's own."""
        if path is None:
            return cls()
        try:
            secret = path.read_bytes()
        except FileNotFoundError:
            secret = b""
        if len(secret) != 32:
            secret = os.urandom(32)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, secret)  # mkstemp's file: 0600
        return cls(secret)

    def sign(self, name: str, version: str, expires: int) -> str:
        message = f"{name}\0{version}\0{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def expiry(self) -> int:
        return int(time.time()) + self.lifetime

    def check(self, name: str, version: str, expires: int, signature: str) -> bool:
        return expires >= time.time() and hmac.compare_digest(self.sign(name, version, expires), signature)

    def query(self, name: str, version: str) -> str:
        """A link's `Expires=...&Signature=...` for `name` at `version`."""
        expires = self.expiry()
        return f"Expires={expires}&Signature={self.sign(name, version, expires)}"

    def check_query(self, name: str, version: str, expires: str | None, signature: str | None) -> bool:
        """Whether a link's query parameters are good for `name` at `version`, and unexpired."""
        try:
            when = int(expires or "")
        except ValueError:
            return False
        return self.check(name, version, when, signature or "")


@dataclass(slots=True)
class ServerContext:
    settings: ServerSettings
    identity: Identity
    platform: Platform
    runner: InvocationRunner
    metrics: Metrics
    logs: LogStore
    urls: UrlStore
    policies: PolicyStore
    events: AsyncInvoker
    verifier: SigV4Verifier | None
    code_urls: CodeUrlSigner
    # When each provisioned-concurrency config was set ((function, qualifier) -> Lambda timestamp).
    provisioned_stamps: dict[tuple[str, str], str] = field(default_factory=dict)
    # Serialises changes to the function URL and policy stores (check-then-write must not interleave).
    lock: anyio.Lock = field(default_factory=anyio.Lock)

    def base_url(self, request_base: str) -> str:
        return (self.settings.public_url or request_base).rstrip("/")
