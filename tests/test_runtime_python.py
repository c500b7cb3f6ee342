"""The Python runtime end to end through the engine: a zip of sources in, Lambda's handler semantics out."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from zip_helpers import assert_each_cold_start_fails, zip_of

from wasmfaas import FunctionConfig, GuestKind, InvalidPayloadError, SyncPlatform, invoker
from wasmfaas.guests import component
from wasmfaas.runtimes import PYTHON

APP = """\
import asyncio
import decimal
import logging
import os
import sys
from time import sleep  # bound at import: the runtime's sleep, which a timeout stops

import helpers.text

logger = logging.getLogger()
START_COUNT = 0
LEAKED = []
calls = 0
START_COUNT += 1  # module-level code: once per environment (the cold start)
print("module loaded")
if os.environ.get("BOOM"):
    raise RuntimeError("init boom")
sleep(float(os.environ.get("INIT_SLEEP", "0")))  # a slow init


async def doubled(n):
    await asyncio.sleep(0.01 * n)
    return n * 2


async def gathered():
    queue = asyncio.Queue()
    await queue.put("queued")
    try:
        await asyncio.wait_for(asyncio.sleep(5), 0.05)
        timed = "no"
    except TimeoutError:
        timed = "yes"
    gathered = await asyncio.gather(*(doubled(i) for i in range(4)))
    return {"gathered": gathered, "queue": await queue.get(), "timed": timed}


def handler(event, context):
    global calls
    calls += 1
    action = event.get("action")
    print("handling", action, context.aws_request_id)
    logger.warning("warned about %s", action)
    if action == "fail":
        raise KeyError("no such thing")
    if action == "fail-like-exit":
        raise RuntimeError("Runtime exited the queue: retry later")
    if action == "surrogate":
        raise ValueError("bad \\udcff here")
    if action == "unprintable":
        class Unprintable(Exception):
            def __str__(self):
                raise RuntimeError("no words")
        raise Unprintable()
    if action == "loop":
        while True:
            pass
    if action == "exit":
        sys.exit(3)
    if action == "hog":
        hoard = []
        while True:
            hoard.append(bytearray(8 * 1024 * 1024))
    if action == "sleep":
        sleep(event["seconds"])
        return "rested"
    if action == "sleep-decimal":
        sleep(decimal.Decimal(event["seconds"]))
        return "rested"
    if action == "print-big":
        print("p" * event["size"])
        print("after")
        return "printed"
    if action == "select":
        import select
        select.select([], [], [], event["seconds"])
        return "rested"
    if action == "poll":
        import select
        select.poll().poll(event["seconds"] * 1000)
        return "rested"
    if action == "decimals":
        D = decimal.Decimal
        return {"big": D("1234567890123456789"), "three": D("3"), "frac": D("1.20"), "nan": D("NaN"),
                "neg_inf": D("-Infinity"), "text": "héllo €", "list": [D("0.1")], "look_alike": "wasmfaas-decimal-0"}
    if action == "surrogate-result":
        return {"s": "a\\ud800b"}
    if action == "big":
        return "x" * event["size"]
    if action == "async":
        return asyncio.run(gathered())
    if action == "async-sleep":
        return asyncio.run(asyncio.sleep(60))
    if action == "async-thread":
        return asyncio.run(asyncio.to_thread(len, "abc"))
    if action == "stdlib":
        import hashlib, importlib.metadata, time

        context.log("logged by context.log\\n")
        return {
            "pbkdf2": hashlib.pbkdf2_hmac("sha256", b"secret", b"salt", 1000, 20).hex(),
            "codecs": ["Привет".encode("cp1251").hex(), "é".encode("mac_roman").hex(), "é".encode("cp437").hex()],
            "process_time": time.process_time() >= 0,
            "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
            "version": importlib.metadata.version("helpers"),
        }
    if action == "pool":
        from concurrent.futures import ThreadPoolExecutor, as_completed

        with ThreadPoolExecutor(max_workers=4) as pool:
            squares = list(pool.map(lambda n: n * n, range(5)))
            failed = pool.submit(int, "x")
            done = [f.result() for f in as_completed([pool.submit(len, "ab")])]
        return {"squares": squares, "error": type(failed.exception()).__name__, "done": done}
    if action == "leak":
        sleep(event.get("first", 0))
        LEAKED.append(bytearray(60 * 1024 * 1024))
        return len(LEAKED)
    return {
        "shout": helpers.text.shout(event.get("name", "world")),
        "calls": calls,
        "start_count": START_COUNT,
        "greeting": os.environ.get("GREETING"),
        "lambda_env": [os.environ.get(k) for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV")],
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
        },
        "echo": event,
    }
"""


SOURCE = zip_of(
    {
        "app.py": APP,
        "helpers/__init__.py": "",
        "helpers/text.py": "def shout(s):\n    return s.upper() + '!'\n",
        # pip install --target leaves this beside a package: importlib.metadata reads the version from it
        "helpers-1.2.3.dist-info/METADATA": "Metadata-Version: 2.1\nName: helpers\nVersion: 1.2.3\n",
    }
)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncPlatform]:
    with SyncPlatform(data_dir=tmp_path_factory.mktemp("py-data")) as p:
        p.create_function(
            "py",
            SOURCE,
            runtime=PYTHON,
            handler="app.handler",
            config=FunctionConfig(environment={"GREETING": "hi"}, timeout=1, memory_mb=256),
        )
        yield p


def test_hello_json_context_and_logs(platform: SyncPlatform) -> None:
    info = platform.get_function("py")
    assert info.kind is GuestKind.COMPONENT and info.runtime == "python3.14"
    result = platform.invoke("py", json.dumps({"action": "hello", "name": "ada", "nested": [1, {"a": None}]}))
    assert result.ok, result.payload
    body = result.json()
    assert body["shout"] == "ADA!" and body["greeting"] == "hi"
    assert body["lambda_env"] == ["us-east-1", "us-east-1", "AWS_Lambda_python3.14"]
    assert body["echo"] == {"action": "hello", "name": "ada", "nested": [1, {"a": None}]}
    ctx = body["context"]
    assert ctx["aws_request_id"] == result.request_id
    assert (ctx["function_name"], ctx["function_version"]) == ("py", "$LATEST")
    assert ctx["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:py"
    qualified = platform.invoke("py", b'{"action": "hello"}', qualifier="$LATEST").json()["context"]
    assert qualified["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:py:$LATEST"
    assert str(ctx["memory_limit_in_mb"]) == "256"
    assert ctx["log_group_name"] == "/aws/lambda/py" and ctx["log_stream_name"]
    assert 0 < ctx["remaining"] <= 1000
    assert f"handling hello {result.request_id}" in result.log
    assert "warned about hello" in result.log


def test_a_single_source_file_is_a_package_of_that_file(platform: SyncPlatform, tmp_path: Path) -> None:
    # As `wasmfaas deploy greet.py` takes it (the API had read the file as a zip: "ZipFile: not a valid zip archive").
    source = tmp_path / "greet.py"
    source.write_text("def handler(event, context):\n    return {'hi': event['name']}\n")
    platform.create_function("one", source, runtime=PYTHON, handler="greet.handler")
    assert platform.invoke("one", '{"name": "ada"}').json() == {"hi": "ada"}


def test_a_long_print_reaches_the_log_whole(platform: SyncPlatform) -> None:
    # A pipe takes 64 KiB a write, and componentize-py's stdout wrote once: the rest of a longer print was lost.
    result = platform.invoke("py", b'{"action": "print-big", "size": 200000}')
    assert result.json() == "printed"
    assert "\n" + "p" * 200_000 + "\nafter\n" in result.guest_log.decode()


def test_a_fuel_budget_meters_invocations_not_the_init(platform: SyncPlatform) -> None:
    # The runtime's init takes billions of units: metered against the budget, no cold start could ever finish.
    platform.update_function_configuration("py", fuel=400_000_000)
    try:
        hello = platform.invoke("py", b'{"action": "hello"}')
        assert hello.ok and hello.cold_start, hello.payload
        assert hello.fuel_consumed is not None and 0 < hello.fuel_consumed < 400_000_000
        assert f"Fuel Consumed: {hello.fuel_consumed}" in hello.log
        spun = platform.invoke("py", b'{"action": "loop"}')
        assert spun.function_error is not None and spun.function_error.error_type == "Runtime.FuelExhausted"
        assert spun.fuel_consumed == 400_000_000  # a crash reports what it used too
    finally:
        platform.update_function_configuration("py", fuel=None)


def test_the_timeout_counts_from_the_handler_s_start(platform: SyncPlatform, monkeypatch: pytest.MonkeyPatch) -> None:
    # As if the invocation had waited 5 s for a thread (a loaded host) before its handler started: the wait is not
    # the handler's (Lambda counts from the handler's start), and a 1 s timeout still gives it its whole second.
    assert platform.invoke("py", b'{"action": "hello"}').ok  # warm
    made = invoker.Invoker._request

    def waited(*args: Any, **kwargs: Any) -> Any:
        request = made(*args, **kwargs)
        request.deadline_ms -= 5000
        return request

    monkeypatch.setattr(invoker.Invoker, "_request", staticmethod(waited))
    result = platform.invoke("py", b'{"action": "sleep", "seconds": 0.05}')
    assert result.ok and not result.cold_start, result.payload


def test_module_state_survives_warm_invocations(platform: SyncPlatform) -> None:
    platform.update_function_configuration("py", description="fresh environments")
    first = platform.invoke("py", b'{"action": "count"}')
    second = platform.invoke("py", b'{"action": "count"}')
    assert first.cold_start and not second.cold_start
    assert (first.json()["calls"], second.json()["calls"]) == (1, 2)
    assert second.json()["start_count"] == 1
    # The init's output is logged before START, as Lambda logs its INIT phase, and once.
    assert first.init_log == b"module loaded\n" and first.log.startswith("module loaded\nSTART RequestId: ")
    assert second.init_log == b"" and "module loaded" not in second.log


def test_raised_exception_has_lambdas_error_shape(platform: SyncPlatform) -> None:
    result = platform.invoke("py", b'{"action": "fail"}')
    assert result.function_error is not None
    assert result.function_error.kind == "Unhandled"  # an uncaught exception, as Lambda reports it
    body = result.json()
    assert body["errorType"] == "KeyError" and "no such thing" in body["errorMessage"]
    assert body["requestId"] == result.request_id
    assert any("app.py" in line for line in body["stackTrace"])
    # The function's own words are its own, though they start as a runtime's exit does (no "RequestId: ..." added).
    own = platform.invoke("py", b'{"action": "fail-like-exit"}').function_error
    assert own is not None and own.error_message == "Runtime exited the queue: retry later"
    # The runtime logged the error and its traceback; the platform adds no second line for it.
    assert result.guest_log.decode().count("[ERROR]") == 1 and "Traceback" in result.log
    assert not platform.invoke("py", b'{"action": "count"}').cold_start  # the environment stays warm


def test_an_error_message_that_is_not_unicode_is_mended(platform: SyncPlatform) -> None:
    platform.invoke("py", b'{"action": "count"}')
    result = platform.invoke("py", b'{"action": "surrogate"}')  # a lone surrogate cannot cross as a WIT string
    assert result.function_error is not None and result.function_error.error_type == "ValueError"
    assert result.function_error.error_message == "bad \ufffd here"
    assert not platform.invoke("py", b'{"action": "count"}').cold_start  # an exception, not a crash
    # One whose message cannot even be made (its __str__ raises) panicked the runtime: a Runtime.Trap.
    result = platform.invoke("py", b'{"action": "unprintable"}')
    assert result.function_error is not None and result.function_error.error_type == "Unprintable"
    assert result.function_error.error_message == "<unprintable Unprintable object>"
    assert not platform.invoke("py", b'{"action": "count"}').cold_start


def test_sys_exit_ends_the_runtime(platform: SyncPlatform) -> None:
    result = platform.invoke("py", b'{"action": "exit"}')
    assert result.function_error is not None and result.function_error.kind == "Unhandled"
    assert result.function_error.error_type == "Runtime.ExitError"
    assert result.function_error.error_message == (
        f"RequestId: {result.request_id} Error: Runtime exited with error: exit status 3"
    )
    assert result.log.count("Runtime exited with error: exit status 3") == 1
    assert platform.invoke("py", b'{"action": "count"}').cold_start  # as on Lambda: a fresh environment


def test_timeout_and_recovery(platform: SyncPlatform) -> None:
    result = platform.invoke("py", b'{"action": "loop"}')
    assert result.function_error is not None and result.function_error.error_type == "Sandbox.Timedout"
    after = platform.invoke("py", b'{"action": "count"}')
    assert after.ok and after.cold_start


def test_a_sleep_ends_at_the_timeout(platform: SyncPlatform) -> None:
    for action in (b"sleep", b"select", b"poll"):
        assert platform.invoke("py", b'{"action": "%s", "seconds": 0.02}' % action).json() == "rested"
    # Each a wait in wasmtime's poll, which a timeout cannot stop: held its worker thread and concurrency slot.
    for action in (b"sleep", b"sleep-decimal", b"select", b"poll"):
        result = platform.invoke("py", b'{"action": "%s", "seconds": 60}' % action)
        assert result.function_error is not None and result.function_error.error_type == "Sandbox.Timedout"
        assert result.duration_ms < 30_000  # stopped at its 1 s timeout, not after the sleep's 60 s
    assert platform.invoke("py", b'{"action": "count"}').cold_start  # as after any timeout
    for bad in (b"-1", b'"1"'):  # time.sleep's own errors, unchanged
        result = platform.invoke("py", b'{"action": "sleep", "seconds": %s}' % bad)
        assert result.function_error is not None
        assert result.function_error.error_type in ("ValueError", "TypeError"), result.function_error


def test_asyncio_runs_coroutines_and_timers(platform: SyncPlatform) -> None:
    # No sockets in the guest: the runtime's event loop has no self-pipe and sleeps (stoppably) between timers.
    result = platform.invoke("py", b'{"action": "async"}')
    assert result.ok, result.payload
    assert result.json() == {"gathered": [0, 2, 4, 6], "queue": "queued", "timed": "yes"}
    # No threads: a thread pool's calls run one after another, in the caller's thread (asyncio's executor too).
    assert platform.invoke("py", b'{"action": "async-thread"}').json() == 3
    pooled = platform.invoke("py", b'{"action": "pool"}')
    assert pooled.json() == {"squares": [0, 1, 4, 9, 16], "error": "ValueError", "done": [2]}, pooled.payload
    stopped = platform.invoke("py", b'{"action": "async-sleep"}')
    assert stopped.function_error is not None and stopped.function_error.error_type == "Sandbox.Timedout"
    assert stopped.duration_ms < 30_000  # at its 1 s timeout, not after the 60 s sleep


def test_six_megabyte_payloads_cross_both_ways(platform: SyncPlatform) -> None:
    pad = "y" * (5 * 1024 * 1024)
    result = platform.invoke("py", json.dumps({"action": "hello", "pad": pad}))
    assert result.ok and result.json()["echo"]["pad"] == pad
    # Lambda's limit is 6291556 bytes (6 MiB and 100): a string of 6291554 and its two quotes is the most.
    assert len(platform.invoke("py", b'{"action": "big", "size": 6291554}').payload) == 6291556
    too_big = platform.invoke("py", b'{"action": "big", "size": 6291555}')
    assert too_big.function_error is not None
    assert too_big.function_error.error_type == "Function.ResponseSizeTooLarge"


def test_an_event_that_is_not_json_is_refused_before_the_handler(platform: SyncPlatform) -> None:
    # As Lambda's Invoke refuses it (InvalidRequestContentException), before an environment is taken.
    # NaN too: Python's json module reads it, Lambda's JSON parser does not.
    for event in (b'{"action": "hello", "name": "\xff"}', b"hello", b'{"action": "count"', b" ", b'{"x": NaN}'):
        with pytest.raises(InvalidPayloadError, match="Could not parse request body into json"):
            platform.invoke("py", event)
    assert platform.invoke("py", b"").ok  # no payload: the event is {}
    # An escaped lone surrogate is JSON (JSON.stringify writes one for a string cut inside a pair): taken.
    assert platform.invoke("py", b'{"action": "count", "cut": "\\ud83d"}').ok
    assert not platform.invoke("py", b'{"action": "count"}').cold_start
    # Nested past Python's recursion limit: refused as Lambda's Python refuses it (it overflowed the wasm stack,
    # so any caller could crash the environment); as deep as the limit, and brackets in strings, are fine.
    deep = platform.invoke("py", b"[" * 200_000 + b"]" * 200_000)
    assert deep.function_error is not None and deep.function_error.error_type == "Runtime.UnmarshalError"
    assert "maximum recursion depth exceeded" in deep.function_error.error_message
    assert not platform.invoke("py", b'{"action": "count"}').cold_start
    nested = b'{"action": "count", "x": ' + b"[" * 999 + b'"[[[{{"' + b"]" * 999 + b"}"
    assert platform.invoke("py", nested).ok


def test_the_timeout_is_the_handlers_not_the_inits(platform: SyncPlatform) -> None:
    # An init as long as the whole timeout: Lambda gives init its own time, and so does wasmfaas.
    config = FunctionConfig(environment={"INIT_SLEEP": "1"}, timeout=1, memory_mb=256)
    platform.create_function("py-slow-init", SOURCE, runtime=PYTHON, handler="app.handler", config=config)
    first = platform.invoke("py-slow-init", b'{"action": "hello"}')
    assert first.ok and first.cold_start and first.init_duration_ms is not None and first.init_duration_ms >= 1000
    assert first.json()["context"]["remaining"] > 500  # the handler's deadline counts from after the init
    platform.delete_function("py-slow-init")


def test_out_of_memory_in_a_warm_environment_runs_again_in_a_fresh_one(platform: SyncPlatform) -> None:
    # The slow init (1 s, the whole timeout) must not come out of the second attempt's time either.
    config = FunctionConfig(environment={"INIT_SLEEP": "1"}, timeout=1, memory_mb=256)
    platform.create_function("py-leak", SOURCE, runtime=PYTHON, handler="app.handler", config=config)
    event = b'{"action": "leak", "first": 0.2}'
    counts = [platform.invoke("py-leak", event) for _ in range(5)]  # 60 MB more each time, 256 MB cap
    assert all(r.ok for r in counts), [r.payload[:100] for r in counts if not r.ok]
    (rerun,) = [r for r in counts if "ran again in a fresh environment" in r.log]
    assert rerun.cold_start and rerun.json() == 1  # the fresh environment's first leak
    assert [r.json() for r in counts][: counts.index(rerun)] == list(range(1, counts.index(rerun) + 1))
    assert "[ERROR]" not in rerun.log  # the failed attempt's log is dropped; the note says what happened
    platform.delete_function("py-leak")


def test_memory_cap(platform: SyncPlatform) -> None:
    result = platform.invoke("py", b'{"action": "hog"}')
    assert result.function_error is not None
    assert result.function_error.error_type == "Runtime.OutOfMemory", result.payload
    # The handler's output and the runtime's error line are kept, and the error is logged once.
    assert "handling hog" in result.log and result.log.count("[ERROR] Runtime.OutOfMemory") == 1
    assert platform.invoke("py", b'{"action": "count"}').ok


def test_an_init_error_is_logged_once(platform: SyncPlatform) -> None:
    platform.create_function(
        "py-boom", SOURCE, runtime=PYTHON, handler="app.handler", config=FunctionConfig(environment={"BOOM": "1"})
    )
    result = platform.invoke("py-boom", b"{}")
    assert result.function_error is not None and result.function_error.kind == "Unhandled"
    assert result.function_error.error_message == "init boom"  # Lambda's words: no prefix of ours
    assert result.init_duration_ms is not None and "Init Duration: " in result.log  # how long the failed init ran
    # By the runtime, with its traceback; the platform adds no line of its own.
    assert result.log.count("[ERROR]") == 1 and "[ERROR] RuntimeError: init boom" in result.log
    assert "Init failed" not in result.log
    assert "Traceback" in result.log
    platform.delete_function("py-boom")


def test_a_folder_of_sources_works_like_its_zip(platform: SyncPlatform, tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(SOURCE)) as archive:
        archive.extractall(tmp_path / "src")
    (tmp_path / "src" / "__pycache__").mkdir()
    (tmp_path / "src" / "__pycache__" / "junk.pyc").write_bytes(b"not part of the package")
    info = platform.create_function(
        "py-folder", tmp_path / "src", runtime=PYTHON, handler="app.handler", config=FunctionConfig(timeout=1)
    )
    assert platform.invoke("py-folder", b'{"name": "bo"}').json()["shout"] == "BO!"
    # The same folder gives the same package, so the same content hash.
    assert platform.update_function_code("py-folder", tmp_path / "src").code_sha256 == info.code_sha256
    platform.delete_function("py-folder")


def test_code_whose_handler_cannot_load_fails_each_cold_start(platform: SyncPlatform) -> None:
    # Lambda takes such code and fails every init with its runtime's error; so does wasmfaas, which lets the handler
    # and the code be changed in either order, one call each.
    cases = {
        "py-syntax": ({"app.py": "def handler(event, context):\n    return {'a': 1\n"}, "app.handler",
                      "Runtime.UserCodeSyntaxError", "Syntax error in module 'app'"),
        "py-nohandler": ({"app.py": "def other(e, c):\n    return 1\n"}, "app.handler",
                         "Runtime.HandlerNotFound", "Handler 'handler' missing on module 'app'"),
        "py-nomodule": ({"app.py": "def handler(e, c):\n    return 1\n"}, "main.handler",
                        "Runtime.ImportModuleError", "Unable to import module 'main'"),
        "py-unbundled": ({"app.py": "import not_bundled_anywhere\ndef handler(e, c):\n    return 1\n"}, "app.handler",
                         "Runtime.ImportModuleError", "No module named 'not_bundled_anywhere'"),
        # A wheel for a processor shipped in the package: why its module "is not there" is said.
        "py-native": ({"app.py": "import fast\ndef handler(e, c):\n    return 1\n",
                       "fast/__init__.py": "from ._core import speed\n",
                       "fast/_core.cpython-312-x86_64-linux-gnu.so": "\x7fELF"}, "app.handler",
                      "Runtime.ImportModuleError", "fast._core is a native extension, "
                      "_core.cpython-312-x86_64-linux-gnu.so, built for a processor, not for WebAssembly"),
        # The module runs first, as on Lambda: its own exception is the error, not a handler it never got to define.
        "py-raises": ({"app.py": "raise ValueError('no config')\n"}, "app.handler", "ValueError", "no config"),
    }  # fmt: skip
    for name, (files, handler, error_type, message) in cases.items():
        assert_each_cold_start_fails(
            platform,
            name,
            files,
            runtime=PYTHON,
            handler=handler,
            error_type=error_type,
            message=message,
            in_log="Init Duration",
        )
    platform.create_function(
        "py-notcallable", zip_of({"app.py": "handler = 5\n"}), runtime=PYTHON, handler="app.handler"
    )
    called = platform.invoke("py-notcallable", b"{}").function_error  # as on Lambda: it fails when it is called
    assert called is not None and called.error_type == "TypeError" and "not callable" in called.error_message
    platform.delete_function("py-notcallable")
    # The new handler first, then the code it names (or the other way round): each call is taken.
    platform.update_function_configuration("py-nomodule", handler="main.handler")
    platform.update_function_code("py-nomodule", zip_of({"main.py": "def handler(e, c):\n    return 'fixed'\n"}))
    assert platform.invoke("py-nomodule", b"{}").json() == "fixed"
    platform.update_function_code("py-nohandler", zip_of({"app.py": "def run(e, c):\n    return 'ran'\n"}))
    platform.update_function_configuration("py-nohandler", handler="app.run")
    assert platform.invoke("py-nohandler", b"{}").json() == "ran"
    for name in cases:
        platform.delete_function(name)


def test_results_are_written_as_lambdas_python_runtime_writes_them(platform: SyncPlatform) -> None:
    # Decimals with their exact digits (DynamoDB's numbers), non-ASCII as it is (python3.12+); a lone surrogate, which
    # UTF-8 cannot carry, escaped.
    result = platform.invoke("py", b'{"action": "decimals"}')
    assert result.ok, result.payload
    assert result.payload.decode() == (
        '{"big": 1234567890123456789, "three": 3, "frac": 1.20, "nan": NaN, "neg_inf": -Infinity, '
        '"text": "héllo €", "list": [0.1], "look_alike": "wasmfaas-decimal-0"}'
    )
    surrogate = platform.invoke("py", b'{"action": "surrogate-result"}')
    assert surrogate.ok and surrogate.payload == b'{"s": "a\\ud800b"}'


FILES_APP = """
import datetime, importlib.resources, json, os, pathlib, tempfile, zoneinfo

def handler(event, context):
    here = pathlib.Path(__file__).parent
    out = {
        "absolute": json.load(open("/var/task/data/config.json"))["stage"],
        "beside": (here / "data" / "config.json").read_text().strip(),
        "relative": open("data/config.json").read().strip(),
        "cwd": os.getcwd(),
        "listing": sorted(os.listdir("/var/task")),
        "exists": [os.path.exists("/var/task/data/config.json"), os.path.isdir("/var/task/data")],
    }
    try:
        open("/var/task/new.txt", "w")
        out["task_writable"] = True
    except OSError:
        out["task_writable"] = False
    marker = pathlib.Path("/tmp/calls")
    calls = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(calls))
    out["tmp_calls"] = calls
    with tempfile.NamedTemporaryFile("w+", suffix=".txt") as f:
        f.write("scratch")
        f.flush()
        f.seek(0)
        out["tempfile"] = [f.read(), os.path.dirname(f.name)]
    blocked = []
    for attempt in (
        lambda: open("/etc/passwd").read(),
        lambda: open("/var/task/../../etc/passwd").read(),
        lambda: open("/tmp/../etc/passwd").read(),
        lambda: os.listdir("/etc"),
        lambda: (os.symlink("/etc/passwd", "/tmp/link"), open("/tmp/link").read()),
        lambda: (os.symlink("/etc", "/tmp/dir"), os.listdir("/tmp/dir")),
    ):
        try:
            attempt()
            blocked.append(False)
        except OSError:
            blocked.append(True)
    out["escapes_blocked"] = blocked
    new_york = zoneinfo.ZoneInfo("America/New_York")  # the host's time-zone database, as Lambda's Linux has one
    days = [datetime.datetime(2024, month, 15, tzinfo=new_york) for month in (1, 7)]
    out["utc_offsets"] = [day.utcoffset().total_seconds() / 3600 for day in days]
    if event.get("fill"):
        with open("/tmp/fill", "wb") as f:
            f.write(b"x" * event["fill"])
    for i in range(event.get("dirs", 0)):
        os.mkdir(f"/tmp/d{i}")
    # certifi's way to its CA file (which requests does at import): a real path, copied to /tmp if need be.
    with importlib.resources.as_file(importlib.resources.files("pkgdata") / "data.txt") as path:
        out["resource"] = [path.read_text(), str(path).startswith(("/tmp/", "/var/task/"))]
    return out
"""


def test_the_package_is_at_var_task_and_tmp_is_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As on Lambda: the package read-only at /var/task (the working directory), a /tmp of each environment's own
    # that lasts across its warm invocations; nothing of the host beyond them.
    files = {
        "app.py": FILES_APP,
        "data/config.json": '{"stage": "prod"}\n',
        "pkgdata/__init__.py": "",
        "pkgdata/data.txt": "bundled",
    }
    before = set(Path(tempfile.gettempdir()).glob("wasmfaas-scratch-*"))
    with SyncPlatform(data_dir=tmp_path, persistent=True) as platform:
        info = platform.create_function("files", zip_of(files), runtime=PYTHON, handler="app.handler")
        first = platform.invoke("files", b"{}")
        assert first.ok, first.payload
        body = first.json()
        assert body == {
            "absolute": "prod",
            "beside": '{"stage": "prod"}',
            "relative": '{"stage": "prod"}',
            "cwd": "/var/task",
            "listing": ["app.py", "data", "pkgdata"],
            "exists": [True, True],
            "task_writable": False,
            "tmp_calls": 1,
            "tempfile": ["scratch", "/tmp"],
            "resource": ["bundled", True],
            "escapes_blocked": [True] * 6,
            "utc_offsets": [-5.0, -4.0],
        }
        assert platform.invoke("files", b"{}").json()["tmp_calls"] == 2  # the same environment's /tmp
        new = set(Path(tempfile.gettempdir()).glob("wasmfaas-scratch-*")) - before  # other processes' too
        (scratch,) = [d for d in new if any((tmp / "calls").exists() for tmp in d.iterdir())]
        assert len([d for d in scratch.iterdir() if not d.name.startswith(".")]) == 1  # beside the owner's lock
        assert (tmp_path / "tasks" / info.code_sha256 / "data" / "config.json").is_file()
        # Past the ephemeral storage (made small here): the environment, and its /tmp, are replaced.
        monkeypatch.setattr(component, "_storage_limit", lambda spec: 64 * 1024)
        full = platform.invoke("files", b'{"fill": 100000}')
        assert full.ok and "[WARN] /tmp holds 0 MB, past Lambda's 0 MB of ephemeral storage" in full.log
        assert platform.invoke("files", b"{}").json()["tmp_calls"] == 1  # a new environment, a new /tmp
        # Directories (and empty files) hold no data but fill the disk's inodes: each entry counts at least 16 KiB,
        # as ext4 gives an inode (Lambda's 512 MB /tmp holds ~32k of them).
        monkeypatch.setattr(component, "_storage_limit", lambda spec: 1024 * 1024)
        crowded = platform.invoke("files", b'{"dirs": 100}')
        assert crowded.ok and "past Lambda's 1 MB of ephemeral storage" in crowded.log
        assert platform.invoke("files", b"{}").json()["tmp_calls"] == 1
        platform.delete_function("files")  # its environments go, and their /tmp with them

        def environments_tmp() -> list[Path]:
            return [d for d in scratch.iterdir() if not d.name.startswith(".")]  # not the owner's lock

        for _ in range(500):  # a non-empty /tmp is removed on a thread of its own
            if not environments_tmp():
                break
            time.sleep(0.01)
        assert environments_tmp() == []
    assert not scratch.exists()
    with SyncPlatform(data_dir=tmp_path, persistent=True):
        assert list((tmp_path / "tasks").iterdir()) == []  # unpacked packages no function uses: removed


def test_standard_library_parts_lambdas_python_has(platform: SyncPlatform) -> None:
    result = platform.invoke("py", b'{"action": "stdlib"}')
    assert result.ok, result.payload
    assert result.json() == {
        "pbkdf2": hashlib.pbkdf2_hmac("sha256", b"secret", b"salt", 1000, 20).hex(),
        "codecs": ["Привет".encode("cp1251").hex(), "é".encode("mac_roman").hex(), "é".encode("cp437").hex()],
        "process_time": True,
        "identity": [None, None],
        "version": "1.2.3",
    }
    assert "logged by context.log\n" in result.log


STDLIB_LAZY = """\
import importlib
import sqlite3
import sys
from xml.dom import minidom


def handler(event, context):
    # Parts the standard library (or a library such as six) imports only when asked, by name.
    names = ["logging.config", "configparser", "http.client", "urllib.request", "tarfile", "xml.sax.saxutils"]
    loaded = [importlib.import_module(name).__name__ for name in names]
    # A database shipped in the package, read in place, as on Lambda.
    with sqlite3.connect("data.db") as db:
        rows = db.execute("SELECT word FROM words ORDER BY word").fetchall()
    sys.set_int_max_str_digits(0)
    huge = str(10**100_000)  # through _pylong, which CPython imports only for such ints
    return {"loaded": loaded, "xml": minidom.parseString("<a><b>hi</b></a>").documentElement.tagName,
            "rows": [row[0] for row in rows], "huge": len(huge)}
"""


def test_lazy_standard_library_imports_and_a_packaged_database(platform: SyncPlatform, tmp_path: Path) -> None:
    database = tmp_path / "data.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE words (word TEXT)")
        db.executemany("INSERT INTO words VALUES (?)", [("wasm",), ("lambda",)])
    db.close()
    code = zip_of({"app.py": STDLIB_LAZY, "data.db": database.read_bytes()})
    platform.create_function("lazy", code, runtime=PYTHON, handler="app.handler")
    result = platform.invoke("lazy", b"{}")
    assert result.ok, result.payload
    assert result.json() == {
        "loaded": ["logging.config", "configparser", "http.client", "urllib.request", "tarfile", "xml.sax.saxutils"],
        "xml": "a",
        "rows": ["lambda", "wasm"],
        "huge": 100_001,
    }
    platform.delete_function("lazy")


def test_a_handler_module_named_as_no_identifier_is(platform: SyncPlatform) -> None:
    """Lambda's runtime imports the handler's module with importlib: `my-function.handler` and `src-dir/app.handler`
    work there (they had been refused as malformed)."""
    files = {
        "my-function.py": "def handler(event, context):\n    return 'dash'\n",
        "src-dir/app.py": "def handler(event, context):\n    return 'dir'\n",
    }
    platform.create_function("dashed", zip_of(files), runtime=PYTHON, handler="my-function.handler")
    assert platform.invoke("dashed", b"{}").json() == "dash"
    platform.update_function_configuration("dashed", handler="src-dir/app.handler")
    assert platform.invoke("dashed", b"{}").json() == "dir"
    platform.delete_function("dashed")
