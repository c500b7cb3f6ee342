// Reactor with expensive init: its constructor fills a 4 MB table (the Collatz stopping time of every n below 2^20,
// by dynamic programming) that every invocation then reads. The work of a real function's init -- parsing a config,
// building a lookup structure -- without the I/O. Used by wasmfaas.snapshot's tests and bench/bench_snapshot.py.
//
// The event is {"n": <index>}; the response reports the table entry, a checksum of the whole table, and how often
// the constructor ran in this instance's history (1: in a snapshot it ran once, at build time). The constructor logs
// a line, so a cold start's log shows whether init ran in that environment or was pre-run by the snapshot; that
// line is a WASI call, so snapshotting this guest needs allow_wasi. Init reads no environment variable (wasi-libc
// would cache the build's empty environment in the snapshot): the function name comes from the SDK, which reads the
// environment at the first invocation.
#include "wasmfaas.h"

#define TABLE_SIZE (1u << 20)

static uint32_t table[TABLE_SIZE];  // in .bss: zero until init; a snapshot carries it as initialised data
static uint64_t checksum;
static int init_runs;
static int invocations;

// Steps for n to reach 1 under n -> n/2 (even), 3n+1 (odd); each walk stops at the first value already known.
static uint32_t stopping_time(uint64_t n) {
    uint32_t steps = 0;
    while (n >= TABLE_SIZE || (n > 1 && table[n] == 0)) {
        n = (n & 1) ? 3 * n + 1 : n / 2;
        steps++;
    }
    return steps + (n > 1 ? table[n] : 0);
}

__attribute__((constructor)) static void build_table(void) {
    init_runs++;
    uint64_t sum = 0;
    for (uint32_t n = 2; n < TABLE_SIZE; n++) {
        table[n] = stopping_time(n);
        sum = sum * 31 + table[n];
    }
    checksum = sum;
    fputs("heavy_init: built the table\n", stderr);
}

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    double n = 0;
    if (!wasmfaas_json_get_number(event, len, "n", &n) || n < 0 || n >= TABLE_SIZE)
        return wasmfaas_error("ValidationError", "the event needs a number field \"n\" from 0 to 1048575");
    invocations++;
    wasmfaas_json_writer w = WASMFAAS_JSON_WRITER_INIT;
    wasmfaas_json_begin_object(&w);
    wasmfaas_json_key(&w, "n");
    wasmfaas_json_int(&w, (int64_t)n);
    wasmfaas_json_key(&w, "steps");
    wasmfaas_json_int(&w, table[(uint32_t)n]);
    wasmfaas_json_key(&w, "checksum");
    char text[24];
    snprintf(text, sizeof text, "%016llx", (unsigned long long)checksum);
    wasmfaas_json_string(&w, text);
    wasmfaas_json_key(&w, "init_runs");
    wasmfaas_json_int(&w, init_runs);
    wasmfaas_json_key(&w, "invocations");
    wasmfaas_json_int(&w, invocations);
    // Read from the environment at the first invocation, so right in a snapshot too (init never calls getenv).
    wasmfaas_json_key(&w, "function");
    wasmfaas_json_string(&w, ctx->function_name);
    wasmfaas_json_end_object(&w);
    return wasmfaas_ok_json(&w);
}

WASMFAAS_HANDLER(handler)
