// Reactor via the SDK: returns the event unchanged (the payload points into the request region, no copy).
#include "wasmfaas.h"

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    return wasmfaas_ok(event, len);
}

WASMFAAS_HANDLER(handler)
