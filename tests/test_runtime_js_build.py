"""The JavaScript runtime: functions built by `wasmfaas.runtimes.js.build_js`, run through plain wasmtime.component.

Each test function's source is written under a tmp dir; builds go to a session cache dir, and a component is compiled
once per module (a componentize-js component carries a whole SpiderMonkey, and compiling it takes seconds).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import wasmtime
from wasmtime import component as cm

from wasmfaas.errors import BuildError, InvalidParameterError
from wasmfaas.runtimes import js

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None, reason="node is not on PATH: the JavaScript runtime needs Node.js to build"
)

APP_INDEX = """\
import { greet } from './lib/greet.js';
import defaults from './defaults.json';
import { Buffer as NodeBuffer } from 'node:buffer';

// Module-level code: runs in `init`, once per environment, with the function's environment.
const greeting = process.env.GREETING ?? defaults.greeting;
let invocations = 0;
console.log(`init: greeting=${greeting}`);
await new Promise((resolve) => setTimeout(resolve, 1));

export const handler = async (event, context) => {
  invocations += 1;
  switch (event.action) {
    case 'async': {
      const waited = await new Promise((resolve) => setTimeout(() => resolve('waited'), 5));
      const chained = await Promise.resolve(1).then((n) => n + 1);
      return { waited, chained, invocations };
    }
    case 'throw':
      return failDeep(event.message);
    case 'log':
      console.log('to stdout %s %d', 'formatted', 42);
      console.error('to stderr', { n: 1 });
      return null;
    case 'context':
      return {
        awsRequestId: context.awsRequestId,
        functionName: context.functionName,
        functionVersion: context.functionVersion,
        invokedFunctionArn: context.invokedFunctionArn,
        memoryLimitInMB: context.memoryLimitInMB,
        logGroupName: context.logGroupName,
        logStreamName: context.logStreamName,
        remaining: context.getRemainingTimeInMillis(),
      };
    case 'hang':
      return new Promise(() => {});
    case 'base64': {
      const encoded = Buffer.from(event.text, 'utf8').toString('base64');
      return { encoded, decoded: NodeBuffer.from(encoded, 'base64').toString('utf8') };
    }
    case 'nothing':
      return undefined;
    case 'string':
      throw 'plain string';
    default:
      return { message: greet(greeting, event.name), invocations };
  }
};

function failDeep(message) {
  throw new TypeError(message);
}
"""

APP_GREET = """\
export function greet(greeting, name) {
  return `${greeting}, ${name}!`;
}
"""

CJS_INDEX = """\
const { double } = require('./math');

exports.handler = function (event, context, callback) {
  setTimeout(() => {
    if (event.legacy === 'succeed') context.succeed({ doubled: double(event.n), style: 'succeed' });
    else if (event.legacy === 'done') context.done(null, 'done');
    else if (event.legacy === 'fail') context.fail(new SyntaxError('from context.fail'));
    else if (event.legacy === 'fail-empty') context.fail();
    else if (event.legacy === 'twice') { context.succeed(1); callback(null, 2); context.fail(new Error('3')); }
    else if (event.fail) callback(new RangeError('from the callback'));
    else callback(null, { doubled: double(event.n), style: 'callback' });
  }, 1);
};
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("js-build-cache")


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(
        tmp_path_factory.mktemp("app"),
        {"index.mjs": APP_INDEX, "lib/greet.js": APP_GREET, "defaults.json": '{"greeting": "Hello"}\n'},
    )


@pytest.fixture(scope="module")
def app_component(app_dir: Path, cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return js.build_js(app_dir, "index.handler", tmp_path_factory.mktemp("out"), cache_dir=cache_dir)


@pytest.fixture(scope="module")
def engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.wasm_component_model = True
    config.epoch_interruption = True
    return wasmtime.Engine(config)


@pytest.fixture(scope="module")
def linker(engine: wasmtime.Engine) -> cm.Linker:
    linker = cm.Linker(engine)
    linker.add_wasip2()
    return linker


@pytest.fixture(scope="module")
def app(app_component: Path, engine: wasmtime.Engine) -> cm.Component:
    return cm.Component.from_file(engine, str(app_component))


@dataclass
class Env:
    """One execution environment: a store and an instance, with its stdout and stderr files."""

    store: wasmtime.Store
    init: cm.Func
    handle: cm.Func
    stdout: Path
    stderr: Path

    def call_init(self) -> Any:
        result = self.init(self.store)
        self.init.post_return(self.store)
        return result

    def invoke(self, event: object, *, timeout_ms: int = 3000, request_id: str = "req-1") -> Any:
        """The `handle` result: the response text, or a Record of the function-error."""
        ctx = cm.Record()
        fields = {
            "request-id": request_id,
            "function-name": "fn",
            "function-version": "$LATEST",
            "invoked-function-arn": "arn:aws:lambda:local:000000000000:function:fn",
            "memory-limit-mb": 256,
            "log-group-name": "/aws/lambda/fn",
            "log-stream-name": "2024/01/01/[$LATEST]0123",
            "deadline-ms": int(time.time() * 1000) + timeout_ms,
        }
        for name, value in fields.items():
            setattr(ctx, name, value)
        result = self.handle(self.store, ctx, json.dumps(event))
        self.handle.post_return(self.store)
        return result


def _environment(linker: cm.Linker, component: cm.Component, tmp: Path, env: dict[str, str]) -> Env:
    store = wasmtime.Store(linker.engine)
    store.set_epoch_deadline(1 << 40)
    wasi = wasmtime.WasiConfig()
    wasi.env = list(env.items())
    wasi.stdout_file = str(tmp / "stdout.log")
    wasi.stderr_file = str(tmp / "stderr.log")
    store.set_wasi(wasi)
    instance = linker.instantiate(store, component)
    init = instance.get_func(store, "init")
    handle = instance.get_func(store, "handle")
    assert init is not None and handle is not None
    return Env(store, init, handle, tmp / "stdout.log", tmp / "stderr.log")


@pytest.fixture
def env(linker: cm.Linker, app: cm.Component, tmp_path: Path) -> Iterator[Env]:
    environment = _environment(linker, app, tmp_path, {"GREETING": "Howdy", "AWS_LAMBDA_FUNCTION_NAME": "fn"})
    assert environment.call_init() is None
    yield environment


def _error(result: Any) -> dict[str, Any]:
    assert isinstance(result, cm.Record), f"expected a function-error, got {result!r}"
    return {
        "errorType": getattr(result, "error-type"),
        "errorMessage": getattr(result, "error-message"),
        "stackTrace": getattr(result, "stack-trace"),
    }


def test_hello_with_helper_module_and_environment(env: Env) -> None:
    assert json.loads(env.invoke({"name": "world"})) == {"message": "Howdy, world!", "invocations": 1}
    # Warm: module state survives between invocations of one environment.
    assert json.loads(env.invoke({"name": "again"})) == {"message": "Howdy, again!", "invocations": 2}


def test_module_level_code_runs_at_init_not_at_build(linker: cm.Linker, app: cm.Component, tmp_path: Path) -> None:
    environment = _environment(linker, app, tmp_path, {})
    assert environment.stdout.read_text() == ""
    assert environment.call_init() is None
    # Lambda's Node.js line: time, request id ("undefined" during init), level, message.
    assert re.fullmatch(r"\S+Z\tundefined\tINFO\tinit: greeting=Hello\n", environment.stdout.read_text())
    assert json.loads(environment.invoke({"name": "x"}))["message"] == "Hello, x!"


def test_async_handler_is_awaited(env: Env) -> None:
    assert json.loads(env.invoke({"action": "async"})) == {"waited": "waited", "chained": 2, "invocations": 1}


def test_thrown_error_becomes_function_error(env: Env) -> None:
    error = _error(env.invoke({"action": "throw", "message": "bad input"}))
    assert error["errorType"] == "TypeError"
    assert error["errorMessage"] == "bad input"
    assert error["stackTrace"][0] == "TypeError: bad input"
    # Positions are mapped back to the user's own file through the bundle's source map.
    assert error["stackTrace"][1].startswith("    at failDeep (index.mjs:")
    assert any(line.startswith("    at handler (index.mjs:") for line in error["stackTrace"])
    # The environment stays usable after a thrown error.
    assert json.loads(env.invoke({"name": "after"}))["message"] == "Howdy, after!"


def test_thrown_non_error_is_typed_by_its_type(env: Env) -> None:
    assert _error(env.invoke({"action": "string"})) == {
        "errorType": "string",
        "errorMessage": "plain string",
        "stackTrace": [],
    }


def test_console_reaches_stdout_and_stderr(env: Env) -> None:
    assert env.invoke({"action": "log"}) == "null"
    assert env.stdout.read_text().splitlines()[-1].split("\t")[1:] == ["req-1", "INFO", "to stdout formatted 42"]
    assert "to stderr" in env.stderr.read_text()


def test_context_matches_lambda(env: Env) -> None:
    ctx = json.loads(env.invoke({"action": "context"}, timeout_ms=5000, request_id="abc-123"))
    remaining = ctx.pop("remaining")
    assert 4000 < remaining <= 5000
    assert ctx == {
        "awsRequestId": "abc-123",
        "functionName": "fn",
        "functionVersion": "$LATEST",
        "invokedFunctionArn": "arn:aws:lambda:local:000000000000:function:fn",
        "memoryLimitInMB": "256",
        "logGroupName": "/aws/lambda/fn",
        "logStreamName": "2024/01/01/[$LATEST]0123",
    }


def test_buffer_global_and_module(env: Env) -> None:
    result = json.loads(env.invoke({"action": "base64", "text": "héllo"}))
    assert result == {"encoded": "aMOpbGxv", "decoded": "héllo"}


def test_a_symlinked_node_modules_holds_the_runtimes_own_packages(
    app_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, linker: cm.Linker, engine: wasmtime.Engine
) -> None:
    # A shared or pnpm-style install: node_modules is a symlink to elsewhere. The Buffer polyfill's packages
    # resolve to their real paths, which the bundler had refused as "outside the function's source directory".
    runtime = tmp_path / "js"
    runtime.mkdir()
    for name in ("bootstrap.js", "buffer.js", "build.mjs", "package.json", "package-lock.json"):
        shutil.copy(js.RUNTIME_DIR / name, runtime / name)
    (runtime / "node_modules").symlink_to((js.RUNTIME_DIR / "node_modules").resolve())
    monkeypatch.setattr(js, "RUNTIME_DIR", runtime)
    monkeypatch.setattr(js, "_BUILD_SCRIPT", runtime / "build.mjs")
    built = js.build_js(app_dir, "index.handler", tmp_path / "out", cache_dir=tmp_path / "cache")
    environment = _environment(linker, cm.Component.from_file(engine, str(built)), tmp_path, {})
    assert environment.call_init() is None
    result = json.loads(environment.invoke({"action": "base64", "text": "héllo"}))
    assert result == {"encoded": "aMOpbGxv", "decoded": "héllo"}


def test_undefined_result_is_null(env: Env) -> None:
    assert env.invoke({"action": "nothing"}) == "null"


def test_pending_promise_ends_at_the_deadline(env: Env) -> None:
    start = time.monotonic()
    error = _error(env.invoke({"action": "hang"}, timeout_ms=200))
    assert error["errorType"] == "Sandbox.Timedout"
    assert 0.15 < time.monotonic() - start < 2.0


def test_commonjs_callback_handler(cache_dir: Path, tmp_path: Path, linker: cm.Linker) -> None:
    src = _write(tmp_path / "src", {"index.js": CJS_INDEX, "math.js": "exports.double = (n) => n * 2;\n"})
    component = cm.Component.from_file(
        linker.engine, str(js.build_js(src, "index.handler", tmp_path / "out", cache_dir=cache_dir))
    )
    environment = _environment(linker, component, tmp_path, {})
    assert environment.call_init() is None
    assert json.loads(environment.invoke({"n": 21})) == {"doubled": 42, "style": "callback"}
    error = _error(environment.invoke({"fail": True}))
    assert (error["errorType"], error["errorMessage"]) == ("RangeError", "from the callback")
    # Lambda's legacy completion methods; the first completion of any kind wins.
    assert json.loads(environment.invoke({"n": 4, "legacy": "succeed"})) == {"doubled": 8, "style": "succeed"}
    assert json.loads(environment.invoke({"legacy": "done"})) == "done"
    assert json.loads(environment.invoke({"legacy": "twice"})) == 1
    error = _error(environment.invoke({"legacy": "fail"}))
    assert (error["errorType"], error["errorMessage"]) == ("SyntaxError", "from context.fail")
    error = _error(environment.invoke({"legacy": "fail-empty"}))
    assert (error["errorType"], error["errorMessage"]) == ("string", "handled")


def test_cache_hit_does_not_run_the_builder(
    app_component: Path, app_dir: Path, cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_builder(*args: object, **kwargs: object) -> None:
        raise AssertionError("the builder ran on a cache hit")

    monkeypatch.setattr(js, "_run_builder", no_builder)
    start = time.monotonic()
    again = js.build_js(app_dir, "index.handler", tmp_path, cache_dir=cache_dir)
    assert time.monotonic() - start < 2.0
    assert again.name == app_component.name
    assert again.read_bytes() == app_component.read_bytes()


@pytest.mark.parametrize("handler", ["index", "index.", ".handler", "../x.handler", "a b.handler", "/abs.handler"])
def test_malformed_handler_is_refused(handler: str, cache_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="handler"):
        js.build_js(tmp_path, handler, tmp_path / "out", cache_dir=cache_dir)


def test_missing_packages_name_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(js, "RUNTIME_DIR", tmp_path)
    with pytest.raises(BuildError, match=r"npm ci --prefix runtimes/js"):
        js.ensure_toolchain()
