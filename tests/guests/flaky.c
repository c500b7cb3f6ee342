// Reactor: the first $FAIL_TIMES invocations of an environment return a handled error, later ones succeed; every
// invocation logs "ATTEMPT <n> <event>".
#include "wasmfaas.h"

static int invocations;

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    const char *fail = getenv("FAIL_TIMES");
    int fail_times = fail ? atoi(fail) : 0;
    invocations++;
    printf("ATTEMPT %d %.*s\n", invocations, (int)len, (const char *)event);
    if (invocations <= fail_times) return wasmfaas_error("FlakyError", "failing on purpose");
    return wasmfaas_ok_str("{\"ok\": true}");
}

WASMFAAS_HANDLER(handler)
