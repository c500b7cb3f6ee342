// AssemblyScript SDK test guest: one action per SDK feature, chosen by the event's "action".
import { Context, Result, register, ok, okBytes, error, failInit, log, getenv, nowMs, json } from "wasmfaas";
export { wasmfaas_buffer, wasmfaas_handle } from "wasmfaas";

// Top-level code is the init code (`_initialize`): it runs once per environment.
const initAt: i64 = Date.now();
let inits = 0;
inits++;
console.log("features: init");
// FAIL_INIT makes init fail: "throw" by throwing (a trap), anything else by failInit.
function checkConfig(): void {
  const why = getenv("FAIL_INIT");
  if (why === null) return;
  if (why == "throw") throw new Error("init boom");
  failInit("ConfigMissing", why);
}
checkConfig();

function str(value: string | null): string {
  return value !== null ? json.quote(value) : "null";
}

function handler(ctx: Context, event: Uint8Array): Result {
  const found = json.getString(event, "action");
  const action = found !== null ? found : "";
  if (action == "context") {
    return ok(
      "{\"request_id\":" + json.quote(ctx.awsRequestId) +
      ",\"function_name\":" + json.quote(ctx.functionName) +
      ",\"function_version\":" + json.quote(ctx.functionVersion) +
      ",\"memory_limit_mb\":" + ctx.memoryLimitInMB.toString() +
      ",\"log_group\":" + json.quote(ctx.logGroupName) +
      ",\"log_stream\":" + json.quote(ctx.logStreamName) +
      ",\"deadline_ms\":" + ctx.deadlineMs.toString() +
      ",\"remaining_ms\":" + ctx.getRemainingTimeInMillis().toString() + "}"
    );
  }
  // Field lookups: in the JSON document given as the string "doc" (any text at all), else in the event itself.
  if (action == "string" || action == "number") {
    const doc = json.getString(event, "doc");
    const data = doc !== null ? Uint8Array.wrap(String.UTF8.encode(doc)) : event;
    const key = json.getString(event, "key");
    const k = key !== null ? key : "k";
    if (action == "string") return ok(str(json.getString(data, k)));
    const n = json.getNumber(data, k);
    return ok(isNaN(n) ? "null" : n.toString());
  }
  if (action == "quote") {
    const text = json.getString(event, "text");
    return ok(json.quote(text !== null ? text : ""));
  }
  if (action == "echo") return okBytes(event);
  if (action == "env") return ok(str(getenv("MY_VAR")));
  if (action == "time") {
    return ok("{\"now\":" + nowMs().toString() + ",\"date_now\":" + Date.now().toString() +
      ",\"init_at\":" + initAt.toString() + ",\"inits\":" + inits.toString() + "}");
  }
  if (action == "random") return ok(Math.random().toString());
  if (action == "console") {
    console.log("console.log line");
    console.error("console.error line");
    log("sdk log line");
    trace("traced", 2, 1.5, 2);
    return ok("null");
  }
  if (action == "longlog") {
    // Longer than the SDK's scratch buffer (21,845 UTF-16 units): written in pieces, none splitting a surrogate pair.
    const line = "\u00e9\u{1F600}".repeat(20000);
    log(line);
    console.log(line);
    return ok("null");
  }
  if (action == "error") return error("MyError", "line 1\n\"quoted\"", ["at a", "at b"]);
  if (action == "throw") throw new Error("boom from handler");
  if (action == "garbage") {
    // 256 MB of short-lived buffers: more than the function's 128 MB, so it runs only if the GC frees them.
    let sum: u32 = 0;
    for (let i = 0; i < 64; i++) {
      const chunk = new Uint8Array(4 << 20);
      chunk[i] = <u8>i;
      sum += chunk[i];
    }
    return ok(sum.toString());
  }
  if (action == "temp40") {
    // One large short-lived buffer per invocation: garbage once the invocation ends.
    const buffer = new Uint8Array(40 << 20);
    buffer[buffer.length - 1] = 1;
    return ok(buffer.length.toString());
  }
  return error("UnknownAction", "no such action: " + action);
}

register(handler);
