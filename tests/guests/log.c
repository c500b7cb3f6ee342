// Reactor: writes "line 1" to stdout, "line 2" to stderr, "line 3" to stdout, each flushed: logs keep that order.
#include "wasmfaas.h"

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx, (void)event, (void)len;
    fputs("line 1\n", stdout);
    fflush(stdout);
    fputs("line 2\n", stderr);
    fflush(stderr);
    fputs("line 3\n", stdout);
    fflush(stdout);
    return wasmfaas_ok_str("ok");
}

WASMFAAS_HANDLER(handler)
