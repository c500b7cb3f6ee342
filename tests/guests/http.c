// Reactor for function URLs: answers an API Gateway payload 2.0 event with a payload 2.0 response whose body is
// the whole event (so tests can inspect what the server sent), with headers (one of them CORS's, one not ASCII) and
// two cookies. rawPath "/teapot" answers 418, "/empty" 204, "/binary" a base64 body (bytes 00 01 02 ff), "/raw" a
// plain JSON object without statusCode, and "/fail" a handled error.
#include "wasmfaas.h"

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    char path[256];
    if (wasmfaas_json_get_string(event, len, "rawPath", path, sizeof path) < 0) path[0] = '\0';
    if (strcmp(path, "/raw") == 0) return wasmfaas_ok_str("{\"raw\":true}");
    if (strcmp(path, "/fail") == 0) return wasmfaas_error("HttpError", "asked to fail");
    wasmfaas_json_writer w = WASMFAAS_JSON_WRITER_INIT;
    wasmfaas_json_begin_object(&w);
    wasmfaas_json_key(&w, "statusCode");
    wasmfaas_json_int(&w, strcmp(path, "/teapot") == 0 ? 418 : strcmp(path, "/empty") == 0 ? 204 : 200);
    wasmfaas_json_key(&w, "headers");
    wasmfaas_json_begin_object(&w);
    wasmfaas_json_key(&w, "content-type");
    wasmfaas_json_string(&w, strcmp(path, "/binary") == 0 ? "application/octet-stream" : "application/json");
    wasmfaas_json_key(&w, "x-guest");
    wasmfaas_json_string(&w, "http");
    wasmfaas_json_key(&w, "x-text");
    wasmfaas_json_string(&w, "caf\xc3\xa9 \xe2\x82\xac");
    wasmfaas_json_key(&w, "access-control-allow-origin");
    wasmfaas_json_string(&w, "*");
    wasmfaas_json_end_object(&w);
    wasmfaas_json_key(&w, "cookies");
    wasmfaas_json_begin_array(&w);
    wasmfaas_json_string(&w, "session=abc; Path=/");
    wasmfaas_json_string(&w, "theme=dark");
    wasmfaas_json_end_array(&w);
    wasmfaas_json_key(&w, "body");
    if (strcmp(path, "/binary") == 0) {
        wasmfaas_json_string(&w, "AAEC/w==");
        wasmfaas_json_key(&w, "isBase64Encoded");
        wasmfaas_json_bool(&w, 1);
    } else {
        wasmfaas_json_string_n(&w, (const char *)event, len);
        wasmfaas_json_key(&w, "isBase64Encoded");
        wasmfaas_json_bool(&w, 0);
    }
    wasmfaas_json_end_object(&w);
    return wasmfaas_ok_json(&w);
}

WASMFAAS_HANDLER(handler)
