"""The AssemblyScript SDK (guest_sdks/assemblyscript) and its build helper, wasmfaas.toolchain_as.

Functions are built into the default build cache (a build runs binaryen's optimiser: seconds), so a second run of the
suite reuses them; the tests of the helper itself build into tmp dirs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wasmfaas import FunctionConfig, SyncPlatform, toolchain_as
from wasmfaas.errors import BuildError, InvalidParameterError
from wasmfaas.toolchain_as import build_assemblyscript

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not on PATH: the AssemblyScript compiler runs on Node.js"
)

ROOT = Path(__file__).resolve().parent.parent
HELLO = ROOT / "guest_sdks" / "assemblyscript" / "example" / "hello.ts"
FEATURES = ROOT / "tests" / "guests" / "assemblyscript" / "features.ts"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncPlatform]:
    with SyncPlatform(data_dir=tmp_path_factory.mktemp("data")) as p:
        yield p


@pytest.fixture(scope="module")
def features(platform: SyncPlatform) -> str:
    code = build_assemblyscript(FEATURES).read_bytes()
    config = FunctionConfig(memory_mb=128, timeout=5.0, environment={"MY_VAR": "v\u00e9 = x"})
    platform.create_function("as-features", code, config=config)
    return "as-features"


def _call(platform: SyncPlatform, name: str, event: dict[str, Any]) -> Any:
    result = platform.invoke(name, json.dumps(event).encode())
    assert result.function_error is None, result.payload
    return result.json()


# ---- the example ---------------------------------------------------------------------------------------------------


def test_hello_example(platform: SyncPlatform) -> None:
    code = build_assemblyscript(HELLO).read_bytes()
    platform.create_function("as-hello", code, config=FunctionConfig(environment={"GREETING": "Hej"}))

    first = platform.invoke("as-hello", b'{"name": "world"}')
    assert first.function_error is None, first.payload
    assert first.cold_start
    body = first.json()
    assert body["message"] == "Hej, world!"
    assert body["invocations"] == 1
    assert body["function"] == "as-hello"
    assert body["request_id"] == first.request_id
    assert 0 < body["remaining_ms"] <= 3000
    assert f"hello: request {first.request_id}, invocation 1 of this environment" in first.log

    second = platform.invoke("as-hello", b'{"name": "again"}')
    assert not second.cold_start
    assert second.json()["invocations"] == 2  # global state survives a warm invocation
    assert second.json()["request_id"] == second.request_id != first.request_id

    missing = platform.invoke("as-hello", b'{"nom": "x"}')
    assert missing.function_error is not None
    assert missing.function_error.kind == "Handled"
    assert missing.function_error.error_type == "ValidationError"
    assert missing.function_error.error_message == 'the event needs a string field "name"'

    after = platform.invoke("as-hello", b'{"name": "still warm"}')
    assert not after.cold_start  # a handled error keeps the environment
    assert after.json()["invocations"] == 3


# ---- the SDK's features --------------------------------------------------------------------------------------------


def test_context(platform: SyncPlatform, features: str) -> None:
    platform.update_function_configuration(features, memory_mb=256)
    before = time.time() * 1000
    result = platform.invoke(features, b'{"action": "context"}')
    body = result.json()
    assert body["request_id"] == result.request_id
    assert body["function_name"] == features
    assert body["function_version"] == "$LATEST"
    assert body["memory_limit_mb"] == 256
    assert body["log_group"] == f"/aws/lambda/{features}"
    assert body["log_stream"]
    assert before + 4000 <= body["deadline_ms"] <= time.time() * 1000 + 5000
    assert 0 < body["remaining_ms"] <= 5000


def test_log_lines_in_order(platform: SyncPlatform, features: str) -> None:
    result = platform.invoke(features, b'{"action": "console"}')
    assert result.function_error is None
    lines = result.guest_log.decode().splitlines()
    assert lines[-4:] == ["console.log line", "console.error line", "sdk log line", "trace: traced 1.5, 2.0"]


def test_long_log_lines_arrive_whole(platform: SyncPlatform, features: str) -> None:
    result = platform.invoke(features, b'{"action": "longlog"}')
    assert result.function_error is None, result.payload
    line = "\u00e9\U0001f600" * 20000
    assert result.guest_log.decode().splitlines()[-2:] == [line, line]


def test_init_runs_once_per_environment(platform: SyncPlatform, features: str) -> None:
    platform.update_function_configuration(features, environment={"MY_VAR": "v\u00e9 = x", "FRESH": "1"})
    cold = platform.invoke(features, b'{"action": "time"}')
    assert cold.cold_start and "features: init" in cold.log
    warm = platform.invoke(features, b'{"action": "time"}')
    assert not warm.cold_start and "features: init" not in warm.log
    assert warm.json()["inits"] == 1
    assert warm.json()["init_at"] == cold.json()["init_at"]


def test_clocks_and_random(platform: SyncPlatform, features: str) -> None:
    before = int(time.time() * 1000)
    body = _call(platform, features, {"action": "time"})
    after = int(time.time() * 1000)
    assert before - 5 <= body["now"] <= after + 5
    assert before - 5 <= body["date_now"] <= after + 5  # Date.now() is aliased onto WASI's clock
    values = {_call(platform, features, {"action": "random"}) for _ in range(3)}
    assert len(values) == 3 and all(0 <= v < 1 for v in values)


def test_getenv(platform: SyncPlatform, features: str) -> None:
    assert _call(platform, features, {"action": "env"}) == "v\u00e9 = x"


def test_handled_error_with_stack_trace(platform: SyncPlatform, features: str) -> None:
    result = platform.invoke(features, b'{"action": "error"}')
    error = result.function_error
    assert error is not None and error.kind == "Handled"
    assert (error.error_type, error.error_message) == ("MyError", 'line 1\n"quoted"')
    assert error.stack_trace == ["at a", "at b"]


def test_throw_traps_with_the_message_in_the_log(platform: SyncPlatform, features: str) -> None:
    result = platform.invoke(features, b'{"action": "throw"}')
    assert result.function_error is not None and result.function_error.kind == "Unhandled"
    assert result.function_error.error_type == "Runtime.Trap"
    assert "abort: boom from handler in features.ts(" in result.log
    assert platform.invoke(features, b'{"action": "random"}').cold_start  # the environment was discarded


def test_fail_init_is_reported_by_the_first_invocation(platform: SyncPlatform) -> None:
    """failInit's error is the first invocation's, with its own type and message, Unhandled (as Lambda reports a
    failed init), and the next invocation runs init again; a throw in init still traps (Runtime.InitError)."""
    code = build_assemblyscript(FEATURES).read_bytes()
    platform.create_function("as-broken", code, config=FunctionConfig(environment={"FAIL_INIT": 'no "config"'}))
    for _ in range(2):
        result = platform.invoke("as-broken", b'{"action": "echo"}')  # the handler would echo it: it does not run
        error = result.function_error
        assert error is not None, result.payload
        assert (error.error_type, error.error_message, error.kind) == ("ConfigMissing", 'no "config"', "Unhandled")
        assert result.cold_start
        assert 'wasmfaas: init failed: ConfigMissing: no "config"\n' in result.log
    platform.update_function_configuration("as-broken", environment={"FAIL_INIT": "throw"})
    thrown = platform.invoke("as-broken", b'{"action": "echo"}')
    assert thrown.function_error is not None and thrown.function_error.error_type == "Runtime.InitError"
    assert "abort: init boom in features.ts(" in thrown.log


def test_ok_bytes_echo_and_region_growth(platform: SyncPlatform, features: str) -> None:
    for size in (10, 100_000, 2_000_000, 50):  # the region grows, then is reused
        event = json.dumps({"action": "echo", "pad": "\u00e9" * size}, ensure_ascii=False).encode()
        result = platform.invoke(features, event)
        assert result.function_error is None
        assert result.payload == event


def _lookup(platform: SyncPlatform, name: str, action: str, doc: str, key: str = "k") -> Any:
    return _call(platform, name, {"action": action, "doc": doc, "key": key})


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ('{"k": "plain"}', "plain"),
        ('  {"a": {"k": "nested"}, "b": [1, "}", {"c": []}], "k": "top"}  ', "top"),
        ('{"k": "esc \\" \\\\ \\/ \\b\\f\\n\\r\\t"}', 'esc " \\ / \b\f\n\r\t'),
        ('{"k": "\\u00e9\\ud83d\\ude00 \\ud800 x"}', "\u00e9\U0001f600 \ufffd x"),
        ('{"\\u006b": "escaped key"}', "escaped key"),
        ('{"k": "first", "k": "second"}', "first"),
        ('{"kk": "longer key", "k\\u0000": "nul", "K": "case"}', None),
        ('{"k": 42}', None),
        ('{"k": "unterminated}', None),
        ('{"k": "raw \n control"}', None),
        ('{"x": tru, "k": "after a bad value"}', None),
        ('["k", "v"]', None),
        ("", None),
        ("{}", None),
    ],
)
def test_json_get_string(platform: SyncPlatform, features: str, doc: str, expected: str | None) -> None:
    assert _lookup(platform, features, "string", doc) == expected


def test_json_get_string_non_ascii_key(platform: SyncPlatform, features: str) -> None:
    doc = '{"\\u00e9\\ud83d\\ude00": "found"}'  # the key in JSON escapes, a surrogate pair among them
    assert _lookup(platform, features, "string", doc, key="\u00e9\U0001f600") == "found"


def test_json_get_string_invalid_utf8(platform: SyncPlatform, features: str) -> None:
    event = b'{"action": "string", "k": "a\xff\xe2\x82b\xed\xa0\x80c\xf0\x9f\x98\x80"}'
    # Each maximal invalid subpart is one U+FFFD; an encoded surrogate (ED A0 80) is three.
    assert platform.invoke(features, event).json() == "a\ufffd\ufffdb\ufffd\ufffd\ufffdc\U0001f600"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("42", 42),
        ("-1.5e3", -1500),
        ("0.25", 0.25),
        ("1E2", 100),
        ('"42"', None),
        ("01", None),
        ("1.5x", None),
        ("-", None),
        ("true", None),
    ],
)
def test_json_get_number(platform: SyncPlatform, features: str, value: str, expected: float | None) -> None:
    assert _lookup(platform, features, "number", '{"n": 1, "k": ' + value + "}") == expected


def test_json_quote(platform: SyncPlatform, features: str) -> None:
    text = 'quote " backslash \\ ctl \x00\x01\x1f\t\n\r\b\f unicode \u00e9 \U0001f600 /'
    result = platform.invoke(features, json.dumps({"action": "quote", "text": text}).encode())
    assert result.json() == text
    assert b"\\u0000\\u0001\\u001f\\t\\n\\r\\b\\f" in result.payload


def test_incremental_runtime_frees_garbage_within_an_invocation(platform: SyncPlatform, features: str) -> None:
    # 256 MB of short-lived buffers under a 128 MB limit.
    assert _call(platform, features, {"action": "garbage"}) == sum(range(64))


def test_incremental_runtime_frees_garbage_of_earlier_invocations(platform: SyncPlatform) -> None:
    # A 40 MB temporary buffer per invocation under a 128 MB limit: the incremental collector alone had not freed the
    # earlier invocations' buffers by the 5th (Runtime.OutOfMemory); the SDK collects fully once past half the limit.
    code = build_assemblyscript(FEATURES).read_bytes()
    platform.create_function("as-temp", code, config=FunctionConfig(memory_mb=128))
    for n in range(10):
        result = platform.invoke("as-temp", b'{"action": "temp40"}')
        assert result.function_error is None, (n, result.payload)
        assert n == 0 or not result.cold_start


def test_minimal_runtime_collects_between_invocations(platform: SyncPlatform) -> None:
    code = build_assemblyscript(FEATURES, runtime="minimal").read_bytes()
    platform.create_function("as-minimal", code, config=FunctionConfig(memory_mb=128))
    event = json.dumps({"action": "quote", "text": "x" * 50_000}).encode()
    for _ in range(300):  # ~200 KB of garbage each: 60 MB if nothing were collected
        result = platform.invoke("as-minimal", event)
        assert result.function_error is None
    assert result.max_memory_used_mb < 16
    # ... but garbage made within one invocation stays until it ends: the documented trade-off.
    big = platform.invoke("as-minimal", b'{"action": "garbage"}')
    assert big.function_error is not None and big.function_error.error_type == "Runtime.OutOfMemory"


# ---- the build helper ----------------------------------------------------------------------------------------------


def _entry(tmp_path: Path, source: str, name: str = "index.ts") -> Path:
    src = tmp_path / "fn" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(source)
    return src


_MINIMAL = """\
import { Context, Result, register, ok } from "wasmfaas";
export { wasmfaas_buffer, wasmfaas_handle } from "wasmfaas";
register((ctx: Context, event: Uint8Array): Result => ok(ctx.awsRequestId));
"""


def test_cache_hit_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _entry(tmp_path, _MINIMAL)
    cache = tmp_path / "cache"
    wasm = build_assemblyscript(src, cache_dir=cache)
    assert wasm.parent == cache and wasm.name.startswith("as-") and wasm.suffix == ".wasm"
    assert not list(cache.glob(".*"))  # no temporary file left behind

    def no_compiler(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("asc ran on a cache hit")

    monkeypatch.setattr(subprocess, "run", no_compiler)
    assert build_assemblyscript(str(src), cache_dir=cache) == wasm
    monkeypatch.undo()

    # Any .ts file beside the entry is in the key (it may be imported); other files are not.
    (src.parent / "notes.txt").write_text("not a source")
    assert build_assemblyscript(src, cache_dir=cache) == wasm
    (src.parent / "lib").mkdir()
    (src.parent / "lib" / "util.ts").write_text("export const x = 1;\n")
    other = build_assemblyscript(src, cache_dir=cache)
    assert other != wasm
    assert build_assemblyscript(src, cache_dir=cache, runtime="stub") not in (wasm, other)


def test_compile_error_is_a_build_error(tmp_path: Path) -> None:
    src = _entry(tmp_path, _MINIMAL + "let x: i32 = undefinedThing;\n")
    with pytest.raises(BuildError, match=r"(?s)asc failed.*undefinedThing.*index\.ts\(4,"):
        build_assemblyscript(src, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.wasm"))


def test_javascript_host_import_is_refused(tmp_path: Path) -> None:
    src = _entry(tmp_path, _MINIMAL + "const t = performance.now();\n")
    with pytest.raises(BuildError, match=r"env\.performance\.now.*only WASI preview 1"):
        build_assemblyscript(src, cache_dir=tmp_path / "cache")


def test_missing_abi_exports_are_refused(tmp_path: Path) -> None:
    src = _entry(tmp_path, _MINIMAL.replace('export { wasmfaas_buffer, wasmfaas_handle } from "wasmfaas";\n', ""))
    with pytest.raises(BuildError, match=r"does not export wasmfaas_buffer and wasmfaas_handle"):
        build_assemblyscript(src, cache_dir=tmp_path / "cache")


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="entry file not found"):
        build_assemblyscript(tmp_path / "nope.ts", cache_dir=tmp_path)
    with pytest.raises(BuildError, match=r"ends in \.ts"):
        build_assemblyscript(_entry(tmp_path, "", name="index.js"), cache_dir=tmp_path)
    with pytest.raises(InvalidParameterError, match="runtime"):
        build_assemblyscript(HELLO, cache_dir=tmp_path, runtime="gc")  # type: ignore[arg-type]


def test_missing_node_modules_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(toolchain_as, "SDK_DIR", tmp_path / "sdk")
    with pytest.raises(BuildError, match=r"npm ci --prefix guest_sdks/assemblyscript"):
        build_assemblyscript(HELLO, cache_dir=tmp_path)
