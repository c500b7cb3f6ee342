// The AssemblyScript SDK's example function (the C SDK's hello.c, in AssemblyScript): greets the event's "name",
// counts warm invocations, and reports a handled error for an event without a name.
//
//   python -c 'from wasmfaas.toolchain_as import build_assemblyscript as b; print(b("example/hello.ts"))'
//   wasmfaas invoke <that path> '{"name": "world"}' --env GREETING=Hello
import { Context, Result, register, ok, error, log, getenv, json } from "wasmfaas";
export { wasmfaas_buffer, wasmfaas_handle } from "wasmfaas";

let invocations = 0; // global state survives warm invocations of one environment, as in Lambda

function handler(ctx: Context, event: Uint8Array): Result {
  const name = json.getString(event, "name");
  if (name === null) return error("ValidationError", "the event needs a string field \"name\"");
  const greeting = getenv("GREETING");
  invocations++;
  log("hello: request " + ctx.awsRequestId + ", invocation " + invocations.toString() + " of this environment");

  const message = (greeting !== null ? greeting : "Hello") + ", " + name + "!";
  return ok(
    "{\"message\":" + json.quote(message) +
    ",\"invocations\":" + invocations.toString() +
    ",\"function\":" + json.quote(ctx.functionName) +
    ",\"request_id\":" + json.quote(ctx.awsRequestId) +
    ",\"remaining_ms\":" + ctx.getRemainingTimeInMillis().toString() + "}"
  );
}

register(handler);
