// The SDK's replacements for what AssemblyScript's standard library imports from a JavaScript host ("env"), which a
// wasmfaas guest cannot import. asconfig.json puts this directory on --lib, so that this file is part of every build
// and its exports are globals, and aliases the library's names to them with --use:
//
//   abort   -> wasmfaas_abort     (failed assertions, `throw`, out-of-bounds checks)
//   trace   -> wasmfaas_trace
//   seed    -> wasmfaas_seed      (Math.random's seed, from WASI random_get)
//   console -> wasmfaas_console   (console.log/info/debug to stdout, warn/error/assert to stderr)
//   Date    -> wasmfaas_Date      (Date.now() from WASI's realtime clock)
//
// Names are prefixed because every export here is a global in the user's program.

import { random_get, ESUCCESS } from "./wasmfaas/wasi";
import { monotonicNs, nowMs, STDERR, STDOUT, writeString, writeU32 } from "./wasmfaas/io";

/**
 * Write "abort: <message> in <file>(<line>:<column>)" to stderr and trap: the host reports Runtime.Trap (or
 * Runtime.InitError during init) with this line in the logs, and discards the environment. Allocates nothing, since
 * it may be running because memory ran out.
 */
export function wasmfaas_abort(
  message: string | null = null,
  fileName: string | null = null,
  lineNumber: u32 = 0,
  columnNumber: u32 = 0
): void {
  writeString(STDERR, "abort: ");
  if (message !== null) writeString(STDERR, message);
  if (fileName !== null) {
    writeString(STDERR, " in ");
    writeString(STDERR, fileName);
    writeString(STDERR, "(");
    writeU32(STDERR, lineNumber);
    writeString(STDERR, ":");
    writeU32(STDERR, columnNumber);
    writeString(STDERR, ")");
  }
  writeString(STDERR, "", true);
  unreachable();
}

/** trace(message, n, a0..a4): "trace: <message> a0, a1, ..." on stderr. */
export function wasmfaas_trace(
  message: string,
  n: i32 = 0,
  a0: f64 = 0,
  a1: f64 = 0,
  a2: f64 = 0,
  a3: f64 = 0,
  a4: f64 = 0
): void {
  let line = "trace: " + message;
  if (n > 0) {
    const args = [a0, a1, a2, a3, a4];
    const parts = new Array<string>(0);
    for (let i = 0; i < min(n, 5); i++) parts.push(args[i].toString());
    line += " " + parts.join(", ");
  }
  writeString(STDERR, line, true);
}

/** Math.random's seed: 52 random bits from WASI, as a finite double (the library reinterprets its bits). */
export function wasmfaas_seed(): f64 {
  const buf = memory.data(8, 8);
  let bits: u64 = 0;
  if (random_get(buf, 8) == ESUCCESS) bits = load<u64>(buf);
  if ((bits & 0x000F_FFFF_FFFF_FFFF) == 0) bits = monotonicNs() | 1; // never the all-zero state
  return reinterpret<f64>(0x3FF0_0000_0000_0000 | (bits & 0x000F_FFFF_FFFF_FFFF));
}

// @ts-ignore: decorator
@lazy const timers = new Map<string, u64>();

/** Node's console, onto stdout and stderr (both reach the function's logs, in order). */
export namespace wasmfaas_console {
  export function assert<T>(condition: T, message: string = ""): void {
    if (!condition) writeString(STDERR, "Assertion failed: " + message, true);
  }

  export function log(message: string = ""): void {
    writeString(STDOUT, message, true);
  }

  export function info(message: string = ""): void {
    writeString(STDOUT, message, true);
  }

  export function debug(message: string = ""): void {
    writeString(STDOUT, message, true);
  }

  export function warn(message: string = ""): void {
    writeString(STDERR, message, true);
  }

  export function error(message: string = ""): void {
    writeString(STDERR, message, true);
  }

  export function time(label: string = "default"): void {
    if (timers.has(label)) {
      writeString(STDERR, "Warning: Label '" + label + "' already exists for console.time()", true);
      return;
    }
    timers.set(label, monotonicNs());
  }

  export function timeLog(label: string = "default"): void {
    if (!timers.has(label)) {
      writeString(STDERR, "Warning: No such label '" + label + "' for console.timeLog()", true);
      return;
    }
    writeElapsed(label, timers.get(label));
  }

  export function timeEnd(label: string = "default"): void {
    if (!timers.has(label)) {
      writeString(STDERR, "Warning: No such label '" + label + "' for console.timeEnd()", true);
      return;
    }
    writeElapsed(label, timers.get(label));
    timers.delete(label);
  }
}

function writeElapsed(label: string, start: u64): void {
  const micros = (monotonicNs() - start) / 1000;
  const frac = (micros % 1000).toString();
  writeString(STDOUT, label + ": " + (micros / 1000).toString() + "." + "000".slice(frac.length) + frac + "ms", true);
}

/** Date, with Date.now() from WASI's realtime clock. */
export class wasmfaas_Date extends Date {
  static now(): i64 {
    return nowMs();
  }
}
