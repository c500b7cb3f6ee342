// Reactor: "trap" hits unreachable, "oob" reads past the end of memory, "error" returns a handled error ("bad-utf8": one
// whose message is not UTF-8); else "ok".
#include "wasmfaas.h"

static int is(const uint8_t *event, size_t len, const char *s) {
    return len == strlen(s) && memcmp(event, s, len) == 0;
}

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    if (is(event, len, "\"trap\"")) __builtin_trap();
    if (is(event, len, "\"oob\"")) {
        static char text[16];
        snprintf(text, sizeof text, "%d", *(volatile int *)0xFFFFFFF0u);  // far past any memory this guest can have
        return wasmfaas_ok_str(text);
    }
    if (is(event, len, "\"error\"")) return wasmfaas_error("MyError", "something went wrong");
    if (is(event, len, "\"bad-utf8\"")) return wasmfaas_error("MyError", "not \xff UTF-8");
    return wasmfaas_ok_str("ok");
}

WASMFAAS_HANDLER(handler)
