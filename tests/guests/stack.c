// Reactor: the event "overflow" recurses without bound (wasm stack exhaustion); anything else returns "ok".
#include "wasmfaas.h"

// noinline, and work after the recursive call, so it cannot become a loop; the volatile array keeps each frame big.
__attribute__((noinline)) static uint32_t recurse(uint32_t n) {
    volatile uint8_t frame[256];
    if (n == UINT32_MAX) return 0;  // unreachable in practice (the stack runs out first); keeps it well-defined
    frame[n & 255] = (uint8_t)n;
    return recurse(n + 1) + frame[(n * 7) & 255];
}

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    if (len == 10 && memcmp(event, "\"overflow\"", 10) == 0) {
        static char text[16];
        snprintf(text, sizeof text, "%u", (unsigned)recurse(0));
        return wasmfaas_ok_str(text);
    }
    return wasmfaas_ok_str("ok");
}

WASMFAAS_HANDLER(handler)
