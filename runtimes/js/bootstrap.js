// The guest side of the wasmfaas JavaScript runtime: implements the world `wasmfaas:function/text-handler` on top of a
// Lambda-style Node.js handler, `export const handler = async (event, context) => ...`.
//
// build.mjs bundles the user's code into one function, `load`, and generates an entry module that calls
// `createRuntime`. componentize-js evaluates the entry at build time (Wizer pre-initialisation), so this file's
// top-level code and the parsed user bundle are in the snapshot; the user's own module-level code runs in `init`,
// once per execution environment, as Lambda's init phase does: it then sees the function's environment variables,
// the real clock and fresh random numbers instead of values frozen at build time.
//
// componentize-js drives async exports itself: a promise returned by `init`/`handle` is settled by running the guest's
// event loop inside the export call. What it does not do is turn JS errors into our `function-error` (an Error
// thrown out of an export traps the instance), so both exports catch everything and return a tagged result.

import { getEnvironment } from 'wasi:cli/environment@0.2.12';

// Node keeps 10 frames (Error.stackTraceLimit); deep recursion would otherwise put thousands of lines in a response.
const MAX_STACK_FRAMES = 10;

// The engine's console writes each line as a C string, so a NUL would end it there: the rest of the line is kept,
// the NUL written as its escape.
const whole = (write) => (text) => write(text.includes('\0') ? text.replaceAll('\0', '\\u0000') : text);
const stdoutWrite = whole(console.log.bind(console));
const stderrWrite = whole(console.error.bind(console));
// The runtime's own timers (an invocation's deadline) throw nothing: they skip the guard user callbacks get.
const runtimeSetTimeout = globalThis.setTimeout;

/**
 * @param {object} config `handler` (e.g. "index.handler"), `exportPath` (["handler"]), `userFile` (the bundle's file
 *   name in stack traces), `sourceMap` ({sources, mappings}, esbuild's) and `lineOffset` (lines in the user file
 *   before the bundle's first line).
 * @param {(register: (mod: object) => void) => Promise<void>} load evaluates the user's code and registers its
 *   module: the ES module namespace, or CommonJS module.exports.
 */
export function createRuntime(config, load) {
  const stacks = new StackMapper(config);
  installConsole(stacks);
  guardCallbacks(stacks);
  installFetch();
  guardSubtleCrypto();

  let userHandler = null;
  let initResult = null;

  async function init() {
    if (initResult !== null) return initResult;
    try {
      installProcess();
      let mod;
      await load((m) => {
        mod = m;
      });
      const fn = resolveHandler(mod, config);
      if (typeof fn !== 'function') {
        initResult = err(
          'Runtime.HandlerNotFound',
          `${config.handler} is undefined or not exported`,
        );
      } else {
        userHandler = fn;
        initResult = { tag: 'ok', val: undefined };
      }
    } catch (e) {
      // An import that cannot load (a Node built-in: see build.mjs) is Lambda's Runtime.ImportModuleError.
      const missing = e !== null && typeof e === 'object' && e.code === 'MODULE_NOT_FOUND';
      initResult = missing
        ? err('Runtime.ImportModuleError', `Error: ${e.message}`)
        : { tag: 'err', val: toFunctionError(e, stacks) };
    }
    if (initResult.tag === 'err') logError('Uncaught Exception', initResult.val);
    return initResult;
  }

  // Lambda's Node.js runtime logs every invocation error before it answers with it; so does this one, and the host
  // reports these errors (all raised, rejected or refused by the runtime) as Unhandled, as Lambda does. A timeout is
  // the host's to report and log ("Task timed out").
  async function handle(ctx, event) {
    const result = await run(ctx, event);
    if (result.tag === 'err' && result.val.errorType !== TIMEOUT && !result.logged) logError('Invoke Error', result.val);
    return result.logged ? { tag: 'err', val: result.val } : result;
  }

  async function run(ctx, event) {
    try {
      const ready = await init();
      if (ready.tag === 'err') return ready;
      currentRequestId = ctx.requestId; // kept after the invocation, as Lambda's runtime does, for late timers' logs
      let payload;
      try {
        payload = event.length === 0 ? {} : JSON.parse(event);
      } catch (e) {
        if (e === 'out of memory') throw e; // reported as Runtime.OutOfMemory below, not as the event's fault
        return err('Runtime.UnmarshalError', `Unable to parse the event as JSON: ${e.message}`);
      }
      const result = await invokeHandler(userHandler, payload, makeContext(ctx), Number(ctx.deadlineMs));
      let json;
      try {
        json = JSON.stringify(result === undefined ? null : result);
      } catch (e) {
        if (e === 'out of memory') throw e; // reported as Runtime.OutOfMemory below, not as the result's fault
        return err('Runtime.MarshalError', `Unable to stringify the handler's result: ${e.message}`);
      }
      // JSON.stringify gives undefined for a function or a symbol; Lambda answers null for those.
      return { tag: 'ok', val: json === undefined ? 'null' : json };
    } catch (e) {
      if (e instanceof Uncaught) return { tag: 'err', val: e.error, logged: true };
      return { tag: 'err', val: toFunctionError(e, stacks) };
    }
  }

  return { init, handle };
}

// An exception thrown by a timer's or a microtask's callback reaches no handler: StarlingMonkey's event loop then
// traps the instance. Node's Lambda runtime logs it as "Uncaught Exception" and fails the invocation in progress with
// it (then its process exits; here the engine is intact and the environment stays). So callbacks run guarded.
let failInvocation = null; // while an invocation runs: ends it with an uncaught exception

class Uncaught {
  constructor(error) {
    this.error = error; // already in Lambda's shape, and logged
  }
}

function guardCallbacks(stacks) {
  const guard = (fn) =>
    typeof fn !== 'function'
      ? fn
      : function (...args) {
          try {
            return fn.apply(this, args);
          } catch (e) {
            const error = toFunctionError(e, stacks);
            logError('Uncaught Exception', error);
            if (failInvocation !== null) failInvocation(new Uncaught(error));
          }
        };
  for (const name of ['setTimeout', 'setInterval']) {
    const schedule = globalThis[name];
    if (typeof schedule === 'function') globalThis[name] = (fn, ...rest) => schedule(guard(fn), ...rest);
  }
  const queue = globalThis.queueMicrotask;
  if (typeof queue === 'function') globalThis.queueMicrotask = (fn) => queue(guard(fn));
}

// StarlingMonkey's SubtleCrypto traps the whole instance (wasm `unreachable`) on importing any RSA or EC key, in
// every format; a rejection the handler can catch is what an unsupported algorithm should give instead.
const UNSUPPORTED_KEYS = new Set(['RSASSA-PKCS1-V1_5', 'RSA-PSS', 'RSA-OAEP', 'ECDSA', 'ECDH']);

function guardSubtleCrypto() {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!subtle || typeof subtle.importKey !== 'function') return;
  const importKey = subtle.importKey;
  subtle.importKey = function (format, keyData, algorithm, ...rest) {
    const name = typeof algorithm === 'string' ? algorithm : algorithm && algorithm.name;
    if (typeof name === 'string' && UNSUPPORTED_KEYS.has(name.toUpperCase())) {
      const message = `${name} keys are not supported by this runtime's SubtleCrypto (HMAC and digests are)`;
      const error = typeof DOMException === 'function' ? new DOMException(message, 'NotSupportedError') : new Error(message);
      if (!(error instanceof DOMException)) error.name = 'NotSupportedError';
      return Promise.reject(error);
    }
    return importKey.call(this, format, keyData, algorithm, ...rest);
  };
}

// The world links no wasi:http (a function reaches nothing outside), and the engine's own fetch then traps the
// instance on its first call; a rejected promise is what Node's fetch gives when the network is unreachable.
function installFetch() {
  globalThis.fetch = async function fetch() {
    throw new TypeError('fetch failed: wasmfaas functions have no network access');
  };
}

// As Lambda's Node.js runtime logs an error: "ERROR\t<what> \t<the error as JSON>".
function logError(what, { errorType, errorMessage, stackTrace }) {
  stderrWrite(logLine('ERROR', `${what} \t${JSON.stringify({ errorType, errorMessage, stack: stackTrace })}`));
}

function err(errorType, errorMessage) {
  return { tag: 'err', val: { errorType, errorMessage, stackTrace: [] } };
}

// Lambda code reads its configuration from process.env; the guest has no `process`, so give it one with the
// environment the host passes (the function's variables plus Lambda's AWS_LAMBDA_* ones).
// Node's globals that libraries reach for without thinking of it: `global`, `setImmediate`, and the `process`
// members they read (versions, hrtime, memoryUsage, cwd, the event-emitter methods, stdout/stderr.write). The
// Node version given is the one whose APIs the shims follow; `process.exit()` ends the invocation as it ends
// Lambda's runtime: Runtime.ExitError, and a fresh environment next.
let startedMs = 0; // set at init: a value taken at build time would be frozen into the snapshot

function installProcess() {
  startedMs = Date.now();
  // What the bundle could not resolve (a missing package required inside try/catch, a computed require or import)
  // reaches this: Node's error, so `catch (e) { if (e.code !== 'MODULE_NOT_FOUND') throw e; }` works as there.
  if (typeof globalThis.require !== 'function') {
    globalThis.require = (id) => {
      const error = new Error(`Cannot find module '${id}'`);
      error.code = 'MODULE_NOT_FOUND';
      throw error;
    };
  }
  const env = {};
  for (const [name, value] of getEnvironment()) env[name] = value;
  const existing = globalThis.process;
  if (existing && typeof existing === 'object') {
    existing.env = env;
    return;
  }
  globalThis.global = globalThis;
  globalThis.setImmediate = (fn, ...args) => setTimeout(fn, 0, ...args);
  globalThis.clearImmediate = (id) => clearTimeout(id);
  const hrtime = (previous) => {
    const now = BigInt(Math.round(performance.now() * 1e6));
    let seconds = Number(now / 1000000000n);
    let nanos = Number(now % 1000000000n);
    if (Array.isArray(previous)) {
      seconds -= previous[0];
      nanos -= previous[1];
      if (nanos < 0) {
        seconds -= 1;
        nanos += 1e9;
      }
    }
    return [seconds, nanos];
  };
  hrtime.bigint = () => BigInt(Math.round(performance.now() * 1e6));
  const quiet = function () {
    return this;
  };
  globalThis.process = {
    env,
    argv: ['/var/lang/bin/node', '/var/runtime/index.mjs'],
    execArgv: [],
    version: 'v20.0.0',
    versions: { node: '20.0.0' },
    release: { name: 'node' },
    platform: 'linux',
    arch: 'wasm32',
    pid: 1,
    ppid: 0,
    title: 'node',
    exitCode: undefined,
    nextTick(fn, ...args) {
      queueMicrotask(() => fn(...args));
    },
    hrtime,
    uptime: () => (Date.now() - startedMs) / 1000,
    cwd: () => '/var/task',
    memoryUsage: Object.assign(() => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }), {
      rss: () => 0,
    }),
    emitWarning: (warning) => console.warn(typeof warning === 'string' ? `Warning: ${warning}` : warning),
    on: quiet,
    once: quiet,
    off: quiet,
    addListener: quiet,
    removeListener: quiet,
    removeAllListeners: quiet,
    emit: () => false,
    listeners: () => [],
    stdout: { write: (chunk) => (stdoutWrite(String(chunk).replace(/\n$/, '')), true), isTTY: false },
    stderr: { write: (chunk) => (stderrWrite(String(chunk).replace(/\n$/, '')), true), isTTY: false },
    exit(code) {
      throw new ProcessExit(code === undefined ? (globalThis.process.exitCode ?? 0) : code);
    },
  };
}

class ProcessExit {
  constructor(code) {
    this.code = Number(code) | 0;
  }
}

function resolveHandler(mod, config) {
  // For CommonJS the registered value is module.exports, as Lambda's require() of the handler file gives.
  let value = mod;
  for (const key of config.exportPath) {
    if (value === null || value === undefined) return undefined;
    value = value[key];
  }
  return value;
}

function makeContext(ctx) {
  const deadline = Number(ctx.deadlineMs);
  return {
    awsRequestId: ctx.requestId,
    functionName: ctx.functionName,
    functionVersion: ctx.functionVersion,
    invokedFunctionArn: ctx.invokedFunctionArn,
    memoryLimitInMB: String(ctx.memoryLimitMb),
    logGroupName: ctx.logGroupName,
    logStreamName: ctx.logStreamName,
    // Writable and ignored: code written for Lambda commonly sets it to false.
    callbackWaitsForEmptyEventLoop: true,
    identity: undefined,
    clientContext: undefined,
    getRemainingTimeInMillis() {
      return deadline > 0 ? Math.max(0, deadline - Date.now()) : 0;
    },
  };
}

const TIMEOUT = 'Sandbox.Timedout';

class TimeoutError extends Error {
  constructor() {
    super('Task timed out: the handler had not finished by the invocation deadline');
    this.name = TIMEOUT;
  }
}

// Settles with the handler's result: a returned promise is awaited; a handler taking a third parameter that returns
// nothing answers through the callback (or context.done/succeed/fail), as in Lambda's Node.js runtime; otherwise the
// returned value is the result. (Lambda would also wait for a two-parameter handler that returns nothing to call
// context.succeed later; an empty event loop cannot be detected here, so such a handler's result is null at once.)
// The deadline timer keeps the event loop busy while a promise is pending on nothing the loop knows of: without it
// StarlingMonkey finds the loop empty and aborts the instance; with it the invocation ends at the deadline instead.
function invokeHandler(fn, event, context, deadlineMs) {
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer;
    const settle = (how, value) => {
      if (settled) return;
      settled = true;
      failInvocation = null;
      clearTimeout(timer);
      how(value);
    };
    failInvocation = (uncaught) => settle(reject, uncaught);
    // A deadline of 0 means the host set none.
    if (deadlineMs > 0) {
      timer = runtimeSetTimeout(() => settle(reject, new TimeoutError()), Math.max(0, deadlineMs - Date.now()));
    }
    const callback = (error, result) =>
      error !== null && error !== undefined ? settle(reject, error) : settle(resolve, result);
    // The legacy completion methods, as Lambda's Node.js runtime still defines them: done is the callback, fail with
    // nothing to report fails with the string "handled". As there, the first completion of any kind wins.
    context.done = callback;
    context.succeed = (result) => callback(null, result);
    context.fail = (error) => callback(error === null || error === undefined ? 'handled' : error);
    let returned;
    try {
      returned = fn(event, context, callback);
    } catch (e) {
      settle(reject, e);
      return;
    }
    if (returned !== null && (typeof returned === 'object' || typeof returned === 'function') &&
        typeof returned.then === 'function') {
      Promise.resolve(returned).then((v) => settle(resolve, v), (e) => settle(reject, e));
    } else if (!(fn.length >= 3 && returned === undefined)) {
      settle(resolve, returned);
    }
  });
}

function isErrorLike(e) {
  return e instanceof Error ||
    (e !== null && typeof e === 'object' && typeof e.message === 'string' && typeof e.stack === 'string');
}

function errorName(e) {
  try {
    if (typeof e.name === 'string' && e.name !== '') return e.name;
    const ctor = e.constructor && e.constructor.name;
    return typeof ctor === 'string' && ctor !== '' ? ctor : 'Error';
  } catch {
    return 'Error';
  }
}

// Lambda's shape for a thrown value: an Error gives its name, message and stack; anything else gives its type and
// its text (`throw "boom"` is {errorType: "string", errorMessage: "boom"}).
function toFunctionError(e, stacks) {
  try {
    if (isErrorLike(e)) {
      const errorType = errorName(e);
      const errorMessage = String(e.message);
      return { errorType, errorMessage, stackTrace: stacks.format(errorType, errorMessage, e.stack) };
    }
    if (e instanceof ProcessExit) {
      // Lambda's words for a Node.js runtime that exits during an invocation.
      const errorMessage =
        e.code === 0 ? 'Runtime exited without providing a reason' : `Runtime exited with error: exit status ${e.code}`;
      return { errorType: 'Runtime.ExitError', errorMessage, stackTrace: [] };
    }
    let errorMessage;
    // SpiderMonkey reports an exhausted heap by throwing the bare string "out of memory": the host then discards
    // the environment, as for any out-of-memory failure.
    if (e === 'out of memory') {
      return { errorType: 'Runtime.OutOfMemory', errorMessage: 'Runtime exited with error: out of memory', stackTrace: [] };
    }
    if (typeof e === 'string') {
      errorMessage = e;
    } else {
      try {
        errorMessage = JSON.stringify(e);
      } catch {
        errorMessage = undefined;
      }
      if (typeof errorMessage !== 'string') errorMessage = String(e);
    }
    return { errorType: typeof e, errorMessage, stackTrace: [] };
  } catch {
    return { errorType: 'Runtime.UnknownError', errorMessage: 'the handler threw a value that cannot be described', stackTrace: [] };
  }
}

// Rewrites SpiderMonkey stacks (`fn@file:line:col`, `async*fn@...`) into Node's `    at fn (file:line:col)` lines,
// mapping positions in the bundle back to the user's own files through esbuild's source map. Frames of this runtime
// and of esbuild's helpers are dropped: they mean nothing to the function's author.
class StackMapper {
  constructor(config) {
    this.userFile = config.userFile;
    this.lineOffset = config.lineOffset;
    this.sources = config.sourceMap.sources;
    this.mappings = config.sourceMap.mappings;
    this.lines = null; // decoded lazily: most environments never format a stack
  }

  format(name, message, stack) {
    const head = message === '' ? name : `${name}: ${message}`;
    const frames = [];
    const raw = typeof stack === 'string' ? stack.split('\n') : [];
    for (const line of raw) {
      if (frames.length >= MAX_STACK_FRAMES) break;
      const frame = this.frame(line);
      if (frame !== null) frames.push(frame);
    }
    return [head, ...frames];
  }

  frame(line) {
    const m = /^(async\*)?(.*)@(.*):(\d+):(\d+)$/.exec(line.trim());
    if (m === null) return null;
    if (m[3] !== this.userFile) return null;
    const pos = this.lookup(Number(m[4]) - this.lineOffset, Number(m[5]));
    if (pos === null) return null;
    let fn = m[2];
    // The loader wrapping the bundle is the user's module top level, which Node shows without a name.
    if (fn === '__wasmfaas_load' || fn.startsWith('__wasmfaas_load/')) fn = '';
    const where = `${pos.source}:${pos.line}:${pos.column}`;
    const prefix = m[1] ? 'async ' : '';
    return fn === '' ? `    at ${prefix}${where}` : `    at ${prefix}${fn} (${where})`;
  }

  // `line` and `column` are 1-based positions in the bundle; returns 1-based positions in the original source.
  lookup(line, column) {
    if (this.lines === null) this.lines = decodeMappings(this.mappings);
    const segments = this.lines[line - 1];
    if (!segments || segments.length === 0) return null;
    const col = column - 1;
    let best = null;
    for (const seg of segments) {
      if (seg[0] > col) break;
      best = seg;
    }
    if (best === null) best = segments[0];
    if (best.length < 4) return null;
    return { source: this.sources[best[1]], line: best[2] + 1, column: best[3] + 1 };
  }
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

// Source map v3 "mappings": per generated line, segments of [generatedColumn, sourceIndex, originalLine,
// originalColumn] (all 0-based), base64 VLQ, each field relative to the previous segment's.
function decodeMappings(mappings) {
  const lines = [];
  let segments = [];
  let genCol = 0;
  let src = 0;
  let origLine = 0;
  let origCol = 0;
  let fields = [];
  let value = 0;
  let shift = 0;
  const flushSegment = () => {
    if (fields.length === 0) return;
    genCol += fields[0];
    if (fields.length >= 4) {
      src += fields[1];
      origLine += fields[2];
      origCol += fields[3];
      segments.push([genCol, src, origLine, origCol]);
    } else {
      segments.push([genCol]);
    }
    fields = [];
  };
  for (let i = 0; i < mappings.length; i++) {
    const ch = mappings[i];
    if (ch === ';') {
      flushSegment();
      segments.sort((a, b) => a[0] - b[0]);
      lines.push(segments);
      segments = [];
      genCol = 0;
    } else if (ch === ',') {
      flushSegment();
    } else {
      const digit = BASE64.indexOf(ch);
      value += (digit & 31) << shift;
      if (digit & 32) {
        shift += 5;
      } else {
        fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
        value = 0;
        shift = 0;
      }
    }
  }
  flushSegment();
  segments.sort((a, b) => a[0] - b[0]);
  lines.push(segments);
  return lines;
}

// StarlingMonkey's console knows no format specifiers and prints an Error as source text; Node's does both, and
// sends log/info/debug to stdout and warn/error/trace to stderr. Done here, at build time, once for the snapshot.
// The request being handled, for log lines; Lambda's Node.js runtime writes "undefined" outside one (init).
let currentRequestId;

// Lambda's Node.js log line: "<ISO time>\t<request id>\t<LEVEL>\t<message>".
function logLine(level, message) {
  return `${new Date().toISOString()}\t${currentRequestId}\t${level}\t${message}`;
}

function installConsole(stacks) {
  const render = (args) => formatArgs(args, stacks).join(' ');
  const to = (write, level) => (...args) => write(logLine(level, render(args)));
  console.log = to(stdoutWrite, 'INFO');
  console.info = console.log;
  console.debug = to(stdoutWrite, 'DEBUG');
  console.error = to(stderrWrite, 'ERROR');
  console.warn = to(stderrWrite, 'WARN');
  console.trace = (...args) => {
    const here = new Error(args.length > 0 ? render(args) : '');
    const lines = stacks.format('Trace', here.message, here.stack);
    stderrWrite(logLine('TRACE', lines.join('\n')));
  };
}

function formatError(e, stacks) {
  const name = errorName(e);
  return stacks.format(name, String(e.message), e.stack).join('\n');
}

function formatArgs(args, stacks) {
  let rest = args;
  const out = [];
  if (typeof args[0] === 'string' && args[0].includes('%')) {
    let i = 1;
    const text = args[0].replace(/%[sdifjoOc%]/g, (spec) => {
      if (spec === '%%') return '%';
      if (i >= args.length) return spec;
      const v = args[i++];
      switch (spec) {
        case '%s':
          return typeof v === 'string' ? v : isErrorLike(v) ? formatError(v, stacks) : inspect(v, stacks, 0);
        case '%d':
          return typeof v === 'bigint' ? `${v}n` : typeof v === 'object' ? 'NaN' : String(Number(v));
        case '%i':
          return typeof v === 'bigint' ? `${v}n` : typeof v === 'object' ? 'NaN' : String(parseInt(v, 10));
        case '%f':
          return typeof v === 'symbol' ? 'NaN' : String(parseFloat(v));
        case '%j':
          try {
            return JSON.stringify(v);
          } catch {
            return '[Circular]';
          }
        case '%c':
          return '';
        default: // %o, %O
          return isErrorLike(v) ? formatError(v, stacks) : inspect(v, stacks, 4);
      }
    });
    out.push(text);
    rest = args.slice(i);
  } else if (args.length > 0) {
    out.push(formatValue(args[0], stacks));
    rest = args.slice(1);
  }
  for (const v of rest) out.push(formatValue(v, stacks));
  return out;
}

// A console argument as Node's util.format shows it: a string as it is, an error by its stack, anything else as
// util.inspect would (inspect below).
function formatValue(v, stacks) {
  if (typeof v === 'string') return v;
  if (isErrorLike(v)) return formatError(v, stacks);
  return inspect(v, stacks);
}

// Node's util.inspect (depth 2, compact 3, breakLength 80), in its common cases: nested strings quoted, `[Object]`
// past the depth, `<ref *1>`/`[Circular *1]`, class names, Map/Set/Buffer/typed arrays, and Node's rules for when
// entries share a line (the innermost three levels, within 80 columns) and for grouping long arrays into columns.
function inspect(value, stacks, depth = 2) {
  const seen = [];
  let currentDepth = 0;
  let circular;
  const key = (k) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : quote(k));
  const show = (v, level, indent) => {
    switch (typeof v) {
      case 'string':
        return quote(v);
      case 'number':
        return Object.is(v, -0) ? '-0' : String(v);
      case 'bigint':
        return `${v}n`;
      case 'symbol':
        return v.toString();
      case 'undefined':
        return 'undefined';
      case 'boolean':
        return String(v);
      case 'function': {
        if (Function.prototype.toString.call(v).startsWith('class')) return `[class ${v.name || '(anonymous)'}]`;
        return v.name ? `[Function: ${v.name}]` : '[Function (anonymous)]';
      }
      default:
        break;
    }
    if (v === null) return 'null';
    if (isErrorLike(v)) return formatError(v, stacks);
    if (v instanceof Date) return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
    if (v instanceof RegExp) return String(v);
    if (seen.includes(v)) {
      circular = circular ?? v;
      return '[Circular *1]';
    }
    const tag = v.constructor && typeof v.constructor.name === 'string' ? v.constructor.name : '';
    const isBuffer = ArrayBuffer.isView(v) && (v._isBuffer === true || tag === 'Buffer');
    if (isBuffer) {
      const hex = Array.from(v.subarray(0, 50), (b) => b.toString(16).padStart(2, '0'));
      const more = v.length > 50 ? ` ... ${v.length - 50} more byte${v.length - 50 > 1 ? 's' : ''}` : '';
      return `<Buffer${hex.length ? ' ' : ''}${hex.join(' ')}${more}>`;
    }
    let open;
    let entries;
    let extra = [];
    let isArray = false;
    if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
      isArray = true;
      open = Array.isArray(v) && (tag === 'Array' || tag === '') ? '[' : `${tag}(${v.length}) [`;
      extra = v.length <= 1000 ? Object.keys(v).filter((k) => !/^\d+$/.test(k)) : []; // keys() lists every index
      entries = v.length + extra.length;
    } else if (v instanceof Map || v instanceof Set) {
      open = `${tag}(${v.size}) {`;
      entries = v.size + Object.keys(v).length;
    } else {
      const proto = Object.getPrototypeOf(v);
      open = proto === null ? '[Object: null prototype] {' : tag && tag !== 'Object' ? `${tag} {` : '{';
      entries = Object.keys(v).length;
    }
    const close = isArray ? ']' : '}';
    if (entries === 0) return `${open}${close}`;
    if (level > depth) return isArray && open === '[' ? '[Array]' : `[${tag || 'Object'}]`;
    seen.push(v);
    currentDepth = level + 1;
    const output = [];
    const inner = indent + 2;
    try {
      if (isArray) {
        const shown = Math.min(v.length, 100);
        for (let i = 0; i < shown; i++) output.push(i in v ? show(v[i], level + 1, inner) : '<1 empty item>');
        if (v.length > 100) output.push(`... ${v.length - 100} more item${v.length - 100 > 1 ? 's' : ''}`);
        for (const k of extra) output.push(`${key(k)}: ${property(v, k, level, inner)}`);
      } else if (v instanceof Map || v instanceof Set) {
        let shown = 0;
        for (const item of v) {
          if (shown++ === 100) break;
          output.push(
            v instanceof Map
              ? `${show(item[0], level + 1, inner)} => ${show(item[1], level + 1, inner)}`
              : show(item, level + 1, inner),
          );
        }
        if (v.size > 100) output.push(`... ${v.size - 100} more item${v.size - 100 > 1 ? 's' : ''}`);
      } else {
        for (const k of Object.keys(v)) output.push(`${key(k)}: ${property(v, k, level, inner)}`);
      }
    } finally {
      seen.pop();
    }
    let text = join(output, open, close, isArray && output.length > 6 ? v : undefined, level, indent);
    if (circular === v) text = `<ref *1> ${text}`;
    return text;
  };
  // An accessor is shown as Node shows it, without calling it (a getter may throw, or cost).
  const property = (obj, k, level, indent) => {
    const d = Object.getOwnPropertyDescriptor(obj, k);
    if (d !== undefined && (d.get !== undefined || d.set !== undefined)) {
      return d.get === undefined ? '[Setter]' : d.set === undefined ? '[Getter]' : '[Getter/Setter]';
    }
    return show(obj[k], level + 1, indent);
  };
  // Node's reduceToSingleString and groupArrayElements.
  const join = (output, open, close, array, level, indent) => {
    let lines = output;
    if (array !== undefined) lines = groupArrayElements(output, array, indent);
    if (currentDepth - (level + 1) < 3 && lines === output) {
      const start = output.length + indent + open.length + 10;
      let total = output.length + start;
      let fits = total + output.length <= 80;
      for (let i = 0; fits && i < output.length; i++) {
        total += output[i].length;
        fits = total <= 80;
      }
      const flat = output.join(', ');
      if (fits && !flat.includes('\n')) return `${open} ${flat} ${close}`;
    }
    const pad = `\n${' '.repeat(indent)}`;
    return `${open}${pad}  ${lines.join(`,${pad}  `)}${pad}${close}`;
  };
  const groupArrayElements = (output, array, indent) => {
    let outputLength = output.length;
    if (array.length > 100) outputLength--; // the "... more items" entry is not grouped
    const dataLen = [];
    let totalLength = 0;
    let maxLength = 0;
    for (let i = 0; i < outputLength; i++) {
      const len = output[i].length;
      dataLen.push(len);
      totalLength += len + 2;
      if (maxLength < len) maxLength = len;
    }
    const actualMax = maxLength + 2;
    if (actualMax * 3 + indent < 80 && (totalLength / actualMax > 5 || maxLength <= 6)) {
      const averageBias = Math.sqrt(actualMax - totalLength / output.length);
      const biasedMax = Math.max(actualMax - 3 - averageBias, 1);
      const columns = Math.min(
        Math.round(Math.sqrt(2.5 * biasedMax * outputLength) / biasedMax),
        Math.floor((80 - indent) / actualMax),
        12,
        15,
      );
      if (columns <= 1) return output;
      const maxLineLength = [];
      for (let i = 0; i < columns; i++) {
        let lineLength = 0;
        for (let j = i; j < output.length; j += columns) if (dataLen[j] > lineLength) lineLength = dataLen[j];
        maxLineLength.push(lineLength + 2);
      }
      let numbers = true;
      for (let i = 0; i < output.length; i++) {
        if (typeof array[i] !== 'number' && typeof array[i] !== 'bigint') numbers = false;
      }
      const grouped = [];
      for (let i = 0; i < outputLength; i += columns) {
        const max = Math.min(i + columns, outputLength);
        let line = '';
        let j = i;
        for (; j < max - 1; j++) {
          const cell = `${output[j]}, `;
          line += numbers ? cell.padStart(maxLineLength[j - i]) : cell.padEnd(maxLineLength[j - i]);
        }
        line += numbers ? output[j].padStart(maxLineLength[j - i] - 2) : output[j];
        grouped.push(line);
      }
      if (array.length > 100) grouped.push(output[outputLength]);
      return grouped;
    }
    return output;
  };
  return show(value, 0, 0);
}

// Node's choice of quotes for a string inside an inspected value: single, else double, else backticks.
function quote(s) {
  const escaped = (q) =>
    s.replace(/[\\\n\r\t\b\f\v\x00-\x1f\x7f]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f', '\v': '\\v' })[c] ?? `\\x${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  if (!s.includes("'")) return `'${escaped("'")}'`;
  if (!s.includes('"')) return `"${escaped('"')}"`;
  if (!s.includes('`') && !s.includes('${')) return `\`${escaped('`')}\``;
  return `'${escaped("'").replace(/'/g, "\\'")}'`;
}
