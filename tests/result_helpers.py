"""An `InvocationResult` made up for tests of what records results (the log store, the server's metrics);
importable from any test module (see zip_helpers.py for why not conftest.py)."""

from __future__ import annotations

from typing import Any

from wasmfaas.results import InvocationResult


def made_result(function_name: str, **fields: Any) -> InvocationResult:
    """A successful warm invocation of `function_name` taking 1 ms, with `fields` replaced."""
    values: dict[str, Any] = {
        "request_id": f"req-{function_name}",
        "function_name": function_name,
        "executed_version": "$LATEST",
        "payload": b"{}",
        "function_error": None,
        "cold_start": False,
        "duration_ms": 1.0,
        "init_duration_ms": None,
        "memory_size_mb": 128,
        "max_memory_used_mb": 1,
        "guest_log": b"",
    }
    return InvocationResult(**{**values, **fields})
