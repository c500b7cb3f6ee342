// Output and clocks over WASI, without allocating: abort() uses these too, and it may run because memory ran out.

import { CLOCK_MONOTONIC, CLOCK_REALTIME, clock_time_get, ESUCCESS, fd_write } from "./wasi";

export const STDOUT: u32 = 1;
export const STDERR: u32 = 2;

// A static buffer that strings are encoded into, a piece at a time: a line of up to 21,845 UTF-16 units is one write
// (4 KiB pieces made a 6 MB line ~4,600 host calls, 3-4x the C SDK's time for it).
const SCRATCH_SIZE: i32 = 65536;
const scratch = memory.data(SCRATCH_SIZE);
// fd_write's arguments: one iovec {buf, len} and the written count. Clocks write their u64 result here too.
const iov = memory.data(16, 8);

/** Write bytes [ptr, ptr + len) to `fd`, all of them unless WASI reports an error (then nothing is left to try). */
export function writeBytes(fd: u32, ptr: usize, len: usize): void {
  while (len > 0) {
    store<u32>(iov, <u32>ptr);
    store<u32>(iov, <u32>len, 4);
    if (fd_write(fd, iov, 1, iov + 8) != ESUCCESS) return;
    const written = <usize>load<u32>(iov, 8);
    if (written == 0 || written > len) return;
    ptr += written;
    len -= written;
  }
}

/**
 * Write `s` as UTF-8 (lone surrogates become U+FFFD), then a newline if asked. A string whose UTF-8 fits the scratch
 * buffer goes out in one write; a longer one in scratch-sized pieces.
 */
export function writeString(fd: u32, s: string, newline: bool = false): void {
  const str = changetype<usize>(s);
  const units = s.length;
  // Each UTF-16 unit is at most 3 bytes of UTF-8 (a surrogate pair: 2 units, 4 bytes), plus room for the newline.
  const maxUnits = (SCRATCH_SIZE - 1) / 3;
  let i = 0;
  let used: usize = 0;
  while (i < units) {
    let n = min(units - i, maxUnits);
    // Never split a surrogate pair between two pieces: each half alone would become U+FFFD.
    if (i + n < units && (load<u16>(str + (<usize>(i + n - 1) << 1)) & 0xFC00) == 0xD800) n--;
    if (n == 0) n = 1;
    used = String.UTF8.encodeUnsafe(str + (<usize>i << 1), n, scratch, false, String.UTF8.ErrorMode.REPLACE);
    i += n;
    if (i < units) {
      writeBytes(fd, scratch, used);
      used = 0;
    }
  }
  if (newline) store<u8>(scratch + used++, 0x0A);
  writeBytes(fd, scratch, used);
}

/** Write the decimal digits of `n` (no allocation: the digits are built at the scratch buffer's end). */
export function writeU32(fd: u32, n: u32): void {
  const end = scratch + SCRATCH_SIZE;
  let p = end;
  do {
    p--;
    store<u8>(p, 0x30 + n % 10);
    n /= 10;
  } while (n != 0);
  writeBytes(fd, p, end - p);
}

/** Nanoseconds on `clock`, or 0 if WASI refuses. */
function clockNs(clock: u32): u64 {
  return clock_time_get(clock, 1000, iov) == ESUCCESS ? load<u64>(iov) : 0;
}

/** Unix time in milliseconds, from WASI's realtime clock. */
export function nowMs(): i64 {
  return <i64>(clockNs(CLOCK_REALTIME) / 1_000_000);
}

/** A monotonic clock in nanoseconds, for measuring intervals. */
export function monotonicNs(): u64 {
  return clockNs(CLOCK_MONOTONIC);
}
