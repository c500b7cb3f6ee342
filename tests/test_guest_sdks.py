"""The guest SDKs end to end: each SDK's example (C, C++ through the C header, Zig, Rust) built with
wasmfaas.toolchain and run on a platform, plus the Zig and Rust SDKs' own features (tests/guests/sdk_features.zig,
tests/guests/rust_sdk_features) and the Rust SDK's unit tests."""

from __future__ import annotations

import functools
import json
import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from wasmfaas import FunctionConfig, SyncPlatform, toolchain
from wasmfaas.toolchain import build_c, build_rust, build_zig

ROOT = Path(__file__).resolve().parent.parent
SDKS = ROOT / "guest_sdks"
GUESTS = ROOT / "tests" / "guests"
ZIG_SDK = {"wasmfaas": SDKS / "zig" / "wasmfaas.zig"}

RUST_PROBLEM = toolchain.rust_toolchain_problem()
needs_rust = pytest.mark.skipif(RUST_PROBLEM is not None, reason=f"no Rust wasm32-wasi toolchain: {RUST_PROBLEM}")

_EXAMPLES: dict[str, Callable[[], Path]] = {
    "c": lambda: build_c([SDKS / "c" / "example" / "hello.c"], exec_model="reactor", include_dirs=[SDKS / "c"]),
    "c++": lambda: build_c(
        [SDKS / "c" / "example" / "hello.cpp"], exec_model="reactor", language="c++", include_dirs=[SDKS / "c"]
    ),
    "zig": lambda: build_zig(SDKS / "zig" / "example" / "hello.zig", exec_model="reactor", modules=ZIG_SDK),
    "rust": lambda: build_rust(SDKS / "rust" / "example"),
}


@functools.cache
def _wasm(name: str) -> bytes:
    """An SDK example (by language) or feature guest, built once per session (and cached by content across)."""
    if name in _EXAMPLES:
        return _EXAMPLES[name]().read_bytes()
    if name == "c-features":
        return build_c([GUESTS / "sdk_c_features.c"], exec_model="reactor", include_dirs=[SDKS / "c"]).read_bytes()
    if name == "zig-features":
        return build_zig(GUESTS / "sdk_features.zig", exec_model="reactor", modules=ZIG_SDK).read_bytes()
    assert name == "rust-features"
    return build_rust(GUESTS / "rust_sdk_features").read_bytes()


@pytest.mark.parametrize("language", ["c", "c++", "zig", pytest.param("rust", marks=needs_rust)])
def test_hello_example(platform: SyncPlatform, language: str) -> None:
    """Every example does the same: greet, count warm invocations, log, read the context, report a handled error."""
    config = FunctionConfig(environment={"GREETING": "Howdy"}, timeout=5)
    platform.create_function("hello", _wasm(language), config=config)

    first = platform.invoke("hello", '{"name": "world"}')
    assert first.ok, first.payload
    assert first.cold_start
    body = first.json()
    assert body["message"] == "Howdy, world!"
    assert body["invocations"] == 1
    assert body["function"] == "hello"
    assert 4000 < body["remaining_ms"] <= 5000
    # The log line carries the context's request id, which must be the invocation's.
    assert f"hello: request {first.request_id}, invocation 1 of this environment\n" in first.log

    second = platform.invoke("hello", json.dumps({"name": 'wé "quoted"\n'}))
    assert second.ok and not second.cold_start
    assert second.json()["message"] == 'Howdy, wé "quoted"\n!'
    assert second.json()["invocations"] == 2
    assert f"hello: request {second.request_id}, invocation 2 of this environment\n" in second.log

    error = platform.invoke("hello", '{"nome": "typo"}')
    assert error.function_error is not None and error.function_error.kind == "Handled"
    assert error.function_error.error_type == "ValidationError"
    assert json.loads(error.payload) == {
        "errorType": "ValidationError",
        "errorMessage": 'the event needs a string field "name"',
        "stackTrace": [],
    }
    assert not error.cold_start

    third = platform.invoke("hello", '{"name": "again"}')  # a handled error keeps the environment
    assert third.ok and not third.cold_start
    assert third.json()["invocations"] == 3

    # Valid JSON that strict parsers refuse -- a lone UTF-16 surrogate (JavaScript and Python write them), or a
    # byte that is not UTF-8 -- elsewhere in the event does not hide "name"; in it, it reads as U+FFFD.
    for odd in (
        b'{"other": "lone \\udc00", "name": "ok"}',
        b'{"name": "ok", "other": "\\ud800"}',
        b'{"o": "\xff", "name": "ok"}',
    ):
        assert platform.invoke("hello", odd).json()["message"] == "Howdy, ok!", (language, odd)
    assert platform.invoke("hello", b'{"name": "a\\ud800b"}').json()["message"] == "Howdy, a\ufffdb!"


@pytest.fixture(params=["zig-features", pytest.param("rust-features", marks=needs_rust)])
def features(request: pytest.FixtureRequest, platform: SyncPlatform) -> str:
    """A function on the Zig or the Rust SDK's feature guest (its event's "action" says what to do); its name."""
    platform.create_function("features", _wasm(request.param), config=FunctionConfig(memory_mb=256, timeout=5))
    return str(request.param)


def _invoke(platform: SyncPlatform, event: object) -> tuple[object, str]:
    result = platform.invoke("features", json.dumps(event))
    assert result.ok, result.payload
    return result.json(), result.request_id


def test_features_context_and_init_once(platform: SyncPlatform, features: str) -> None:
    for n in range(3):
        result = platform.invoke("features", '{"action": "context"}')
        assert result.ok and result.cold_start == (n == 0)
        ctx = result.json()
        assert ctx.pop("remaining_ms") in range(4000, 5001)
        assert "[$LATEST]" in ctx.pop("log_stream_name")
        assert ctx == {
            "request_id": result.request_id,
            "function_name": "features",
            "function_version": "$LATEST",
            "memory_limit_mb": 256,
            "log_group_name": "/aws/lambda/features",
            "inits": 1,  # the init code ran once, at the cold start
        }


def test_features_handled_errors_are_escaped(platform: SyncPlatform, features: str) -> None:
    result = platform.invoke("features", '{"action": "error"}')
    error = result.function_error
    assert error is not None and error.kind == "Handled"
    assert error.error_type == 'Custom"Type'
    # The SDK escaped the quote, newline, tab and control character (and replaced the Zig guest's invalid UTF-8).
    invalid = " \ufffd" if features == "zig-features" else ""
    assert error.error_message == f"line\nbreak\ttab \x01{invalid} done"
    assert platform.invoke("features", '{"action": "echo"}').ok  # still warm
    assert not platform.invoke("features", '{"action": "echo"}').cold_start


@pytest.mark.parametrize("sdk", ["c-features", "zig-features", pytest.param("rust-features", marks=needs_rust)])
def test_handled_error_with_stack_trace(platform: SyncPlatform, sdk: str) -> None:
    """C's wasmfaas_error_trace, Zig's errTrace and Rust's Error::with_stack_trace give a handled error a stackTrace,
    as AssemblyScript's error(type, message, frames) does, each frame JSON-escaped (C and Zig replace invalid UTF-8;
    a NULL C frame is "")."""
    platform.create_function("f", _wasm(sdk))
    result = platform.invoke("f", '{"action": "error_trace"}')
    error = result.function_error
    assert error is not None and error.kind == "Handled", result.payload
    assert (error.error_type, error.error_message) == ("TraceError", "with frames")
    invalid = {"c-features": ["bad \ufffd", ""], "zig-features": ["bad \ufffd"]}.get(sdk, [])
    frames = ['at "parse"', "line\nbreak\t\x01", *invalid]
    assert error.stack_trace == frames
    assert json.loads(result.payload)["stackTrace"] == frames
    assert not platform.invoke("f", '{"action": "echo"}').cold_start  # handled: the environment stays


def test_features_native_errors_become_handled_errors(platform: SyncPlatform, features: str) -> None:
    """A Zig error returned by the handler, or a Rust std error passed up with `?`, is named after its type."""
    event, error_type, message = (
        ({"action": "zig_error"}, "SomethingBroke", "the handler returned error.SomethingBroke")
        if features == "zig-features"
        else ({"action": "parse", "text": "1x"}, "ParseIntError", "invalid digit found in string")
    )
    result = platform.invoke("features", json.dumps(event))
    assert result.function_error is not None and result.function_error.kind == "Handled"
    assert (result.function_error.error_type, result.function_error.error_message) == (error_type, message)


def test_features_payloads(platform: SyncPlatform, features: str) -> None:
    event = b'{"action": "echo", "bytes": "\\u00e9\xf0\x9f\x98\x80"}'
    assert platform.invoke("features", event).payload == event  # the event itself as the response
    empty = platform.invoke("features", '{"action": "empty"}')
    assert empty.ok and empty.payload == b""
    unknown = platform.invoke("features", '{"action": "nope"}')
    assert unknown.function_error is not None and unknown.function_error.error_type == "UnknownAction"
    assert unknown.function_error.error_message == "no action nope"


def test_features_logs(platform: SyncPlatform, features: str) -> None:
    result = platform.invoke("features", '{"action": "log"}')
    assert result.ok and result.payload == b"logged"
    rid = result.request_id
    if features == "zig-features":  # std.log through wf.logFn, and a line longer than wf.log's stack buffer
        assert result.guest_log == (
            f"[info] std.log line for {rid}\n[warning] (db) scoped line\nlong {'x' * 2000} end\n".encode()
        )
    else:  # print! without a newline, flushed by the SDK in order with stderr
        assert result.guest_log == f"partial stdout line for {rid}\nstderr line for {rid}\n".encode()


@pytest.mark.parametrize("sdk", ["c-features", "zig-features", pytest.param("rust-features", marks=needs_rust)])
def test_init_failure_is_reported_by_the_first_invocation(platform: SyncPlatform, sdk: str) -> None:
    """An init that fails with an error value (C's wasmfaas_fail_init, Zig's failInit, Rust's Err) is the first
    invocation's error, with its own type and message, Unhandled, as Lambda reports a failed init; the environment
    goes, so the next invocation runs init again. (It had trapped: "Runtime.InitError: Init failed: wasm trap: wasm
    unreachable instruction executed", the type and message in the log alone.)"""
    platform.create_function("broken", _wasm(sdk), config=FunctionConfig(environment={"FAIL_INIT": 'no "config"'}))
    for _ in range(2):
        result = platform.invoke("broken", '{"action": "echo"}')  # the handler would echo it: it does not run
        error = result.function_error
        assert error is not None, result.payload
        assert (error.error_type, error.error_message, error.kind) == ("ConfigMissing", 'no "config"', "Unhandled")
        assert json.loads(result.payload)["errorType"] == "ConfigMissing"
        assert result.cold_start  # init ran again
        assert 'wasmfaas: init failed: ConfigMissing: no "config"\n' in result.log


@pytest.mark.parametrize("sdk", ["c-features", "zig-features", pytest.param("rust-features", marks=needs_rust)])
def test_an_init_failure_fails_provisioned_concurrency(platform: SyncPlatform, sdk: str) -> None:
    """Environments made ahead of traffic whose init failed with an error value are a failed init (Lambda's FAILED
    status, with the guest's type and message), not ready ones that fail their first invocation."""
    config = FunctionConfig(environment={"FAIL_INIT": "no config"})
    platform.create_function("broken", _wasm(sdk), config=config, publish=True)
    platform.put_provisioned_concurrency("broken", "1", 1)
    failure = platform.provisioned_failure("broken", "1")
    assert failure is not None and (failure.error_type, failure.error_message) == ("ConfigMissing", "no config")
    assert platform.pool_stats("broken", "1").idle == 0
    result = platform.invoke("broken", '{"action": "echo"}', qualifier="1")
    assert result.cold_start and result.function_error is not None
    assert result.function_error.error_type == "ConfigMissing"


def test_zig_init_returning_an_error_is_reported_by_the_first_invocation(platform: SyncPlatform) -> None:
    platform.create_function(
        "broken", _wasm("zig-features"), config=FunctionConfig(environment={"FAIL_INIT": "error"})
    )
    result = platform.invoke("broken", '{"action": "echo"}')
    error = result.function_error
    assert error is not None and error.kind == "Unhandled"
    assert (error.error_type, error.error_message) == ("ConfigMissing", "init returned error.ConfigMissing")
    assert "wasmfaas: init failed: ConfigMissing: init returned error.ConfigMissing\n" in result.log


def test_features_init_panic_fails_the_cold_start(platform: SyncPlatform, features: str) -> None:
    """A panic in init is no error value: it traps, and the cold start fails as Runtime.InitError."""
    platform.create_function("broken", _wasm(features), config=FunctionConfig(environment={"FAIL_INIT": "panic"}))
    result = platform.invoke("broken", '{"action": "echo"}')
    assert result.function_error is not None
    assert result.function_error.error_type == "Runtime.InitError"
    assert "init boom" in result.log


def test_features_panic_traps_and_the_next_invocation_cold_starts(platform: SyncPlatform, features: str) -> None:
    platform.invoke("features", '{"action": "context"}')
    result = platform.invoke("features", '{"action": "panic"}')
    assert result.function_error is not None and result.function_error.error_type == "Runtime.Trap"
    assert "boom" in result.log
    assert platform.invoke("features", '{"action": "context"}').cold_start


def test_zig_guests_built_by_default_keep_safety_checks(platform: SyncPlatform) -> None:
    """build_zig's default mode is ReleaseSafe, as the SDK documents: an index out of bounds panics (a trap) rather
    than reading whatever memory lies past the array."""
    platform.create_function("zig", _wasm("zig-features"))
    assert platform.invoke("zig", '{"action": "oob", "n": 2}').json() == {"digit": 3}
    result = platform.invoke("zig", '{"action": "oob", "n": 5}')
    assert result.function_error is not None and result.function_error.error_type == "Runtime.Trap", result.payload
    assert b"index out of bounds" in result.guest_log


def test_zig_json_helpers(platform: SyncPlatform) -> None:
    platform.create_function("zig", _wasm("zig-features"))
    result = platform.invoke("zig", '{"action": "number", "n": -1.5e3}')
    assert result.json() == {"n": -1500.0, "parsed": -1500.0}
    missing = platform.invoke("zig", '{"n": 1}')  # parseJson: "action" is required
    assert missing.function_error is not None and missing.function_error.error_type == "MissingField"
    garbage = platform.invoke("zig", "not json")
    assert garbage.function_error is not None and garbage.function_error.error_type == "SyntaxError"


def test_zig_lookups_scan_without_building_the_event(platform: SyncPlatform) -> None:
    """getString/getNumber skip the values they pass over, as the other SDKs' lookups do: a 6 MB event of a 3M-element
    array fits a 128 MB function (a std.json tree of it did not), and fields before a malformed part are found."""
    platform.create_function("zig", _wasm("zig-features"), config=FunctionConfig(memory_mb=128, timeout=10))
    data = b",".join([b"1"] * 3_000_000)
    big = platform.invoke("zig", b'{"action": "lookup", "name": "x", "data": [' + data + b'], "n": 2}')
    assert big.ok, big.payload
    assert big.json() == {"name": "x", "n": 2.0}
    assert big.max_memory_used_mb < 32
    malformed = platform.invoke("zig", b'{"action": "lookup", "name": "a\\u00e9\\ud800\xff", "n": -1.5e3, "x": [}')
    assert malformed.json() == {"name": "a\u00e9\ufffd\ufffd", "n": -1500.0}
    escaped_key = platform.invoke(
        "zig", b'{"action": "lookup", "x": {"name": "inner"}, "n\\u0061me": "y", "name": 1}'
    )
    assert escaped_key.json() == {"name": "y", "n": None}


@pytest.mark.parametrize("sdk", ["c-features", "zig-features", pytest.param("rust-features", marks=needs_rust)])
def test_json_number_lookup_follows_the_json_grammar(platform: SyncPlatform, sdk: str) -> None:
    """One rule in every SDK (AssemblyScript's is pinned in its own tests): a value that is not a JSON number, such as
    01, is "not a number" (C: 0 returned, Zig: null, Rust: None), not the number its valid prefix reads as."""
    platform.create_function("f", _wasm(sdk))
    cases = {"42": 42.0, "-1.5e3": -1500.0, "2 ": 2.0, "01": None, "-01": None, "1.5x": None, "1.": None, "-": None}
    for value, expected in cases.items():
        event = '{"action": "lookup", "name": "x", "n": ' + value + "}"
        assert platform.invoke("f", event).json() == {"name": "x", "n": expected} | (
            {"flag": None} if sdk == "rust-features" else {}
        ), (sdk, value)


def test_zig_ok_json_writes_non_finite_floats_as_null(platform: SyncPlatform) -> None:
    # As C and Rust do: std.json alone wrote inf (not JSON, so .json() would raise) and NaN as the string "nan".
    platform.create_function("zig", _wasm("zig-features"))
    result = platform.invoke("zig", '{"action": "nonfinite"}')
    assert result.ok, result.payload
    assert result.json() == {
        "inf": None,
        "nan": None,
        "opt": None,
        "list": [None, 1.5],
        "tuple": [None, 2],
        "value": {"v": None},
    }


@pytest.mark.parametrize("action", ["oom", "oom_sdk"])
def test_zig_sdk_out_of_memory_is_reported_as_such(platform: SyncPlatform, action: str) -> None:
    # Far below the limit (the host infers out of memory only within 1/16 of it): the SDK says so itself (status 2).
    platform.create_function("zig", _wasm("zig-features"), config=FunctionConfig(memory_mb=256))
    assert platform.invoke("zig", '{"action": "context"}').ok
    result = platform.invoke("zig", json.dumps({"action": action}))
    error = result.function_error
    assert error is not None, result.payload
    assert (error.error_type, error.kind) == ("Runtime.OutOfMemory", "Unhandled"), error
    assert error.error_message == (  # Lambda's words for a runtime that exited
        f"RequestId: {result.request_id} Error: Runtime exited with error: out of memory (an allocation failed)"
    )
    assert result.max_memory_used_mb < 240 and b"wasmfaas: out of memory\n" in result.guest_log
    assert platform.invoke("zig", '{"action": "context"}').cold_start  # the environment was replaced


@needs_rust
def test_rust_json_helpers(platform: SyncPlatform) -> None:
    platform.create_function("rust", _wasm("rust-features"))
    event = '{"action": "lookup", "name": "a\\u00e9\\ud83d\\ude00\\"", "n": -1.5e3, "flag": false, "x": [1, "}"]}'
    assert platform.invoke("rust", event).json() == {"name": 'aé😀"', "n": -1500.0, "flag": False}
    nothing = platform.invoke("rust", '{"action": "lookup", "name": 1}')
    assert nothing.json() == {"name": None, "n": None, "flag": None}


@needs_rust
def test_rust_sdk_unit_tests(tmp_path: Path) -> None:
    """The crate's own tests (JSON scanning and writing, errors), run natively with Debian's cargo."""
    proc = subprocess.run(
        [str(toolchain.CARGO), "test", "--offline", "--quiet", "--target-dir", str(tmp_path)],
        cwd=SDKS / "rust",
        env={"PATH": "/usr/bin:/bin", "RUSTC": str(toolchain.RUSTC), "HOME": str(Path.home())},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test result: ok" in proc.stdout


@pytest.mark.parametrize("case", ["json", "copy", "error", "own"])
def test_c_sdk_out_of_memory_is_reported_as_such(
    platform: SyncPlatform, guest: Callable[[str], bytes], case: str
) -> None:
    # Far below the limit (the host infers out of memory only within 1/16 of it): the SDK says so itself (status 2).
    # The json case writes 64 MiB: a timeout for slow machines, not the 3 s default.
    platform.create_function("oom", guest("sdk_oom"), config=FunctionConfig(memory_mb=128, timeout=30))
    assert platform.invoke("oom", "{}").payload == b"ok 1"
    result = platform.invoke("oom", json.dumps(case))
    error = result.function_error
    assert error is not None, result.payload
    assert (error.error_type, error.kind) == ("Runtime.OutOfMemory", "Unhandled"), error
    assert error.error_message == (  # Lambda's words for a runtime that exited
        f"RequestId: {result.request_id} Error: Runtime exited with error: out of memory (an allocation failed)"
    )
    assert result.max_memory_used_mb < 120  # not the host's inference near the cap
    assert (b"wasmfaas: out of memory\n" in result.guest_log) == (case != "own")
    after = platform.invoke("oom", "{}")
    assert after.payload == b"ok 1" and after.cold_start  # the environment was replaced


def test_c_sdk_copy_takes_no_more_than_malloc_would(platform: SyncPlatform) -> None:
    """zig cc's malloc rounds a block up to a power of two, header included: the SDK's buffer grew to 64 MB for a
    40 MB copy, a block of 128 MB that a 128 MB function cannot have; it is now a 64 MB block (beside the guest's own
    40 MB)."""
    platform.create_function("c", _wasm("c-features"), config=FunctionConfig(memory_mb=128))
    result = platform.invoke("c", '{"action": "copy"}')
    assert result.ok, result.payload
    assert result.payload == b"copied"


def test_c_sdk_ok_null_is_an_empty_response(platform: SyncPlatform) -> None:
    # wasmfaas_ok(NULL, 5) had answered with the 5 bytes from the "" literal on.
    platform.create_function("c", _wasm("c-features"))
    result = platform.invoke("c", '{"action": "nullok"}')
    assert result.ok and result.payload == b""


@pytest.mark.parametrize(
    ("sdk", "how"), [("c-features", "quote:"), ("zig-features", "quote:"), ("zig-features", "quoteerr:")]
)
def test_sdk_json_strings_are_escaped_as_python_decodes(platform: SyncPlatform, sdk: str, how: str) -> None:
    """The SDKs' JSON strings read back as the bytes decoded with errors="replace" (one U+FFFD per maximal invalid
    prefix, as Unicode recommends and Python does): escapes, control characters, runs of plain text copied whole
    beside them, and sequences cut short at the end. Zig's okJson goes through std.json (which wrote bytes that are
    not UTF-8 as an array of numbers), its err through the SDK's own escaper."""
    platform.create_function("f", _wasm(sdk))
    rng = random.Random(7)
    alphabet = [b"a", b"Z", b" ", b'"', b"\\", b"\x00", b"\x1f", b"\n", b"\t", b"\x7f", "\u00e9".encode(),
                "\u20ac".encode(), "\U0001f600".encode(), b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xff", b"\xc0\xaf",
                b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"]  # fmt: skip
    cases = [b"", b"plain", bytes(range(256)), b"x" * 100_000 + b'"' + b"y" * 100_000, b"end \xe2\x82"]
    cases += [b"".join(rng.choices(alphabet, k=rng.randrange(1, 60))) for _ in range(200)]
    for raw in cases:
        result = platform.invoke("f", how.encode() + raw)
        if how == "quoteerr:":
            assert result.function_error is not None, (raw, result.payload)
            assert result.function_error.error_message == raw.decode("utf-8", "replace"), raw
        else:
            assert result.ok, (raw, result.payload)
            assert json.loads(result.payload) == [raw.decode("utf-8", "replace")], raw


def test_c_sdk_json_get_string_decodes_as_the_other_sdks(platform: SyncPlatform) -> None:
    """wasmfaas_json_get_string resolves escapes and reads invalid UTF-8 and lone surrogates as U+FFFD (it had passed
    raw bytes through, unlike the Zig, Rust and AssemblyScript readers); plain runs are copied whole, and a small
    buffer gets the first bytes and the full length, as snprintf does. Keys are matched the same way."""
    platform.create_function("c", _wasm("c-features"))
    pieces = [(b"a", "a"), (b"Z b", "Z b"), (b"\\n", "\n"), (b'\\"', '"'), (b"\\/", "/"), (b"\\u00e9", "\u00e9"),
              (b"\\ud83d\\ude00", "\U0001f600"), (b"\\ud800", "\ufffd"), (b"\\u0000", "\x00"),
              ("\u00e9\u20ac".encode(), "\u00e9\u20ac"), ("\U0001f600".encode(), "\U0001f600"), (b"\xff", "\ufffd"),
              (b"\xe2\x82", "\ufffd"), (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"), (b"\xc0\xaf", "\ufffd\ufffd"),
              (b"x" * 5000, "x" * 5000)]  # fmt: skip
    rng = random.Random(11)
    for _ in range(150):
        chosen = rng.choices(pieces, k=rng.randrange(0, 12))
        raw, expected = b"".join(p[0] for p in chosen), "".join(p[1] for p in chosen).encode()
        result = platform.invoke("c", b'{"x": "skip \\" \xff me", "action": "getraw", "name": "' + raw + b'"}')
        assert result.payload == b"%d:%s" % (len(expected), expected), raw
    event = b'{"action": "getraw", "name": "abc\xffdef\\u00e9", "n": 6}'
    assert platform.invoke("c", event).payload == b"11:abc\xef\xbf"  # cut short like snprintf
    keyed = b'{"action": "getraw", "n\xffme": "no", "n\\u0061me": "yes"}'
    assert platform.invoke("c", keyed).payload == b"3:yes"


def test_zig_sdk_json_deeper_than_std_json_allows_is_a_marshal_error(platform: SyncPlatform) -> None:
    """std.json's writer asserts at most 256 levels in safe builds: a handler echoing a valid event of 257 levels had
    panicked (Runtime.Trap, the environment lost). It is Runtime.MarshalError, as in the Python and JS runtimes."""
    platform.create_function("zig", _wasm("zig-features"))
    deepest = "[" * 256 + "]" * 256
    assert platform.invoke("zig", "value:" + deepest).payload == deepest.encode()
    for depth in (257, 5000):
        result = platform.invoke("zig", "value:" + '{"a":' * (depth - 1) + "[]" + "}" * (depth - 1))
        error = result.function_error
        assert error is not None and error.error_type == "Runtime.MarshalError", result.payload
        assert error.error_message == "Unable to marshal response: nested deeper than 256 levels"
    assert not platform.invoke("zig", "value:[1]").cold_start  # the environment was kept
    # A void payload ({"leaf":{}}) is two levels std.json opens itself: at 255 it would pass 256.
    fits = platform.invoke("zig", '{"action": "unions", "n": 126}')
    assert fits.ok and fits.payload.startswith(b'[{"list":[{"list":') and fits.payload.count(b"{") == 128
    deep = platform.invoke("zig", '{"action": "unions", "n": 127}')
    assert deep.function_error is not None and deep.function_error.error_type == "Runtime.MarshalError", deep.payload


def test_c_sdk_state_is_shared_by_every_file(platform: SyncPlatform) -> None:
    """An SDK allocation failing in a second .c file is Runtime.OutOfMemory, as in the handler's own file: both see
    one SDK state (with a state per file, the second one's was "not in an invocation", so it trapped)."""
    sources = [GUESTS / "two_files" / "main.c", GUESTS / "two_files" / "reply.c"]
    code = build_c(sources, exec_model="reactor", include_dirs=[SDKS / "c"])
    platform.create_function("two", code.read_bytes(), config=FunctionConfig(memory_mb=128))
    assert platform.invoke("two", '{"mb": 1}').payload == b"z" * (1 << 20)
    result = platform.invoke("two", '{"mb": 40}')  # malloc rounds 40 MB to 64: no room for a copy
    error = result.function_error
    assert error is not None and (error.error_type, error.kind) == ("Runtime.OutOfMemory", "Unhandled"), error
    assert b"wasmfaas: out of memory\n" in result.guest_log


@pytest.mark.parametrize(
    ("case", "logged"), [("at", "out_of_range"), ("stoi", "invalid_argument"), ("new", "bad_alloc")]
)
def test_cplusplus_exceptions_abort(platform: SyncPlatform, case: str, logged: str) -> None:
    # No exception runtime on wasm32-wasi: what would throw aborts (guest_sdks/c/wasmfaas.h says so).
    code = build_c([GUESTS / "throws.cpp"], exec_model="reactor", language="c++", include_dirs=[SDKS / "c"])
    platform.create_function("throws", code.read_bytes())
    assert platform.invoke("throws", "{}").payload == b"ok"
    result = platform.invoke("throws", json.dumps(case))
    error = result.function_error
    assert error is not None and (error.error_type, error.kind) == ("Runtime.Trap", "Unhandled"), error
    assert f"{logged} was thrown in -fno-exceptions mode".encode() in result.guest_log
    assert platform.invoke("throws", "{}").cold_start  # the environment was discarded
