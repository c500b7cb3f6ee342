// Reactor on the C SDK (guest_sdks/c/wasmfaas.h), exercising what its hello example does not. The event's "action"
// picks what to do.
#include "wasmfaas.h"

// Init code: FAIL_INIT makes it fail with an error of its own (reported by the first invocation).
__attribute__((constructor)) static void init(void) {
    const char *why = getenv("FAIL_INIT");
    if (why) wasmfaas_fail_init("ConfigMissing", why);
}

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    // "quote:" and any bytes: those bytes as a JSON string, in an array (the writer's escaping and U+FFFD).
    if (len >= 6 && memcmp(event, "quote:", 6) == 0) {
        wasmfaas_json_writer w = WASMFAAS_JSON_WRITER_INIT;
        wasmfaas_json_begin_array(&w);
        wasmfaas_json_string_n(&w, (const char *)event + 6, len - 6);
        wasmfaas_json_end_array(&w);
        return wasmfaas_ok_json(&w);
    }
    char action[32];
    long n = wasmfaas_json_get_string(event, len, "action", action, sizeof action);
    if (n < 0 || (size_t)n >= sizeof action) action[0] = '\0';
    if (strcmp(action, "lookup") == 0) {
        wasmfaas_json_writer w = WASMFAAS_JSON_WRITER_INIT;
        char name[64];
        double number;
        long name_len = wasmfaas_json_get_string(event, len, "name", name, sizeof name);
        wasmfaas_json_begin_object(&w);
        wasmfaas_json_key(&w, "name");
        wasmfaas_json_string(&w, name_len >= 0 ? name : NULL);
        wasmfaas_json_key(&w, "n");
        if (wasmfaas_json_get_number(event, len, "n", &number)) wasmfaas_json_number(&w, number);
        else wasmfaas_json_null(&w);
        wasmfaas_json_end_object(&w);
        return wasmfaas_ok_json(&w);
    }
    if (strcmp(action, "getraw") == 0) {
        // "name" as wasmfaas_json_get_string decodes it into a buffer of "n" bytes (default: room for all of it):
        // the length it returned, a colon, and the bytes it wrote before the NUL.
        long full = wasmfaas_json_get_string(event, len, "name", NULL, 0);
        if (full < 0) return wasmfaas_error("NoName", "no string \"name\"");
        double capd;
        size_t cap = wasmfaas_json_get_number(event, len, "n", &capd) ? (size_t)capd : (size_t)full + 1;
        char *out = (char *)malloc(cap + 32);
        if (!out) return wasmfaas_out_of_memory();
        int head = snprintf(out, 32, "%ld:", full);
        long again = wasmfaas_json_get_string(event, len, "name", out + head, cap);
        size_t got = cap == 0 ? 0 : ((size_t)again < cap ? (size_t)again : cap - 1);
        if (again != full || (cap && out[head + got] != '\0')) return wasmfaas_error("Inconsistent", "get_string");
        wasmfaas_result r = wasmfaas_ok_copy(out, (size_t)head + got);
        free(out);
        return r;
    }
    if (strcmp(action, "copy") == 0) {
        // The SDK's copy of 40 MB (from .bss, which costs exactly its size): it stays in the SDK's buffer.
        static char data[40 << 20];
        data[sizeof data - 1] = 1;
        wasmfaas_ok_copy(data, sizeof data);
        return wasmfaas_ok_str("copied");
    }
    if (strcmp(action, "nullok") == 0) return wasmfaas_ok(NULL, 5);
    if (strcmp(action, "echo") == 0) return wasmfaas_ok(event, len);
    if (strcmp(action, "error_trace") == 0) {
        static const char *const frames[] = {"at \"parse\"", "line\nbreak\t\x01", "bad \xff", NULL};
        return wasmfaas_error_trace("TraceError", "with frames", frames, 4);
    }
    return wasmfaas_error("UnknownAction", action);
}

WASMFAAS_HANDLER(handler)
