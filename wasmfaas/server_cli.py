"""The server's subcommands of `wasmfaas`, registered by cli.py through `add_server_commands`:

    wasmfaas serve [--data-dir DIR] [--host 127.0.0.1] [--port 9000] [--account-concurrency N] [--auth]
                   [--region R] [--account-id ID] [--public-url URL] [--shutdown-timeout S] [--event-concurrency N]
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
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

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


def add_server_commands(sub: Any, invoke_parser: argparse.ArgumentParser) -> None:
    """Add serve/deploy/list/logs/delete, and the remote options of `invoke`."""
    serve = sub.add_parser("serve", help="serve Lambda's REST API (boto3 and the AWS CLI work against it)")
    serve.add_argument(
        "--data-dir", type=Path, default=None, help="functions, code and caches (kept across restarts)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=9000, help="port (default 9000; 0 picks a free one)")
    serve.add_argument("--account-concurrency", type=int, default=1000, metavar="N", help="account limit (1000)")
    serve.add_argument(
        "--auth",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="require SigV4 signatures by $WASMFAAS_ACCESS_KEY_ID/$WASMFAAS_SECRET_ACCESS_KEY "
        "(default: on when both are set)",
    )
    serve.add_argument("--region", default="us-east-1", help="the region in ARNs (default us-east-1)")
    serve.add_argument("--account-id", default="000000000000", help="the account id in ARNs")
    serve.add_argument("--public-url", default=None, help="base of function URLs and code links (default: as called)")
    serve.add_argument(
        "--shutdown-timeout", type=float, default=None, metavar="S", help="cap on draining invocations at shutdown"
    )
    serve.add_argument(
        "--event-concurrency", type=int, default=16, metavar="N", help="Event invocations run at once (16)"
    )
    serve.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn", help="HTTP server (uvicorn)")
    serve.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(server_command=_serve)

    deploy = sub.add_parser("deploy", help="create or update a function on a server")
    deploy.add_argument("name", help="the function's name")
    deploy.add_argument("package", type=Path, help="a .wasm module or a .zip deployment package")
    deploy.add_argument("--handler", default=None, help="the module in the zip (default: its only .wasm)")
    deploy.add_argument("--runtime", default="wasi", help="runtime (default wasi)")
    deploy.add_argument("--memory", type=int, default=None, metavar="MB", help="MemorySize")
    deploy.add_argument("--timeout", type=int, default=None, metavar="S", help="Timeout in seconds")
    deploy.add_argument("--env", type=_env_pair, action="append", default=None, metavar="KEY=VALUE")
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
    logs.add_argument("--tail", type=int, default=100, metavar="N", help="start with the newest N entries (100)")
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
        "--invocation-type", choices=["RequestResponse", "Event", "DryRun"], default="RequestResponse"
    )
    remote.add_argument("--no-log", action="store_true", help="do not fetch and print the log tail")


def is_local_module(args: argparse.Namespace) -> bool:
    """Is `wasmfaas invoke`'s first argument a local module (the command's original meaning)?"""
    path: Path = args.module
    if path.suffix == ".wasm":
        return True
    return getattr(args, "endpoint", None) is None and path.is_file()


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
        print(f"wasmfaas: {e}", file=sys.stderr)
        return 2 if e.status in (0, 400, 403, 404, 409, 413) else 1


def _client(args: argparse.Namespace) -> Any:
    from .server.client import LambdaClient

    return LambdaClient(args.endpoint)


# -- serve -------------------------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from .server.serve import serve
    from .server.settings import ServerSettings, credentials_from_env

    credentials = credentials_from_env()
    if args.auth and credentials is None:
        print("wasmfaas: --auth needs WASMFAAS_ACCESS_KEY_ID and WASMFAAS_SECRET_ACCESS_KEY", file=sys.stderr)
        return 2
    settings = ServerSettings(
        data_dir=args.data_dir,
        account_concurrency=args.account_concurrency,
        region=args.region,
        account_id=args.account_id,
        credentials=credentials if args.auth is not False else None,
        public_url=args.public_url,
        shutdown_timeout=args.shutdown_timeout,
        event_concurrency=args.event_concurrency,
    )
    return serve(settings, args.host, args.port, server=args.server, log_level=args.log_level)


# -- client commands ---------------------------------------------------------------------------------------------


def _deploy(args: argparse.Namespace) -> int:
    from .server.client import ApiError, LambdaClient

    client: LambdaClient = _client(args)
    code = args.package.read_bytes()
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
    zip_file = base64.b64encode(code).decode()
    try:
        response = client.request(
            "POST",
            "/2015-03-31/functions",
            json={
                "FunctionName": args.name,
                "Runtime": args.runtime,
                "Code": {"ZipFile": zip_file},
                "Publish": args.publish,
                **config,
            },
        )
        action = "created"
    except ApiError as e:
        if e.code != "ResourceConflictException":
            raise
        if config or args.runtime != "wasi":
            client.request(
                "PUT",
                client.function_path("2015-03-31", args.name, "/configuration"),
                json={"Runtime": args.runtime, **config},
            )
        response = client.request(
            "PUT",
            client.function_path("2015-03-31", args.name, "/code"),
            json={"ZipFile": zip_file, "Publish": args.publish},
        )
        action = "updated"
    info = response.json()
    print(f"{action} {info['FunctionArn']} (version {info['Version']}, CodeSha256 {info['CodeSha256']})")
    if args.url is not None:
        path = client.function_path("2021-10-31", args.name, "/url")
        try:
            url = client.request("POST", path, json={"AuthType": args.url}).json()
        except ApiError as e:
            if e.code != "ResourceConflictException":
                raise
            url = client.request("PUT", path, json={"AuthType": args.url}).json()
        print(f"url {url['FunctionUrl']} (AuthType {url['AuthType']})")
    return 0


def _list(args: argparse.Namespace) -> int:
    client = _client(args)
    functions: list[dict[str, Any]] = []
    query: dict[str, str] = {}
    while True:
        page = client.request("GET", "/2015-03-31/functions", query=query).json()
        functions.extend(page.get("Functions", []))
        if not page.get("NextMarker"):
            break
        query = {"Marker": page["NextMarker"]}
    rows = [("NAME", "RUNTIME", "MEMORY", "TIMEOUT", "LAST MODIFIED")]
    rows += [
        (f["FunctionName"], f["Runtime"], str(f["MemorySize"]), str(f["Timeout"]), f["LastModified"])
        for f in functions
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _logs(args: argparse.Namespace) -> int:
    """The newest `--tail` entries; with --follow, then every new one: a long poll (`wait`) that the server
    answers as soon as an entry is committed, or empty after `wait` seconds."""
    client = _client(args)
    path = f"/__wasmfaas/logs/{quote(args.name, safe='')}"
    page = client.request("GET", path, query={"tail": str(max(args.tail, 0))}).json()
    try:
        while True:
            for event in page["events"]:
                sys.stdout.write(event["message"])
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
    client = _client(args)
    command = args.dlq_command
    if command == "list":
        letters = list(_dead_letters(client, args.function))
        if args.json:
            for letter in letters:
                print(json.dumps(letter))
            return 0
        rows = [("ID", "FUNCTION", "FAILED", "CONDITION", "ATTEMPTS", "REASON")]
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
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            print("  ".join([*cells, row[-1]]).rstrip())
        return 0
    if command == "show":
        letter = client.request("GET", f"/__wasmfaas/dlq/{quote(args.ids[0], safe='')}").json()
        payload = base64.b64decode(letter["Payload"])
        try:
            letter["Payload"] = json.loads(payload)
        except ValueError:
            letter["Payload"] = payload.decode(errors="replace")
        print(json.dumps(letter, indent=2))
        return 0
    ids: list[str] = list(args.ids)
    if not ids:
        if not args.function:
            print(f"wasmfaas: dlq {command}: name dead letters (IDs) or give --function NAME", file=sys.stderr)
            return 2
        ids = [letter["Id"] for letter in _dead_letters(client, args.function)]
    for letter_id in ids:
        path = f"/__wasmfaas/dlq/{quote(letter_id, safe='')}"
        if command == "replay":
            response = client.request("POST", f"{path}/replay").json()
            print(f"replayed {letter_id} as request {response['RequestId']}")
        else:
            client.request("DELETE", path)
            print(f"deleted {letter_id}")
    return 0


def _delete(args: argparse.Namespace) -> int:
    client = _client(args)
    query = {"Qualifier": args.qualifier} if args.qualifier else None
    client.request("DELETE", client.function_path("2015-03-31", args.name), query=query)
    print(f"deleted {args.name}" + (f":{args.qualifier}" if args.qualifier else ""))
    return 0


def _invoke_remote(args: argparse.Namespace) -> int:
    client = _client(args)
    payload = sys.stdin.buffer.read() if args.payload == "-" else args.payload.encode()
    headers = {"X-Amz-Invocation-Type": args.invocation_type}
    if args.invocation_type == "RequestResponse" and not args.no_log:
        headers["X-Amz-Log-Type"] = "Tail"
    query = {"Qualifier": args.qualifier} if args.qualifier else None
    name = str(args.module)
    response = client.request(
        "POST", client.function_path("2015-03-31", name, "/invocations"), query=query, body=payload, headers=headers
    )
    if "x-amz-log-result" in response.headers:
        sys.stderr.write(base64.b64decode(response.headers["x-amz-log-result"]).decode(errors="replace"))
    if args.invocation_type != "RequestResponse":
        print(f"{response.status} {response.headers.get('x-amzn-requestid', '')}", file=sys.stderr)
        return 0
    sys.stdout.buffer.write(response.body)
    if response.body and not response.body.endswith(b"\n") and sys.stdout.isatty():
        sys.stdout.write("\n")
    sys.stdout.flush()
    return 1 if "x-amz-function-error" in response.headers else 0
