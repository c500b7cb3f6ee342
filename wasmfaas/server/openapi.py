"""The OpenAPI 3.1 document of the served API, generated from the route table and the msgspec shapes.

Every route contributes its path and query/header parameters, its request body (a shape's JSON Schema, or raw
bytes for Invoke), its success response and its error responses (Lambda's error body). Schemas come from
`msgspec.json.schema_components`, so the document cannot drift from what the server decodes.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from .routing import Route
from .shapes import ErrorBody, ThrottleErrorBody

__all__ = ["openapi_document"]

_REF: Final = "#/components/schemas/{name}"
_STATUS_TEXT: Final = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Invalid request",
    403: "Not signed or badly signed (when the server checks SigV4)",
    404: "Not found",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request too large",
    429: "Throttled",
}
_PATH_PARAMS: Final = {
    # Lambda's NamespacedFunctionName: a name, a partial or full ARN, with a qualifier.
    "FunctionName": {"type": "string", "minLength": 1, "maxLength": 256},
    "Name": {"type": "string", "minLength": 1, "maxLength": 128},
}
_EXTRA_PATHS: Final = {
    "/metrics": {
        "get": {
            "operationId": "Metrics",
            "tags": ["wasmfaas"],
            "summary": "Prometheus metrics",
            "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "OpenApi",
            "tags": ["wasmfaas"],
            "summary": "This document",
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
            },
        }
    },
}


def _schema(kind: type | None) -> dict[str, Any]:
    return {"$ref": _REF.format(name=kind.__name__)} if kind is not None else {}


def _operation(route: Route, signed: bool) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": s[1:-1], "in": "path", "required": True, "schema": _PATH_PARAMS.get(s[1:-1], {"type": "string"})}
        for s in route.segments
        if s.startswith("{")
    ]
    for param in (*route.query, *route.headers):
        entry: dict[str, Any] = {
            "name": param.name,
            "in": param.location,
            "required": param.required,
            "schema": param.schema,
        }
        if param.description:
            entry["description"] = param.description
        parameters.append(entry)
    operation: dict[str, Any] = {"operationId": route.operation, "tags": [route.tag]}
    if route.summary:
        operation["summary"] = route.summary
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _schema(route.body)}},
        }
    elif route.raw_body is not None:
        operation["requestBody"] = {
            "required": False,
            "content": {route.raw_body: {"schema": {"type": "string", "format": "binary"}}},
        }
    responses: dict[str, Any] = {}
    for status in (route.status, *route.other_statuses):
        response: dict[str, Any] = {"description": _STATUS_TEXT.get(status, "OK")}
        # Only the main success status has a body (Invoke's 202 and 204 are empty).
        if status == route.status != 204 and (
            route.response is not None or route.response_media != "application/json"
        ):
            schema = _schema(route.response) if route.response is not None else {"type": "string", "format": "binary"}
            response["content"] = {route.response_media: {"schema": schema}}
        responses[str(status)] = response
    errors = set(route.errors) | ({403} if signed and route.signed else set())
    for status in sorted(errors):
        body = ThrottleErrorBody if status == 429 else ErrorBody
        responses[str(status)] = {
            "description": _STATUS_TEXT.get(status, "Error"),
            "headers": {"x-amzn-ErrorType": {"schema": {"type": "string"}, "description": "Lambda's error code"}},
            "content": {"application/json": {"schema": _schema(body)}},
        }
    operation["responses"] = responses
    return operation


def openapi_document(routes: list[Route], *, signed: bool, server_url: str | None = None) -> dict[str, Any]:
    types = {t for r in routes for t in (r.body, r.response) if t is not None} | {ErrorBody, ThrottleErrorBody}
    _, components = msgspec.json.schema_components(sorted(types, key=lambda t: t.__name__), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.template, {})[route.method.lower()] = _operation(route, signed)
    paths.update(_EXTRA_PATHS)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "wasmfaas",
            "version": "2015-03-31",
            "description": "AWS Lambda's REST API (as botocore models it) for WebAssembly functions, plus function "
            "URLs under /urls/{url-id}/ and wasmfaas extras under /__wasmfaas/.",
        },
        "paths": paths,
        "components": {"schemas": components},
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    if signed:
        document["components"]["securitySchemes"] = {
            "sigv4": {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "description": "AWS Signature Version 4, service 'lambda', any region",
            }
        }
        document["security"] = [{"sigv4": []}]
    return document
