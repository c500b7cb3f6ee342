// Reactor: the event "overflow" recurses without bound on wasm's own call stack (Runtime.StackOverflow); "frames N"
// recurses N deep with a 4 KiB array in each frame, on the C stack in linear memory (1 MiB: toolchain.build_c's
// default), which past its end is an out-of-bounds access (the stack lies below the data); anything else is "ok".
#include "wasmfaas.h"

// noinline, and work after the recursive call, so it cannot become a loop. No local has its address taken, so the
// frames stay on wasm's call stack and none goes to the C stack.
__attribute__((noinline)) static uint32_t recurse(uint32_t n) {
    if (n == UINT32_MAX) return 0;  // unreachable in practice (the stack runs out first); keeps it well-defined
    return recurse(n + 1) * 31 + n;
}

// The volatile array's address is taken, so each frame holds 4 KiB of the C stack.
__attribute__((noinline)) static uint32_t big_frames(uint32_t n) {
    volatile uint8_t frame[4096];
    frame[n & 4095] = (uint8_t)n;
    if (n == 0) return frame[0];
    return big_frames(n - 1) + frame[(n * 7) & 4095];
}

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    static char text[16];
    if (len == 10 && memcmp(event, "\"overflow\"", 10) == 0) {
        snprintf(text, sizeof text, "%u", (unsigned)recurse(0));
        return wasmfaas_ok_str(text);
    }
    double depth;
    if (wasmfaas_json_get_number(event, len, "frames", &depth)) {
        snprintf(text, sizeof text, "%u", (unsigned)big_frames((uint32_t)depth));
        return wasmfaas_ok_str(text);
    }
    return wasmfaas_ok_str("ok");
}

WASMFAAS_HANDLER(handler)
