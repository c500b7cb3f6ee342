/*
 * wasmfaas.h: the C/C++ SDK for wasmfaas reactor guests (header-only).
 *
 *   #include "wasmfaas.h"
 *
 *   static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
 *       return wasmfaas_ok(event, len);
 *   }
 *   WASMFAAS_HANDLER(handler)
 *
 * Build as a WASI reactor:
 *   zig cc -target wasm32-wasi -mexec-model=reactor -O2 -s -Wl,-z,stack-size=1048576 fn.c -o fn.wasm
 * (or wasmfaas.toolchain.build_c(..., exec_model="reactor"), which sets the same 1 MiB stack). Without the stack
 * flag zig cc reserves 16 MiB of linear memory for the stack, out of the function's memory_mb; running past the
 * stack's end is an out-of-bounds access (Runtime.Trap). C99 or later, or C++11 or later.
 *
 * How this maps onto the ABI (docs/abi.md, version 1):
 *   - Init code: `_initialize` (from -mexec-model=reactor) runs the C/C++ constructors once per execution
 *     environment, so `__attribute__((constructor))` functions and C++ static initialisers are the cold start.
 *     Init code that cannot go on calls wasmfaas_fail_init(type, message) and returns: the environment's first
 *     invocation then reports that error (status 2: Unhandled, the environment is replaced, so the next invocation
 *     runs init again), as Lambda reports a failed init's own error. A trap in init (abort, __builtin_trap, an
 *     out-of-bounds access) fails the cold start as Runtime.InitError, with the reason only in the log.
 *   - WASMFAAS_HANDLER(fn) defines the two exports:
 *       wasmfaas_buffer(size) -> pointer to an SDK-owned request region of at least `size` bytes (0 if malloc fails);
 *       wasmfaas_handle(request, event_len) -> pointer to the 12-byte result record {status, payload ptr, len}.
 *   - wasmfaas_handle reads the 64-byte request header into a wasmfaas_context (request id, deadline), adds the
 *     AWS_LAMBDA_* environment variables, calls fn with the event (which lives in the request region, right after the
 *     header), then flushes stdout and fills the result record: status 0 for wasmfaas_ok*, 1 for wasmfaas_error*,
 *     2 (the runtime failed: Unhandled, the environment is replaced) with Runtime.OutOfMemory after a failed
 *     allocation, or with wasmfaas_fail_init's error.
 *   - stdout is made line-buffered before any constructor runs and is flushed after every invocation, so stdout and
 *     stderr reach the function's logs in the order they were written. stderr is unbuffered.
 *
 * Lifetimes: the event is valid only during the call. A response made by wasmfaas_ok(ptr, len) is not copied: `ptr`
 * must stay valid until the next call into the guest (a string literal, a static or heap buffer, or the event
 * itself); otherwise use wasmfaas_ok_copy. The SDK's own buffers (the response copy, the error payload, the JSON
 * writer's output handed over by wasmfaas_ok_json) are reused by the next invocation.
 *
 * Memory: zig cc's malloc gives each block a power of two of linear memory (header included), so a large malloc of
 * S bytes can take up to 2S: in a 128 MB function no single block can be 64 MB or more, and two of 40 MB do not fit
 * beside each other. Plan large buffers at under half of memory_mb each (a static array in .bss costs exactly its
 * size). The SDK's own buffers grow to powers of two less malloc's header, so its copy of S bytes (wasmfaas_ok_copy,
 * a JSON writer) costs what a malloc(S) would, not twice that.
 *
 * Allocation failure inside the SDK (for a response, an error payload or JSON output) during an invocation writes a
 * line to stderr and fails the invocation: the SDK's calls go on without the memory (what they could not hold is
 * left out) and, whatever the handler returns, the invocation reports Runtime.OutOfMemory (status 2; Unhandled) and
 * the host replaces the environment: there is no honest response to give without the memory. For the handler's own
 * failed allocations, return wasmfaas_out_of_memory() to report them the same way. In init code (constructors) an
 * SDK allocation failure traps, and the cold start fails.
 *
 * C++: exceptions are not available on wasm32-wasi here (zig's libc++ has no exception runtime), so build with
 * -fno-exceptions (build_c(..., language="c++") does). A standard library function that would throw (std::vector::at
 * out of range, std::stoi on bad input, operator new out of memory, ...) logs "... was thrown in -fno-exceptions
 * mode ..." and aborts instead: the invocation fails with Runtime.Trap and the environment is discarded. Check
 * before calling (or use the non-throwing forms: std::nothrow, std::from_chars, ...) and return wasmfaas_error.
 *
 * Every function is `static inline`, but the SDK's state (the response buffer, whether an invocation is running or
 * an allocation failed) is one for the whole program, so any .c or .cpp file may call the SDK; put WASMFAAS_HANDLER
 * in exactly one.
 */
#ifndef WASMFAAS_H
#define WASMFAAS_H

/* clock_gettime is POSIX, which a strict -std=c99/c11 hides unless asked for (zig cc's default, gnu17, shows it and
 * everything else: then nothing is defined here, so as not to narrow what the user's code sees). Under a strict -std,
 * include this header first or define _POSIX_C_SOURCE yourself. */
#if defined(__STRICT_ANSI__) && !defined(_POSIX_C_SOURCE) && !defined(_XOPEN_SOURCE) && !defined(_GNU_SOURCE) && \
    !defined(_DEFAULT_SOURCE) && !defined(_BSD_SOURCE) && !defined(_ALL_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#define WASMFAAS__EXTERN_C extern "C"
#else
#define WASMFAAS__EXTERN_C
#endif

#define WASMFAAS_ABI_VERSION 1u
#define WASMFAAS_HEADER_SIZE 64u

/* Result status, as in the result record. */
#define WASMFAAS_STATUS_OK 0u
#define WASMFAAS_STATUS_ERROR 1u
#define WASMFAAS_STATUS_FAILED 2u /* the runtime (here: the SDK) failed; the host replaces the environment */

/* What Lambda's context object offers, for this invocation. */
typedef struct wasmfaas_context {
    char request_id[37];           /* the request id (a UUID), NUL-terminated */
    uint64_t deadline_ms;          /* Unix time in ms at which the invocation times out */
    const char *function_name;     /* AWS_LAMBDA_FUNCTION_NAME, "" if unset */
    const char *function_version;  /* AWS_LAMBDA_FUNCTION_VERSION, "" if unset */
    uint32_t memory_limit_mb;      /* AWS_LAMBDA_FUNCTION_MEMORY_SIZE, 0 if unset */
    const char *log_group_name;    /* AWS_LAMBDA_LOG_GROUP_NAME, "" if unset */
    const char *log_stream_name;   /* AWS_LAMBDA_LOG_STREAM_NAME, "" if unset */
} wasmfaas_context;

/* A handler's outcome; make it with wasmfaas_ok* or wasmfaas_error. */
typedef struct wasmfaas_result {
    uint32_t status;
    const uint8_t *data;
    size_t len;
} wasmfaas_result;

typedef wasmfaas_result (*wasmfaas_handler_fn)(const wasmfaas_context *ctx, const uint8_t *event, size_t len);

/* A growable byte buffer owned by the SDK or by a JSON writer. */
typedef struct wasmfaas__buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} wasmfaas__buf;

/* ---- internals ------------------------------------------------------------------------------------------------ */

typedef struct wasmfaas__state {
    wasmfaas__buf request;  /* the region handed to the host by wasmfaas_buffer */
    wasmfaas__buf out;      /* response copies and error payloads */
    uint8_t *json_out;      /* a JSON writer's buffer handed over by wasmfaas_ok_json */
    uint32_t record[3];     /* the result record: status, payload pointer, payload length */
    int env_loaded;
    int handling;           /* inside wasmfaas_handle (else in init code) */
    int failed;             /* an allocation of the SDK's failed during this invocation */
    wasmfaas__buf init_error; /* wasmfaas_fail_init's error payload, reported by every invocation (len 0: none) */
    wasmfaas_context ctx;
} wasmfaas__state;

/* One state for the whole program, whichever translation unit calls the SDK: a weak definition in each, which the
 * linker merges into one. (A static local in a static inline function was one per file: SDK calls from a second .c
 * file saw handling == 0, so an allocation failure there trapped instead of reporting Runtime.OutOfMemory.) */
__attribute__((weak)) wasmfaas__state wasmfaas__state_instance;

static inline wasmfaas__state *wasmfaas__st(void) { return &wasmfaas__state_instance; }

/* An allocation of the SDK's failed. During an invocation there is no unwinding in wasm32-wasi C (no setjmp, no
 * exceptions): the failure is remembered, the SDK's calls go on without the memory, and the invocation reports
 * Runtime.OutOfMemory whatever the handler returns. In init code there is no result to report it in: trap, which
 * fails the cold start. */
static inline void wasmfaas__oom(void) {
    wasmfaas__state *st = wasmfaas__st();
    /* fputs to unbuffered stderr allocates nothing, so this line survives the out-of-memory condition. */
    if (!st->failed) fputs("wasmfaas: out of memory\n", stderr);
    st->failed = 1;
    if (!st->handling) __builtin_trap();
}

/* What malloc keeps beside a block (measured: more than 16 bytes, at most 24; rounded up). */
#define WASMFAAS__MALLOC_OVERHEAD 64u

/* 1 if b has room for extra more bytes (growing it if need be); 0 if it cannot have it (see wasmfaas__oom). */
static inline int wasmfaas__reserve(wasmfaas__buf *b, size_t extra) {
    if (extra <= b->cap - b->len) return 1;
    /* Failed already: no new attempt per append (a JSON string's bytes come one by one); the invocation is lost. */
    if (wasmfaas__st()->failed) return 0;
    if (extra > SIZE_MAX - b->len) {
        wasmfaas__oom();
        return 0;
    }
    size_t need = b->len + extra;
    /* zig cc's malloc gives a block a power of two of memory, its header included (a malloc of exactly 2^k bytes
     * takes 2^(k+1)): grow to a power of two less that header, so that a 40 MB copy takes 64 MB, not 128. Still
     * doubling, so appends stay amortised O(1). */
    size_t cap = 64;
    while (cap - WASMFAAS__MALLOC_OVERHEAD < need)
        cap = cap > SIZE_MAX / 2 ? need + WASMFAAS__MALLOC_OVERHEAD : cap * 2;
    cap -= WASMFAAS__MALLOC_OVERHEAD;
    uint8_t *data = (uint8_t *)realloc(b->data, cap);
    if (!data) {
        wasmfaas__oom();
        return 0;
    }
    b->data = data;
    b->cap = cap;
    return 1;
}

static inline void wasmfaas__append(wasmfaas__buf *b, const void *p, size_t n) {
    if (n == 0 || !wasmfaas__reserve(b, n)) return;
    memmove(b->data + b->len, p, n); /* p may point into b itself */
    b->len += n;
}

static inline void wasmfaas__append_byte(wasmfaas__buf *b, uint8_t c) {
    if (wasmfaas__reserve(b, 1)) b->data[b->len++] = c;
}

/* The UTF-8 sequence at s[0..n), n > 0: its length if valid (no overlong form, surrogate or code point over
 * U+10FFFF), else minus the length of its maximal invalid prefix, which gets one U+FFFD (as Unicode recommends). */
static inline int wasmfaas__utf8_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    size_t len, i = 1;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return -1;
    while (i < len && i < n && (i == 1 ? s[1] >= lo && s[1] <= hi : (s[i] & 0xC0) == 0x80)) i++;
    return i == len ? (int)len : -(int)i;
}

/* The end of the run of bytes from p that stand for themselves in a JSON string (not '"', '\\', a control character
 * or invalid UTF-8): the writer and the readers copy or compare such runs whole, and escape or decode only what is
 * left, one character at a time. */
static inline const uint8_t *wasmfaas__json_plain_end(const uint8_t *p, const uint8_t *end) {
    while (p < end) {
        uint8_t c = *p;
        if (c >= 0x80) {
            int len = wasmfaas__utf8_len(p, (size_t)(end - p));
            if (len <= 0) break;
            p += len;
        } else if (c >= 0x20 && c != '"' && c != '\\') {
            p++;
        } else {
            break;
        }
    }
    return p;
}

/* Append s[0..n) as a JSON string literal: quotes, escapes, and U+FFFD for bytes that are not valid UTF-8. */
static inline void wasmfaas__append_json_string(wasmfaas__buf *b, const char *str, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = (const uint8_t *)str;
    /* The quoted string takes at least n + 2 bytes: room for them at once, and runs of bytes that need no escape
     * copied whole (byte by byte, a 64 MiB string took seconds). Once an allocation has failed, stop: the
     * invocation is lost (see wasmfaas__oom) and what is left of the string would only be scanned for nothing. */
    if (n > SIZE_MAX - 2) {
        wasmfaas__oom();
        return;
    }
    if (!wasmfaas__reserve(b, n + 2)) return;
    b->data[b->len++] = '"';
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        i = (size_t)(wasmfaas__json_plain_end(s + i, s + n) - s);
        if (i > start) {
            wasmfaas__append(b, s + start, i - start);
            if (wasmfaas__st()->failed) return;
        }
        if (i == n) break;
        uint8_t c = s[i];
        if (c >= 0x80) { /* not UTF-8: its maximal invalid prefix becomes one U+FFFD */
            wasmfaas__append(b, "\xEF\xBF\xBD", 3);
            i += (size_t)-wasmfaas__utf8_len(s + i, n - i);
            continue;
        }
        i++;
        switch (c) {
        case '"': wasmfaas__append(b, "\\\"", 2); break;
        case '\\': wasmfaas__append(b, "\\\\", 2); break;
        case '\b': wasmfaas__append(b, "\\b", 2); break;
        case '\f': wasmfaas__append(b, "\\f", 2); break;
        case '\n': wasmfaas__append(b, "\\n", 2); break;
        case '\r': wasmfaas__append(b, "\\r", 2); break;
        case '\t': wasmfaas__append(b, "\\t", 2); break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            wasmfaas__append(b, esc, 6);
        }
        }
        if (wasmfaas__st()->failed) return;
    }
    wasmfaas__append_byte(b, '"');
}

static inline const char *wasmfaas__env_copy(const char *name) {
    /* Copied, because a later setenv may free what getenv returned. */
    const char *v = getenv(name);
    if (!v) return "";
    size_t n = strlen(v) + 1;
    char *copy = (char *)malloc(n);
    if (!copy) {
        wasmfaas__oom();
        return "";
    }
    return (const char *)memcpy(copy, v, n);
}

static inline void wasmfaas__load_env(wasmfaas_context *ctx) {
    ctx->function_name = wasmfaas__env_copy("AWS_LAMBDA_FUNCTION_NAME");
    ctx->function_version = wasmfaas__env_copy("AWS_LAMBDA_FUNCTION_VERSION");
    ctx->log_group_name = wasmfaas__env_copy("AWS_LAMBDA_LOG_GROUP_NAME");
    ctx->log_stream_name = wasmfaas__env_copy("AWS_LAMBDA_LOG_STREAM_NAME");
    const char *mem = getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
    unsigned long mb = mem ? strtoul(mem, NULL, 10) : 0;
    ctx->memory_limit_mb = mb > UINT32_MAX ? UINT32_MAX : (uint32_t)mb;
}

static inline wasmfaas_result wasmfaas__result(uint32_t status, const void *data, size_t len) {
    wasmfaas_result r;
    r.status = status;
    /* A null pointer is a payload at address 0 to the host: point at "" instead, with no bytes whatever `len` says
     * (else wasmfaas_ok(NULL, n) answered with n bytes from past the literal). */
    r.data = data ? (const uint8_t *)data : (const uint8_t *)"";
    r.len = data ? len : 0;
    return r;
}

/* ---- responses ------------------------------------------------------------------------------------------------ */

/* Success with data[0..len) as the response, not copied: it must stay valid until the next call into the guest.
 * A NULL data is an empty response. */
static inline wasmfaas_result wasmfaas_ok(const void *data, size_t len) {
    return wasmfaas__result(WASMFAAS_STATUS_OK, data, len);
}

/* Success with a NUL-terminated string (not copied, as wasmfaas_ok). */
static inline wasmfaas_result wasmfaas_ok_str(const char *s) { return wasmfaas_ok(s, s ? strlen(s) : 0); }

/*
 * The invocation fails with Runtime.OutOfMemory (Unhandled; status 2, WASMFAAS_STATUS_FAILED) and the host replaces
 * the environment. For the handler's own allocation failures: malloc can fail well before the memory limit, where the
 * host cannot tell that memory ran out. The SDK's own allocation failures end the invocation so by themselves.
 */
static inline wasmfaas_result wasmfaas_out_of_memory(void) {
    static const char body[] =
        "{\"errorType\":\"Runtime.OutOfMemory\",\"errorMessage\":\"Runtime exited with error: out of memory "
        "(an allocation failed)\"}";
    return wasmfaas__result(WASMFAAS_STATUS_FAILED, body, sizeof body - 1);
}

/* Success with a copy of data[0..len) in an SDK-owned buffer, valid until the next invocation. */
static inline wasmfaas_result wasmfaas_ok_copy(const void *data, size_t len) {
    wasmfaas__buf *out = &wasmfaas__st()->out;
    out->len = 0;
    wasmfaas__append(out, data, len);
    if (out->len != len) return wasmfaas_out_of_memory();
    return wasmfaas_ok(out->data, len);
}

/* Lambda's error object {"errorType": type, "errorMessage": message} into out (replacing what it held), with
 * "stackTrace": [frames[0], ..., frames[n - 1]] if frames is not NULL. */
static inline void wasmfaas__error_payload(wasmfaas__buf *out, const char *type, const char *message,
                                           const char *const *frames, size_t n) {
    if (!type) type = "";
    if (!message) message = "";
    out->len = 0;
    wasmfaas__append(out, "{\"errorType\":", 13);
    wasmfaas__append_json_string(out, type, strlen(type));
    wasmfaas__append(out, ",\"errorMessage\":", 16);
    wasmfaas__append_json_string(out, message, strlen(message));
    if (frames) {
        wasmfaas__append(out, ",\"stackTrace\":[", 15);
        for (size_t i = 0; i < n; i++) {
            const char *frame = frames[i] ? frames[i] : "";
            if (i) wasmfaas__append_byte(out, ',');
            wasmfaas__append_json_string(out, frame, strlen(frame));
        }
        wasmfaas__append_byte(out, ']');
    }
    wasmfaas__append_byte(out, '}');
}

/*
 * A handled error with a stack trace: the payload is {"errorType": type, "errorMessage": message, "stackTrace":
 * [frames[0], ..., frames[n - 1]]} (each frame a NUL-terminated string, JSON-escaped; a NULL frame is ""), reported
 * as the invocation's stackTrace, as Lambda's runtimes report an exception's frames. frames NULL: no stackTrace. The
 * environment stays warm.
 */
static inline wasmfaas_result wasmfaas_error_trace(const char *type, const char *message, const char *const *frames,
                                                   size_t n) {
    wasmfaas__buf *out = &wasmfaas__st()->out;
    wasmfaas__error_payload(out, type, message, frames, n);
    if (wasmfaas__st()->failed) return wasmfaas_out_of_memory();
    return wasmfaas__result(WASMFAAS_STATUS_ERROR, out->data, out->len);
}

/* A handled error: the payload is {"errorType": type, "errorMessage": message}; the environment stays warm. */
static inline wasmfaas_result wasmfaas_error(const char *type, const char *message) {
    return wasmfaas_error_trace(type, message, NULL, 0);
}

/* ---- context and logs ----------------------------------------------------------------------------------------- */

/* Milliseconds left before the invocation times out (0 once it has). */
static inline int64_t wasmfaas_remaining_ms(const wasmfaas_context *ctx) {
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int64_t left = (int64_t)ctx->deadline_ms - now;
    return left > 0 ? left : 0;
}

/* printf-style: one line (a newline is added) to stderr, in a single write so concurrent lines never mix. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 1, 2)))
#endif
static inline void wasmfaas_log(const char *fmt, ...) {
    char small[512];
    char *line = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof small) {
        line = (char *)malloc((size_t)n + 1);
        if (!line) {
            line = small; /* log the truncated line rather than nothing */
            n = (int)sizeof small - 1;
        } else {
            va_start(ap, fmt);
            vsnprintf(line, (size_t)n + 1, fmt, ap);
            va_end(ap);
        }
    }
    line[n] = '\n';
    fwrite(line, 1, (size_t)n + 1, stderr);
    if (line != small) free(line);
}

/*
 * For init code (constructors, C++ static initialisers) that cannot go on: logs "wasmfaas: init failed: type:
 * message" and returns; the environment's first invocation then reports this error without calling the handler
 * (status 2: the invocation's errorType and errorMessage are these, Unhandled), and the host replaces the environment,
 * so the next invocation runs init again. A constructor has no result to fail with, and a trap would leave only
 * "Runtime.InitError: ... unreachable" to the caller. The first call wins. Called from a handler, it fails that
 * invocation (and the environment) the same way.
 */
static inline void wasmfaas_fail_init(const char *type, const char *message) {
    wasmfaas__state *st = wasmfaas__st();
    if (st->init_error.len) return;
    wasmfaas_log("wasmfaas: init failed: %s: %s", type ? type : "", message ? message : "");
    wasmfaas__error_payload(&st->init_error, type, message, NULL, 0);
}

/* ---- JSON reading: top-level keys of an object ------------------------------------------------------------------ */

/* The JSON text is p[0..end); the scanners return the position after what they read, or NULL on malformed input. */

static inline const uint8_t *wasmfaas__json_ws(const uint8_t *p, const uint8_t *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static inline int wasmfaas__hex4(const uint8_t *p, const uint8_t *end, uint32_t *out) {
    if (end - p < 4) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

/*
 * Decode the next character of a string body at *pp into out (1-4 UTF-8 bytes) and advance *pp. Returns the number
 * of bytes, 0 at the closing quote (which it consumes), -1 if malformed. Lone surrogates in \u escapes become U+FFFD.
 */
static inline int wasmfaas__json_char(const uint8_t **pp, const uint8_t *end, uint8_t out[4]) {
    const uint8_t *p = *pp;
    if (p >= end) return -1;
    uint8_t c = *p++;
    if (c == '"') {
        *pp = p;
        return 0;
    }
    if (c < 0x20) return -1;
    if (c >= 0x80) { /* UTF-8 as it is; a maximal invalid prefix becomes one U+FFFD, as the other SDKs read it */
        int len = wasmfaas__utf8_len(p - 1, (size_t)(end - p) + 1);
        if (len > 0) memcpy(out, p - 1, (size_t)len);
        else memcpy(out, "\xEF\xBF\xBD", 3);
        *pp = p - 1 + (len > 0 ? len : -len);
        return len > 0 ? len : 3;
    }
    if (c != '\\') {
        out[0] = c;
        *pp = p;
        return 1;
    }
    if (p >= end) return -1;
    uint32_t cp;
    switch (*p++) {
    case '"': cp = '"'; break;
    case '\\': cp = '\\'; break;
    case '/': cp = '/'; break;
    case 'b': cp = '\b'; break;
    case 'f': cp = '\f'; break;
    case 'n': cp = '\n'; break;
    case 'r': cp = '\r'; break;
    case 't': cp = '\t'; break;
    case 'u': {
        if (!wasmfaas__hex4(p, end, &cp)) return -1;
        p += 4;
        uint32_t lo;
        if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
            wasmfaas__hex4(p + 2, end, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;
        }
        break;
    }
    default: return -1;
    }
    *pp = p;
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* The string starting at p (at its opening quote): does it decode to exactly key[0..keylen)? */
static inline const uint8_t *wasmfaas__json_key_eq(const uint8_t *p, const uint8_t *end, const char *key,
                                                   size_t keylen, int *equal) {
    if (p >= end || *p != '"') return NULL;
    p++;
    size_t i = 0;
    int eq = 1;
    uint8_t ch[4];
    int n;
    for (;;) {
        const uint8_t *q = wasmfaas__json_plain_end(p, end);
        size_t run = (size_t)(q - p);
        if (eq && run <= keylen - i && memcmp(key + i, p, run) == 0) i += run;
        else eq = 0;
        p = q;
        if ((n = wasmfaas__json_char(&p, end, ch)) <= 0) break;
        if (eq && (size_t)n <= keylen - i && memcmp(key + i, ch, (size_t)n) == 0) i += (size_t)n;
        else eq = 0;
    }
    if (n < 0) return NULL;
    *equal = eq && i == keylen;
    return p;
}

/* A number, per JSON's grammar. */
static inline const uint8_t *wasmfaas__json_number_end(const uint8_t *p, const uint8_t *end) {
    if (p < end && *p == '-') p++;
    if (p >= end) return NULL;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9') p++;
    else return NULL;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') return NULL;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || *p < '0' || *p > '9') return NULL;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    return p;
}

/* Whether c may follow a value: whitespace, a comma, or the end of an object or array. */
static inline int wasmfaas__json_ends_value(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '}' || c == ']';
}

/* Skip one value of any kind. Nesting is tracked by counting brackets outside strings, not checked pairwise. */
static inline const uint8_t *wasmfaas__json_skip(const uint8_t *p, const uint8_t *end) {
    uint8_t ch[4];
    int n;
    if (p >= end) return NULL;
    if (*p == '"') {
        p++;
        do {
            p = wasmfaas__json_plain_end(p, end);
        } while ((n = wasmfaas__json_char(&p, end, ch)) > 0);
        return n == 0 ? p : NULL;
    }
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while (p < end) {
            uint8_t c = *p;
            if (c == '"') {
                p = wasmfaas__json_skip(p, end);
                if (!p) return NULL;
                continue;
            }
            p++;
            if (c == '{' || c == '[') depth++;
            else if ((c == '}' || c == ']') && --depth == 0) return p;
        }
        return NULL;
    }
    if (*p == '-' || (*p >= '0' && *p <= '9')) return wasmfaas__json_number_end(p, end);
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t wl = strlen(words[i]);
        if ((size_t)(end - p) >= wl && memcmp(p, words[i], wl) == 0) return p + wl;
    }
    return NULL;
}

/* Position of the value of top-level `key` in the object json[0..len), or NULL (absent, or not an object). */
static inline const uint8_t *wasmfaas__json_find(const void *json, size_t len, const char *key) {
    const uint8_t *p = (const uint8_t *)json, *end = p + len;
    size_t keylen = strlen(key);
    p = wasmfaas__json_ws(p, end);
    if (p >= end || *p != '{') return NULL;
    p = wasmfaas__json_ws(p + 1, end);
    if (p < end && *p == '}') return NULL;
    for (;;) {
        int equal = 0;
        p = wasmfaas__json_key_eq(p, end, key, keylen, &equal);
        if (!p) return NULL;
        p = wasmfaas__json_ws(p, end);
        if (p >= end || *p != ':') return NULL;
        p = wasmfaas__json_ws(p + 1, end);
        if (equal) return p < end ? p : NULL;
        p = wasmfaas__json_skip(p, end);
        if (!p) return NULL;
        p = wasmfaas__json_ws(p, end);
        if (p >= end || *p != ',') return NULL; /* '}' (the end) or malformed */
        p = wasmfaas__json_ws(p + 1, end);
    }
}

/*
 * The string value of the top-level `key` of the JSON object json[0..len), decoded (escapes resolved; invalid UTF-8
 * and lone surrogates become U+FFFD, one per maximal invalid sequence).
 * Like snprintf: writes at most outcap - 1 bytes plus a NUL (outcap may be 0) and returns the full decoded length,
 * so a result >= outcap means it was cut short. Returns -1 if the key is absent, its value is not a string, or the
 * JSON up to it is malformed. The first occurrence of a repeated key wins.
 */
static inline long wasmfaas_json_get_string(const void *json, size_t len, const char *key, char *out,
                                            size_t outcap) {
    const uint8_t *p = wasmfaas__json_find(json, len, key), *end = (const uint8_t *)json + len;
    if (!p || *p != '"') return -1;
    p++;
    size_t n = 0;
    uint8_t ch[4];
    int k;
    for (;;) {
        const uint8_t *q = wasmfaas__json_plain_end(p, end);
        size_t run = (size_t)(q - p);
        if (n + 1 < outcap) memcpy(out + n, p, run < outcap - 1 - n ? run : outcap - 1 - n);
        n += run;
        p = q;
        if ((k = wasmfaas__json_char(&p, end, ch)) <= 0) break;
        for (int i = 0; i < k; i++, n++)
            if (n + 1 < outcap) out[n] = (char)ch[i];
    }
    if (k < 0) return -1;
    if (outcap) out[n < outcap ? n : outcap - 1] = '\0';
    return (long)n;
}

/* The number value of the top-level `key` into *out: 1 if found, 0 if absent, not a number per JSON's grammar (01,
 * 1., +1, .5, 1.5x are not), or malformed JSON. */
static inline int wasmfaas_json_get_number(const void *json, size_t len, const char *key, double *out) {
    const uint8_t *p = wasmfaas__json_find(json, len, key), *end = (const uint8_t *)json + len;
    if (!p) return 0;
    const uint8_t *q = wasmfaas__json_number_end(p, end);
    /* What follows must end the value: 01 is not 0 followed by garbage, it is not a number. */
    if (!q || (q < end && !wasmfaas__json_ends_value(*q))) return 0;
    /* strtod needs a NUL-terminated copy: the event is not terminated. */
    size_t n = (size_t)(q - p);
    char small[64];
    char *text = n < sizeof small ? small : (char *)malloc(n + 1);
    if (!text) {
        wasmfaas__oom();
        return 0;
    }
    memcpy(text, p, n);
    text[n] = '\0';
    *out = strtod(text, NULL);
    if (text != small) free(text);
    return 1;
}

/* ---- JSON writing --------------------------------------------------------------------------------------------- */

/*
 * Appends JSON to a growable buffer; commas are placed for you, nesting is up to you:
 *
 *   wasmfaas_json_writer w = WASMFAAS_JSON_WRITER_INIT;
 *   wasmfaas_json_begin_object(&w);
 *   wasmfaas_json_key(&w, "n"); wasmfaas_json_int(&w, 42);
 *   wasmfaas_json_key(&w, "tags"); wasmfaas_json_begin_array(&w); wasmfaas_json_string(&w, "a"); ...
 *   wasmfaas_json_end_array(&w);
 *   wasmfaas_json_end_object(&w);
 *   return wasmfaas_ok_json(&w);   // or use w.buf.data / w.buf.len, then wasmfaas_json_writer_free(&w)
 */
typedef struct wasmfaas_json_writer {
    wasmfaas__buf buf;
    int need_comma; /* a value was written at this level, so the next key or value needs a comma first */
} wasmfaas_json_writer;

#define WASMFAAS_JSON_WRITER_INIT {{NULL, 0, 0}, 0}

static inline void wasmfaas_json_writer_free(wasmfaas_json_writer *w) {
    free(w->buf.data);
    w->buf.data = NULL;
    w->buf.len = w->buf.cap = 0;
    w->need_comma = 0;
}

static inline void wasmfaas__json_sep(wasmfaas_json_writer *w) {
    if (w->need_comma) wasmfaas__append_byte(&w->buf, ',');
}

static inline void wasmfaas_json_begin_object(wasmfaas_json_writer *w) {
    wasmfaas__json_sep(w);
    wasmfaas__append_byte(&w->buf, '{');
    w->need_comma = 0;
}

static inline void wasmfaas_json_end_object(wasmfaas_json_writer *w) {
    wasmfaas__append_byte(&w->buf, '}');
    w->need_comma = 1;
}

static inline void wasmfaas_json_begin_array(wasmfaas_json_writer *w) {
    wasmfaas__json_sep(w);
    wasmfaas__append_byte(&w->buf, '[');
    w->need_comma = 0;
}

static inline void wasmfaas_json_end_array(wasmfaas_json_writer *w) {
    wasmfaas__append_byte(&w->buf, ']');
    w->need_comma = 1;
}

static inline void wasmfaas_json_key_n(wasmfaas_json_writer *w, const char *key, size_t n) {
    wasmfaas__json_sep(w);
    wasmfaas__append_json_string(&w->buf, key, n);
    wasmfaas__append_byte(&w->buf, ':');
    w->need_comma = 0;
}

static inline void wasmfaas_json_key(wasmfaas_json_writer *w, const char *key) {
    wasmfaas_json_key_n(w, key, strlen(key));
}

static inline void wasmfaas_json_string_n(wasmfaas_json_writer *w, const char *s, size_t n) {
    wasmfaas__json_sep(w);
    wasmfaas__append_json_string(&w->buf, s, n);
    w->need_comma = 1;
}

/* A string value; NULL writes null. */
static inline void wasmfaas_json_string(wasmfaas_json_writer *w, const char *s) {
    if (!s) {
        wasmfaas__json_sep(w);
        wasmfaas__append(&w->buf, "null", 4);
        w->need_comma = 1;
        return;
    }
    wasmfaas_json_string_n(w, s, strlen(s));
}

/* A literal token (a number or true/false/null) that the caller guarantees is valid JSON. */
static inline void wasmfaas__json_token(wasmfaas_json_writer *w, const char *s, size_t n) {
    wasmfaas__json_sep(w);
    wasmfaas__append(&w->buf, s, n);
    w->need_comma = 1;
}

static inline void wasmfaas_json_int(wasmfaas_json_writer *w, int64_t v) {
    char text[24];
    int n = snprintf(text, sizeof text, "%lld", (long long)v);
    wasmfaas__json_token(w, text, (size_t)n);
}

/* A number, in the fewest digits that read back as the same double; NaN and infinities (not JSON) write null. */
static inline void wasmfaas_json_number(wasmfaas_json_writer *w, double v) {
    char text[32];
    if (!isfinite(v)) {
        wasmfaas__json_token(w, "null", 4);
        return;
    }
    int n = 0;
    for (int digits = 15; digits <= 17; digits++) {
        n = snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v) break;
    }
    wasmfaas__json_token(w, text, (size_t)n);
}

static inline void wasmfaas_json_bool(wasmfaas_json_writer *w, int v) {
    if (v) wasmfaas__json_token(w, "true", 4);
    else wasmfaas__json_token(w, "false", 5);
}

static inline void wasmfaas_json_null(wasmfaas_json_writer *w) { wasmfaas__json_token(w, "null", 4); }

/* Success with the writer's output as the response, without a copy: the SDK takes the buffer (freeing it at the next
 * wasmfaas_ok_json) and leaves the writer empty, ready for reuse. */
static inline wasmfaas_result wasmfaas_ok_json(wasmfaas_json_writer *w) {
    wasmfaas__state *st = wasmfaas__st();
    free(st->json_out);
    st->json_out = w->buf.data;
    /* Output cut short by a failed allocation is no response. */
    wasmfaas_result r = st->failed ? wasmfaas_out_of_memory() : wasmfaas_ok(w->buf.data, w->buf.len);
    w->buf.data = NULL;
    w->buf.len = w->buf.cap = 0;
    w->need_comma = 0;
    return r;
}

/* ---- the exports ---------------------------------------------------------------------------------------------- */

static inline void *wasmfaas__buffer(uint32_t size) {
    wasmfaas__buf *req = &wasmfaas__st()->request;
    if (size > req->cap || !req->data) {
        /* free + malloc, not realloc: the old contents are dead, so copying them would be wasted work. */
        free(req->data);
        req->cap = size > 64 ? size : 64;
        req->data = (uint8_t *)malloc(req->cap);
        if (!req->data) {
            req->cap = 0;
            return NULL;
        }
    }
    return req->data;
}

static inline const uint32_t *wasmfaas__handle(wasmfaas_handler_fn fn, const uint8_t *request, uint32_t event_len) {
    wasmfaas__state *st = wasmfaas__st();
    wasmfaas_context *ctx = &st->ctx;
    st->handling = 1;
    st->failed = 0;
    if (!st->env_loaded) {
        wasmfaas__load_env(ctx);
        st->env_loaded = 1;
    }
    uint32_t version, header_size;
    memcpy(&version, request, 4);
    memcpy(&header_size, request + 4, 4);
    wasmfaas_result r = wasmfaas_ok(NULL, 0);
    if (version != WASMFAAS_ABI_VERSION || header_size < WASMFAAS_HEADER_SIZE) {
        r = wasmfaas_error("wasmfaas.UnsupportedABI", "the host speaks a wasmfaas ABI version this SDK does not");
    } else if (!st->init_error.len) { /* a failed init leaves nothing to run the handler on */
        memcpy(&ctx->deadline_ms, request + 8, 8);
        memcpy(ctx->request_id, request + 16, 36);
        ctx->request_id[36] = '\0';
        r = fn(ctx, request + header_size, event_len);
    }
    fflush(stdout);
    if (st->failed) r = wasmfaas_out_of_memory(); /* whatever the handler made of the SDK's failed calls */
    else if (st->init_error.len) /* init failed (or the handler called wasmfaas_fail_init): report it */
        r = wasmfaas__result(WASMFAAS_STATUS_FAILED, st->init_error.data, st->init_error.len);
    st->handling = 0;
    st->record[0] = r.status;
    st->record[1] = (uint32_t)(uintptr_t)r.data;
    st->record[2] = (uint32_t)r.len;
    return st->record;
}

static inline void wasmfaas__init_stdio(void) {
    /* Line-buffered stdout keeps its lines in order with stderr's (musl buffers fully when not on a terminal). */
    setvbuf(stdout, NULL, _IOLBF, 0);
}

/* Define the wasmfaas exports around `fn`, a wasmfaas_handler_fn. Use once, at file scope. */
#define WASMFAAS_HANDLER(fn)                                                                                        \
    __attribute__((constructor(101))) static void wasmfaas__init(void) { wasmfaas__init_stdio(); }                 \
    WASMFAAS__EXTERN_C __attribute__((export_name("wasmfaas_buffer"))) void *wasmfaas_buffer(uint32_t size) {      \
        return wasmfaas__buffer(size);                                                                              \
    }                                                                                                               \
    WASMFAAS__EXTERN_C __attribute__((export_name("wasmfaas_handle"))) const uint32_t *wasmfaas_handle(           \
        const uint8_t *request, uint32_t event_len) {                                                               \
        return wasmfaas__handle(fn, request, event_len);                                                            \
    }

#ifdef __cplusplus
}
#endif

#endif /* WASMFAAS_H */
