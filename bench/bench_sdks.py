"""The guest SDKs' JSON helpers on payload-sized strings, against an echo of the same bytes in the same run.

    python bench/bench_sdks.py            # 4 MB strings, best of 5
    python bench/bench_sdks.py 6 9        # 6 MB, best of 9

Each SDK's feature guest (tests/guests/) is invoked with an event holding one large string; the helper under test
reads it (a JSON lookup: escapes decoded, UTF-8 checked), writes it (JSON-escaped into the response), or both. The
C guest's echo of an event of the same size, which costs the host's copies in and out and nothing of an SDK's, is
measured alongside: what an SDK adds is the difference, given as MB/s of the string. Byte-at-a-time helpers had made
a 6 MB string cost the C writer 2.9 s of a 64 MB response and Zig's reader ~0.5 s (11-35 MB/s); copying runs of
plain text whole puts them at a copy's speed.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from wasmfaas import FunctionConfig, InvocationResult, SyncPlatform, toolchain
from wasmfaas.toolchain import build_c, build_rust, build_zig
from wasmfaas.toolchain_as import build_assemblyscript

ROOT = Path(__file__).resolve().parent.parent
GUESTS = ROOT / "tests" / "guests"
SDKS = ROOT / "guest_sdks"


def _text(size: int) -> str:
    # Mostly plain text, as payloads are: a quote, a newline and a non-ASCII letter in every 64 characters.
    unit = 'plain text of a payload, "quoted"\nand accented: caf\u00e9 ' + "x" * 15
    return (unit * (size // len(unit) + 1))[:size]


def main() -> None:
    size = int(float(sys.argv[1]) * (1 << 20)) if len(sys.argv) > 1 else 4 << 20
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    text = _text(size)
    quoted = json.dumps(text).encode()
    mb = len(text.encode()) / 1e6
    guests: dict[str, Callable[[], bytes]] = {
        "c": lambda: build_c(
            [GUESTS / "sdk_c_features.c"], exec_model="reactor", include_dirs=[SDKS / "c"]
        ).read_bytes(),
        "zig": lambda: build_zig(
            GUESTS / "sdk_features.zig", exec_model="reactor", modules={"wasmfaas": SDKS / "zig" / "wasmfaas.zig"}
        ).read_bytes(),
        "assemblyscript": lambda: build_assemblyscript(GUESTS / "assemblyscript" / "features.ts").read_bytes(),
    }
    if toolchain.rust_toolchain_problem() is None:
        guests["rust"] = lambda: build_rust(GUESTS / "rust_sdk_features").read_bytes()
    # (function, event, operation, check of the result) per SDK: a fast wrong answer must not pass.
    lookup = b'{"action": "lookup", "name": ' + quoted + b"}"

    def named(r: InvocationResult) -> bool:
        return bool(json.loads(r.payload)["name"] == text)

    cases: list[tuple[str, bytes, str, Callable[[InvocationResult], bool]]] = [
        ("c", b"quote:" + text.encode(), "write", lambda r: json.loads(r.payload) == [text]),
        ("c", b'{"action": "getraw", "name": ' + quoted + b"}", "read", lambda r: r.payload.endswith(text.encode())),
        ("zig", b"quoteerr:" + text.encode(), "write",
         lambda r: getattr(r.function_error, "error_message", 0) == text),
        ("zig", lookup, "read + write", named),
        ("rust", lookup, "read + write", named),
        ("assemblyscript", b'{"action": "quote", "text": ' + quoted + b"}", "read + write",
         lambda r: json.loads(r.payload) == text),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, SyncPlatform(data_dir=Path(tmp)) as platform:
        config = FunctionConfig(memory_mb=1024, timeout=60)
        for name, build in guests.items():
            platform.create_function(name, build(), config=config)

        def best(name: str, event: bytes, check: Callable[[InvocationResult], bool]) -> float:
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                result = platform.invoke(name, event)
                times.append(time.perf_counter() - start)
                assert check(result), (name, result.payload[:300])
            return min(times)

        echo_event = b'{"action": "echo", "pad": ' + quoted + b"}"
        echo = best("c", echo_event, lambda r: r.payload == echo_event)
        print(f"{mb:.1f} MB strings, best of {rounds}; the C guest's echo of the event: {echo * 1000:.1f} ms\n")
        print(f"{'sdk':16}{'operation':15}{'ms':>9}{'SDK MB/s':>11}")
        for name, event, operation, check in cases:
            if name not in guests:
                continue
            took = best(name, event, check)
            sdk = max(took - echo, 1e-6)
            print(f"{name:16}{operation:15}{took * 1000:9.1f}{mb / sdk:11.0f}")


if __name__ == "__main__":
    main()
