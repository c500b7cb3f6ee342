"""Cold start with and without Wizer pre-initialisation (wasmfaas.snapshot), measured in the same run.

    python bench/bench_snapshot.py            # 200 samples of each
    python bench/bench_snapshot.py 1000       # more samples

The guest is tests/guests/heavy_init.c, whose init fills a 4 MB table (~20 ms). A cold start is the construction of a
new execution environment for the function, `ReactorEnvironment(spec)`: instantiation, WASI set-up, limits, and the
`_initialize` call -- what Lambda reports as Init Duration. The plain and the pre-initialised module are sampled in
alternation, so that both see the same machine state; the first invocation on the new environment is timed as well,
and the warm invocation, to show that the snapshot costs nothing once the environment is up. Needs `npm ci --prefix
tools/wizer` (and ziglang, for the guest).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from wasmfaas import SyncPlatform
from wasmfaas.guests.base import Request
from wasmfaas.guests.reactor import ReactorEnvironment
from wasmfaas.snapshot import snapshot_reactor, wizer_version
from wasmfaas.toolchain import build_c

ROOT = Path(__file__).resolve().parent.parent
EVENT = b'{"n": 837799}'
IDLE_ENVS = 50


def _request() -> Request:
    return Request(
        request_id=str(uuid.uuid4()), payload=EVENT, deadline_ms=int(time.time() * 1000) + 3000, timeout=3.0
    )


def main() -> None:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    plain = build_c(
        [ROOT / "tests" / "guests" / "heavy_init.c"], exec_model="reactor", include_dirs=[ROOT / "guest_sdks" / "c"]
    ).read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        snap = snapshot_reactor(plain, allow_wasi=True, cache_dir=Path(tmp) / "cache")
        snapshot_s = time.perf_counter() - start
        with SyncPlatform(data_dir=Path(tmp) / "data") as platform:
            platform.create_function("plain", plain)
            platform.create_function("snap", snap)
            # Same check as the tests: both answer alike (the table, its checksum, one init run in its history).
            answers = [platform.invoke(name, EVENT).json() for name in ("plain", "snap")]
            for answer in answers:
                del answer["function"]
            assert answers[0] == answers[1], answers
            specs = {name: platform.platform._functions[name].latest.target.pool.spec for name in ("plain", "snap")}

            cold: dict[str, list[float]] = {name: [] for name in specs}
            first: dict[str, list[float]] = {name: [] for name in specs}
            warm: dict[str, list[float]] = {name: [] for name in specs}
            for i in range(samples + 10):
                for name, spec in specs.items():
                    t0 = time.perf_counter()
                    env = ReactorEnvironment(spec)
                    t1 = time.perf_counter()
                    outcome = env.invoke(_request())
                    t2 = time.perf_counter()
                    env.invoke(_request())
                    t3 = time.perf_counter()
                    env.close()
                    assert outcome.error is None, outcome.error
                    if i >= 10:  # the first few warm the allocator and caches of both
                        cold[name].append((t1 - t0) * 1000)
                        first[name].append((t2 - t1) * 1000)
                        warm[name].append((t3 - t2) * 1000)

            # Resident memory of idle environments: a snapshot's table is mapped copy-on-write from the compiled
            # module and shared until written, where each plain environment has written its own copy.
            rss: dict[str, float] = {}
            for name, spec in specs.items():
                before = _rss_mib()
                envs = [ReactorEnvironment(spec) for _ in range(IDLE_ENVS)]
                for env in envs:
                    env.invoke(_request())
                rss[name] = (_rss_mib() - before) / IDLE_ENVS
                for env in envs:
                    env.close()

    def med(values: list[float]) -> float:
        return statistics.median(values)

    print(f"Wizer {wizer_version()} pre-initialisation of tests/guests/heavy_init.c, {samples} samples each, median")
    print(
        f"  module size: plain {len(plain) / 1024:.0f} KiB, snapshot {len(snap) / 1024:.0f} KiB "
        f"(the initialised 4 MB table travels as data); snapshot build {snapshot_s * 1000:.0f} ms"
    )
    print(f"  {'':<40} {'plain':>10} {'snapshot':>10} {'saved':>10}")
    for label, series in (
        ("cold start: new environment (ms)", cold),
        ("first invocation on it (ms)", first),
        ("warm invocation (ms)", warm),
    ):
        a, b = med(series["plain"]), med(series["snap"])
        print(f"  {label:<40} {a:>10.3f} {b:>10.3f} {a - b:>10.3f}")
    a = med([c + f for c, f in zip(cold["plain"], first["plain"], strict=True)])
    b = med([c + f for c, f in zip(cold["snap"], first["snap"], strict=True)])
    print(
        f"  {'cold invocation, start + first (ms)':<40} {a:>10.3f} {b:>10.3f} {a - b:>10.3f}  ({a / b:.1f}x faster)"
    )
    if rss["plain"] > 0:
        label = f"RSS per idle environment (MiB, of {IDLE_ENVS})"
        print(f"  {label:<40} {rss['plain']:>10.2f} {rss['snap']:>10.2f} {rss['plain'] - rss['snap']:>10.2f}")


def _rss_mib() -> float:
    """This process's resident set in MiB (Linux; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


if __name__ == "__main__":
    main()
