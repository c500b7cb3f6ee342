"""wasmfaas.toolchain: building guests with ziglang, cached by content."""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from wasmfaas import SyncPlatform, toolchain
from wasmfaas.errors import BuildError, InvalidParameterError
from wasmfaas.modules import core_layout
from wasmfaas.toolchain import build_c, build_rust, build_zig

ROOT = Path(__file__).resolve().parent.parent
GUESTS = ROOT / "tests" / "guests"
C_SDK = ROOT / "guest_sdks" / "c"
ABI_EXPORTS = {"memory", "wasmfaas_buffer", "wasmfaas_handle"}
RUST_PROBLEM = toolchain.rust_toolchain_problem()
needs_rust = pytest.mark.skipif(RUST_PROBLEM is not None, reason=f"no Rust wasm32-wasi toolchain: {RUST_PROBLEM}")


def _module(path: Path) -> wasmtime.Module:
    return wasmtime.Module(wasmtime.Engine(), path.read_bytes())


def _exports(path: Path) -> set[str]:
    return {e.name for e in _module(path).exports}


def _import_modules(path: Path) -> set[str]:
    return {i.module for i in _module(path).imports}


def _no_compiler(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"the compiler ran on a cache hit: {args}")


def test_build_c_reactor_then_cache_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wasm = build_c([GUESTS / "echo.c"], exec_model="reactor", include_dirs=[C_SDK], cache_dir=tmp_path)
    assert wasm.parent == tmp_path and wasm.suffix == ".wasm"
    assert ABI_EXPORTS | {"_initialize"} <= _exports(wasm)
    assert _import_modules(wasm) <= {"wasi_snapshot_preview1"}
    inode = wasm.stat().st_ino

    monkeypatch.setattr(subprocess, "run", _no_compiler)
    again = build_c([str(GUESTS / "echo.c")], exec_model="reactor", include_dirs=[str(C_SDK)], cache_dir=tmp_path)
    assert again == wasm
    assert wasm.stat().st_ino == inode  # not built again (a hit refreshes only the mtime, for the LRU order)


def test_build_c_command(tmp_path: Path) -> None:
    wasm = build_c([GUESTS / "cat_command.c"], exec_model="command", cache_dir=tmp_path)
    exports = _exports(wasm)
    assert "_start" in exports and "_initialize" not in exports


def _initial_memory(path: Path) -> int:
    (minimum,) = core_layout(path.read_bytes()).memory_minimums
    return minimum


MIB = 1 << 20


def test_build_c_stack_is_1_mib_unless_asked(tmp_path: Path) -> None:
    # zig cc's own default is a 16 MiB stack, reserved in linear memory from the start (17 MB of a 128 MB function).
    args: dict[str, Any] = {"exec_model": "reactor", "include_dirs": [C_SDK], "cache_dir": tmp_path}
    assert MIB < _initial_memory(build_c([GUESTS / "echo.c"], **args)) < 2 * MIB
    assert 4 * MIB < _initial_memory(build_c([GUESTS / "echo.c"], stack_size=4 * MIB, **args)) < 5 * MIB
    own = build_c([GUESTS / "echo.c"], extra_flags=["-Wl,-z,stack-size=8388608"], stack_size=4 * MIB, **args)
    assert 8 * MIB < _initial_memory(own) < 9 * MIB  # the caller's flag wins
    for bad in (0, 1000, -16):
        with pytest.raises(InvalidParameterError, match="stack_size"):
            build_c([GUESTS / "echo.c"], stack_size=bad, **args)


def test_build_zig_stack_is_1_mib_unless_asked(tmp_path: Path) -> None:
    assert _initial_memory(build_zig(GUESTS / "echo.zig", exec_model="reactor", cache_dir=tmp_path)) < 2 * MIB
    big = build_zig(GUESTS / "echo.zig", exec_model="reactor", cache_dir=tmp_path, stack_size=16 * MIB)
    assert 16 * MIB < _initial_memory(big) < 17 * MIB
    with pytest.raises(InvalidParameterError, match="stack_size"):
        build_zig(GUESTS / "echo.zig", exec_model="reactor", cache_dir=tmp_path, stack_size=100)


def test_build_c_key_covers_flags_and_model(tmp_path: Path) -> None:
    src = GUESTS / "echo.c"
    base = build_c([src], exec_model="reactor", include_dirs=[C_SDK], cache_dir=tmp_path)
    assert build_c([src], exec_model="reactor", include_dirs=[C_SDK], opt="-O3", cache_dir=tmp_path) != base
    flagged = build_c([src], exec_model="reactor", include_dirs=[C_SDK], extra_flags=["-DX=1"], cache_dir=tmp_path)
    assert flagged != base


def test_build_c_key_covers_headers(tmp_path: Path) -> None:
    """A header change, in an include dir or next to the source, is a new build."""
    inc = tmp_path / "include"
    inc.mkdir()
    (inc / "value.h").write_text("#define VALUE 1\n")
    (tmp_path / "local.h").write_text("#define LOCAL 1\n")
    src = tmp_path / "fn.c"
    src.write_text(
        '#include "value.h"\n#include "local.h"\n'
        '__attribute__((export_name("value"))) int value(void) { return VALUE + LOCAL; }\n'
    )
    cache = tmp_path / "cache"

    def build() -> Path:
        return build_c([src], exec_model="reactor", include_dirs=[inc], cache_dir=cache)

    first = build()
    (inc / "value.h").write_text("#define VALUE 2\n")
    second = build()
    (tmp_path / "local.h").write_text("#define LOCAL 2\n")
    third = build()
    assert len({first, second, third}) == 3
    assert first.read_bytes() != second.read_bytes() != third.read_bytes()


def test_build_c_cplusplus(tmp_path: Path) -> None:
    src = tmp_path / "fn.cpp"
    src.write_text(
        '#include "wasmfaas.h"\n#include <string>\n'
        "static wasmfaas_result handler(const wasmfaas_context *, const uint8_t *event, size_t len) {\n"
        "    std::string s(reinterpret_cast<const char *>(event), len);\n"
        "    return wasmfaas_ok_copy(s.data(), s.size());\n"
        "}\n"
        "WASMFAAS_HANDLER(handler)\n"
    )
    wasm = build_c([src], exec_model="reactor", language="c++", include_dirs=[C_SDK], cache_dir=tmp_path / "cache")
    assert _exports(wasm) >= ABI_EXPORTS
    assert _import_modules(wasm) <= {"wasi_snapshot_preview1"}


def test_build_c_syntax_error(tmp_path: Path) -> None:
    src = tmp_path / "broken.c"
    src.write_text("int main(void) { return 0 }\n")
    cache = tmp_path / "cache"
    with pytest.raises(BuildError) as info:
        build_c([src], exec_model="command", cache_dir=cache)
    message = str(info.value)
    assert "broken.c" in message and "expected ';'" in message
    # Nothing is cached and no temporary file is left behind, only the per-key lock file.
    assert [p.suffix for p in cache.iterdir()] == [".lock"]


def test_build_c_concurrent_builds_compile_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toolchain.zig_version()  # memoised now, so that every _run_zig call below is a compile
    calls: list[list[str]] = []
    real_run_zig = toolchain._run_zig

    def counting(args: list[str]) -> subprocess.CompletedProcess[str]:
        calls.append(list(args))
        return real_run_zig(args)

    monkeypatch.setattr(toolchain, "_run_zig", counting)
    results: list[Path] = []

    def build() -> None:
        results.append(build_c([GUESTS / "spin.c"], exec_model="reactor", include_dirs=[C_SDK], cache_dir=tmp_path))

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3 and len(set(results)) == 1
    assert len(calls) == 1


def test_build_c_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError):
        build_c([GUESTS / "echo.c"], exec_model="library", cache_dir=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError):
        build_c([GUESTS / "echo.c"], exec_model="reactor", opt="2", cache_dir=tmp_path)
    with pytest.raises(InvalidParameterError):
        build_c([], exec_model="reactor", cache_dir=tmp_path)
    with pytest.raises(BuildError, match="not found"):
        build_c([tmp_path / "missing.c"], exec_model="reactor", cache_dir=tmp_path)


def test_default_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASMFAAS_BUILD_CACHE", str(tmp_path / "builds"))
    assert toolchain.default_cache_dir() == tmp_path / "builds"
    wasm = build_c([GUESTS / "noabi.c"], exec_model="reactor")
    assert wasm.parent == tmp_path / "builds"
    monkeypatch.delenv("WASMFAAS_BUILD_CACHE")
    assert toolchain.default_cache_dir() == Path.home() / ".cache" / "wasmfaas" / "builds"


def test_build_zig_reactor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wasm = build_zig(GUESTS / "echo.zig", exec_model="reactor", cache_dir=tmp_path)
    assert _exports(wasm) >= ABI_EXPORTS
    assert _import_modules(wasm) <= {"wasi_snapshot_preview1"}

    monkeypatch.setattr(subprocess, "run", _no_compiler)
    assert build_zig(str(GUESTS / "echo.zig"), exec_model="reactor", cache_dir=tmp_path) == wasm


def test_build_zig_reactor_echoes(tmp_path: Path) -> None:
    """The Zig guest speaks the ABI: the event comes back as the response."""
    wasm = build_zig(GUESTS / "echo.zig", exec_model="reactor", cache_dir=tmp_path)
    store = wasmtime.Store(wasmtime.Engine())
    linker = wasmtime.Linker(store.engine)
    linker.define_wasi()
    store.set_wasi(wasmtime.WasiConfig())
    exports = linker.instantiate(store, wasmtime.Module(store.engine, wasm.read_bytes())).exports(store)
    memory, buffer, handle = exports["memory"], exports["wasmfaas_buffer"], exports["wasmfaas_handle"]
    assert isinstance(memory, wasmtime.Memory)
    assert isinstance(buffer, wasmtime.Func) and isinstance(handle, wasmtime.Func)
    event = b'{"hello": "world"}'
    region = buffer(store, 64 + len(event))
    assert isinstance(region, int) and region != 0
    header = (1).to_bytes(4, "little") + (64).to_bytes(4, "little") + bytes(56)
    memory.write(store, header + event, region)
    record = handle(store, region, len(event))
    assert isinstance(record, int)
    raw = memory.read(store, record, record + 12)
    status, ptr, length = (int.from_bytes(raw[i : i + 4], "little") for i in (0, 4, 8))
    assert status == 0
    assert memory.read(store, ptr, ptr + length) == event


def test_unstripped_builds_name_their_frames(tmp_path: Path, platform: SyncPlatform) -> None:
    """strip=False keeps the name section: a trap's frames are the functions' names, without the module name that
    wasmtime puts first (the compiler's temporary output file)."""
    stripped = build_c([GUESTS / "trap.c"], exec_model="reactor", include_dirs=[C_SDK], cache_dir=tmp_path)
    named = build_c([GUESTS / "trap.c"], exec_model="reactor", include_dirs=[C_SDK], cache_dir=tmp_path, strip=False)
    for name, wasm in (("stripped", stripped), ("named", named)):
        platform.create_function(name, wasm.read_bytes())
    frames = platform.invoke("stripped", '"trap"').function_error.stack_trace  # type: ignore[union-attr]
    assert frames and all(re.fullmatch(r"<wasm function \d+> \(0x[0-9a-f]+\)", f) for f in frames), frames
    frames = platform.invoke("named", '"trap"').function_error.stack_trace  # type: ignore[union-attr]
    assert frames[-1].startswith("wasmfaas_handle (0x"), frames
    assert not any("!" in frame or "<wasm function" in frame for frame in frames), frames
    zig = build_zig(GUESTS / "echo.zig", exec_model="reactor", cache_dir=tmp_path, strip=False)
    assert (
        b"\x04name" in zig.read_bytes()
        and b"\x04name" not in build_zig(GUESTS / "echo.zig", exec_model="reactor", cache_dir=tmp_path).read_bytes()
    )


def test_build_zig_command_and_opt_modes(tmp_path: Path) -> None:
    src = tmp_path / "main.zig"
    src.write_text("pub fn main() void {}\n")
    safe = build_zig(src, exec_model="command", cache_dir=tmp_path / "cache")
    assert "_start" in _exports(safe)
    # ReleaseSmall, the one other mode the SDK docs name: a second mode built in the suite costs a std build (~30 s).
    small = build_zig(src, exec_model="command", opt="ReleaseSmall", cache_dir=tmp_path / "cache")
    assert small != safe
    with pytest.raises(InvalidParameterError):
        build_zig(src, exec_model="command", opt="-O2", cache_dir=tmp_path / "cache")


def test_build_zig_key_covers_imports(tmp_path: Path) -> None:
    """A change to a file the root source imports is a new build."""
    (tmp_path / "value.zig").write_text("pub const value: i32 = 1;\n")
    src = tmp_path / "fn.zig"
    src.write_text('const v = @import("value.zig");\nexport fn value() i32 {\n    return v.value;\n}\n')
    first = build_zig(src, exec_model="reactor", cache_dir=tmp_path / "cache")
    (tmp_path / "value.zig").write_text("pub const value: i32 = 2;\n")
    second = build_zig(src, exec_model="reactor", cache_dir=tmp_path / "cache")
    assert first != second
    assert "value" in _exports(second)


def test_build_zig_compile_error(tmp_path: Path) -> None:
    src = tmp_path / "bad.zig"
    src.write_text("export fn f() i32 { return undefined_name; }\n")
    with pytest.raises(BuildError, match="undefined_name"):
        build_zig(src, exec_model="reactor", cache_dir=tmp_path / "cache")


def test_build_zig_modules(tmp_path: Path) -> None:
    """A named module is importable, and its directory's files are in the key."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "mod.zig").write_text('pub const value = @import("part.zig").value;\n')
    (lib / "part.zig").write_text("pub const value: i32 = 1;\n")
    src = tmp_path / "app" / "fn.zig"
    src.parent.mkdir()
    src.write_text('const m = @import("m");\nexport fn value() i32 {\n    return m.value;\n}\n')
    cache = tmp_path / "cache"
    first = build_zig(src, exec_model="reactor", modules={"m": lib / "mod.zig"}, cache_dir=cache)
    assert "value" in _exports(first)
    (lib / "part.zig").write_text("pub const value: i32 = 2;\n")
    assert build_zig(src, exec_model="reactor", modules={"m": str(lib / "mod.zig")}, cache_dir=cache) != first

    with pytest.raises(InvalidParameterError):
        build_zig(src, exec_model="reactor", modules={"std": lib / "mod.zig"}, cache_dir=cache)
    with pytest.raises(InvalidParameterError):
        build_zig(src, exec_model="reactor", modules={"a-b": lib / "mod.zig"}, cache_dir=cache)
    with pytest.raises(BuildError, match="not found"):
        build_zig(src, exec_model="reactor", modules={"m": lib / "missing.zig"}, cache_dir=cache)


def _crate(
    root: Path, name: str, lib_rs: str, *, deps: str = "", cdylib: bool = True, workspace: bool = True
) -> Path:
    crate = root / name
    (crate / "src").mkdir(parents=True)
    manifest = f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n'
    if cdylib:
        manifest += '[lib]\ncrate-type = ["cdylib"]\n'
    manifest += f"[dependencies]\n{deps}\n"
    if workspace:
        manifest += "[workspace]\n"
    (crate / "Cargo.toml").write_text(manifest)
    (crate / "src" / "lib.rs").write_text(lib_rs)
    return crate


@needs_rust
def test_build_rust_then_cache_hit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The build must not see these: each would break it or change its output behind the key's back.
    monkeypatch.setenv("RUSTFLAGS", "--cfg leaked_env")
    monkeypatch.setenv("RUSTC", "/nonexistent/rustc")
    monkeypatch.setenv("CARGO_BUILD_TARGET", "x86_64-unknown-linux-gnu")
    crate = _crate(
        tmp_path,
        "fn_rs",
        '#[cfg(leaked_env)]\ncompile_error!("RUSTFLAGS leaked into the build");\n'
        '#[no_mangle]\npub extern "C" fn value() -> i32 {\n    7\n}\n',
    )
    cache = tmp_path / "cache"
    wasm = build_rust(crate, cache_dir=cache)
    assert wasm.parent == cache and wasm.suffix == ".wasm"
    assert {"memory", "value"} <= _exports(wasm)
    assert _import_modules(wasm) <= {"wasi_snapshot_preview1"}
    # The lock file was made before the key, so the first build's key still holds: the next call is a hit.
    assert (crate / "Cargo.lock").is_file()
    assert sorted(p.suffix for p in cache.iterdir()) == [".lock", ".wasm"]  # no target dir left behind

    monkeypatch.setattr(subprocess, "run", _no_compiler)
    assert build_rust(str(crate), cache_dir=cache) == wasm


@needs_rust
def test_build_rust_key_covers_path_dependencies(tmp_path: Path) -> None:
    dep = _crate(tmp_path, "dep", "pub const VALUE: i32 = 1;\n", cdylib=False, workspace=False)
    crate = _crate(
        tmp_path,
        "app",
        '#[no_mangle]\npub extern "C" fn value() -> i32 {\n    dep::VALUE\n}\n',
        deps='dep = { path = "../dep" }',
    )
    first = build_rust(crate, cache_dir=tmp_path / "cache")
    (dep / "src" / "lib.rs").write_text("pub const VALUE: i32 = 2;\n")
    second = build_rust(crate, cache_dir=tmp_path / "cache")
    assert first != second and first.read_bytes() != second.read_bytes()


def test_rust_inputs_follow_workspaces_and_configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a crate's key covers, without building: path dependencies (also inherited from the workspace, and
    [patch]es), the workspace root's manifest and lock file, and cargo config files up the tree and in CARGO_HOME."""
    monkeypatch.setenv("CARGO_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "config.toml").write_text("")
    (tmp_path / ".cargo").mkdir()
    (tmp_path / ".cargo" / "config").write_text("")
    ws = tmp_path / "ws"
    for d in ("app", "shared", "patched", "build_helper"):
        (ws / d).mkdir(parents=True)
        (ws / d / "Cargo.toml").write_text(f'[package]\nname = "{d}"\nversion = "0.1.0"\n')
    (ws / "Cargo.toml").write_text(
        '[workspace]\nmembers = ["app"]\n[workspace.dependencies]\nshared = { path = "shared" }\n'
        '[patch.crates-io]\nserde = { path = "patched" }\n'
    )
    (ws / "Cargo.lock").write_text("")
    (ws / "app" / "Cargo.toml").write_text(
        '[package]\nname = "app"\nversion = "0.1.0"\n[dependencies]\nshared = { workspace = true }\n'
        'serde = "1"\n[target.\'cfg(target_os = "wasi")\'.build-dependencies]\n'
        'build_helper = { path = "../build_helper" }\n'
        '[dev-dependencies]\nonly_for_tests = { path = "../nowhere" }\n'
    )
    inputs = toolchain._RustInputs(ws / "app")
    assert inputs.workspace_root == ws
    assert sorted(inputs.trees) == sorted([ws / "app", ws / "shared", ws / "patched", ws / "build_helper"])
    assert inputs.files == [
        ws / "Cargo.toml",
        ws / "Cargo.lock",
        tmp_path / ".cargo" / "config",
        tmp_path / "home" / "config.toml",
    ]


@needs_rust
def test_build_rust_errors(tmp_path: Path) -> None:
    broken = _crate(tmp_path, "broken", "pub fn f() -> i32 { undefined_name }\n")
    cache = tmp_path / "cache"
    with pytest.raises(BuildError, match="undefined_name") as info:
        build_rust(broken, cache_dir=cache)
    assert str(info.value).startswith("cargo build failed")
    assert [p.suffix for p in cache.iterdir()] == [".lock"]  # no module, temporary file or target dir left

    rlib = _crate(tmp_path, "plain", "pub fn f() {}\n", cdylib=False)
    with pytest.raises(BuildError, match="cdylib"):
        build_rust(rlib, cache_dir=cache)
    with pytest.raises(BuildError, match="not found"):
        build_rust(tmp_path / "missing", cache_dir=cache)
