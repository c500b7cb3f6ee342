// The SDK called from a file other than WASMFAAS_HANDLER's: {"mb": N} answers with the SDK's copy of N MB.
#include "wasmfaas.h"

static char *data;

wasmfaas_result build_reply(const uint8_t *event, size_t len) {
    double mb = 0;
    wasmfaas_json_get_number(event, len, "mb", &mb);
    size_t n = (size_t)mb << 20;
    free(data);
    data = (char *)malloc(n ? n : 1);
    if (!data) return wasmfaas_out_of_memory();
    memset(data, 'z', n);
    return wasmfaas_ok_copy(data, n); // the SDK's allocation: fails when a second copy does not fit
}
