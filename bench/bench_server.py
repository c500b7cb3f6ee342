"""HTTP benchmarks of `wasmfaas serve`, each figure printed beside its baseline from the same run and server.

    python bench/bench_server.py                       # uvicorn, then granian
    python bench/bench_server.py --server uvicorn --duration 10 --connections 64

For each HTTP server: a hello-world function through Invoke and through its function URL, side by side with the
same server's bare ASGI routes (/__hello: GET, a constant response -- the HTTP stack alone, the target's baseline;
/__echo: POST, the body read and sent back -- what any handler of a request body pays before doing anything), with
wrk (64 connections, 10 s): requests/s, the ratio to /__hello, and p99 latency. Then overload: 10x more connections
than a function's reserved concurrency, each invocation taking 20 ms: every response must be a 200 or a 429 (no
5xx), and the 429s must come back fast (their latency measured from a separate client while wrk keeps the function
saturated: one probe on a kept-alive connection, as SDKs use, one opening a connection per request).

Needs `wrk` (apt-get install wrk) and the guest toolchain (ziglang).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from wasmfaas.server.client import LambdaClient
from wasmfaas.toolchain import build_c

ROOT = Path(__file__).resolve().parent.parent

HELLO_C = r"""
#include "wasmfaas.h"
static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx, (void)event, (void)len;
    return wasmfaas_ok_str("{\"statusCode\":200,\"body\":\"hello, world\"}");
}
WASMFAAS_HANDLER(handler)
"""

# Counts responses by status in every wrk thread and prints the totals.
STATUS_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write(string.format("STATUS %d %d\\n", k, v)) end
end
"""


def build_guests(work: Path) -> dict[str, bytes]:
    hello = work / "hello.c"
    hello.write_text(HELLO_C)
    include = [ROOT / "guest_sdks" / "c"]
    return {
        "hello": build_c([hello], exec_model="reactor", include_dirs=include).read_bytes(),
        "sleep": build_c(
            [ROOT / "tests" / "guests" / "sleep.c"], exec_model="reactor", include_dirs=include
        ).read_bytes(),
    }


class Server:
    def __init__(self, kind: str, data_dir: Path) -> None:
        command = [
            sys.executable,
            "-m",
            "wasmfaas.cli",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--server",
            kind,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("WASMFAAS_")}
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        assert self.process.stdout is not None
        self.url = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.url:
            line = self.process.stdout.readline()
            if not line:
                break
            if line.startswith("wasmfaas: serving on "):
                self.url = line.split()[-1]
        if not self.url:
            self.process.kill()
            raise RuntimeError(f"{kind} did not start")
        self._wait_ready()
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/__wasmfaas/health", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def stop(self) -> int | None:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def wrk(url: str, *, connections: int, duration: int, script: Path | None = None) -> dict[str, Any]:
    threads = min(connections, os.cpu_count() or 2)
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if script is not None:
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    statuses = {int(code): int(n) for code, n in re.findall(r"STATUS (\d+) (\d+)", out)}
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
        "statuses": statuses,
        "socket_errors": errors.group(1) if errors else "",
    }


def lua(work: Path, name: str, text: str) -> Path:
    path = work / name
    path.write_text(text)
    return path


def throughput(server: Server, work: Path, connections: int, duration: int) -> dict[str, dict[str, Any]]:
    client = LambdaClient(server.url)
    url = client.request("GET", client.function_path("2021-10-31", "hello", "/url")).json()["FunctionUrl"]
    invoke = lua(work, "invoke.lua", 'wrk.method = "POST"\nwrk.body = "{}"\n')
    runs = {}
    for label, target, script in (
        ("bare /__hello", f"{server.url}/__hello", None),
        ("bare /__echo", f"{server.url}/__echo", invoke),
        ("Invoke", f"{server.url}/2015-03-31/functions/hello/invocations", invoke),
        ("function URL", url, None),
    ):
        wrk(target, connections=connections, duration=2, script=script)  # warm-up: environments, connections
        runs[label] = wrk(target, connections=connections, duration=duration, script=script)
    return runs


def overload(server: Server, work: Path, reserved: int, duration: int, think_ms: int) -> dict[str, Any]:
    """10x the reserved concurrency in connections; each waits `think_ms` between requests (0: flood)."""
    target = f"{server.url}/2015-03-31/functions/limited/invocations"
    pacing = f"function delay() return {think_ms} end\n" if think_ms else ""
    script = lua(work, f"overload-{think_ms}.lua", 'wrk.method = "POST"\nwrk.body = "20"\n' + pacing + STATUS_LUA)
    # Two probes, alternating: one keeps its connection open (as SDKs such as boto3 do), one opens a connection
    # per request (its time includes waiting for the server to accept it behind the flood).
    latencies: dict[str, list[float]] = {"keep-alive": [], "new connection": []}
    statuses: list[int] = []
    stop = threading.Event()
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    path = "/2015-03-31/functions/limited/invocations"

    def one(conn: http.client.HTTPConnection) -> tuple[int, float]:
        start = time.perf_counter()
        conn.request("POST", path, body=b"20", headers={"content-type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status, (time.perf_counter() - start) * 1000

    def probe() -> None:
        time.sleep(0.5)
        kept = http.client.HTTPConnection(host, int(port), timeout=10)
        while not stop.is_set():
            for kind in latencies:
                conn = kept if kind == "keep-alive" else http.client.HTTPConnection(host, int(port), timeout=10)
                try:
                    status, ms = one(conn)
                except (OSError, http.client.HTTPException):
                    status, ms = 0, 0.0
                    kept = http.client.HTTPConnection(host, int(port), timeout=10)
                finally:
                    if conn is not kept:
                        conn.close()
                statuses.append(status)
                if status == 429:
                    latencies[kind].append(ms)
                time.sleep(0.002)
        kept.close()

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        result = wrk(target, connections=reserved * 10, duration=duration, script=script)
    finally:
        stop.set()
        prober.join()
    result["throttle_latency_ms"] = {kind: _summary(values) for kind, values in latencies.items()}
    result["probe_statuses"] = {s: statuses.count(s) for s in sorted(set(statuses))}
    return result


def _summary(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {
        "n": len(values),
        "p50": statistics.median(values) if values else float("nan"),
        "p99": values[int(len(values) * 0.99) - 1] if len(values) >= 100 else float("nan"),
        "max": values[-1] if values else float("nan"),
    }


def deploy(server: Server, guests: dict[str, bytes], reserved: int) -> None:
    client = LambdaClient(server.url)
    for name, guest in (("hello", "hello"), ("limited", "sleep")):
        client.request(
            "POST",
            "/2015-03-31/functions",
            json={
                "FunctionName": name,
                "Runtime": "wasi",
                "Role": "arn:aws:iam::000000000000:role/bench",
                "Code": {"ZipFile": base64.b64encode(guests[guest]).decode()},
            },
        )
    client.request("POST", client.function_path("2021-10-31", "hello", "/url"), json={"AuthType": "NONE"})
    client.request(
        "PUT",
        client.function_path("2017-10-31", "limited", "/concurrency"),
        json={"ReservedConcurrentExecutions": reserved},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", choices=["uvicorn", "granian", "both"], default="both")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--reserved", type=int, default=8, help="reserved concurrency for the overload run")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench_server needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="wasmfaas-bench-") as tmp:
        work = Path(tmp)
        guests = build_guests(work)
        kinds = ["uvicorn", "granian"] if args.server == "both" else [args.server]
        for kind in kinds:
            server = Server(kind, work / f"data-{kind}")
            try:
                deploy(server, guests, args.reserved)
                runs = throughput(server, work, args.connections, args.duration)
                loads = {think: overload(server, work, args.reserved, args.duration, think) for think in (50, 0)}
            finally:
                status = server.stop()
            results[kind] = {"throughput": runs, "overload": loads, "exit_status": status}
            report(kind, runs, loads, args, status)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    return 0


def report(
    kind: str,
    runs: dict[str, dict[str, Any]],
    loads: dict[int, dict[str, Any]],
    args: argparse.Namespace,
    status: int | None,
) -> None:
    base = runs["bare /__hello"]["rps"]
    print(f"\n== {kind}: wrk -c {args.connections} -d {args.duration}s, {os.cpu_count()} cores ==")
    print(f"{'target':<16}{'req/s':>12}{'vs bare':>10}{'p99':>12}  non-2xx")
    for label, run in runs.items():
        non_ok = {k: v for k, v in run["statuses"].items() if not 200 <= k < 300}
        print(
            f"{label:<16}{run['rps']:>12,.0f}{run['rps'] / base:>10.2f}{run['p99_ms']:>10.2f}ms  "
            f"{non_ok or '-'} {run['socket_errors']}"
        )
    for think, load in loads.items():
        statuses = load["statuses"]
        five = sum(v for k, v in statuses.items() if k >= 500)
        pace = f"{think} ms think time" if think else "no think time (flood)"
        print(
            f"overload: {args.reserved * 10} connections on reserved concurrency {args.reserved}, 20 ms invocations, "
            f"{pace}"
        )
        print(f"  {load['rps']:,.0f} req/s, statuses {dict(sorted(statuses.items()))}, 5xx: {five}")
        for probe, t in load["throttle_latency_ms"].items():
            print(
                f"  429 latency, separate client, {probe} (n={t['n']}): p50 {t['p50']:.2f} ms, "
                f"p99 {t['p99']:.2f} ms, max {t['max']:.2f} ms"
            )
        print(f"  probe statuses {load['probe_statuses']}")
    print(f"  server exit status after SIGTERM: {status}")


if __name__ == "__main__":
    sys.exit(main())
