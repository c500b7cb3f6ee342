"""Components of either world of wit/wasmfaas.wit, and components that implement neither.

The language runtimes build the text world (tests/test_runtime_*.py); here componentize-py builds small components
from tests/guests/components/ straight against the bytes world, and against a world of the wrong types.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from wasmfaas import FunctionConfig, GuestKind, InvalidCodeError, SyncPlatform, buildcache
from wasmfaas.buildtools import run_tool

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = ROOT / "tests" / "guests" / "components"


def build_component(app_dir: Path, wit: Path, world: str) -> bytes:
    """componentize-py's component of `app_dir/app.py` for `world` of `wit` (file or directory), cached by content."""
    key = buildcache.Key("wasmfaas-test-component-v1", world)
    key.add_tree("app", app_dir, include=lambda name: name.endswith(".py"))
    key.add_tree("wit", wit if wit.is_dir() else wit.parent, include=lambda name: name.endswith(".wit"))

    def produce(out: Path) -> None:
        tool = Path(sys.executable).with_name("componentize-py")
        proc = run_tool(
            [str(tool), "-d", str(wit), "-w", world, "componentize", "app", "-p", str(app_dir), "-o", str(out)],
            name="componentize-py",
            env={"PATH": "/usr/bin:/bin"},
            cwd=app_dir,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr

    return buildcache.build(f"test-component-{key.hexdigest()}.wasm", produce).read_bytes()


@pytest.fixture(scope="module")
def bytes_echo() -> bytes:
    return build_component(COMPONENTS / "bytes_echo", ROOT / "wit", "handler")


def test_the_bytes_world_carries_any_bytes(platform: SyncPlatform, bytes_echo: bytes) -> None:
    info = platform.create_function("echo", bytes_echo, config=FunctionConfig(timeout=5))
    assert info.kind is GuestKind.COMPONENT
    event = b"\xff\x00 not UTF-8 \xfe"
    result = platform.invoke("echo", event)
    assert result.ok and result.payload == f"{result.request_id} ".encode() + event
    big = platform.invoke("echo", b"big 1048576")  # 1 MiB of every byte value
    assert big.ok and big.payload == bytes(range(256)) * 4096
    failed = platform.invoke("echo", b"fail")
    assert failed.function_error is not None and failed.function_error.kind == "Handled"
    assert (failed.function_error.error_type, failed.function_error.error_message) == ("Boom", "a handled failure")
    assert not platform.invoke("echo", b"again").cold_start  # a handled error keeps the environment


def test_a_component_of_neither_world_is_refused(platform: SyncPlatform) -> None:
    mismatch = build_component(COMPONENTS / "mismatch", COMPONENTS / "mismatch" / "world.wit", "handler")
    with pytest.raises(InvalidCodeError, match="text-handler: string in and out; handler: list<u8> in and out"):
        platform.create_function("mismatch", mismatch)
    assert platform.list_functions() == []
