// Reactor: the C SDK's allocations failing during an invocation, far below the memory limit (where the host cannot
// tell that memory ran out). The event picks the case:
//   "json"  - a JSON response of 1 MiB strings, 200 of them: the writer's buffer cannot double past 64 MiB
//   "copy"  - wasmfaas_ok_copy of a 40 MiB buffer (zig's malloc rounds both up to 64 MiB: the copy does not fit)
//   "error" - wasmfaas_error after a failed copy: still out of memory, not a handled error
//   "own"   - the handler's own malloc fails, reported with wasmfaas_out_of_memory()
//   anything else - "ok", and how many invocations this environment has served
#include "wasmfaas.h"

static int invocations;

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    invocations++;
    if (len == 6 && memcmp(event, "\"json\"", 6) == 0) {
        static char chunk[1 << 20];
        memset(chunk, 'j', sizeof chunk);
        wasmfaas_json_writer w = WASMFAAS_JSON_WRITER_INIT;
        wasmfaas_json_begin_array(&w);
        for (int i = 0; i < 200; i++) wasmfaas_json_string_n(&w, chunk, sizeof chunk);
        wasmfaas_json_end_array(&w);
        return wasmfaas_ok_json(&w);
    }
    if (len == 6 && memcmp(event, "\"copy\"", 6) == 0) {
        size_t size = (size_t)40 << 20;
        uint8_t *big = (uint8_t *)malloc(size);
        if (!big) return wasmfaas_ok_str("the setup's malloc failed");
        return wasmfaas_ok_copy(big, size);
    }
    if (len == 7 && memcmp(event, "\"error\"", 7) == 0) {
        size_t size = (size_t)40 << 20;
        uint8_t *big = (uint8_t *)malloc(size);
        if (!big) return wasmfaas_ok_str("the setup's malloc failed");
        wasmfaas_ok_copy(big, size);
        return wasmfaas_error("Handled", "but the SDK ran out of memory before");
    }
    if (len == 5 && memcmp(event, "\"own\"", 5) == 0) {
        volatile uint8_t *huge = (volatile uint8_t *)malloc((size_t)1 << 30);
        if (!huge) return wasmfaas_out_of_memory();
        huge[0] = 1; /* used, so the compiler cannot drop the malloc */
        return wasmfaas_ok_str("the 1 GiB malloc worked");
    }
    static char text[32];
    snprintf(text, sizeof text, "ok %d", invocations);
    return wasmfaas_ok_str(text);
}

WASMFAAS_HANDLER(handler)
