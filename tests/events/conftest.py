"""Fixtures for the asynchronous-invocation tests."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from events_stack import Stack, open_stack


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def stack(
    data_dir: Path, guest: Callable[[str], bytes]
) -> Callable[..., contextlib.AbstractAsyncContextManager[Stack]]:
    """`async with stack(**options) as s:` a running stack on the test's data dir (`run=False` to start later)."""

    def make(**options: Any) -> contextlib.AbstractAsyncContextManager[Stack]:
        return open_stack(data_dir, guest, **options)

    return make
