// Reactor: "small" allocates 1 MiB and returns ok; anything else allocates until malloc fails, then traps (OOM).
#include "wasmfaas.h"

#define MIB (1024 * 1024)

static void *volatile hoard;

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    if (len == 7 && memcmp(event, "\"small\"", 7) == 0) {
        char *p = (char *)malloc(MIB);
        if (!p) __builtin_trap();
        memset(p, 1, MIB);
        free(p);
        return wasmfaas_ok_str("ok");
    }
    for (;;) {
        char *p = (char *)malloc(MIB);  // never freed: the point is to exhaust memory
        if (!p) __builtin_trap();
        memset(p, 1, MIB);  // touch it, so the pages are really used
        // Chain the blocks from a global: an allocation nobody can reach may be optimised away with its memset.
        *(void **)p = hoard;
        hoard = p;
    }
}

WASMFAAS_HANDLER(handler)
