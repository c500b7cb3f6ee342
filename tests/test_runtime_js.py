"""The JavaScript runtime end to end through the engine: a zip of sources in, Lambda's Node.js semantics out."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from zip_helpers import assert_each_cold_start_fails, zip_of

from wasmfaas import FunctionConfig, GuestKind, InvalidPayloadError, SyncPlatform
from wasmfaas.runtimes import JAVASCRIPT

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

INDEX = """\
import { shout } from "./lib/text.mjs";

let calls = 0;
if (process.env.BOOM) throw new Error("init boom");
const startedWith = process.env.GREETING;  // module-level code runs at each cold start, with the real environment

export const handler = async (event, context) => {
  calls += 1;
  console.log("handling", event.action, context.awsRequestId);
  console.error("to stderr", event.action);
  if (event.action === "fail") throw new TypeError("bad input");
  if (event.action === "loop") { for (;;) {} }
  if (event.action === "hang") await new Promise(() => {});  // settles never: the runtime's deadline timer ends it
  if (event.action === "hog") { const hoard = []; for (;;) hoard.push(new Uint8Array(8 << 20).fill(7)); }
  if (event.action === "big") return "x".repeat(event.size);
  if (event.action === "json-hog") return { toJSON: () => "x".repeat(2 ** 29) };  // 512 MB, in JSON.stringify
  if (event.action === "json-throws") return { toJSON: () => { throw "not today"; } };
  if (event.action === "undescribable") throw { toJSON() { throw 1; }, toString() { throw 2; } };
  if (event.action === "timer-throws") {
    setTimeout(() => { throw new TypeError("from a timer"); }, 1);
    queueMicrotask(() => {});
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (event.action === "nul") { console.log("before\\u0000after"); process.stdout.write("raw\\u0000tail\\n"); }
  if (event.action === "garbage") { let a; for (let i = 0; i < 2; i++) a = new Array(1e6).fill(i); return a.length; }
  await new Promise((resolve) => setTimeout(resolve, 5));
  return {
    shout: shout(event.name ?? "world"),
    calls,
    startedWith,
    lambdaEnv: ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV"].map((k) => process.env[k]),
    context: {
      awsRequestId: context.awsRequestId,
      functionName: context.functionName,
      functionVersion: context.functionVersion,
      invokedFunctionArn: context.invokedFunctionArn,
      memoryLimitInMB: context.memoryLimitInMB,
      logGroupName: context.logGroupName,
      remaining: context.getRemainingTimeInMillis(),
    },
    echo: event,
  };
};
"""


SOURCE = zip_of({"index.mjs": INDEX, "lib/text.mjs": "export const shout = (s) => s.toUpperCase() + '!';\n"})


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncPlatform]:
    with SyncPlatform(data_dir=tmp_path_factory.mktemp("js-data")) as p:
        p.create_function(
            "js",
            SOURCE,
            runtime=JAVASCRIPT,
            handler="index.handler",
            config=FunctionConfig(environment={"GREETING": "hi"}, timeout=1, memory_mb=128),
        )
        yield p


def test_hello_json_context_and_logs(platform: SyncPlatform) -> None:
    assert platform.get_function("js").kind is GuestKind.COMPONENT
    result = platform.invoke("js", json.dumps({"action": "hello", "name": "ada", "list": [1, None]}))
    assert result.ok, result.payload
    body = result.json()
    assert body["shout"] == "ADA!" and body["startedWith"] == "hi"
    assert body["lambdaEnv"] == ["us-east-1", "us-east-1", "AWS_Lambda_js-starlingmonkey"]
    assert body["echo"] == {"action": "hello", "name": "ada", "list": [1, None]}
    ctx = body["context"]
    assert ctx["awsRequestId"] == result.request_id
    assert (ctx["functionName"], ctx["functionVersion"], ctx["memoryLimitInMB"]) == ("js", "$LATEST", "128")
    assert ctx["invokedFunctionArn"].endswith(":function:js") and ctx["logGroupName"] == "/aws/lambda/js"
    assert 0 < ctx["remaining"] <= 1000
    assert f"handling hello {result.request_id}" in result.log and "to stderr hello" in result.log
    # Lambda's Node.js line: "<ISO time>\t<request id>\t<LEVEL>\t<message>".
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.search(rf"^{stamp}\t{result.request_id}\tINFO\thandling hello {result.request_id}$", result.log, re.M)
    assert re.search(rf"^{stamp}\t{result.request_id}\tERROR\tto stderr hello", result.log, re.M)


def test_module_state_survives_warm_invocations(platform: SyncPlatform) -> None:
    platform.update_function_configuration("js", description="fresh environments")
    first = platform.invoke("js", b'{"action": "count"}')
    second = platform.invoke("js", b'{"action": "count"}')
    assert first.cold_start and not second.cold_start
    assert (first.json()["calls"], second.json()["calls"]) == (1, 2)


def test_thrown_error_has_lambdas_error_shape(platform: SyncPlatform) -> None:
    result = platform.invoke("js", b'{"action": "fail"}')
    assert result.function_error is not None
    assert result.function_error.kind == "Unhandled"  # a thrown error, as Lambda reports it
    body = result.json()
    assert body["errorType"] == "TypeError" and body["errorMessage"] == "bad input"
    assert set(body) == {"errorType", "errorMessage", "trace"}  # Lambda's Node.js runtime's shape
    assert any("index.mjs" in line for line in body["trace"])
    # Logged once, by the runtime, as Lambda's Node.js runtime logs it.
    (line,) = [line for line in result.log.splitlines() if "Invoke Error" in line]
    stamp, request_id, level, what, error = line.split("\t")
    assert (request_id, level, what) == (result.request_id, "ERROR", "Invoke Error ")
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).tzinfo is not None
    logged = json.loads(error)
    assert logged["errorType"] == "TypeError" and logged["errorMessage"] == "bad input" and logged["stack"]
    assert "[ERROR]" not in result.log
    assert not platform.invoke("js", b'{"action": "count"}').cold_start  # the environment stays warm


def test_an_exception_no_handler_catches_fails_the_invocation_as_lambdas_does(platform: SyncPlatform) -> None:
    # Thrown by a timer's callback: StarlingMonkey would trap the instance; Lambda logs it as an uncaught exception
    # and fails the invocation in progress with the error itself.
    result = platform.invoke("js", b'{"action": "timer-throws"}')
    assert result.function_error is not None and result.function_error.kind == "Unhandled"
    body = result.json()
    assert (body["errorType"], body["errorMessage"]) == ("TypeError", "from a timer")
    assert any("index.mjs" in line for line in body["trace"])
    assert "Invoke Error" not in result.log
    (line,) = [line for line in result.log.splitlines() if "Exception" in line]
    assert line.split("\t")[1:4] == [result.request_id, "ERROR", "Uncaught Exception "]
    assert json.loads(line.split("\t")[4])["errorMessage"] == "from a timer"
    assert platform.invoke("js", b'{"action": "count"}').ok


def test_a_nul_in_a_log_line_does_not_cut_it(platform: SyncPlatform) -> None:
    log = platform.invoke("js", b'{"action": "nul"}').log
    assert "\tINFO\tbefore\\u0000after\n" in log and "raw\\u0000tail\n" in log


def test_timeout_and_recovery(platform: SyncPlatform) -> None:
    result = platform.invoke("js", b'{"action": "loop"}')
    assert result.function_error is not None and result.function_error.error_type == "Sandbox.Timedout"
    after = platform.invoke("js", b'{"action": "count"}')
    assert after.ok and after.cold_start


def test_memory_cap(platform: SyncPlatform) -> None:
    result = platform.invoke("js", b'{"action": "hog"}')
    assert result.function_error is not None, result.payload
    assert result.function_error.error_type == "Runtime.OutOfMemory", result.function_error
    assert "handling hog" in result.log  # the handler's output is kept
    assert platform.invoke("js", b'{"action": "count"}').ok


def test_six_megabyte_payloads_cross_both_ways(platform: SyncPlatform) -> None:
    # Its own timeout: componentize-js's glue lowers a returned string at ~0.2 µs a character.
    platform.create_function(
        "js-big", SOURCE, runtime=JAVASCRIPT, handler="index.handler", config=FunctionConfig(timeout=20)
    )
    pad = "y" * (3 * 1024 * 1024)  # more than the ~2.6 MB a list<u8> response could carry
    result = platform.invoke("js-big", json.dumps({"action": "hello", "pad": pad}))
    assert result.ok and result.json()["echo"]["pad"] == pad
    big = platform.invoke("js-big", b'{"action": "big", "size": 6000000}')
    assert big.ok and big.payload == b'"' + b"x" * 6_000_000 + b'"'
    too_big = platform.invoke("js-big", b'{"action": "big", "size": 6291555}')  # and two quotes: past 6291556
    assert too_big.function_error is not None
    assert too_big.function_error.error_type == "Function.ResponseSizeTooLarge"
    platform.delete_function("js-big")


def test_an_event_that_is_not_json_is_refused_before_the_handler(platform: SyncPlatform) -> None:
    # As Lambda's Invoke refuses it (InvalidRequestContentException), before an environment is taken.
    for event in (b'{"action": "hello", "name": "\xff"}', b"hello", b"[1, 2"):
        with pytest.raises(InvalidPayloadError, match="Could not parse request body into json"):
            platform.invoke("js", event)
    assert platform.invoke("js", b"").ok  # no payload: the event is {}
    # An escaped lone surrogate is JSON (JSON.stringify writes one for a string cut inside a pair): taken.
    assert platform.invoke("js", b'{"action": "count", "cut": "\\ud83d"}').ok
    assert not platform.invoke("js", b'{"action": "count"}').cold_start


def test_garbage_spidermonkey_never_collected_costs_a_fresh_environment_not_an_error(platform: SyncPlatform) -> None:
    # 16 MB of garbage a call: at 128 MB SpiderMonkey runs out of memory before its GC threshold within ~10 calls.
    # Its own timeout: a call with its rerun took up to ~1 s on a slow machine, the shared function's whole timeout.
    config = FunctionConfig(timeout=10, memory_mb=128)
    platform.create_function("js-garbage", SOURCE, runtime=JAVASCRIPT, handler="index.handler", config=config)
    results = [platform.invoke("js-garbage", b'{"action": "garbage"}') for _ in range(30)]
    assert all(r.ok for r in results), [r.payload[:100] for r in results if not r.ok]
    reruns = [r for r in results if "ran again in a fresh environment" in r.log]
    assert reruns and all(r.cold_start for r in reruns)
    assert "Invoke Error" not in reruns[0].log  # the failed attempt's log is not the invocation's
    assert platform.pool_stats("js-garbage").fresh_reruns >= len(reruns)
    platform.delete_function("js-garbage")


def test_running_out_of_memory_while_encoding_the_result_is_out_of_memory(platform: SyncPlatform) -> None:
    result = platform.invoke("js", b'{"action": "json-hog"}')
    assert result.function_error is not None
    assert result.function_error.error_type == "Runtime.OutOfMemory", result.function_error
    thrown = platform.invoke("js", b'{"action": "json-throws"}')  # anything else thrown there: the result's fault
    assert thrown.function_error is not None
    assert thrown.function_error.error_type == "Runtime.MarshalError", thrown.function_error


def test_a_failure_the_runtime_cannot_describe_starts_afresh(platform: SyncPlatform) -> None:
    # SpiderMonkey out of memory in a microtask flood throws nothing describable, and the environment it leaves
    # trapped the next, innocent call: an undescribable failure discards it.
    platform.invoke("js", b'{"action": "count"}')
    result = platform.invoke("js", b'{"action": "undescribable"}')
    assert result.function_error is not None and result.function_error.error_type == "Runtime.UnknownError"
    assert platform.invoke("js", b'{"action": "count"}').cold_start


def test_a_promise_that_never_settles_times_out(platform: SyncPlatform) -> None:
    result = platform.invoke("js", b'{"action": "hang"}')
    assert result.function_error is not None and result.function_error.kind == "Unhandled"
    assert result.function_error.error_type == "Sandbox.Timedout"
    assert result.function_error.error_message == "Task timed out after 1.00 seconds"
    assert "Task timed out after 1.00 seconds" in result.log and "Invoke Error" not in result.log
    assert platform.invoke("js", b'{"action": "count"}').cold_start  # as after any timeout: a fresh environment


def test_an_init_error_is_logged_once(platform: SyncPlatform) -> None:
    platform.create_function(
        "js-boom",
        SOURCE,
        runtime=JAVASCRIPT,
        handler="index.handler",
        config=FunctionConfig(environment={"BOOM": "1"}),
    )
    result = platform.invoke("js-boom", b"{}")
    assert result.function_error is not None and result.function_error.kind == "Unhandled"
    assert result.function_error.error_message == "init boom"  # Lambda's words: no prefix of ours
    # By the runtime, as Lambda's Node.js runtime logs it; the platform adds nothing.
    (line,) = [line for line in result.log.splitlines() if "init boom" in line]
    _, request_id, level, what, error = line.split("\t")
    assert (request_id, level, what) == ("undefined", "ERROR", "Uncaught Exception ")  # init has no request yet
    assert json.loads(error)["errorMessage"] == "init boom"
    platform.delete_function("js-boom")


JS_RUNTIME_MODULES = (Path(__file__).resolve().parents[1] / "runtimes" / "js" / "node_modules").resolve()


def test_code_that_cannot_load_fails_each_cold_start(platform: SyncPlatform) -> None:
    # Lambda takes such code and fails every init with its runtime's error; so does wasmfaas, which lets the handler
    # and the code be changed in either order. An optional require of a Node built-in is caught, as in Node.
    handler = "export const handler = async () => 1;\n"
    cases = {
        "js-syntax": ({"index.mjs": "import { g } from './lib.js';\n" + handler, "lib.js": "export const g = (;\n"},
                      "index.handler", "Runtime.UserCodeSyntaxError", "lib.js:1:"),
        "js-noexport": ({"index.mjs": "export const other = 1;\n"}, "index.handler",
                        "Runtime.HandlerNotFound", "index.handler is undefined or not exported"),
        "js-unresolved": ({"index.mjs": "import { x } from './nope.js';\n" + handler}, "index.handler",
                          "Runtime.ImportModuleError", 'Could not resolve "./nope.js"'),
        # What to do about a package not shipped, in the author's terms (esbuild's "mark it as external" is not).
        "js-unshipped": ({"index.mjs": "import pad from 'left-pad';\n" + handler}, "index.handler",
                         "Runtime.ImportModuleError",
                         "note: install it (npm install left-pad) and put node_modules in the deployment package"),
        "js-nomodule": ({"index.mjs": handler}, "main.handler", "Runtime.ImportModuleError",
                        "Cannot find module 'main'"),
        "js-builtin": ({"index.mjs": "import fs from 'node:fs';\n" + handler}, "index.handler",
                       "Runtime.ImportModuleError", "Cannot find module 'node:fs'"),
        # A host file is refused as written, whether it exists or not (no oracle), naming no host path.
        "js-host-file": ({"index.mjs": "import t from '/etc/hostname';\n" + handler}, "index.handler",
                         "Runtime.ImportModuleError", '"/etc/hostname" is outside the function\'s source directory'),
        # The runtime's own packages are reached by name only, not by their host path.
        "js-runtime-path": ({"index.mjs": f"import t from '{JS_RUNTIME_MODULES}/esbuild/package.json';\n" + handler},
                            "index.handler", "Runtime.ImportModuleError", "is outside the function's source"),
        "js-no-file": ({"index.mjs": "import t from '../../no/such.json';\n" + handler}, "index.handler",
                       "Runtime.ImportModuleError",
                       '"../../no/such.json" is outside the function\'s source directory; only files inside it'),
        # Taken by esbuild, refused by SpiderMonkey as it pre-initialises (no ICU here): the build went wrong.
        "js-regex": ({"index.mjs": "export const handler = async (e) => /\\p{L}+/u.test(e.s);\n"}, "index.handler",
                     "Runtime.UserCodeSyntaxError", "SyntaxError: "),
    }  # fmt: skip
    for name, (files, entry, error_type, message) in cases.items():
        assert_each_cold_start_fails(
            platform,
            name,
            files,
            runtime=JAVASCRIPT,
            handler=entry,
            error_type=error_type,
            message=message,
            in_log="Uncaught Exception",
        )
        platform.delete_function(name)
    optional = (
        "let c = null;\ntry { c = require('crypto'); } catch { c = 'none'; }\n"
        # A package that is not there, required or imported inside try/catch, or named at run time: Node's
        # MODULE_NOT_FOUND (an import() of it trapped the instance).
        "let p = null;\ntry { p = require('not-installed-pkg'); } catch (e) { p = e.code; }\n"
        "exports.handler = async (event) => {\n"
        "  const codes = [c, p];\n"
        "  try { await import('not-installed-pkg'); } catch (e) { codes.push(e.code); }\n"
        "  try { await import(event.name); } catch (e) { codes.push(e.code); }\n"
        "  return codes;\n"
        "};\n"
    )
    platform.create_function(
        "js-optional", zip_of({"index.js": optional}), runtime=JAVASCRIPT, handler="index.handler"
    )
    assert platform.invoke("js-optional", b'{"name": "computed"}').json() == ["none"] + ["MODULE_NOT_FOUND"] * 3
    # The code first, then the handler it has: each call is taken.
    platform.update_function_code("js-optional", zip_of({"main.mjs": "export const run = async () => 'ran';\n"}))
    platform.update_function_configuration("js-optional", handler="main.run")
    assert platform.invoke("js-optional", b"{}").json() == "ran"
    platform.delete_function("js-optional")


BUFFER_CASES = """\
export const handler = async (event) => {
  const out = {};
  const inputs = ["QUJD", "QUJDRA", "QUJDRA==", "QU JD\\nRA==", "-_-_", "+/+/", "QUJD!!RA", "", "YQ", "Y",
                  "4pyTIMOgIGxhIG1vZGU="];
  for (const s of inputs) {
    out["b64:" + s] = Buffer.from(s, "base64").toString("hex");
    out["b64url:" + s] = Buffer.from(s, "base64url").toString("hex");
  }
  for (const h of ["00ff10", "0", "zz", "abc", "ABCDEF", "0g11"]) {
    out["hex:" + h] = Buffer.from(h, "hex").toString("base64");
  }
  const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);
  out.enc64 = bytes.toString("base64");
  out.enc64url = bytes.toString("base64url");
  out.hex = bytes.toString("hex");
  out.sliced = bytes.subarray(2, 6).toString("base64");
  out.ranged = bytes.toString("base64", 1, 4);
  out.ranged2 = bytes.toString("hex", -3, 100);
  out.ranged3 = bytes.toString("base64url", 5, 2);
  out.ranged4 = bytes.toString("base64url", "2", 7.9);
  out.utf8 = Buffer.from("héllo", "utf8").toString("base64");
  out.big = Buffer.from("A".repeat(1 << 20), "base64").length;
  out.isBuffer = Buffer.isBuffer(Buffer.from("QUJD", "base64"));
  out.isEncoding = ["base64url", "BASE64URL", "base64", "hex", "nope"].map((e) => Buffer.isEncoding(e));
  out.byteLength = ["QUJD", "QUJDRA", "QUJDRA==", "-_-_", ""].map((s) => Buffer.byteLength(s, "base64url"));
  const target = Buffer.alloc(8);
  out.written = [target.write("-_-_", "base64url"), target.write("QUJD", 4, "base64url"), target.toString("hex")];
  const text = Buffer.alloc(6).write("base64url", 1, 3, "utf8");  // the data may be the encoding's name
  out.written2 = [text, Buffer.alloc(4).write("QUJDRA", 1, 2, "base64URL")];
  out.written3 = Buffer.alloc(3).write("QQ", "base64url");
  out.filled = Buffer.alloc(7).fill("-_8", 1, 6, "base64url").toString("hex");
  out.allocated = Buffer.alloc(5, "_-8", "base64url").toString("hex");
  out.includes = Buffer.from("QUJD", "base64").includes("QUI", 0, "base64url");
  out.utf8 = ["héllo €😀", "\\ud800x", "", "a\\u0000b"].map((t) => Buffer.from(t).toString("hex"));
  out.utf8Named = ["utf8", "UTF-8", "utf-8"].map((e) => Buffer.from("€", e).toString(e));
  const invalid = Buffer.from([0xff, 0x41, 0xc3, 0x28, 0xe2, 0x82, 0x41, 0xf0, 0x9f, 0x98, 0xef, 0xbb, 0xbf, 0x42]);
  const bom = Buffer.from([0xef, 0xbb, 0xbf, 0x41]);
  out.decoded = [invalid.toString(), invalid.toString("utf8", 2, 9), bom.toString()];
  const room = Buffer.alloc(6);
  out.utf8Write = [room.write("a€b"), room.write("€€", 1), room.write("xyz", 4, 1), room.write("é", 5)];
  out.utf8Written = room.toString("hex");
  out.utf8Big = Buffer.from("é".repeat(1 << 19)).toString().length;
  out.template = `${Buffer.from("ok")}`;
  return out;
};
"""


def test_buffer_codecs_are_nodes(platform: SyncPlatform, tmp_path: Path) -> None:
    # Base64 and hex run on SpiderMonkey's native codecs (runtimes/js/buffer.js): the same answers as Node's Buffer,
    # lenient input included.
    config = FunctionConfig(timeout=30)
    platform.create_function(
        "js-buffer", zip_of({"index.mjs": BUFFER_CASES}), runtime=JAVASCRIPT, handler="index.handler", config=config
    )
    ours = platform.invoke("js-buffer", b"{}")
    assert ours.ok, ours.payload
    (tmp_path / "cases.mjs").write_text(BUFFER_CASES)
    (tmp_path / "run.mjs").write_text(
        "import { handler } from './cases.mjs';\nconsole.log(JSON.stringify(await handler({})));\n"
    )
    node = subprocess.run(["node", str(tmp_path / "run.mjs")], capture_output=True, text=True, check=True, timeout=60)
    assert ours.json() == json.loads(node.stdout)
    platform.delete_function("js-buffer")


# console.log's rendering of values, compared with Node's util.format (what Node's console.log prints).
CONSOLE_CASES = r"""class Point { constructor() { this.x = 1; this.y = 2; } }
const circ = { name: "o" }; circ.self = circ;
export const CASES = [
  ["hello", 1, true, null, undefined],
  [{ a: 1, b: "x", c: [1, 2, 3], d: { e: { f: { g: 1 } } } }],
  [[1, "two", { three: 3 }]],
  [{ body: JSON.stringify({ x: 1, y: "it's" }) }],
  [new Map([["a", 1], ["b", { c: 2 }]]), new Set([1, 2])],
  [Buffer.from("ab")],
  [{ fn: function named() {}, arrow: () => 1 }],
  ["%s is %d years and %j", "Bob", 42, { a: [1] }],
  [{ "key-with-dash": 1, valid_id: 2, "3d": 3 }],
  [{ aaaaaaaaaa: "xxxxxxxxxxxxxxxxxx", bbbbbbbbbb: "yyyyyyyyyyyyyyyyyy", cccccccccc: "zzzzzzzzzzzzzzzz", d: 1 }],
  [circ],
  [new Point()],
  [[[[[1]]]]],
  [{ a: { b: { c: {} } } }],
  [{ a: { b: { c: { d: 1 } } } }],
  [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27]],
  [["apple", "banana", "cherry", "date", "elderberry", "fig", "grape", "honeydew"]],
  [new Uint8Array([1, 2, 3])],
  [{ s: 'say "hi"', t: "it's", u: `both ' and "`, nl: "a\nb" }],
  [{ n: -0, big: 10n, sym: Symbol("s"), nul: null, und: undefined, date: new Date(0) }],
  [{ nested: [{ id: 1, tags: ["a", "b"] }, { id: 2, tags: [] }], total: 2, page: { next: null, size: 25 } }],
  [Array.from({ length: 120 }, (_, i) => i)],
  [{ records: [{ eventSource: "aws:sqs", body: '{"orderId":123}', attributes: { ApproximateReceiveCount: "1" } }] }],
  [Object.create(null)],
  [{}, [], ""],
  [{ get a() { return 1; }, set b(x) {}, get c() { throw new Error("no"); }, set c(x) {} }],
  [new Set(Array.from({ length: 150 }, (_, i) => i)), new Array(1e6).fill(7)],
];
"""
CONSOLE_HANDLER = """import { CASES } from "./cases.mjs";
export const handler = async () => {
  for (const args of CASES) console.log(...args);
  return CASES.length;
};
"""
_LINE_START = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z\t[0-9a-f-]{36}\tINFO\t", re.M)


def test_console_renders_values_as_node_does(platform: SyncPlatform, tmp_path: Path) -> None:
    files = {"cases.mjs": CONSOLE_CASES, "index.mjs": CONSOLE_HANDLER}
    platform.create_function("js-console", zip_of(files), runtime=JAVASCRIPT, handler="index.handler")
    result = platform.invoke("js-console", b"{}")
    assert result.ok, result.payload
    body = result.log.split("\nEND RequestId")[0]
    ours = [message.removesuffix("\n") for message in _LINE_START.split(body)[1:]]
    (tmp_path / "cases.mjs").write_text(CONSOLE_CASES)
    (tmp_path / "run.mjs").write_text(
        "import { CASES } from './cases.mjs';\nimport util from 'node:util';\n"
        "for (const args of CASES) console.log(JSON.stringify(util.format(...args)));\n"
    )
    node = subprocess.run(["node", str(tmp_path / "run.mjs")], capture_output=True, text=True, check=True, timeout=60)
    expected = [json.loads(line) for line in node.stdout.splitlines()]
    assert len(ours) == len(expected) == result.json()
    for mine, nodes in zip(ours, expected, strict=True):
        assert mine == nodes
    platform.delete_function("js-console")


NODE_GLOBALS = """
import where from "./lib/where.cjs";
import own from "./lib/own.cjs";

export const handler = async (event) => {
  if (event.exit !== undefined) process.exit(event.exit);
  const immediate = await new Promise((resolve) => setImmediate(resolve, "ran"));
  const start = process.hrtime();
  process.stdout.write("raw line\\n");
  // StarlingMonkey traps on RSA/EC keys: refused as an unsupported algorithm instead, which a handler can catch.
  const jwk = { kty: "RSA", n: "AQAB", e: "AQAB" };
  const rsa = await crypto.subtle
    .importKey("jwk", jwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["verify"])
    .then(() => "imported", (e) => e.name);
  return {
    global: global === globalThis,
    immediate,
    node: process.versions.node.split(".")[0],
    hrtime: process.hrtime(start).length,
    bigint: typeof process.hrtime.bigint(),
    uptime: process.uptime() >= 0,
    cwd: process.cwd(),
    on: process.on("unhandledRejection", () => {}) === process,
    memory: typeof process.memoryUsage().heapUsed,
    rsa,
    // Where the file is on Lambda (a read of import.meta.url had never returned).
    url: import.meta.url,
    beside: new URL("./data.json", import.meta.url).pathname,
    meta: [import.meta.dirname, import.meta.filename],
    where: where(),
    own: own(),
  };
};
"""


def test_node_globals_libraries_expect(platform: SyncPlatform) -> None:
    platform.create_function(
        "js-node",
        zip_of({
            "index.mjs": NODE_GLOBALS,
            # A mention in a string stays as written (acorn's messages had been cut open); a file's own name wins.
            "lib/where.cjs": (
                "#!/usr/bin/env node\nconst note = \"the only valid meta property for import is 'import.meta'\";\n"
                "module.exports = () => [__dirname, __filename, note];\n"
            ),
            "lib/own.cjs": "let a = 1, __dirname = 'mine';\nmodule.exports = () => [__dirname, __filename];\n",
        }),
        runtime=JAVASCRIPT,
        handler="index.handler",
    )  # fmt: skip
    result = platform.invoke("js-node", b"{}")
    assert result.json() == {
        "global": True,
        "immediate": "ran",
        "node": "20",
        "hrtime": 2,
        "bigint": "bigint",
        "uptime": True,
        "cwd": "/var/task",
        "on": True,
        "memory": "number",
        "rsa": "NotSupportedError",
        "url": "file:///var/task/index.mjs",
        "beside": "/var/task/data.json",
        "meta": ["/var/task", "/var/task/index.mjs"],
        "where": [
            "/var/task/lib",
            "/var/task/lib/where.cjs",
            "the only valid meta property for import is 'import.meta'",
        ],
        "own": ["mine", "/var/task/lib/own.cjs"],
    }, result.payload
    assert "\nraw line\n" in result.log  # process.stdout.write is not a console line: no prefix
    # process.exit ends the runtime, as on Lambda: Runtime.ExitError, and a fresh environment next.
    exited = platform.invoke("js-node", b'{"exit": 3}')
    assert exited.function_error is not None and exited.function_error.error_type == "Runtime.ExitError"
    assert exited.function_error.error_message == (
        f"RequestId: {exited.request_id} Error: Runtime exited with error: exit status 3"
    )
    assert platform.invoke("js-node", b"{}").cold_start
    platform.delete_function("js-node")
