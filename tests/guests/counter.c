// Reactor: init runs once per environment (constructor in _initialize) and warm invocations reuse the instance.
#include "wasmfaas.h"

static int init_count;
static int invocation_count;

__attribute__((constructor)) static void init(void) { init_count++; }

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx, (void)event, (void)len;
    invocation_count++;
    char text[64];
    int n = snprintf(text, sizeof text, "{\"init\": %d, \"count\": %d}", init_count, invocation_count);
    return wasmfaas_ok_copy(text, (size_t)n);
}

WASMFAAS_HANDLER(handler)
