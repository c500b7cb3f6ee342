"""Deployment packages for tests, and a check the runtimes' tests share; importable from any test module.

A module of its own, not conftest.py: `from conftest import ...` can find another directory's conftest (tests/events,
tests/server) when pytest has put that directory first on sys.path.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping

from wasmfaas import SyncPlatform


def zip_of(files: Mapping[str, str | bytes]) -> bytes:
    """A deployment package holding `files` (name -> text or bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def assert_each_cold_start_fails(
    platform: SyncPlatform,
    name: str,
    files: Mapping[str, str | bytes],
    *,
    runtime: str,
    handler: str,
    error_type: str,
    message: str,
    in_log: str,
) -> None:
    """Create a function of code that cannot load and check that every cold start fails with Lambda's error."""
    platform.create_function(name, zip_of(files), runtime=runtime, handler=handler)
    for _ in range(2):  # every cold start fails the same way; no environment is kept
        result = platform.invoke(name, b"{}")
        assert result.function_error is not None and result.function_error.kind == "Unhandled", name
        assert result.function_error.error_type == error_type, result.payload
        assert message in result.function_error.error_message, result.payload
        assert result.cold_start and in_log in result.log
