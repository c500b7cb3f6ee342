"""Shared fixtures: guests built from tests/guests/ with ziglang (cached by content), and platforms."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wasmfaas import FunctionConfig, SyncPlatform, pool
from wasmfaas.toolchain import build_c

ROOT = Path(__file__).resolve().parent.parent

# One compiled-module cache for the whole session: a 26 MB Python component takes seconds to compile, and every test
# platform has a data dir of its own. Artifacts are keyed by content and engine settings, so sharing is safe.
os.environ.setdefault(
    "WASMFAAS_MODULE_CACHE", os.path.join(tempfile.gettempdir(), f"wasmfaas-test-modules-{os.getuid()}")
)
GUESTS = ROOT / "tests" / "guests"
C_SDK = ROOT / "guest_sdks" / "c"


@functools.cache
def build_guest(name: str) -> bytes:
    """The wasm bytes of tests/guests/<name>.c (a `*_command.c` is a WASI command, the rest are reactors)."""
    model = "command" if name.endswith("_command") else "reactor"
    return build_c([GUESTS / f"{name}.c"], exec_model=model, include_dirs=[C_SDK]).read_bytes()


@pytest.fixture(scope="session")
def guest() -> Callable[[str], bytes]:
    return build_guest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[SyncPlatform]:
    with SyncPlatform(data_dir=tmp_path / "data") as p:
        yield p


@pytest.fixture
def deploy(platform: SyncPlatform, guest: Callable[[str], bytes]) -> Callable[..., str]:
    """Create a function from a test guest; returns its name."""

    def deploy(name: str, *, function_name: str | None = None, **config: object) -> str:
        fname = function_name or name.replace("_", "-")
        platform.create_function(fname, guest(name), config=FunctionConfig(**config))  # type: ignore[arg-type]
        return fname

    return deploy


@pytest.fixture
def steady_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Count any call within 50 ms as fast for inline runs (pool.INLINE_MAX_MS is 0.2 ms): on a loaded machine a
    5 µs call sometimes takes longer than 0.2 ms, and the tests using this are about what follows once a function
    has been fast, not about where the threshold lies."""
    monkeypatch.setattr(pool, "INLINE_MAX_MS", 50.0)
