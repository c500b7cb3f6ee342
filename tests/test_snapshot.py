"""wasmfaas.snapshot: Wizer pre-initialisation of reactors (needs `npm ci --prefix tools/wizer`).

The main guest is heavy_init.c: its constructor fills a 4 MB table, counts its own runs and logs a line, so a test can
tell where init ran (at build time, not in the environment) and that it ran exactly once in the module's history.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from wasmfaas import FunctionConfig, InvocationResult, SyncPlatform
from wasmfaas import snapshot as snapshot_module
from wasmfaas.errors import BuildError, InvalidParameterError
from wasmfaas.snapshot import snapshot_reactor
from wasmfaas.toolchain import build_c

C_SDK = Path(__file__).resolve().parent.parent / "guest_sdks" / "c"

INIT_LINE = "heavy_init: built the table"
EVENTS = [b'{"n": 27}', b'{"n": 837799}', b'{"n": 0}', b'{"n": 1048575}', b'{"n": -1}', b"{}"]


def _exports(wasm: bytes) -> set[str]:
    return {e.name for e in wasmtime.Module(wasmtime.Engine(), wasm).exports}


@pytest.fixture
def heavy(guest: Callable[[str], bytes]) -> bytes:
    return guest("heavy_init")


def test_snapshot_answers_alike_with_init_run_once_at_build_time(
    platform: SyncPlatform, heavy: bytes, tmp_path: Path
) -> None:
    snap = snapshot_reactor(heavy, allow_wasi=True, cache_dir=tmp_path)
    assert "_initialize" in _exports(heavy)
    assert _exports(snap) == {"memory", "wasmfaas_buffer", "wasmfaas_handle"}  # init cannot run again

    answers: dict[str, list[tuple[bytes, Any]]] = {}
    cold: dict[str, InvocationResult] = {}
    for name, code in (("plain", heavy), ("snap", snap)):
        platform.create_function(name, code)
        results = [platform.invoke(name, event) for event in EVENTS]
        cold[name] = results[0]
        answers[name] = [(r.payload.replace(name.encode(), b"<fn>"), r.function_error) for r in results]
    assert answers["plain"] == answers["snap"]  # the same table, checksum, counts and errors

    first = json.loads(answers["snap"][0][0])
    assert (first["steps"], first["invocations"], first["function"]) == (111, 1, "<fn>")
    assert json.loads(answers["snap"][1][0])["steps"] == 524
    # One constructor run in the state's history: in the environment for the plain module, at build time for the
    # snapshot. Were init called again on the snapshot, this would be 2 (or wasi-libc would trap).
    assert first["init_runs"] == 1
    assert answers["snap"][4][1] is not None and answers["snap"][4][1].kind == "Handled"

    assert cold["plain"].cold_start and cold["snap"].cold_start
    assert INIT_LINE in cold["plain"].log  # init ran in the plain module's environment ...
    assert INIT_LINE not in cold["snap"].log  # ... and not in the snapshot's: it ran at build time
    plain_ms, snap_ms = cold["plain"].init_duration_ms, cold["snap"].init_duration_ms
    assert plain_ms is not None and snap_ms is not None and snap_ms < plain_ms


def test_snapshot_is_cached_by_content(heavy: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = snapshot_reactor(heavy, allow_wasi=True, cache_dir=tmp_path)
    assert [p.name for p in tmp_path.glob("*.wasm")] == [p.name for p in tmp_path.glob("snap-*.wasm")]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no work dir left behind

    def no_wizer(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Wizer ran on a cache hit")

    monkeypatch.setattr(subprocess, "run", no_wizer)
    assert snapshot_reactor(bytearray(heavy), allow_wasi=True, cache_dir=tmp_path) == snap
    monkeypatch.undo()
    # The flags are in the key: without WASI this init cannot run, so it is not served from the cache.
    with pytest.raises(BuildError):
        snapshot_reactor(heavy, cache_dir=tmp_path)


def test_init_calling_wasi_needs_allow_wasi(heavy: bytes, tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"(?s)fd_write.*allow_wasi=True"):
        snapshot_reactor(heavy, cache_dir=tmp_path)


def test_deterministic_init_needs_no_wasi(
    platform: SyncPlatform, guest: Callable[[str], bytes], tmp_path: Path
) -> None:
    # counter.c's init only counts: no WASI call, so the default (allow_wasi=False) snapshots it.
    snap = snapshot_reactor(guest("counter"), cache_dir=tmp_path)
    platform.create_function("counter", snap)
    assert platform.invoke("counter", b"").json() == {"init": 1, "count": 1}
    assert platform.invoke("counter", b"").json() == {"init": 1, "count": 2}


def test_environment_read_during_init_is_frozen(
    platform: SyncPlatform, guest: Callable[[str], bytes], tmp_path: Path
) -> None:
    # env.c uses `environ`, which wasi-libc fills in a constructor: in a snapshot, that happened at build time, where
    # there is no environment, and it stays empty. The documented SnapStart-like semantics, and why the SDKs read
    # the environment in the handler.
    code = guest("env")
    config = FunctionConfig(environment={"GREETING": "hi"})
    platform.create_function("env-plain", code, config=config)
    platform.create_function("env-snap", snapshot_reactor(code, allow_wasi=True, cache_dir=tmp_path), config=config)
    assert platform.invoke("env-plain", b"").json()["GREETING"] == "hi"
    assert platform.invoke("env-snap", b"").json() == {}


@pytest.mark.parametrize(
    "corrupt",
    [b"", b"not wasm at all", b"\0asm\x01\0\0\0\x01\xff\xff", "truncated"],
    ids=["empty", "text", "bad-section", "truncated"],
)
def test_corrupt_input_is_a_build_error(heavy: bytes, tmp_path: Path, corrupt: bytes | str) -> None:
    wasm = heavy[: len(heavy) // 2] if corrupt == "truncated" else corrupt
    assert isinstance(wasm, bytes)
    with pytest.raises(BuildError, match="Wizer failed"):
        snapshot_reactor(wasm, allow_wasi=True, cache_dir=tmp_path)
    assert not list(tmp_path.glob("*.wasm"))


def test_nothing_to_initialise(heavy: bytes, guest: Callable[[str], bytes], tmp_path: Path) -> None:
    snap = snapshot_reactor(heavy, allow_wasi=True, cache_dir=tmp_path)
    with pytest.raises(BuildError, match="does not have a `_initialize` export"):
        snapshot_reactor(snap, allow_wasi=True, cache_dir=tmp_path)
    with pytest.raises(BuildError, match="does not have a `nope` export"):
        snapshot_reactor(heavy, init_func="nope", allow_wasi=True, cache_dir=tmp_path)


def test_command_has_no_init(guest: Callable[[str], bytes], tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="does not have a `_initialize` export"):
        snapshot_reactor(guest("cat_command"), allow_wasi=True, cache_dir=tmp_path)


def test_init_failure_shows_init_output(tmp_path: Path) -> None:
    src = tmp_path / "bad_init.c"
    src.write_text(
        '#include "wasmfaas.h"\n'
        '__attribute__((constructor)) static void init(void) { fputs("init: no config\\n", stderr); abort(); }\n'
        "static wasmfaas_result handler(const wasmfaas_context *c, const uint8_t *e, size_t n) {\n"
        "    (void)c; return wasmfaas_ok(e, n);\n"
        "}\n"
        "WASMFAAS_HANDLER(handler)\n"
    )
    wasm = build_c([src], exec_model="reactor", include_dirs=[C_SDK], cache_dir=tmp_path / "builds").read_bytes()
    with pytest.raises(BuildError, match=r"(?s)Wizer failed.*init: no config"):
        snapshot_reactor(wasm, allow_wasi=True, cache_dir=tmp_path)


def test_sdk_init_error_fails_the_snapshot(tmp_path: Path) -> None:
    """An SDK keeps an init error for the first invocation and lets init return, so Wizer succeeds: the snapshot
    (built with no environment variables, where a configuration check fails) had frozen the error into every
    environment. It is a build error, as a trapping init is."""
    src = tmp_path / "fail_init.c"
    src.write_text(
        '#include "wasmfaas.h"\n'
        "__attribute__((constructor)) static void init(void) {\n"
        '    if (!getenv("DB_URL")) wasmfaas_fail_init("ConfigMissing", "DB_URL is not set");\n'
        "}\n"
        "static wasmfaas_result handler(const wasmfaas_context *c, const uint8_t *e, size_t n) {\n"
        "    (void)c; return wasmfaas_ok(e, n);\n"
        "}\n"
        "WASMFAAS_HANDLER(handler)\n"
    )
    wasm = build_c([src], exec_model="reactor", include_dirs=[C_SDK], cache_dir=tmp_path / "builds").read_bytes()
    with pytest.raises(BuildError, match=r"(?s)init failed.*wasmfaas: init failed: ConfigMissing: DB_URL is not set"):
        snapshot_reactor(wasm, allow_wasi=True, cache_dir=tmp_path)
    assert not list(tmp_path.glob("snap-*.wasm"))  # nothing cached


def test_output_must_be_a_reactor(guest: Callable[[str], bytes], tmp_path: Path) -> None:
    # noabi.c is a WASI reactor without the wasmfaas exports: Wizer can pre-initialise it, but the platform could
    # not run the result, so it is refused.
    with pytest.raises(BuildError, match="not a wasmfaas reactor"):
        snapshot_reactor(guest("noabi"), allow_wasi=True, cache_dir=tmp_path)


def test_bad_arguments(heavy: bytes, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="init_func"):
        snapshot_reactor(heavy, init_func="", cache_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match="wasm"):
        snapshot_reactor("not bytes", cache_dir=tmp_path)  # type: ignore[arg-type]


def test_missing_wizer_names_the_install_command(
    heavy: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_module, "TOOL_DIR", tmp_path / "wizer")
    with pytest.raises(BuildError, match=r"npm ci --prefix tools/wizer"):
        snapshot_reactor(heavy, cache_dir=tmp_path)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH: asc runs on Node.js")
def test_assemblyscript_example_snapshot(platform: SyncPlatform, tmp_path: Path) -> None:
    # AssemblyScript's top level is `_initialize` (asc --exportStart); its SDK reads the environment only at
    # invocation time, so a snapshot keeps seeing the function's own variables.
    from wasmfaas.toolchain_as import SDK_DIR, build_assemblyscript

    code = build_assemblyscript(SDK_DIR / "example" / "hello.ts").read_bytes()
    snap = snapshot_reactor(code, cache_dir=tmp_path)  # its init calls no WASI
    assert "_initialize" not in _exports(snap)
    platform.create_function("as-snap", snap, config=FunctionConfig(environment={"GREETING": "Hej"}))
    body = platform.invoke("as-snap", b'{"name": "snapshot"}').json()
    assert (body["message"], body["invocations"], body["function"]) == ("Hej, snapshot!", 1, "as-snap")
