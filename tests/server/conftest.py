"""A real `wasmfaas serve` process per test module (on a free 127.0.0.1 port) and a boto3 client for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from server_helpers import ServerProcess, create_guest, lambda_client, start_server, unique


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    limits = ("--account-concurrency", "100", "--unreserved-minimum", "10")
    proc = start_server(tmp_path_factory.mktemp("server"), *limits)
    yield proc
    assert proc.stop() == 0, "".join(proc.output)


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Any:
    return lambda_client(server.url)


@pytest.fixture(scope="module")
def create(client: Any, guest: Callable[[str], bytes]) -> Callable[..., dict[str, Any]]:
    """Create a function from a test guest (uploaded as a zip); returns CreateFunction's response."""

    def create(guest_name: str, name: str | None = None, **params: Any) -> dict[str, Any]:
        wasm = b"" if "Code" in params else guest(guest_name)
        return create_guest(client, name or unique(guest_name.replace("_", "-")), guest_name, wasm, **params)

    return create
