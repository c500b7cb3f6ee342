"""The server's subcommands of `wasmfaas`, registered by cli.py through `add_server_commands`:

    wasmfaas serve [--data-dir DIR] [--host 127.0.0.1] [--port 9000] [--account-concurrency N]
                   [--unreserved-minimum N] [--auth] [--region R] [--account-id ID] [--public-url URL]
                   [--shutdown-timeout S] [--client-timeout S] [--event-concurrency N]
                   [--server uvicorn|granian]
    wasmfaas deploy NAME PACKAGE [--handler H] [--runtime wasi] [--memory MB] [--timeout S] [--env K=V]...
                   [--fuel N] [--description TEXT] [--publish] [--url NONE|AWS_IAM]
    wasmfaas list
    wasmfaas logs NAME [--follow] [--tail N]
    wasmfaas delete NAME [--qualifier VERSION]
    wasmfaas invoke NAME [PAYLOAD|-] [--qualifier Q] [--invocation-type T] [--no-log]
    wasmfaas dlq list [--function NAME] [--json]
    wasmfaas dlq show ID
    wasmfaas dlq replay ID... | --function NAME
    wasmfaas dlq delete ID... | --function NAME

The client commands take `--endpoint` (default `$WASMFAAS_ENDPOINT`, else http://127.0.0.1:9000) and sign their
requests when credentials are in the environment (see wasmfaas.server.client). `invoke` is remote when its first
argument is not a local module: a path ending in .wasm, or an existing file when no --endpoint is given, runs
locally exactly as before.

Output is drawn with rich on a terminal: tables, styled log lines, pretty JSON, a progress bar while `deploy`
uploads and a spinner while the server builds. It is plain text (no ANSI codes, no live displays, tables as
space-aligned columns, payloads byte for byte) when the stream is not a terminal, with `--no-color`, or when
$NO_COLOR is set, so scripts can parse it. Progress, logs and errors go to stderr; `invoke`'s stdout is the payload.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import os
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["add_server_commands", "is_local_module", "run_server_command"]


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _add_endpoint(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint", default=None, help="the server's URL (default $WASMFAAS_ENDPOINT or http://127.0.0.1:9000)"
    )
    parser.add_argument("--no-color", action="store_true", help="plain output: no colors, tables or progress")


def _at_least(least: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value: int = _number(int, text, "an integer")
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, not {value}")
        return value

    return parse


def _number(kind: Callable[[str], Any], text: str, what: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}") from None


def _port(text: str) -> int:
    value: int = _number(int, text, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0-65535, not {value}")
    return value


def _seconds(text: str) -> float:
    value: float = _number(float, text, "a number of seconds")
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError(f"must be seconds >= 0, not {text}")
    return value


def _days(text: str) -> float:
    value: float = _number(float, text, "a number of days")
    if not 0 <= value < math.inf:  # NaN too
        raise argparse.ArgumentTypeError(f"must be days >= 0, not {text}")
    return value


def add_server_commands(sub: Any, invoke_parser: argparse.ArgumentParser) -> None:
    """Add serve/deploy/list/logs/delete, and the remote options of `invoke`."""
    serve = sub.add_parser("serve", help="serve Lambda's REST API (boto3 and the AWS CLI work against it)")
    serve.add_argument(
        "--data-dir", type=Path, default=None, help="functions, code and caches (kept across restarts)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=9000, help="port (default 9000; 0 picks a free one)")
    serve.add_argument(
        "--account-concurrency", type=_at_least(1), default=1000, metavar="N", help="account limit (1000)"
    )
    serve.add_argument(
        "--unreserved-minimum",
        type=_at_least(0),
        default=None,
        metavar="N",
        help="concurrency reservations must leave unreserved (Lambda's: 100, or the whole limit when smaller)",
    )
    serve.add_argument(
        "--auth",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="require SigV4 signatures by $WASMFAAS_ACCESS_KEY_ID/$WASMFAAS_SECRET_ACCESS_KEY "
        "(default: on when both are set)",
    )
    serve.add_argument("--region", type=_region, default="us-east-1", help="the region in ARNs (default us-east-1)")
    serve.add_argument("--account-id", type=_account_id, default="000000000000", help="the account id in ARNs")
    serve.add_argument("--public-url", default=None, help="base of function URLs and code links (default: as called)")
    serve.add_argument(
        "--shutdown-timeout",
        type=_seconds,
        default=None,
        metavar="S",
        help="cap on draining invocations at shutdown",
    )
    serve.add_argument(
        "--event-concurrency", type=_at_least(1), default=16, metavar="N", help="Event invocations run at once (16)"
    )
    serve.add_argument(
        "--dead-letter-retention",
        type=_days,
        default=14.0,
        metavar="DAYS",
        help="how long dead letters are kept (14; 0 keeps them until replayed or deleted)",
    )
    serve.add_argument(
        "--inline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run functions that have been fast on the event loop's thread (default on; --no-inline: always on "
        "worker threads, so no slow call is ever stopped and run again in a new environment)",
    )
    serve.add_argument(
        "--worker-nice",
        type=int,
        choices=range(20),
        default=0,
        metavar="N",
        help="run invocations on worker threads N nicer than the event loop (0-19; default 0): CPU-bound functions "
        "then leave requests their share, at the cost of running slower against other processes",
    )
    serve.add_argument(
        "--idle-ttl",
        type=_seconds,
        default=600.0,
        metavar="S",
        help="how long an idle environment is kept warm (600; a burst's memory goes back when they expire)",
    )
    serve.add_argument(
        "--max-idle", type=_at_least(0), default=1000, metavar="N", help="idle environments kept per version (1000)"
    )
    serve.add_argument(
        "--client-timeout",
        type=_seconds,
        default=30.0,
        metavar="S",
        help="time a client has to send a request's head, or may stall sending its body or reading the response (30)",
    )
    serve.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn", help="HTTP server (uvicorn)")
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(server_command=_serve)

    deploy = sub.add_parser("deploy", help="create or update a function on a server")
    deploy.add_argument("name", help="the function's name")
    deploy.add_argument(
        "package",
        type=Path,
        help="a .wasm module, a .zip deployment package, a folder or a single .py/.js/.mjs/.cjs file (zipped as a "
        "package; a single file's handler defaults to FILE.handler)",
    )
    deploy.add_argument(
        "--handler",
        default=None,
        help="wasi: the module in the zip (default: its only .wasm); python3.14: module.function (such as "
        "app.handler); js-starlingmonkey: file.export (such as index.handler)",
    )
    deploy.add_argument(
        "--runtime",
        type=_runtime_arg,
        default=None,
        help="wasi, python3.14, js-starlingmonkey (or Lambda's python3.X, nodejsN.x); a new function's is told by "
        "its package (.wasm: wasi, .py: python3.14, .js/.mjs/.cjs: js-starlingmonkey); an existing one keeps its own",
    )
    deploy.add_argument("--memory", type=int, default=None, metavar="MB", help="MemorySize")
    deploy.add_argument("--timeout", type=int, default=None, metavar="S", help="Timeout in seconds")
    deploy.add_argument(
        "--env",
        type=_env_pair,
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="an environment variable (repeat for more); given, they replace all the function's variables",
    )
    deploy.add_argument("--fuel", type=int, default=None, metavar="N", help="fuel budget per invocation")
    deploy.add_argument("--description", default=None)
    deploy.add_argument("--publish", action="store_true", help="publish a version")
    deploy.add_argument("--url", choices=["NONE", "AWS_IAM"], default=None, help="give it a function URL")
    _add_endpoint(deploy)
    deploy.set_defaults(server_command=_deploy)

    listing = sub.add_parser("list", help="list a server's functions")
    _add_endpoint(listing)
    listing.set_defaults(server_command=_list)

    logs = sub.add_parser("logs", help="show a function's recent invocation logs")
    logs.add_argument("name")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new logs as they come")
    logs.add_argument(
        "--tail", type=int, default=100, metavar="N", help="start with the newest N entries (100; 0-1000)"
    )
    logs.add_argument(
        "--wait", type=int, default=10, metavar="S", help="with --follow: each long poll's length (10 s, at most 20)"
    )
    _add_endpoint(logs)
    logs.set_defaults(server_command=_logs)

    dlq = sub.add_parser("dlq", help="dead letters: Event invocations that failed for good")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="{list,show,replay,delete}")
    dlq_list = dlq_sub.add_parser("list", help="list dead letters, oldest first")
    dlq_list.add_argument("--function", default=None, metavar="NAME", help="only this function's")
    dlq_list.add_argument("--json", action="store_true", help="print them as JSON, one per line")
    dlq_show = dlq_sub.add_parser("show", help="print one dead letter as JSON")
    dlq_show.add_argument("ids", nargs=1, metavar="ID")
    dlq_show.add_argument("--function", default=None, help=argparse.SUPPRESS)
    for action, text in (("replay", "enqueue the events again"), ("delete", "discard them")):
        command = dlq_sub.add_parser(action, help=f"{text}: the dead letters named, or all of a function's")
        command.add_argument("ids", nargs="*", metavar="ID")
        command.add_argument("--function", default=None, metavar="NAME", help="every dead letter of this function")
    for parser in dlq_sub.choices.values():
        _add_endpoint(parser)
        parser.set_defaults(server_command=_dlq)

    delete = sub.add_parser("delete", help="delete a function (or one version) from a server")
    delete.add_argument("name")
    delete.add_argument("--qualifier", default=None, help="a version number: delete only that version")
    _add_endpoint(delete)
    delete.set_defaults(server_command=_delete)

    remote = invoke_parser.add_argument_group("remote invocation (a deployed function NAME instead of PATH.wasm)")
    remote.add_argument("--endpoint", default=None, help="the server's URL; default $WASMFAAS_ENDPOINT or :9000")
    remote.add_argument("--qualifier", default=None, help="version or alias")
    remote.add_argument(
        "--invocation-type",
        choices=["RequestResponse", "Event", "DryRun"],
        default=None,
        help="default RequestResponse",
    )
    remote.add_argument("--no-log", action="store_true", help="do not fetch and print the log tail")
    remote.add_argument("--no-color", action="store_true", help="plain output: no colors or pretty-printed JSON")


def is_local_module(args: argparse.Namespace) -> bool:
    """Is `wasmfaas invoke`'s first argument a local module (the command's original meaning)? A `.wasm` path is;
    another file of that name only when no server is named (`--endpoint` or `$WASMFAAS_ENDPOINT`): with one, a
    file in the current directory must not shadow the deployed function."""
    path: Path = args.module
    if path.suffix == ".wasm":
        return True
    if getattr(args, "endpoint", None) is not None or os.environ.get("WASMFAAS_ENDPOINT"):
        return False
    return path.is_file()


def run_server_command(args: argparse.Namespace) -> int | None:
    """Run a subcommand of this module (None: not one of them)."""
    from .server.client import ApiError

    command: Callable[[argparse.Namespace], int] | None
    if args.command == "invoke":
        if is_local_module(args):
            return None
        command = _invoke_remote
    else:
        command = getattr(args, "server_command", None)
        if command is None:
            return None
    try:
        result: int = command(args)
        return result
    except ApiError as e:
        _error(args, f"wasmfaas: {e}{_hint(e)}")
        return 2 if e.status in (0, 400, 403, 404, 409, 413) else 1


_SIGNATURE_ERRORS = (
    "MissingAuthenticationTokenException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
)


def _hint(error: Any) -> str:
    """What to do about an error the command line can act on: no server there, or one that wants signatures."""
    if error.status == 0:
        return "\n  is `wasmfaas serve` running there? name another with --endpoint or $WASMFAAS_ENDPOINT"
    if error.code in _SIGNATURE_ERRORS:
        return (
            "\n  the server checks signatures (--auth): set WASMFAAS_ACCESS_KEY_ID and WASMFAAS_SECRET_ACCESS_KEY"
            " (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) to its keys"
        )
    return ""


def _client(args: argparse.Namespace) -> Any:
    from .server.client import LambdaClient

    return LambdaClient(args.endpoint)


# -- output --------------------------------------------------------------------------------------------------------


def _console(args: argparse.Namespace, *, stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr); `.is_terminal` is False (plain output) unless it is a terminal and
    neither --no-color nor $NO_COLOR asks for plain text."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    plain = bool(getattr(args, "no_color", False)) or bool(os.environ.get("NO_COLOR"))
    if plain:
        return Console(file=stream, force_terminal=False, color_system=None, highlight=False, soft_wrap=True)
    return Console(file=stream, highlight=False, soft_wrap=True)


def _error(args: argparse.Namespace, message: str) -> None:
    err = _console(args, stderr=True)
    if err.is_terminal:
        err.print(message, style="bold red", markup=False)
    else:
        print(message, file=sys.stderr)


def _table(
    console: Console,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    styles: Sequence[str] = (),
    right: Sequence[int] = (),
    whole: Sequence[int] = (),
    title: str | None = None,
) -> None:
    """A rich table on a terminal; else space-aligned columns, a header line first (the last column unpadded).
    Columns in `whole` are never wrapped (ids to copy in one piece); the others fold to fit."""
    if console.is_terminal:
        from rich.table import Table

        table = Table(title=title, header_style="bold", title_style="bold", title_justify="left")
        for i, header in enumerate(headers):
            style = styles[i] if i < len(styles) else ""
            justify: Literal["left", "right"] = "right" if i in right else "left"
            if i in whole:
                widest = max([len(header), *(len(row[i]) for row in rows)])
                table.add_column(header, style=style, justify=justify, no_wrap=True, min_width=widest)
            else:
                table.add_column(header, style=style, justify=justify, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table, soft_wrap=False)
        return
    lines = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers) - 1)]
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*cells, line[-1]]).rstrip())


# -- serve -------------------------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from .server.serve import serve
    from .server.settings import ACCESS_KEY_ENV, SECRET_KEY_ENV, ServerSettings, credentials_from_env

    credentials = credentials_from_env()
    halves = [name for name in (ACCESS_KEY_ENV, SECRET_KEY_ENV) if os.environ.get(name)]
    if len(halves) == 1:  # a typo in the other's name would otherwise leave the server open without a word
        missing = SECRET_KEY_ENV if halves[0] == ACCESS_KEY_ENV else ACCESS_KEY_ENV
        print(f"wasmfaas: {halves[0]} is set but {missing} is not: set both, or neither", file=sys.stderr)
        return 2
    minimum = args.unreserved_minimum
    if minimum is not None and not 0 <= minimum <= args.account_concurrency:
        print("wasmfaas: --unreserved-minimum must be between 0 and --account-concurrency", file=sys.stderr)
        return 2
    if args.auth and credentials is None:
        print("wasmfaas: --auth needs WASMFAAS_ACCESS_KEY_ID and WASMFAAS_SECRET_ACCESS_KEY", file=sys.stderr)
        return 2
    from .platform import default_data_dir
    from .registry import data_dir_holder

    data_dir = args.data_dir or default_data_dir()
    holder = data_dir_holder(data_dir)
    if holder is not None:  # said here in one line (found at startup, uvicorn's "Application startup failed")
        print(
            f"wasmfaas: {data_dir} is in use by another wasmfaas server or platform (pid {holder}): "
            "stop it, or give another --data-dir",
            file=sys.stderr,
        )
        return 2
    settings = ServerSettings(
        data_dir=args.data_dir,
        account_concurrency=args.account_concurrency,
        unreserved_minimum=args.unreserved_minimum,
        region=args.region,
        account_id=args.account_id,
        credentials=credentials if args.auth is not False else None,
        public_url=args.public_url,
        shutdown_timeout=args.shutdown_timeout,
        event_concurrency=args.event_concurrency,
        dead_letter_retention_s=args.dead_letter_retention * 86400.0 or None,
        inline=args.inline,
        worker_nice=args.worker_nice,
        idle_ttl=args.idle_ttl,
        max_idle=args.max_idle,
        client_timeout=args.client_timeout,
    )
    return serve(settings, args.host, args.port, server=args.server, log_level=args.log_level)


# -- client commands ---------------------------------------------------------------------------------------------


class _UploadDisplay:
    """`deploy`'s live display on stderr: a progress bar fed as the request body goes out in chunks, then a
    spinner while the server builds the package (a source runtime's build takes seconds). Nothing when stderr is
    not a terminal."""

    def __init__(self, args: argparse.Namespace, size: int) -> None:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = _console(args, stderr=True)
        self.progress: Progress | None = None
        self.task: Any = None
        self.size = size
        if self.console.is_terminal:
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[sent]}"),  # bytes sent while uploading; nothing while the server builds
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )

    def __enter__(self) -> _UploadDisplay:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def step(self, description: str) -> Callable[[int, int], None] | None:
        """Start showing one request: returns its upload callback (None when there is no display)."""
        from rich.filesize import decimal

        progress = self.progress
        if progress is None:
            return None
        if self.task is not None:
            progress.remove_task(self.task)
        task = self.task = progress.add_task(f"{description}: uploading", total=self.size, sent="")

        def advance(sent: int, total: int) -> None:
            if sent < total:
                shown = f"{decimal(sent)} of {decimal(total)}"
                progress.update(
                    task, completed=sent, total=total, description=f"{description}: uploading", sent=shown
                )
            elif self.task == task:  # sent: a task of no total for the build, whose spinner and clock go on
                progress.remove_task(task)
                self.task = progress.add_task(f"{description}: building on the server", total=None, sent="")

        return advance

    def note(self, message: str) -> None:
        if self.progress is not None:
            self.progress.console.print(message, style="dim", markup=False)


def _as_it_was(current: dict[str, Any], changed: dict[str, Any]) -> dict[str, Any]:
    """The UpdateFunctionConfiguration body that puts back what `changed` changed, from GetFunction's
    `Configuration` before it."""
    before: dict[str, Any] = {
        "MemorySize": current.get("MemorySize"),
        "Timeout": current.get("Timeout"),
        "Environment": {"Variables": current.get("Environment", {}).get("Variables", {})},
        "WasmfaasConfig": {"Fuel": current.get("WasmfaasConfig", {}).get("Fuel")},
        "Description": current.get("Description", ""),
        "Handler": current.get("Handler", ""),
        "Runtime": current.get("Runtime"),
    }
    return {key: before[key] for key in changed}


def _checked(check: Callable[[str], object]) -> Callable[[str], str]:
    """An argparse type from one of the library's checks: refused at parse time, in one line, with its words (the
    server would meet a bad region only once it had started up)."""
    from .errors import InvalidParameterError

    def argument(value: str) -> str:
        try:
            check(value)
        except InvalidParameterError as e:
            raise argparse.ArgumentTypeError(e.detail) from None
        return value

    return argument


def _region(value: str) -> str:
    from .platform import check_region

    return _checked(check_region)(value)


def _account_id(value: str) -> str:
    from .platform import check_account_id

    return _checked(check_account_id)(value)


def _runtime_arg(value: str) -> str:
    from .runtimes import family

    return _checked(family)(value)


def _runtime_of(code: bytes) -> str:
    """A new function's runtime, told by its package: a module (or a zip holding one at its top) is wasi; a
    package.json or node_modules is JavaScript; else the language of its sources; wasi when there is nothing else to
    tell by (a module further down, or nothing: the server then says what is missing)."""
    from . import runtimes

    if code[:4] == b"\0asm":
        return runtimes.WASI
    try:
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            names = [name.lower() for name in archive.namelist()]
    except (zipfile.BadZipFile, OSError):
        return runtimes.WASI
    # A module at the top is the function; one further down may be a dependency's (node_modules/esbuild-wasm/...).
    if any(name.endswith(".wasm") and "/" not in name for name in names):
        return runtimes.WASI
    if any(name == "package.json" or name.startswith("node_modules/") for name in names):
        return runtimes.JAVASCRIPT
    if any(name.endswith(".py") for name in names):
        return runtimes.PYTHON
    if any(name.endswith((".js", ".mjs", ".cjs")) for name in names):
        return runtimes.JAVASCRIPT
    return runtimes.WASI


def _deploy(args: argparse.Namespace) -> int:
    from rich.filesize import decimal

    from . import runtimes
    from .server.client import ApiError, LambdaClient
    from .server.packages import MAX_ZIPPED

    client: LambdaClient = _client(args)
    out = _console(args)
    # A folder is zipped as `create_function` zips one: the same sources give the same package (and hash); so is
    # a single source file, at the package's root.
    single_source = args.package.suffix.lower() in runtimes.SOURCE_SUFFIXES and args.package.is_file()
    if args.package.is_dir():
        code = runtimes.zip_folder(args.package)
    elif single_source:
        code = runtimes.zip_files([(args.package.name, args.package)])
    else:
        code = args.package.read_bytes()
        if code[:4] != b"\0asm" and not zipfile.is_zipfile(io.BytesIO(code)):  # the server could only say so
            print(
                f"wasmfaas: {args.package} is not a .wasm module, a .zip package, a folder or a "
                f"{'/'.join(runtimes.SOURCE_SUFFIXES)} file",
                file=sys.stderr,
            )
            return 2
    if len(code) > MAX_ZIPPED:  # the server would refuse it, and cut the upload short: say so before sending it
        print(
            f"wasmfaas: {args.package} is {decimal(len(code))} ({len(code)} bytes) zipped; Lambda's limit for a "
            f"direct upload is {MAX_ZIPPED} bytes",
            file=sys.stderr,
        )
        return 2
    config: dict[str, Any] = {}
    if args.memory is not None:
        config["MemorySize"] = args.memory
    if args.timeout is not None:
        config["Timeout"] = args.timeout
    if args.env is not None:
        config["Environment"] = {"Variables": dict(args.env)}
    if args.fuel is not None:
        config["WasmfaasConfig"] = {"Fuel": args.fuel}
    if args.description is not None:
        config["Description"] = args.description
    if args.handler is not None:
        config["Handler"] = args.handler
    # Does it exist? Asked first so a large package is not uploaded twice (create, then update after a conflict).
    current: dict[str, Any] = {}
    try:
        current = client.request("GET", client.function_path("2015-03-31", args.name)).json()["Configuration"]
        exists = True
    except ApiError as e:
        if e.code != "ResourceNotFoundException":
            raise
        exists = False
    if exists and args.runtime is None:
        told = _runtime_of(code)
        kept = current.get("Runtime", runtimes.WASI)
        if runtimes.family(kept) != told:
            print(
                f"wasmfaas: note: {args.name} is a {kept} function (it keeps its runtime) and {args.package} looks "
                f"like a {told} package: give --runtime (and --handler) to change the function's runtime",
                file=sys.stderr,
            )
    if not exists:
        runtime = args.runtime or _runtime_of(code)
        if args.runtime is None and runtime != runtimes.WASI:
            print(f"wasmfaas: runtime {runtime}, for the package's sources (--runtime to choose)", file=sys.stderr)
        if runtime == runtimes.WASI and args.handler is None and code[:4] == b"\0asm":
            # A bare module is kept under its own name, so a later deploy of a zip (or folder) holding the same
            # file finds it (with no Handler the server would name it function.wasm, and then look for that).
            handler = args.package.name if args.package.suffix == ".wasm" else f"{args.package.name}.wasm"
            # Only a name the API takes as a Handler (no whitespace, 128 at most): else, as before, function.wasm.
            if len(handler) <= 128 and not any(c.isspace() for c in handler):
                config["Handler"] = handler
        if runtime != runtimes.WASI and args.handler is None and single_source:
            config["Handler"] = f"{args.package.stem}.handler"
            print(f"wasmfaas: handler {config['Handler']} (--handler to choose)", file=sys.stderr)
        elif runtime != runtimes.WASI and args.handler is None:
            javascript = runtimes.family(runtime) == runtimes.JAVASCRIPT
            form = "file.export (such as index.handler)" if javascript else "module.function (such as app.handler)"
            print(f"wasmfaas: a {runtime} function needs --handler {form}", file=sys.stderr)
            return 2
    zip_file = base64.b64encode(code).decode()
    body_size = len(zip_file) + 200  # the JSON around the base64 package: the display's total until the first chunk
    with _UploadDisplay(args, body_size) as display:
        response = None
        if not exists:
            try:
                response = client.request(
                    "POST",
                    "/2015-03-31/functions",
                    json={
                        "FunctionName": args.name,
                        "Runtime": runtime,
                        "Code": {"ZipFile": zip_file},
                        "Publish": args.publish,
                        **config,
                    },
                    progress=display.step(f"creating {args.name} ({decimal(len(code))})"),
                )
                action = "created"
            except ApiError as e:
                if e.code != "ResourceConflictException":  # created meanwhile: update it
                    raise
        if response is None:
            if args.runtime is not None:  # an existing function keeps its runtime unless told otherwise
                config["Runtime"] = args.runtime
            # The configuration first: a new runtime or handler decides how the code is built. If the code is then
            # refused, the configuration goes back as it was: a deploy is all or nothing.
            config_path = client.function_path("2015-03-31", args.name, "/configuration")
            # Each step on condition of the last one's revision: a change someone else makes in between is never
            # overwritten, by the code or by putting the configuration back.
            since: dict[str, str] = {}
            if config:
                since["RevisionId"] = client.request("PUT", config_path, json=config).json()["RevisionId"]
                display.note(f"updated {args.name}'s configuration")
            try:
                response = client.request(
                    "PUT",
                    client.function_path("2015-03-31", args.name, "/code"),
                    json={"ZipFile": zip_file, "Publish": args.publish, **since},
                    progress=display.step(f"updating {args.name} ({decimal(len(code))})"),
                )
            except Exception:
                if config and current:
                    try:
                        client.request("PUT", config_path, json={**_as_it_was(current, config), **since})
                        display.note(f"the code was not taken: {args.name}'s configuration is back as it was")
                    except Exception as e:  # the code's failure is the one to report; this one is said too
                        print(
                            f"wasmfaas: {args.name}'s configuration could not be put back ({e}): it stays as "
                            "this deploy set it",
                            file=sys.stderr,
                        )
                raise
            action = "updated"
    info = response.json()
    line = f"{action} {info['FunctionArn']} (version {info['Version']}, CodeSha256 {info['CodeSha256']})"
    if out.is_terminal:
        from rich.text import Text

        text = Text.assemble(
            ("✓ ", "bold green"),
            (action, "bold green"),
            " ",
            (info["FunctionArn"], "bold"),
            (f" (version {info['Version']}, CodeSha256 {info['CodeSha256']})", "dim"),
        )
        out.print(text)
    else:
        print(line)
    if args.url is not None:
        path = client.function_path("2021-10-31", args.name, "/url")
        try:
            url = client.request("POST", path, json={"AuthType": args.url}).json()
        except ApiError as e:
            if e.code != "ResourceConflictException":
                raise
            url = client.request("PUT", path, json={"AuthType": args.url}).json()
        line = f"url {url['FunctionUrl']} (AuthType {url['AuthType']})"
        if out.is_terminal:
            from rich.text import Text

            link = url["FunctionUrl"]
            out.print(
                Text.assemble(("url ", "bold"), (link, f"link {link}"), (f" (AuthType {url['AuthType']})", "dim"))
            )
        else:
            print(line)
    return 0


def _human_size(size: int) -> str:
    from rich.filesize import decimal

    return decimal(size)


def _list(args: argparse.Namespace) -> int:
    client = _client(args)
    out = _console(args)
    functions: list[dict[str, Any]] = []
    query: dict[str, str] = {}
    while True:
        page = client.request("GET", "/2015-03-31/functions", query=query).json()
        functions.extend(page.get("Functions", []))
        if not page.get("NextMarker"):
            break
        query = {"Marker": page["NextMarker"]}
    fancy = out.is_terminal
    headers = ("NAME", "RUNTIME", "KIND", "MEMORY", "TIMEOUT", "LAST MODIFIED", "CODE SIZE")
    rows = [
        (
            f["FunctionName"],
            f["Runtime"],
            (f.get("WasmfaasConfig") or {}).get("Kind", "") or "-",
            f"{f['MemorySize']} MB" if fancy else str(f["MemorySize"]),
            f"{f['Timeout']} s" if fancy else str(f["Timeout"]),
            f["LastModified"],
            _human_size(f["CodeSize"]) if fancy else str(f["CodeSize"]),
        )
        for f in functions
    ]
    if fancy and not rows:
        out.print("no functions", style="dim")
        return 0
    title = f"{len(rows)} function{'s' if len(rows) != 1 else ''}" if fancy else None
    styles = ("bold cyan", "green", "magenta", "", "", "dim", "")
    _table(out, headers, rows, styles=styles, right=(3, 4, 6), title=title)
    return 0


def _log_line(line: str) -> Any:
    """One log line as rich Text: START/END/REPORT lines (the platform's framing) styled, the function's own as is."""
    from rich.text import Text

    for prefix, style in (("START ", "bold cyan"), ("END ", "cyan"), ("REPORT ", "dim cyan")):
        if line.startswith(prefix):
            text = Text(line, style="dim" if prefix == "REPORT " else "")
            text.stylize(style, 0, len(prefix) - 1)
            if prefix == "REPORT ":
                text.highlight_regex(r"Status: (?!success)\S+|Error Type: \S+", "bold red")
            return text
    text = Text(line)
    if any(word in line for word in ("Traceback", "Error", "error:", "Task timed out", "trap")):
        text.stylize("red")
    return text


def _write_log(console: Console, log: str, *, dim: bool = False) -> None:
    """A log (framed lines) to `console`: as is when plain, else each line styled."""
    if not console.is_terminal:
        console.file.write(log)
        console.file.flush()
        return
    for line in log.splitlines():
        text = _log_line(line)
        if dim:
            text.stylize("dim")
        console.print(text)


def _logs(args: argparse.Namespace) -> int:
    """The newest `--tail` entries; with --follow, then every new one: a long poll (`wait`) that the server
    answers as soon as an entry is committed, or empty after `wait` seconds."""
    client = _client(args)
    out = _console(args)
    path = f"/__wasmfaas/logs/{quote(args.name, safe='')}"
    page = client.request("GET", path, query={"tail": str(max(args.tail, 0))}).json()
    try:
        while True:
            for event in page["events"]:
                _write_log(out, event["message"])
            sys.stdout.flush()
            if not args.follow:
                return 0
            query = {"after": str(page["next"]), "wait": str(min(max(args.wait, 0), 20))}
            page = client.request("GET", path, query=query).json()
    except KeyboardInterrupt:
        return 130


def _dead_letters(client: Any, function: str | None) -> Iterator[dict[str, Any]]:
    query: dict[str, str] = {"MaxItems": "1000"}
    if function:
        query["FunctionName"] = function
    while True:
        page = client.request("GET", "/__wasmfaas/dlq", query=query).json()
        yield from page["DeadLetters"]
        if not page.get("NextMarker"):
            return
        query["Marker"] = page["NextMarker"]


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dlq(args: argparse.Namespace) -> int:
    from .server.client import ApiError

    client = _client(args)
    command = args.dlq_command
    if command == "list":
        letters = list(_dead_letters(client, args.function))
        if args.json:
            for letter in letters:
                print(json.dumps(letter))
            return 0
        out = _console(args)
        headers = ("ID", "FUNCTION", "FAILED", "CONDITION", "ATTEMPTS", "REASON")
        rows = []
        for letter in letters:
            name = letter["FunctionName"] + (f":{letter['Qualifier']}" if letter.get("Qualifier") else "")
            rows.append(
                (
                    letter["Id"],
                    name,
                    _when(letter["FailedAt"]),
                    letter["Condition"],
                    str(letter["Attempts"]),
                    letter["Reason"],
                )
            )
        if out.is_terminal and not rows:
            out.print("no dead letters", style="dim")
            return 0
        title = f"{len(rows)} dead letter{'s' if len(rows) != 1 else ''}" if out.is_terminal else None
        styles = ("dim", "bold cyan", "", "yellow", "", "red")
        _table(out, headers, rows, styles=styles, right=(4,), whole=(0,), title=title)
        return 0
    if command == "show":
        letter = client.request("GET", f"/__wasmfaas/dlq/{quote(args.ids[0], safe='')}").json()
        payload = base64.b64decode(letter["Payload"])
        try:
            letter["Payload"] = json.loads(payload)
        except ValueError:
            letter["Payload"] = payload.decode(errors="replace")
        out = _console(args)
        if out.is_terminal:
            from rich.json import JSON

            out.print(JSON.from_data(letter, indent=2))
        else:
            print(json.dumps(letter, indent=2))
        return 0
    ids: list[str] = list(args.ids)
    if not ids:
        if not args.function:
            print(f"wasmfaas: dlq {command}: name dead letters (IDs) or give --function NAME", file=sys.stderr)
            return 2
        ids = [letter["Id"] for letter in _dead_letters(client, args.function)]
    failed = 0
    for letter_id in ids:
        path = f"/__wasmfaas/dlq/{quote(letter_id, safe='')}"
        try:
            if command == "replay":
                response = client.request("POST", f"{path}/replay").json()
                print(f"replayed {letter_id} as request {response['RequestId']}")
            else:
                client.request("DELETE", path)
                print(f"deleted {letter_id}")
        except ApiError as e:  # one that cannot go (its function is gone) does not stop the others
            print(f"wasmfaas: {letter_id}: {e.code}: {e.message}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def _delete(args: argparse.Namespace) -> int:
    client = _client(args)
    query = {"Qualifier": args.qualifier} if args.qualifier else None
    client.request("DELETE", client.function_path("2015-03-31", args.name), query=query)
    print(f"deleted {args.name}" + (f":{args.qualifier}" if args.qualifier else ""))
    return 0


def _invoke_remote(args: argparse.Namespace) -> int:
    client = _client(args)
    # os.fsencode: an argument that is not UTF-8 arrives with its bytes escaped (surrogateescape): send them as is.
    payload = sys.stdin.buffer.read() if args.payload == "-" else os.fsencode(args.payload)
    invocation_type = args.invocation_type or "RequestResponse"
    headers = {"X-Amz-Invocation-Type": invocation_type}
    if invocation_type == "RequestResponse" and not args.no_log:
        headers["X-Amz-Log-Type"] = "Tail"
    query = {"Qualifier": args.qualifier} if args.qualifier else None
    name = str(args.module)
    response = client.request(
        "POST", client.function_path("2015-03-31", name, "/invocations"), query=query, body=payload, headers=headers
    )
    err = _console(args, stderr=True)
    if "x-amz-log-result" in response.headers:
        _write_log(err, base64.b64decode(response.headers["x-amz-log-result"]).decode(errors="replace"), dim=True)
    if invocation_type != "RequestResponse":
        status = f"{response.status} {response.headers.get('x-amzn-requestid', '')}"
        if err.is_terminal:
            err.print(f"[green]{response.status}[/] accepted, request {response.headers.get('x-amzn-requestid', '')}")
        else:
            print(status, file=sys.stderr)
        return 0
    function_error = response.headers.get("x-amz-function-error")
    _write_payload(args, response.body, error=function_error is not None)
    if function_error is not None:
        message = f"function error ({function_error})"
        try:
            detail = json.loads(response.body)
            message += f": {detail['errorType']}: {detail['errorMessage']}"
        except (ValueError, TypeError, KeyError):
            pass
        if err.is_terminal:
            err.print(message, style="bold red", markup=False)
        else:
            print(message, file=sys.stderr)
        return 1
    return 0


def _write_payload(args: argparse.Namespace, body: bytes, *, error: bool) -> None:
    """The response payload on stdout: byte for byte unless stdout is a terminal, where JSON is pretty-printed
    (colored unless plain) and an error payload is red."""
    out = _console(args)
    if sys.stdout.isatty():
        try:
            value = json.loads(body)
        except ValueError:
            value = None
            is_json = False
        else:
            is_json = True
        if is_json and out.is_terminal and not error:
            from rich.json import JSON

            out.print(JSON.from_data(value, indent=2))
            return
        text = json.dumps(value, indent=2, ensure_ascii=False) if is_json else body.decode(errors="replace")
        if out.is_terminal:
            out.print(text, style="red" if error else "", markup=False, highlight=False)
        else:
            sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
        sys.stdout.flush()
        return
    sys.stdout.buffer.write(body)
    sys.stdout.flush()
