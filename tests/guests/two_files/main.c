// A C function in two files, as users split code: the handler here, the response built in reply.c.
#include "wasmfaas.h"

wasmfaas_result build_reply(const uint8_t *event, size_t len);

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    return build_reply(event, len);
}

WASMFAAS_HANDLER(handler)
