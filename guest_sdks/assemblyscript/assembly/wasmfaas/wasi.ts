// The few WASI preview 1 functions the SDK calls: a wasmfaas guest may import nothing else (docs/abi.md).
// Signatures are WASI's own at the wasm level: every pointer and size is an i32, errno is returned as an i32.

/** WASI's errno for success. */
export const ESUCCESS: u16 = 0;
/** WASI clock ids. */
export const CLOCK_REALTIME: u32 = 0;
export const CLOCK_MONOTONIC: u32 = 1;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "fd_write")
export declare function fd_write(fd: u32, iovs: usize, iovsLen: usize, nwritten: usize): u16;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "environ_sizes_get")
export declare function environ_sizes_get(count: usize, bufSize: usize): u16;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "environ_get")
export declare function environ_get(environ: usize, environBuf: usize): u16;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "clock_time_get")
export declare function clock_time_get(clock: u32, precision: u64, time: usize): u16;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
export declare function random_get(buf: usize, len: usize): u16;
