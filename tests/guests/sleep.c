// Reactor: sleeps for the event's number of milliseconds with nanosleep (WASI poll_oneoff: the host blocks, no spin).
#include "wasmfaas.h"

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    char text[32];
    size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
    memcpy(text, event, n);
    text[n] = '\0';
    long ms = strtol(text, NULL, 10);
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
    return wasmfaas_ok_str("slept");
}

WASMFAAS_HANDLER(handler)
