"""Core-engine benchmarks: each figure printed beside a baseline measured in the same run.

    python bench/bench_engine.py            # all figures
    python bench/bench_engine.py warm cold  # some of them: warm async cold disk parallel idle

Targets (issue 2): warm sync invoke of a 1 KiB echo <= 10 us median (baselines: the same export called through
wasmtime-py, and the Extism Python SDK on an equivalent plugin); async invoke <= 50 us; cold start from the in-memory
module cache <= 50 us, from the disk cache after a restart <= 1 ms; two parallel CPU-bound invocations >= 1.8x one;
1000 idle warm environments <= 1 GiB RSS.
"""

from __future__ import annotations

import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import wasmtime

from wasmfaas import FunctionConfig, Platform, SyncPlatform
from wasmfaas.toolchain import build_c

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = b"x" * 1024


def guest(name: str) -> bytes:
    model = "command" if name.endswith("_command") else "reactor"
    source = ROOT / "tests" / "guests" / f"{name}.c"
    path = build_c([source], exec_model=model, include_dirs=[ROOT / "guest_sdks" / "c"])
    return path.read_bytes()


def median_us(fn: Callable[[], object], n: int = 20000, warmup: int = 1000) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        fn()
        samples.append(clock() - start)
    return statistics.median(samples) / 1000


def row(label: str, value: float, unit: str, target: str, baseline: str = "") -> None:
    print(f"{label:<52} {value:>10.2f} {unit:<4} target {target:<10} {baseline}")


def bench_warm(data: Path) -> None:
    code = guest("echo")
    with SyncPlatform(data_dir=data) as platform:
        platform.create_function("echo", code)
        assert platform.invoke("echo", PAYLOAD).payload == PAYLOAD
        ours = median_us(lambda: platform.invoke("echo", PAYLOAD))

    # Baseline 1: the same export through wasmtime-py's public API (Func.__call__, Memory.write/read).
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    instance = linker.instantiate(store, wasmtime.Module(engine, code))
    exports = instance.exports(store)
    exports["_initialize"](store)
    memory, handle = exports["memory"], exports["wasmfaas_handle"]
    region = exports["wasmfaas_buffer"](store, 64 + len(PAYLOAD))
    header = struct.pack("<IIQ36s12x", 1, 64, 2**62, b"0" * 36)

    def bare() -> bytes:
        memory.write(store, header + PAYLOAD, region)
        result = handle(store, region, len(PAYLOAD))
        raw = memory.read(store, result, result + 12)
        ptr, length = int.from_bytes(raw[4:8], "little"), int.from_bytes(raw[8:12], "little")
        return bytes(memory.read(store, ptr, ptr + length))

    assert bare() == PAYLOAD
    wasmtime_py = median_us(bare)

    # Baseline 2: the Extism Python SDK calling an equivalent echo plugin (bench/echo_extism.wat).
    extism_us = float("nan")
    try:
        import extism

        plugin = extism.Plugin(bytes(wasmtime.wat2wasm((ROOT / "bench" / "echo_extism.wat").read_text())), wasi=False)
        assert plugin.call("echo", PAYLOAD) == PAYLOAD
        extism_us = median_us(lambda: plugin.call("echo", PAYLOAD))
    except ImportError:
        pass
    row(
        "warm invoke, 1 KiB echo, sync API (median)",
        ours,
        "us",
        "<= 10",
        f"wasmtime-py call {wasmtime_py:.2f} us ({wasmtime_py / ours:.1f}x), "
        f"extism {extism_us:.2f} us ({extism_us / ours:.1f}x)",
    )


def bench_async(data: Path) -> None:
    async def main() -> tuple[float, float]:
        async with Platform(data_dir=data) as platform:
            await platform.create_function("echo", guest("echo"))
            samples = []
            for i in range(6000):
                start = time.perf_counter_ns()
                await platform.invoke("echo", PAYLOAD)
                if i >= 1000:
                    samples.append(time.perf_counter_ns() - start)
            bare = []
            for i in range(6000):
                start = time.perf_counter_ns()
                await anyio.to_thread.run_sync(int)
                if i >= 1000:
                    bare.append(time.perf_counter_ns() - start)
            return statistics.median(samples) / 1000, statistics.median(bare) / 1000

    ours, hop = anyio.run(main, backend_options={"use_uvloop": True})
    row(
        "invoke from an anyio task, async API (median)",
        ours,
        "us",
        "<= 50",
        f"bare anyio.to_thread.run_sync hop {hop:.2f} us",
    )


def bench_cold(data: Path) -> None:
    from wasmfaas.guests.reactor import ReactorEnvironment

    code = guest("echo")
    with SyncPlatform(data_dir=data) as platform:
        platform.create_function("echo", code)
        spec = platform.platform._functions["echo"].latest.target.pool.spec

        # Creation only: instantiate, WASI, limits, init (closing happens off the clock, as an idle reap would).
        samples = []
        for _ in range(3000):
            start = time.perf_counter_ns()
            env = ReactorEnvironment(spec)
            samples.append(time.perf_counter_ns() - start)
            env.close()
        ours = statistics.median(samples[200:]) / 1000
    # Baseline: wasmtime-py's own instantiate of the same module (no limits, no WASI, no init call).
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module(engine, code)

    def bare() -> None:
        store = wasmtime.Store(engine)
        store.set_wasi(wasmtime.WasiConfig())
        linker.instantiate(store, module)

    baseline = median_us(bare, n=3000, warmup=200)
    row(
        "cold start, module cached in memory (median)",
        ours,
        "us",
        "<= 50",
        f"wasmtime-py Linker.instantiate {baseline:.2f} us",
    )


_DISK_SCRIPT = """
import sys, time, json
from pathlib import Path
from wasmfaas.engine import Engine
from wasmfaas.guests.base import Request
from wasmfaas.guests.reactor import ReactorEnvironment
from wasmfaas.modules import ModuleCache
from wasmfaas.platform import Platform
from wasmfaas.guests.base import EnvironmentSpec
code = Path(sys.argv[2]).read_bytes()
from wasmfaas import logs
engine = Engine()
cache = ModuleCache(engine, Path(sys.argv[1]))  # made when the platform starts, before any function is used
logs.prepare()  # likewise
import gc
gc.freeze()  # as `wasmfaas serve` does before its platform starts: the imports' objects, out of the collector's sight
start = time.perf_counter()
compiled = cache.load(code)
load = time.perf_counter() - start
spec = EnvironmentSpec(code=compiled, engine=engine, function_name="f", version="$LATEST", memory_mb=128,
                       timeout=3.0, environment={})
spec.wasi  # encoded when the function is deployed
start = time.perf_counter()
env = ReactorEnvironment(spec)
outcome = env.invoke(Request("0" * 36, b"hi", 2**50, 3.0))
first = time.perf_counter() - start
assert outcome.payload == b"hi"
start = time.perf_counter()
ModuleCache(engine, None).load(code)
compile_s = time.perf_counter() - start
print(json.dumps({"from_disk": compiled.from_disk, "load_ms": load * 1000, "first_ms": first * 1000,
                  "compile_ms": compile_s * 1000}))
"""


def bench_disk(data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    wasm = data / "echo.wasm"
    wasm.write_bytes(guest("echo"))
    runs = []
    for _ in range(6):
        out = subprocess.run(
            [sys.executable, "-c", _DISK_SCRIPT, str(data / "modules-disk"), str(wasm)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        runs.append(json.loads(out.stdout))
    warm_runs = [r for r in runs if r["from_disk"]]
    load = statistics.median(r["load_ms"] for r in warm_runs)
    first = statistics.median(r["first_ms"] for r in warm_runs)
    compile_ms = statistics.median(r["compile_ms"] for r in runs)
    row(
        "cold start after a restart, from the disk cache",
        (load + first) * 1000,
        "us",
        "<= 1000",
        f"load {load * 1000:.0f} us + new environment and first invoke {first * 1000:.0f} us; "
        f"compiling instead {compile_ms * 1000:.0f} us",
    )


def bench_parallel(data: Path) -> None:
    with SyncPlatform(data_dir=data) as platform:
        platform.create_function("spin", guest("spin"), config=FunctionConfig(timeout=60))
        rounds = b"30000000"
        platform.invoke("spin", rounds)
        platform.invoke("spin", rounds)

        def run(count: int) -> None:
            for _ in range(count):
                platform.invoke("spin", rounds)

        start = time.perf_counter()
        run(4)
        one = 4 / (time.perf_counter() - start)
        threads = [threading.Thread(target=run, args=(4,)) for _ in range(2)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        two = 8 / (time.perf_counter() - start)
    row(
        "two parallel CPU-bound invocations vs one",
        two / one,
        "x",
        ">= 1.8",
        f"{one:.1f} inv/s on one thread, {two:.1f} inv/s on two",
    )


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_idle(data: Path) -> None:
    # Every slot of the account provisioned: nothing need stay unreserved here.
    with SyncPlatform(data_dir=data, max_idle=2000, unreserved_minimum=0) as platform:
        platform.create_function("counter", guest("counter"), publish=True)
        platform.put_provisioned_concurrency("counter", "1", 1)
        before = rss_mb()
        platform.put_provisioned_concurrency("counter", "1", 1000)
        stats = platform.pool_stats("counter", "1")
        after = rss_mb()
        assert stats.idle == 1000, stats
        assert platform.invoke("counter", qualifier="1").json()["count"] == 1
    row(
        "RSS of 1000 idle warm environments",
        after - before,
        "MiB",
        "<= 1024",
        f"{(after - before) * 1024 / 1000:.0f} KiB each; process {after:.0f} MiB",
    )


def bench_timeout(data: Path) -> None:
    with SyncPlatform(data_dir=data) as platform:
        platform.create_function("loop", guest("loop"), config=FunctionConfig(timeout=0.2))
        overshoot = []
        for _ in range(20):
            result = platform.invoke("loop", '"loop"')
            assert result.function_error is not None and result.function_error.error_type == "Sandbox.Timedout"
            overshoot.append(result.duration_ms - 200)
    row(
        "infinite loop stopped after its timeout (max over 20)",
        max(overshoot) * 1000,
        "us",
        "<= 50000",
        f"median {statistics.median(overshoot) * 1000:.0f} us past the 200 ms timeout; epoch tick 10 ms",
    )


FIGURES = {
    "warm": bench_warm,
    "async": bench_async,
    "cold": bench_cold,
    "disk": bench_disk,
    "parallel": bench_parallel,
    "idle": bench_idle,
    "timeout": bench_timeout,
}


def main() -> None:
    chosen = sys.argv[1:] or list(FIGURES)
    from importlib.metadata import version

    print(
        f"wasmfaas engine benchmarks (wasmtime {version('wasmtime')}, python {sys.version.split()[0]}, "
        f"{os.cpu_count()} cpus)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            FIGURES[name](Path(tmp) / name)


if __name__ == "__main__":
    main()
