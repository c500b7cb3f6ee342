"""Runtime benchmarks: build time, cold start and warm invoke for the Python and JavaScript runtimes, each beside the
same handler run natively in the same run (CPython in-process and as a fresh process; node if installed); and the
cost of a 1 MiB event and of a 1 MiB response (events and responses cross as strings: the text-handler world).

    python bench/bench_runtimes.py

Targets (issue 3): Python <= 10 ms cold, <= 2 ms warm; JavaScript <= 5 ms cold, <= 1 ms warm. Cold here is a new
execution environment from the cached build and compiled component: instantiate + init, which Lambda reports as
Init Duration (85 ms for python3.12, 137 ms for nodejs22 there).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
import zipfile
from pathlib import Path

from wasmfaas import SyncPlatform
from wasmfaas.runtimes import JAVASCRIPT, PYTHON

PY_APP = """\
def handler(event, context):
    return {"message": "hello " + event.get("name", "world")}


def sized(event, context):
    return "x" * event.get("size", 0)
"""
JS_APP = """\
export const handler = async (event, context) => ({ message: "hello " + (event.name ?? "world") });
export const sized = async (event, context) => "x".repeat(event.size ?? 0);
"""
MIB = 1024 * 1024
EVENT = json.dumps({"name": "bench"}).encode()


def zip_of(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


def ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def row(label: str, value: float, target: str, baseline: str) -> None:
    print(f"{label:<46} {value:>9.3f} ms  target {target:<8} {baseline}")


def measure(platform: SyncPlatform, name: str, runtime: str, source: bytes, handler: str) -> tuple[float, float]:
    from wasmfaas.guests.component import ComponentEnvironment

    platform.create_function(name, source, runtime=runtime, handler=handler)
    assert platform.invoke(name, EVENT).json() == {"message": "hello bench"}
    spec = platform.platform._functions[name].latest.target.pool.spec
    cold = []
    for _ in range(30):
        start = time.perf_counter()
        env = ComponentEnvironment(spec)
        cold.append(time.perf_counter() - start)
        env.close()
    warm = []
    for _ in range(2000):
        start = time.perf_counter()
        platform.invoke(name, EVENT)
        warm.append(time.perf_counter() - start)
    return ms(cold), ms(warm)


def payload_times(platform: SyncPlatform, name: str, runtime: str, source: bytes, handler: str) -> tuple[float, ...]:
    """Median invoke time with a 1 MiB event (and a tiny response), and with a 1 MiB response (and a tiny event)."""
    platform.create_function(name, source, runtime=runtime, handler=handler)
    big_event = json.dumps({"pad": "y" * MIB}).encode()
    big_response = json.dumps({"size": MIB}).encode()
    assert len(platform.invoke(name, big_response).payload) == MIB + 2
    times: list[list[float]] = [[], []]
    for _ in range(20):
        for i, event in enumerate((big_event, big_response)):
            start = time.perf_counter()
            result = platform.invoke(name, event)
            times[i].append(time.perf_counter() - start)
            assert result.ok, result.payload[:200]
    return ms(times[0]), ms(times[1])


def native_payload_times() -> tuple[float, float]:
    """The same handler's work natively: json.loads of the 1 MiB event, json.dumps of the 1 MiB response."""
    module = types.ModuleType("app")
    exec(PY_APP, module.__dict__)
    big_event = json.dumps({"pad": "y" * MIB}).encode()
    times: list[list[float]] = [[], []]
    for _ in range(20):
        start = time.perf_counter()
        json.dumps(module.sized(json.loads(big_event), None)).encode()
        times[0].append(time.perf_counter() - start)
        start = time.perf_counter()
        json.dumps(module.sized({"size": MIB}, None)).encode()
        times[1].append(time.perf_counter() - start)
    return ms(times[0]), ms(times[1])


def build_times(runtime: str, source: bytes, handler: str) -> tuple[float, float]:
    from wasmfaas.runtimes import build

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        build(runtime, source, handler, cache_dir=Path(cache))
        first = time.perf_counter() - start
        start = time.perf_counter()
        build(runtime, source, handler, cache_dir=Path(cache))
        cached = time.perf_counter() - start
    return first, cached


def native_python() -> tuple[float, float]:
    module = types.ModuleType("app")
    exec(PY_APP, module.__dict__)
    event = json.loads(EVENT)
    warm = []
    for _ in range(20000):
        start = time.perf_counter()
        json.dumps(module.handler(json.loads(EVENT), None))
        warm.append(time.perf_counter() - start)
    cold = []
    code = f"import json\n{PY_APP}\nprint(json.dumps(handler({event!r}, None)))"
    for _ in range(10):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-S", "-c", code], check=True, capture_output=True)
        cold.append(time.perf_counter() - start)
    return ms(cold), ms(warm)


def native_node() -> tuple[float, float] | None:
    node = shutil.which("node")
    if node is None:
        return None
    script = (
        JS_APP.replace("export const", "const")
        + f"""
const event = {EVENT.decode()};
(async () => {{
  const n = Number(process.argv[1] || 0);
  if (n === 0) {{ console.log(JSON.stringify(await handler(event, {{}}))); return; }}
  const t = [];
  for (let i = 0; i < n; i++) {{
    const s = process.hrtime.bigint();
    JSON.stringify(await handler(JSON.parse(JSON.stringify(event)), {{}}));
    t.push(Number(process.hrtime.bigint() - s));
  }}
  t.sort((a, b) => a - b); console.log(t[t.length >> 1] / 1e6);
}})();
"""
    )
    warm = float(subprocess.run([node, "-e", script, "20000"], capture_output=True, text=True, check=True).stdout)
    cold = []
    for _ in range(10):
        start = time.perf_counter()
        subprocess.run([node, "-e", script], check=True, capture_output=True)
        cold.append(time.perf_counter() - start)
    return ms(cold), warm


def main() -> None:
    py_source, js_source = zip_of("app.py", PY_APP), zip_of("index.mjs", JS_APP)
    print(f"wasmfaas runtime benchmarks ({os.cpu_count()} cpus)")
    with tempfile.TemporaryDirectory() as data, SyncPlatform(data_dir=data) as platform:
        py_cold, py_warm = measure(platform, "py", PYTHON, py_source, "app.handler")
        js_cold, js_warm = measure(platform, "js", JAVASCRIPT, js_source, "index.handler")
        py_in, py_out = payload_times(platform, "py-sized", PYTHON, py_source, "app.sized")
        js_in, js_out = payload_times(platform, "js-sized", JAVASCRIPT, js_source, "index.sized")
    n_cold, n_warm = native_python()
    row(f"{PYTHON}: cold start (new environment)", py_cold, "<= 10", f"native CPython process {n_cold:.1f} ms")
    row(f"{PYTHON}: warm invoke", py_warm, "<= 2", f"native CPython in-process {n_warm * 1000:.1f} us")
    node = native_node()
    node_cold = f"node process {node[0]:.1f} ms" if node else "node not installed"
    node_warm = f"node in-process {node[1] * 1000:.1f} us" if node else ""
    row(f"{JAVASCRIPT}: cold start (new environment)", js_cold, "<= 5", node_cold)
    row(f"{JAVASCRIPT}: warm invoke", js_warm, "<= 1", node_warm)
    n_in, n_out = native_payload_times()
    native = f"native CPython json {n_in:.2f} / {n_out:.2f} ms"
    row(f"{PYTHON}: 1 MiB event", py_in, "-", native)
    row(f"{PYTHON}: 1 MiB response", py_out, "-", "")
    row(f"{JAVASCRIPT}: 1 MiB event", js_in, "-", "")
    row(f"{JAVASCRIPT}: 1 MiB response", js_out, "-", "componentize-js's glue counts the string's code points")
    for runtime, source, handler in ((PYTHON, py_source, "app.handler"), (JAVASCRIPT, js_source, "index.handler")):
        first, cached = build_times(runtime, source, handler)
        print(f"{runtime}: build {first:.1f} s first, {cached * 1000:.1f} ms cached")


if __name__ == "__main__":
    main()
