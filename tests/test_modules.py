"""Guest-kind detection and the compiled-module cache (memory and disk)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime

from wasmfaas import GuestKind, InvalidCodeError, SyncPlatform
from wasmfaas.engine import Engine
from wasmfaas.modules import CoreLayout, ModuleCache, code_sha256, core_layout

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def test_kinds_are_detected(engine: Engine, guest: Callable[[str], bytes]) -> None:
    cache = ModuleCache(engine, None)
    assert cache.load(guest("echo")).kind is GuestKind.REACTOR
    assert cache.load(guest("cat_command")).kind is GuestKind.COMMAND


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (b"", "not a WebAssembly binary"),
        (b"not wasm at all", "not a WebAssembly binary"),
        (b"\0asm\x01\0\0\0\x01\xff", "does not validate"),
        (b"\0asm\x02\0\0\0", "unsupported WebAssembly binary version"),
        (wasmtime.wat2wasm("(module)"), "neither a WASI command"),
        (wasmtime.wat2wasm('(module (import "env" "f" (func)))'), "imports env.f"),
        (
            wasmtime.wat2wasm('(module (func (export "wasmfaas_handle") (param i32) (result i32) i32.const 0))'),
            "breaks the ABI",
        ),
        (
            wasmtime.wat2wasm(
                '(module (import "wasi_snapshot_preview1" "no_such_call" (func)) (func (export "_start")))'
            ),
            "cannot be satisfied",
        ),
    ],
)
def test_bad_code_is_refused_with_a_clear_message(engine: Engine, code: bytes, message: str) -> None:
    with pytest.raises(InvalidCodeError, match=message):
        ModuleCache(engine, None).load(code)


def test_core_layout_counts_every_memory_and_table(guest: Callable[[str], bytes]) -> None:
    code = wasmtime.wat2wasm(
        """(module (memory (export "memory") 3 10) (memory $hidden 2) (memory $wide i64 70000)
             (table 1 funcref) (table $t 2000000 3000000 externref) (func (export "_start")))"""
    )
    assert core_layout(code) == CoreLayout(
        memory_minimums=(3 * 65536, 2 * 65536, 70000 * 65536), tables=2, table_minimums=(1, 2_000_000)
    )
    assert core_layout(wasmtime.wat2wasm("(module)")) == CoreLayout(memory_minimums=(), tables=0)
    layout = core_layout(guest("echo"))
    assert len(layout.memory_minimums) == 1 and layout.memory_minimums[0] >= 65536 and layout.tables == 1


def test_module_without_the_abi_is_refused(engine: Engine, guest: Callable[[str], bytes]) -> None:
    with pytest.raises(InvalidCodeError, match="neither a WASI command"):
        ModuleCache(engine, None).load(guest("noabi"))


def test_platform_refuses_bad_code_and_keeps_nothing(platform: SyncPlatform) -> None:
    with pytest.raises(InvalidCodeError):
        platform.create_function("bad", b"\0asm garbage")
    assert platform.list_functions() == []


def test_compiles_once_per_hash(engine: Engine, guest: Callable[[str], bytes]) -> None:
    cache = ModuleCache(engine, None)
    code = guest("echo")
    assert cache.load(code) is cache.load(code)
    assert cache.get(code_sha256(code)) is not None


def test_disk_cache_round_trip_and_corruption(tmp_path: Path, engine: Engine, guest: Callable[[str], bytes]) -> None:
    code = guest("echo")
    first = ModuleCache(engine, tmp_path).load(code)
    assert not first.from_disk
    artifacts = list(tmp_path.glob("*.cwasm"))
    assert len(artifacts) == 1 and artifacts[0].with_suffix(".json").exists()
    assert ModuleCache(engine, tmp_path).load(code).from_disk

    data = artifacts[0].read_bytes()
    for corrupt in (data[: len(data) // 2], data[:100] + bytes([data[100] ^ 0xFF]) + data[101:], b""):
        artifacts[0].write_bytes(corrupt)
        reloaded = ModuleCache(engine, tmp_path).load(code)
        assert not reloaded.from_disk  # recompiled, never loaded
        assert artifacts[0].read_bytes() == data  # and rewritten whole
    artifacts[0].with_suffix(".json").write_text("{not json")
    assert not ModuleCache(engine, tmp_path).load(code).from_disk
    assert ModuleCache(engine, tmp_path).load(code).from_disk


def test_artifacts_from_other_engine_settings_are_not_used(
    tmp_path: Path, engine: Engine, guest: Callable[[str], bytes]
) -> None:
    from wasmfaas.engine import EngineSettings

    code = guest("echo")
    ModuleCache(engine, tmp_path).load(code)
    other = Engine(EngineSettings(fuel=True))
    try:
        assert not ModuleCache(other, tmp_path).load(code).from_disk
    finally:
        other.close()
    assert len(list(tmp_path.glob("*.cwasm"))) == 2


def test_disk_cache_survives_a_process_restart(tmp_path: Path, guest: Callable[[str], bytes]) -> None:
    wasm = tmp_path / "counter.wasm"
    wasm.write_bytes(guest("counter"))
    script = textwrap.dedent(f"""
        import sys
        from wasmfaas import SyncPlatform
        with SyncPlatform(data_dir={str(tmp_path / "data")!r}) as p:
            p.create_function("counter", open({str(wasm)!r}, "rb").read())
            r = p.invoke("counter")
            compiled = p.platform.compiled("counter")
            print(compiled.from_disk, r.payload.decode())
    """)
    env = {k: v for k, v in os.environ.items() if k != "WASMFAAS_MODULE_CACHE"}  # this test owns its cache
    runs = [
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert runs[0].stdout.split(" ", 1)[0] == "False"
    assert runs[1].stdout.split(" ", 1)[0] == "True"
    assert runs[1].stdout.split(" ", 1)[1].strip() == '{"init": 1, "count": 1}'
