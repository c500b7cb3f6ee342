"""Layers: versioned archives of shared code (libraries, modules) that language-runtime functions add to their own.

As on Lambda, a layer version is immutable once published, its number is never reused (not even after it is
deleted), a function names at most 5 layer versions in order, and deleting a layer version leaves the functions
that use it as they are (they keep a copy). Layer files go where Lambda's runtimes look for them under /opt: a
Python layer's `python/` (or `python/lib/python3.14/site-packages/`), a JavaScript layer's `nodejs/node_modules/`
(see `wasmfaas.runtimes.build`). Layers are for the language runtimes; a `wasi` function is one module.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from .errors import InvalidParameterError

__all__ = ["MAX_LAYERS", "LayerRecord", "LayerRef", "LayerVersionInfo", "parse_layer_ref", "validate_layer_name"]

MAX_LAYERS: Final = 5
_NAME_RE: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")
# "name:version" or a layer version ARN (arn:aws:lambda:<region>:<account>:layer:<name>:<version>).
_REF_RE: Final = re.compile(
    r"(?:arn:[a-zA-Z0-9-]+:lambda:[a-z0-9-]+:\d{12}:layer:)?([a-zA-Z0-9_-]{1,64}):([0-9]{1,10})"
)


class LayerVersionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One published version of a layer."""

    name: str
    version: int
    code_sha256: str
    code_size: int
    description: str = ""
    compatible_runtimes: tuple[str, ...] = ()
    license_info: str = ""
    created: str = ""
    compatible_architectures: tuple[str, ...] = ()  # kept and shown; wasm runs on any


class LayerRef(msgspec.Struct, frozen=True, kw_only=True):
    """A layer version as a function uses it: enough to build with it after the version is deleted."""

    name: str
    version: int
    code_sha256: str
    code_size: int


class LayerRecord(msgspec.Struct, kw_only=True):
    """Everything the registry keeps of one layer."""

    name: str
    versions: list[LayerVersionInfo] = msgspec.field(default_factory=list)
    next_version: int = 1


def validate_layer_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidParameterError("LayerName", f"must be 1-64 characters of [A-Za-z0-9_-], got {name!r}")
    return name


def parse_layer_ref(ref: object) -> tuple[str, int]:
    """(name, version) from "name:version" or a layer version ARN."""
    match = _REF_RE.fullmatch(ref) if isinstance(ref, str) else None
    if match is None:
        raise InvalidParameterError("Layers", f"{ref!r} is not a layer version ARN or name:version")
    return match.group(1), int(match.group(2))
