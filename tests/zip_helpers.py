"""Deployment packages for tests, importable from any test module.

A module of its own, not conftest.py: `from conftest import ...` can find another directory's conftest (tests/events,
tests/server) when pytest has put that directory first on sys.path.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping


def zip_of(files: Mapping[str, str | bytes]) -> bytes:
    """A deployment package holding `files` (name -> text or bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()
