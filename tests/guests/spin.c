// Reactor: CPU-bound work for throughput measurements: N rounds of an integer hash, N from the event, result in decimal.
#include "wasmfaas.h"

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    char text[32];
    size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
    memcpy(text, event, n);
    text[n] = '\0';
    unsigned long long rounds = strtoull(text, NULL, 10);
    uint64_t h = 0x9E3779B97F4A7C15u;
    for (unsigned long long i = 0; i < rounds; i++) {  // splitmix64: each round depends on the last, so no shortcut
        h += 0x9E3779B97F4A7C15u;
        uint64_t z = h;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
        h ^= z ^ (z >> 31);
    }
    static char out[24];
    snprintf(out, sizeof out, "%llu", (unsigned long long)h);
    return wasmfaas_ok_str(out);
}

WASMFAAS_HANDLER(handler)
