"""The route table: each API operation's method, path template, parameters, body and response types.

One `Route` says everything about an operation: the dispatcher uses it to match, read the body under its limit,
decode and validate it with msgspec, and check SigV4; `openapi.py` turns the same table into the OpenAPI document.
Paths are matched segment by segment on the raw (still percent-encoded) path, each segment decoded after the split,
so a function name holding an escaped "/" cannot change which route matches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar
from urllib.parse import unquote

from .context import ServerContext
from .http import Receive, Request, Response

__all__ = ["Call", "Handler", "KiB", "MiB", "Param", "Route", "Router"]

KiB: Final = 1024
MiB: Final = 1024 * 1024
T = TypeVar("T")
_CACHE_SIZE: Final = 4096


@dataclass(frozen=True, slots=True)
class Param:
    """A query-string or header parameter, for validation messages and the OpenAPI document."""

    name: str
    location: Literal["query", "header"] = "query"
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False
    description: str = ""


@dataclass(slots=True)
class Call:
    """One matched request: the request, its path parameters and its decoded body (if the route has one)."""

    request: Request
    params: dict[str, str]
    ctx: ServerContext
    body: Any = None
    receive: Receive | None = None  # the connection's, once the body is read: it says when the client has gone

    def body_as(self, kind: type[T]) -> T:
        if not isinstance(self.body, kind):
            raise TypeError(f"route body is {type(self.body).__name__}, not {kind.__name__}")
        return self.body


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Route:
    operation: str
    method: str
    template: str
    handler: Handler
    status: int = 200
    other_statuses: tuple[int, ...] = ()  # other success statuses (Invoke: 202 Event, 204 DryRun)
    body: type | None = None  # a msgspec Struct: the JSON body, decoded and validated before the handler runs
    raw_body: str | None = None  # or a media type: the body is passed through as bytes
    response: type | None = None  # a msgspec Struct, for the OpenAPI document
    response_media: str = "application/json"
    query: tuple[Param, ...] = ()
    headers: tuple[Param, ...] = ()
    errors: tuple[int, ...] = (400, 404)
    body_limit: int = 256 * KiB
    limit_name: str = (
        ""  # the operation name Lambda's "Request must be smaller than N bytes for the X operation" uses
    )
    signed: bool = True  # needs a SigV4 signature when the server has credentials
    tag: str = "Lambda"
    summary: str = ""

    @property
    def segments(self) -> list[str]:
        return self.template.split("/")


@dataclass(frozen=True, slots=True)
class _Compiled:
    route: Route
    literals: tuple[tuple[int, str], ...]  # (segment index, text) that must match exactly
    params: tuple[tuple[int, str], ...]  # (segment index, parameter name)


class Router:
    """Match (method, raw path) to a route and its decoded path parameters."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        # Bucketed by (method, segment count): a match compares a handful of literals, no regex, no allocation.
        self._buckets: dict[tuple[str, int], list[_Compiled]] = {}
        seen: set[tuple[str, str]] = set()
        for route in routes:
            if (route.method, route.template) in seen:
                raise ValueError(f"duplicate route {route.method} {route.template}")
            seen.add((route.method, route.template))
            segments = route.segments
            literals = tuple((i, s) for i, s in enumerate(segments) if not (s.startswith("{") and s.endswith("}")))
            params = tuple((i, s[1:-1]) for i, s in enumerate(segments) if s.startswith("{") and s.endswith("}"))
            self._buckets.setdefault((route.method, len(segments)), []).append(_Compiled(route, literals, params))
        # The paths seen last, matched already: a client calls the same few paths over and over.
        self._cache: dict[tuple[str, str], tuple[Route, dict[str, str]] | None] = {}

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        key = (method, raw_path)
        try:
            found = self._cache[key]
        except KeyError:
            found = self._match(method, raw_path)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = found
        return None if found is None else (found[0], dict(found[1]))  # a copy: the caller may change its params

    def _match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        segments = raw_path.split("/")
        for compiled in self._buckets.get((method, len(segments)), ()):
            for index, text in compiled.literals:
                if segments[index] != text:
                    break
            else:
                values = {name: unquote(segments[index]) for index, name in compiled.params}
                if all(values.values()):
                    return compiled.route, values
        return None
