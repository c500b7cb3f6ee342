// Reactor: writes "EVENT <event>" to stdout (so a test reads what it received from the logs) and returns the event.
#include "wasmfaas.h"

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    printf("EVENT %.*s\n", (int)len, (const char *)event);
    return wasmfaas_ok(event, len);
}

WASMFAAS_HANDLER(handler)
