"""Names as Lambda spells them: function ARNs, qualified names, revision ids and pagination markers."""

from __future__ import annotations

import base64
import binascii
import functools
import re
import uuid
from dataclasses import dataclass
from typing import Final

import msgspec

from ..platform import REGION_PATTERN
from .errors import invalid_parameter

__all__ = ["Identity", "decode_marker", "encode_marker", "parse_function_name", "revision_id"]

# The model's NamespacedFunctionName: a name, "name:qualifier", "ACCOUNT:function:name[:q]" or a full ARN.
_FUNCTION_NAME_RE: Final = re.compile(
    rf"(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?(?:{REGION_PATTERN}:)?"
    r"(?:\d{12}:)?(?:function:)?([a-zA-Z0-9_-]{1,64})(?::(\$LATEST|[a-zA-Z0-9_-]{1,128}))?"
)
_QUALIFIER_RE: Final = re.compile(r"\$LATEST|[a-zA-Z0-9_-]{1,128}")
# RevisionIds are UUIDs; derived from (function, version, revision) they survive restarts unchanged.
_REVISION_NAMESPACE: Final = uuid.UUID("8d7c3f0e-6f0a-4b1e-9a56-3c1f2b7e9d41")


@dataclass(frozen=True, slots=True)
class Identity:
    """The account and region this server answers as: they appear in every ARN."""

    region: str = "us-east-1"
    account_id: str = "000000000000"

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return f"{arn}:{qualifier}" if qualifier else arn

    def layer_arn(self, name: str, version: int | None = None) -> str:
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:layer:{name}"
        return f"{arn}:{version}" if version is not None else arn

    @property
    def default_role(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/wasmfaas"


@functools.lru_cache(maxsize=4096)
def _split_function_name(raw: str) -> tuple[str, str | None] | None:
    match = _FUNCTION_NAME_RE.fullmatch(raw)
    return None if match is None else (match.group(1), match.group(2))


def parse_function_name(raw: str, query_qualifier: str | None = None) -> tuple[str, str | None]:
    """(name, qualifier) from a FunctionName in any of its forms plus the `Qualifier` query parameter."""
    parts = _split_function_name(raw)
    if parts is None:
        raise invalid_parameter(f"FunctionName: {raw!r} is not a function name, name:qualifier, or function ARN")
    name, qualifier = parts
    if query_qualifier is not None:
        if not _QUALIFIER_RE.fullmatch(query_qualifier):
            raise invalid_parameter(f"Qualifier: {query_qualifier!r} is not a version number, $LATEST or alias")
        if qualifier is not None and qualifier != query_qualifier:
            raise invalid_parameter(
                "The derived qualifier from the function name does not match the specified qualifier."
            )
        qualifier = query_qualifier
    return name, qualifier


def revision_id(*parts: object) -> str:
    return str(uuid.uuid5(_REVISION_NAMESPACE, "\0".join(str(p) for p in parts)))


def encode_marker(position: list[str]) -> str:
    """An opaque pagination marker: where the next page starts."""
    return base64.urlsafe_b64encode(msgspec.json.encode(position)).decode()


def decode_marker(marker: str) -> list[str]:
    try:
        position = msgspec.json.decode(base64.urlsafe_b64decode(marker.encode()), type=list[str])
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise invalid_parameter("Marker: not a marker this API returned") from None
    return position
