// Reactor: the event "loop" spins forever (for timeouts, epoch interruption and fuel); anything else returns "ok".
#include "wasmfaas.h"

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    if (len == 6 && memcmp(event, "\"loop\"", 6) == 0) {
        volatile uint64_t counter = 0;  // volatile: the loop has an observable effect, so it cannot be removed
        for (;;) counter++;
    }
    return wasmfaas_ok_str("ok");
}

WASMFAAS_HANDLER(handler)
