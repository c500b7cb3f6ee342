// The wasmfaas AssemblyScript SDK: a handler registration over the reactor ABI (docs/abi.md, version 1).
//
//   import { Context, Result, register, ok, error, log, json } from "wasmfaas";
//   export { wasmfaas_buffer, wasmfaas_handle } from "wasmfaas";
//
//   function handler(ctx: Context, event: Uint8Array): Result {
//     return ok("{\"requestId\":" + json.quote(ctx.awsRequestId) + "}");
//   }
//   register(handler);
//
// Only the entry file's exports become the module's exports, hence the re-export line. Top-level code is the init
// code: asc's --exportStart makes it `_initialize`, which the host runs once per execution environment (the cold
// start). Build with `wasmfaas.toolchain_as.build_assemblyscript`, or with the SDK's asconfig.json (see README.md).

// The largest ArrayBuffer the runtime can allocate; above it `new ArrayBuffer` throws, which would trap.
import { BLOCK_MAXSIZE } from "rt/common";
import { environ_get, environ_sizes_get, ESUCCESS } from "./wasi";
import { nowMs, STDERR, writeString } from "./io";
import { json } from "./json";

export { json } from "./json";
export { nowMs } from "./io";

/** The ABI version this SDK speaks, and the request header's size. */
const ABI_VERSION: u32 = 1;
const HEADER_SIZE: u32 = 64;
const STATUS_OK: u32 = 0;
const STATUS_ERROR: u32 = 1;
const STATUS_FAILED: u32 = 2;

/** What Lambda's context object offers (the Node.js runtime's names), for one invocation. */
export class Context {
  /** The request id (a UUID). */
  awsRequestId: string;
  /** Unix time in milliseconds at which the invocation times out. */
  deadlineMs: i64;
  /** AWS_LAMBDA_FUNCTION_NAME ("" if unset). */
  functionName: string;
  /** AWS_LAMBDA_FUNCTION_VERSION ("" if unset). */
  functionVersion: string;
  /** AWS_LAMBDA_FUNCTION_MEMORY_SIZE (0 if unset). */
  memoryLimitInMB: i32;
  /** AWS_LAMBDA_LOG_GROUP_NAME ("" if unset). */
  logGroupName: string;
  /** AWS_LAMBDA_LOG_STREAM_NAME ("" if unset). */
  logStreamName: string;

  constructor(awsRequestId: string, deadlineMs: i64) {
    this.awsRequestId = awsRequestId;
    this.deadlineMs = deadlineMs;
    this.functionName = lambdaEnv.functionName;
    this.functionVersion = lambdaEnv.functionVersion;
    this.memoryLimitInMB = lambdaEnv.memoryLimitInMB;
    this.logGroupName = lambdaEnv.logGroupName;
    this.logStreamName = lambdaEnv.logStreamName;
  }

  /** Milliseconds left before the invocation times out (0 once it has), by WASI's realtime clock. */
  getRemainingTimeInMillis(): i64 {
    const left = this.deadlineMs - nowMs();
    return left > 0 ? left : 0;
  }
}

/** A handler's outcome; make one with ok, okBytes or error. */
export class Result {
  /** 0: success, 1: handled error, 2: runtime failure (the result record's status). */
  readonly status: u32;
  // The payload's bytes are [ptr, ptr + length) inside `owner`, which keeps them alive until the next invocation.
  private owner: ArrayBuffer;
  private ptr: usize;
  private length: i32;

  constructor(status: u32, owner: ArrayBuffer, ptr: usize, length: i32) {
    this.status = status;
    this.owner = owner;
    this.ptr = ptr;
    this.length = length;
  }

  /** Fill the 12-byte result record at `record`. */
  writeRecord(record: usize): void {
    store<u32>(record, this.status);
    store<u32>(record, <u32>this.ptr, 4);
    store<u32>(record, <u32>this.length, 8);
  }
}

/** A handler: called once per invocation with its context and the event's bytes (usually JSON). */
export type Handler = (ctx: Context, event: Uint8Array) => Result;

/** Success, with `body` (UTF-8 encoded; lone surrogates become U+FFFD) as the response. */
export function ok(body: string): Result {
  const buf = String.UTF8.encode(body, false, String.UTF8.ErrorMode.REPLACE);
  return new Result(STATUS_OK, buf, changetype<usize>(buf), buf.byteLength);
}

/** Success, with these bytes as the response. Not copied: leave `body` unchanged once returned. */
export function okBytes(body: Uint8Array): Result {
  return new Result(STATUS_OK, body.buffer, body.dataStart, body.byteLength);
}

/**
 * A handled error: the invocation reports a function error of kind Handled with this errorType and errorMessage
 * (and stackTrace, if given), and the environment stays warm.
 */
export function error(errorType: string, errorMessage: string, stackTrace: string[] | null = null): Result {
  return errorResult(STATUS_ERROR, errorType, errorMessage, stackTrace);
}

function errorResult(status: u32, errorType: string, errorMessage: string, stackTrace: string[] | null): Result {
  let body = "{\"errorType\":" + json.quote(errorType) + ",\"errorMessage\":" + json.quote(errorMessage);
  if (stackTrace !== null) {
    const frames = new Array<string>(stackTrace.length);
    for (let i = 0; i < stackTrace.length; i++) frames[i] = json.quote(stackTrace[i]);
    body += ",\"stackTrace\":[" + frames.join(",") + "]";
  }
  const buf = String.UTF8.encode(body + "}", false, String.UTF8.ErrorMode.REPLACE);
  return new Result(status, buf, changetype<usize>(buf), buf.byteLength);
}

/**
 * For init code (the top level) that cannot go on: logs "wasmfaas: init failed: <errorType>: <errorMessage>" and
 * returns; the environment's first invocation then reports this error without calling the handler (status 2:
 * Unhandled, with this errorType and errorMessage) and the host replaces the environment, so the next invocation runs
 * init again, as Lambda reports a failed init's own error. AssemblyScript cannot catch a `throw`, which traps: the
 * caller gets only "Runtime.InitError: ... unreachable". The first call wins. Called from a handler, it fails that
 * invocation (and the environment) the same way.
 */
export function failInit(errorType: string, errorMessage: string): void {
  if (initError !== null) return;
  log("wasmfaas: init failed: " + errorType + ": " + errorMessage);
  initError = errorResult(STATUS_FAILED, errorType, errorMessage, null);
}

/** Write one line to the function's logs (stderr; a newline is added). */
export function log(message: string): void {
  writeString(STDERR, message, true);
}

/**
 * The environment variable `name`, or null if unset. Read from WASI on every call, never cached: a module
 * pre-initialised at build time (wasmfaas.snapshot) still sees the environment it runs in.
 */
export function getenv(name: string): string | null {
  const sizes = memory.data(8, 4);
  if (environ_sizes_get(sizes, sizes + 4) != ESUCCESS) return null;
  const count = <usize>load<u32>(sizes);
  const size = <usize>load<u32>(sizes, 4);
  if (count == 0) return null;
  // Unmanaged scratch memory, freed before returning: the lookup leaves no garbage behind.
  const ptrs = heap.alloc(count << 2);
  const buf = heap.alloc(max<usize>(size, 1));
  let value: string | null = null;
  if (environ_get(ptrs, buf) == ESUCCESS) {
    const bufEnd = buf + size;
    const want = String.UTF8.encode(name);
    const wantPtr = changetype<usize>(want);
    const wantLen = <usize>want.byteLength;
    for (let i: usize = 0; i < count; i++) {
      const entry = <usize>load<u32>(ptrs + (i << 2));
      if (entry < buf || entry + wantLen >= bufEnd) continue;
      if (memory.compare(entry, wantPtr, wantLen) != 0 || load<u8>(entry + wantLen) != 0x3D) continue; // '='
      const start = entry + wantLen + 1;
      let end = start;
      while (end < bufEnd && load<u8>(end) != 0) end++;
      value = String.UTF8.decodeUnsafe(start, end - start);
      break;
    }
  }
  heap.free(buf);
  heap.free(ptrs);
  return value;
}

// ---- the ABI ------------------------------------------------------------------------------------------------------

/** The Lambda variables of this environment: read at the first invocation (not at init), then kept. */
class LambdaEnv {
  functionName: string = "";
  functionVersion: string = "";
  memoryLimitInMB: i32 = 0;
  logGroupName: string = "";
  logStreamName: string = "";
}

let lambdaEnv = new LambdaEnv();
let envLoaded = false;
let handler: Handler | null = null;
// The request region handed to the host (the header and event are written into it), and the last result, whose
// payload must stay valid until the next call into the guest. Globals keep both alive across garbage collections.
let region: ArrayBuffer | null = null;
let lastResult: Result | null = null;
// failInit's error, which every invocation reports.
let initError: Result | null = null;
const record = memory.data(12, 4);

function envOr(name: string, fallback: string): string {
  const value = getenv(name);
  return value !== null ? value : fallback;
}

function loadLambdaEnv(): void {
  const env = new LambdaEnv();
  env.functionName = envOr("AWS_LAMBDA_FUNCTION_NAME", "");
  env.functionVersion = envOr("AWS_LAMBDA_FUNCTION_VERSION", "");
  env.logGroupName = envOr("AWS_LAMBDA_LOG_GROUP_NAME", "");
  env.logStreamName = envOr("AWS_LAMBDA_LOG_STREAM_NAME", "");
  const mb = I64.parseInt(envOr("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0"), 10);
  env.memoryLimitInMB = mb > 0 && mb <= <i64>i32.MAX_VALUE ? <i32>mb : 0;
  lambdaEnv = env;
  envLoaded = true;
}

/** Make `fn` the function's handler. Call it once, at the top level of the entry file. */
export function register(fn: Handler): void {
  handler = fn;
}

/** ABI export: a pointer to an SDK-owned region of at least `size` bytes, or 0 if it cannot have one. */
export function wasmfaas_buffer(size: u32): usize {
  const current = region;
  if (current !== null && <u32>current.byteLength >= size) return changetype<usize>(current);
  // Refused before the old region is let go: after a 0 the host keeps using the region it has.
  if (size > <u32>BLOCK_MAXSIZE) return 0;
  // Drop the old region first, so that the collector may reuse its memory for the new one.
  region = null;
  const fresh = new ArrayBuffer(<i32>max<u32>(size, HEADER_SIZE));
  region = fresh;
  return changetype<usize>(fresh);
}

/** ABI export: run one invocation on the request at `request`; return a pointer to the result record. */
export function wasmfaas_handle(request: usize, eventLen: u32): usize {
  const version = load<u32>(request);
  const headerSize = load<u32>(request, 4);
  let result: Result;
  const pending = initError;
  if (version != ABI_VERSION || headerSize < HEADER_SIZE) {
    result = error("wasmfaas.UnsupportedABI", "the host speaks a wasmfaas ABI version this SDK does not");
  } else if (pending !== null) {
    result = pending; // a failed init leaves nothing to run the handler on
  } else {
    if (!envLoaded) loadLambdaEnv();
    const requestId = String.UTF8.decodeUnsafe(request + 16, 36, true);
    const ctx = new Context(requestId, load<i64>(request, 8));
    // The event is read in place, as a view of the request region; a request anywhere else is copied.
    const current = region;
    let event: Uint8Array;
    if (current !== null && request == changetype<usize>(current)
        && <u64>headerSize + <u64>eventLen <= <u64>current.byteLength) {
      event = Uint8Array.wrap(current, <i32>headerSize, <i32>eventLen);
    } else {
      event = new Uint8Array(<i32>eventLen);
      memory.copy(event.dataStart, request + headerSize, eventLen);
    }
    const fn = handler;
    result = fn !== null
      ? fn(ctx, event)
      : error("Runtime.HandlerNotFound", "no handler: call register(handler) at the top level of the entry file");
  }
  const failed = initError; // set by this handler's own failInit, if not before
  if (failed !== null) result = failed;
  lastResult = result;
  result.writeRecord(record);
  // The minimal runtime never collects on its own; between invocations (everything live is reachable from globals:
  // the region and the result) is a safe point. The incremental runtime collects as it allocates, but its pace is
  // set by what is live, not by the limit: a 40 MB temporary buffer per invocation of a 128 MB function ran out of
  // memory on the 5th call with earlier ones' buffers still uncollected. So once linear memory (which never shrinks)
  // is past half the limit, each invocation ends with a full collection; below that, this costs one comparison.
  if (ASC_RUNTIME == 1) __collect();
  else if (ASC_RUNTIME == 2 && lambdaEnv.memoryLimitInMB > 0
           && (<i64>memory.size() << 16) > (<i64>lambdaEnv.memoryLimitInMB << 19)) __collect();
  return record;
}
