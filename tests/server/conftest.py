"""A real `wasmfaas serve` process per test module (on a free 127.0.0.1 port) and a boto3 client for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from server_helpers import ROLE, ServerProcess, lambda_client, start_server, unique, zip_of


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
        handler = params.pop("Handler", f"{guest_name}.wasm")
        code = params.pop("Code", None) or {"ZipFile": zip_of({f"{guest_name}.wasm": guest(guest_name)})}
        response: dict[str, Any] = client.create_function(
            FunctionName=name or unique(guest_name.replace("_", "-")),
            Runtime="wasi",
            Role=ROLE,
            Handler=handler,
            Code=code,
            **params,
        )
        return response

    return create
