"""The Python runtime's builder: componentize-py builds, the content cache, build-time errors, bundled packages.

The built components are driven through plain `wasmtime.component` here (instantiate, `init`, then `handle`), the
way the host runs a component guest.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from wasmtime import Config, Engine, Store, WasiConfig
from wasmtime.component import Component, Linker, Record

from wasmfaas.errors import InvalidParameterError
from wasmfaas.runtimes.python import build_python

HELLO_APP = """\
import logging

logger = logging.getLogger(__name__)
calls = 0


def handler(event, context):
    global calls
    calls += 1
    print("event:", event)
    logger.warning("warned %s", calls)
    if "fail" in event:
        raise ValueError(event["fail"])
    return {
        "message": "hello " + event.get("name", "world"),
        "calls": calls,
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
    }
"""

CONTEXT = {
    "request-id": "8f2c5a1e-0000-4000-8000-000000000001",
    "function-name": "hello",
    "function-version": "$LATEST",
    "invoked-function-arn": "arn:aws:lambda:us-east-1:000000000000:function:hello",
    "memory-limit-mb": 128,
    "log-group-name": "/aws/lambda/hello",
    "log-stream-name": "2024/01/01/[$LATEST]0123456789abcdef",
}


@functools.cache
def _engine() -> Engine:
    config = Config()
    config.wasm_component_model = True
    return Engine(config)


@functools.cache
def _component(path: Path) -> Component:
    return Component.from_file(_engine(), path)


class Environment:
    """One execution environment of a component: a store with WASI (only `env`, stdout/stderr to files)."""

    def __init__(self, component_path: Path, log_dir: Path, env: dict[str, str] | None = None) -> None:
        engine = _engine()
        linker = Linker(engine)
        linker.add_wasip2()
        self.stdout = log_dir / "stdout"
        self.stderr = log_dir / "stderr"
        wasi = WasiConfig()
        wasi.env = list((env or {}).items())
        wasi.stdout_file = str(self.stdout)
        wasi.stderr_file = str(self.stderr)
        self.store = Store(engine)
        self.store.set_wasi(wasi)
        self.store.set_limits(memory_size=128 << 20)
        instance = linker.instantiate(self.store, _component(component_path))
        init = instance.get_func(self.store, "init")
        handle = instance.get_func(self.store, "handle")
        assert init is not None and handle is not None
        self._init = init
        self._handle = handle

    def init(self) -> Any:
        """None on success, else the function-error record."""
        return self._init(self.store)

    def invoke(self, event: object, *, timeout_ms: int = 3000) -> Any:
        """The decoded JSON response, or the function-error record (a `Record` with `error-type` and the rest)."""
        ctx = Record()
        for name, value in {**CONTEXT, "deadline-ms": int(time.time() * 1000) + timeout_ms}.items():
            setattr(ctx, name, value)
        result = self._handle(self.store, ctx, json.dumps(event))
        return json.loads(result) if isinstance(result, str) else result

    def logs(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()


def _error(record: Any) -> dict[str, Any]:
    assert isinstance(record, Record), f"expected a function-error, got {record!r}"
    return {k: getattr(record, k) for k in ("error-type", "error-message", "stack-trace")}


def _source(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("python-build-cache")


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> tuple[Path, Path, Path]:
    """(source dir, out dir, component) of the hello function, built once for the module."""
    src = _source(tmp_path_factory.mktemp("hello-src"), {"app.py": HELLO_APP})
    out = tmp_path_factory.mktemp("hello-out")
    return src, out, build_python(src, "app.handler", out, cache_dir=cache_dir)


def test_builds_hello_into_a_working_component(hello: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, out, component = hello
    assert component.parent == out and component.suffix == ".wasm"
    assert component.read_bytes()[:8] == b"\0asm\x0d\0\x01\0"  # a component, not a core module

    env = Environment(component, tmp_path)
    assert env.init() is None
    first = env.invoke({"name": "wasm"}, timeout_ms=5000)
    remaining = first.pop("remaining")
    assert 0 < remaining <= 5000
    assert first == {
        "message": "hello wasm",
        "calls": 1,
        "aws_request_id": CONTEXT["request-id"],
        "function_name": "hello",
        "function_version": "$LATEST",
        "invoked_function_arn": CONTEXT["invoked-function-arn"],
        "memory_limit_in_mb": "128",  # a string, as on Lambda
        "log_group_name": "/aws/lambda/hello",
        "log_stream_name": CONTEXT["log-stream-name"],
    }
    assert env.invoke({})["calls"] == 2  # the environment stays warm: module state persists

    error = _error(env.invoke({"fail": "boom"}))
    assert error["error-type"] == "ValueError"
    assert error["error-message"] == "boom"
    assert any('File "/var/task/app.py"' in line and "in handler" in line for line in error["stack-trace"])
    assert env.invoke({"name": "again"})["calls"] == 4  # a raised error keeps the environment

    logs = env.logs()
    assert "event: {'name': 'wasm'}" in logs
    assert "[WARNING]\t" in logs and f"\t{CONTEXT['request-id']}\twarned 1" in logs
    assert "[ERROR] ValueError: boom" in logs


def test_cache_hit_is_fast_and_returns_the_same_path(
    hello: tuple[Path, Path, Path], cache_dir: Path, tmp_path: Path
) -> None:
    src, out, component = hello
    started = time.monotonic()
    again = build_python(src, "app.handler", out, cache_dir=cache_dir)
    assert again == component
    elsewhere = build_python(src, "app.handler", tmp_path / "other-out", cache_dir=cache_dir)
    assert time.monotonic() - started < 2.0  # componentize-py alone takes several seconds
    assert elsewhere.parent == tmp_path / "other-out" and elsewhere.name == component.name
    assert elsewhere.read_bytes() == component.read_bytes()


def test_malformed_handler_is_an_invalid_parameter(tmp_path: Path, cache_dir: Path) -> None:
    src = _source(tmp_path / "src", {"app.py": "def handler(event, context):\n    return 1\n"})
    for handler in ("handler", "app.", "app handler", "app.1handler", ".handler", "app..handler"):
        with pytest.raises(InvalidParameterError, match="handler"):
            build_python(src, handler, tmp_path / "out", cache_dir=cache_dir)


def test_package_beside_app_is_importable(tmp_path: Path, cache_dir: Path) -> None:
    files = {
        # Module-level code reads the function's own environment: it runs at init, not at build time.
        "app.py": (
            "import os\nimport pkgutil\n\nimport mylib\nfrom mylib.text import shout\n\n"
            "GREETING = os.environ['GREETING']\n\n\n"
            "def handler(event, context):\n"
            "    return {'out': shout(GREETING + ' ' + event['name']), 'version': mylib.VERSION,\n"
            "            'file': mylib.__file__, 'data': pkgutil.get_data('mylib', 'data/info.txt').decode()}\n"
        ),
        "mylib/__init__.py": "VERSION = '1.2.3'\n",
        "mylib/text.py": "def shout(text):\n    return text.upper() + '!'\n",
        "mylib/data/info.txt": "bundled data\n",
    }
    src = _source(tmp_path / "src", files)
    component = build_python(src, "app.handler", tmp_path / "out", cache_dir=cache_dir)

    env = Environment(component, tmp_path, env={"GREETING": "hi"})
    assert env.init() is None
    assert env.invoke({"name": "there"}) == {
        "out": "HI THERE!",
        "version": "1.2.3",
        "file": "/var/task/mylib/__init__.py",
        "data": "bundled data\n",
    }

    # Without the variable the module's own code fails, at init (the cold start), with Lambda's error shape.
    (tmp_path / "broken").mkdir()
    broken = Environment(component, tmp_path / "broken")
    error = _error(broken.init())
    assert error["error-type"] == "KeyError" and error["error-message"] == "'GREETING'"
    assert any('File "/var/task/app.py", line 7' in line for line in error["stack-trace"])
