"""The `wasmfaas` command.

    wasmfaas invoke PATH.wasm [PAYLOAD|-] [--memory MB] [--timeout S] [--env KEY=VALUE]... [--fuel N]

runs a local module once: the response payload on stdout, the framed log on stderr, exit status 1 on a function
error (2 on bad usage or code). `wasmfaas demo` builds the C SDK's example and shows a cold and warm start.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from .config import FunctionConfig
from .errors import WasmfaasError
from .server_cli import add_server_commands, is_local_module, run_server_command
from .sync import SyncPlatform

__all__ = ["main"]


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wasmfaas", description="A serverless platform for WebAssembly functions.")
    sub = parser.add_subparsers(dest="command", required=True)

    inv = sub.add_parser(
        "invoke",
        help="run a local .wasm module once, or invoke a function deployed on a server",
        description="wasmfaas invoke PATH.wasm [PAYLOAD] runs a local module once (the options below the remote "
        "group's); wasmfaas invoke NAME [PAYLOAD] invokes a deployed function on a server (the remote options).",
    )
    inv.add_argument(
        "module",
        type=Path,
        metavar="module",
        help="a .wasm file (a WASI command, a wasmfaas reactor or a component), or a deployed function's name",
    )
    inv.add_argument("payload", nargs="?", default="", help="the event; '-' reads it from stdin (default: empty)")
    inv.add_argument("--memory", type=int, default=None, metavar="MB", help="memory limit in MB (default 128)")
    inv.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="timeout (default 3)")
    inv.add_argument(
        "--env",
        type=_env_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable (repeatable)",
    )
    inv.add_argument("--fuel", type=int, default=None, metavar="N", help="fuel budget for the invocation")
    inv.add_argument("--name", default=None, help="function name (default: the file's stem)")
    inv.add_argument("--data-dir", type=Path, default=None, help="where compiled modules are cached")

    demo = sub.add_parser("demo", help="build the C SDK example and invoke it cold and warm")
    demo.add_argument("--data-dir", type=Path, default=None, help="where compiled modules are cached")

    # The server's commands (serve, deploy, list, logs, delete) and remote `invoke NAME`: wasmfaas/server_cli.py.
    add_server_commands(sub, inv)
    return parser


def _function_name(args: argparse.Namespace) -> str:
    if args.name:
        return str(args.name)
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in args.module.stem)[:64]
    return stem or "function"


def _invoke(args: argparse.Namespace) -> int:
    code = args.module.read_bytes()
    # os.fsencode: an argument that is not UTF-8 arrives with its bytes escaped (surrogateescape): send them as is.
    payload = sys.stdin.buffer.read() if args.payload == "-" else os.fsencode(args.payload)
    config = FunctionConfig(
        memory_mb=128 if args.memory is None else args.memory,
        timeout=3.0 if args.timeout is None else args.timeout,
        environment=dict(args.env),
        fuel=args.fuel,
    )
    name = _function_name(args)
    with SyncPlatform(data_dir=args.data_dir) as platform:
        platform.create_function(name, code, config=config)
        result = platform.invoke(name, payload)
    sys.stderr.write(result.log)
    sys.stdout.buffer.write(result.payload)
    if result.payload and not result.payload.endswith(b"\n") and sys.stdout.isatty():
        sys.stdout.write("\n")
    sys.stdout.flush()
    return 0 if result.ok else 1


def _demo(args: argparse.Namespace) -> int:
    from .toolchain import build_c

    root = Path(__file__).resolve().parent.parent
    sdk = root / "guest_sdks" / "c"
    example = sdk / "example" / "hello.c"
    if not example.exists():
        print(f"wasmfaas demo needs a source checkout (missing {example})", file=sys.stderr)
        return 2
    print(f"building {example.relative_to(root)} with zig cc (cached after the first build) ...")
    wasm = build_c([example], exec_model="reactor", include_dirs=[sdk])
    with SyncPlatform(data_dir=args.data_dir) as platform:
        platform.create_function("hello", wasm.read_bytes(), config=FunctionConfig(environment={"GREETING": "Hello"}))
        for label, event in (("cold", b'{"name": "cold start"}'), ("warm", b'{"name": "warm start"}')):
            start = time.perf_counter()
            result = platform.invoke("hello", event)
            elapsed = (time.perf_counter() - start) * 1e6
            print(f"\n--- {label} invocation: {elapsed:.0f} µs end to end ---")
            print(result.log, end="")
            print(f"response: {result.payload.decode(errors='replace')}")
        start = time.perf_counter()
        n = 10000
        for _ in range(n):
            platform.invoke("hello", b'{"name": "loop"}')
        per_call = (time.perf_counter() - start) / n * 1e6
        print(f"\n{n} warm invocations: {per_call:.1f} µs each")
    return 0


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    # argparse fills `invoke`'s optional PAYLOAD before it meets an option, so `invoke NAME --qualifier Q PAYLOAD`
    # leaves the payload over: it is the payload still.
    if args.command == "invoke" and not args.payload and len(extra) == 1 and (extra[0] == "-" or extra[0][:1] != "-"):
        args.payload = extra.pop()
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "invoke":
        # Options of the other form would be ignored: a run that silently differs from the one asked for.
        local = is_local_module(args)
        others = _REMOTE_INVOKE_OPTIONS if local else _LOCAL_INVOKE_OPTIONS
        # `is not None`, not a truth test: --memory 0 or --timeout 0 is given too (0 == False).
        given = [option for option, dest in others if _given(getattr(args, dest, None))]
        if given:
            what = "a local module" if local else f"the deployed function {str(args.module)!r}"
            form = "a deployed function" if local else "a local .wasm"
            parser.error(f"invoke of {what} takes no {', '.join(given)} (for invoking {form})")
    return args


def _given(value: object) -> bool:
    return value is not None and value is not False and value != []


# `invoke`'s options of each form (option, argparse dest).
_LOCAL_INVOKE_OPTIONS: Final = [
    ("--memory", "memory"), ("--timeout", "timeout"), ("--env", "env"), ("--fuel", "fuel"), ("--name", "name"),
    ("--data-dir", "data_dir"),
]  # fmt: skip
_REMOTE_INVOKE_OPTIONS: Final = [
    ("--endpoint", "endpoint"), ("--qualifier", "qualifier"), ("--invocation-type", "invocation_type"),
    ("--no-log", "no_log"),
]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    try:
        status = run_server_command(args)  # None unless a server command or `invoke` of a deployed function
        if status is not None:
            return status
        if args.command == "invoke":
            return _invoke(args)
        return _demo(args)
    except BrokenPipeError:  # `wasmfaas dlq list | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error as Python exits
        return 0
    except OSError as e:  # a file or an address the user gave: its name and the reason, not Python's wording
        reason = e.strerror or str(e)
        print(f"wasmfaas: {e.filename}: {reason}" if e.filename else f"wasmfaas: {reason}", file=sys.stderr)
        return 2
    except WasmfaasError as e:
        print(f"wasmfaas: {type(e).__name__}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
