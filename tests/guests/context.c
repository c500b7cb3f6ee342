// Reactor: returns the SDK context (request id, function name/version, memory limit, remaining time) and logs a
// line to stdout and one to stderr.
#include "wasmfaas.h"

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)event, (void)len;
    printf("context: stdout line for %s\n", ctx->request_id);
    wasmfaas_log("context: stderr line for %s", ctx->request_id);
    wasmfaas_json_writer w = WASMFAAS_JSON_WRITER_INIT;
    wasmfaas_json_begin_object(&w);
    wasmfaas_json_key(&w, "request_id");
    wasmfaas_json_string(&w, ctx->request_id);
    wasmfaas_json_key(&w, "function_name");
    wasmfaas_json_string(&w, ctx->function_name);
    wasmfaas_json_key(&w, "function_version");
    wasmfaas_json_string(&w, ctx->function_version);
    wasmfaas_json_key(&w, "memory_limit_mb");
    wasmfaas_json_int(&w, ctx->memory_limit_mb);
    wasmfaas_json_key(&w, "remaining_ms");
    wasmfaas_json_int(&w, wasmfaas_remaining_ms(ctx));
    wasmfaas_json_end_object(&w);
    return wasmfaas_ok_json(&w);
}

WASMFAAS_HANDLER(handler)
