// Reactor: exercises WASI poll_oneoff (guests/wasi.py) the ways wasi-libc reaches it. The event picks one:
//   "abs"   clock_nanosleep to an absolute time 30 ms ahead, on CLOCK_MONOTONIC and on CLOCK_REALTIME
//   "fds"   poll() on stdin, stdout and a bad fd with a timeout: the stdio fds are ready at once
//   "spam"  writes 300 KiB to stdout, over the log cap, in 1 KiB lines
//   "bad"   calls fd_write and poll_oneoff with pointers outside memory, a bad fd and no subscriptions: the errnos
//   N       sleeps N ms with nanosleep (a relative clock subscription)
#include <poll.h>
#include <time.h>
#include <wasi/api.h>
#include "wasmfaas.h"

static long long ms_between(struct timespec a, struct timespec b) {
    return (b.tv_sec - a.tv_sec) * 1000LL + (b.tv_nsec - a.tv_nsec) / 1000000LL;
}

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx;
    static char out[128];
    if (len == 3 && memcmp(event, "abs", 3) == 0) {
        long long slept[2];
        clockid_t clocks[2] = {CLOCK_MONOTONIC, CLOCK_REALTIME};
        for (int i = 0; i < 2; i++) {
            struct timespec start, until, end;
            clock_gettime(clocks[i], &start);
            until = start;
            until.tv_nsec += 30 * 1000000L;
            if (until.tv_nsec >= 1000000000L) until.tv_sec += 1, until.tv_nsec -= 1000000000L;
            int rc = clock_nanosleep(clocks[i], TIMER_ABSTIME, &until, NULL);
            clock_gettime(clocks[i], &end);
            slept[i] = rc == 0 ? ms_between(start, end) : -rc;
        }
        snprintf(out, sizeof out, "{\"monotonic\": %lld, \"realtime\": %lld}", slept[0], slept[1]);
        return wasmfaas_ok_str(out);
    }
    if (len == 3 && memcmp(event, "fds", 3) == 0) {
        struct pollfd fds[3] = {{0, POLLIN, 0}, {1, POLLOUT, 0}, {77, POLLIN, 0}};
        int n = poll(fds, 3, 5000);
        snprintf(out, sizeof out, "{\"ready\": %d, \"in\": %d, \"out\": %d, \"bad\": %d}", n, fds[0].revents & POLLIN,
                 fds[1].revents & POLLOUT, fds[2].revents);
        return wasmfaas_ok_str(out);
    }
    if (len == 3 && memcmp(event, "bad", 3) == 0) {
        __wasi_size_t n = 0;
        __wasi_ciovec_t outside = {(const uint8_t *)0xFFFFFF00u, 1024};
        __wasi_ciovec_t fine = {(const uint8_t *)"x", 1};
        int iov_far = __wasi_fd_write(1, (const __wasi_ciovec_t *)0xFFFFFFF0u, 1, &n);
        int buf_far = __wasi_fd_write(1, &outside, 1, &n);
        int bad_fd = __wasi_fd_write(7, &fine, 1, &n);
        __wasi_event_t ev;
        __wasi_subscription_t sub = {0};
        int no_subs = __wasi_poll_oneoff(&sub, &ev, 0, &n);
        int subs_far = __wasi_poll_oneoff((const __wasi_subscription_t *)0xFFFFFFF0u, &ev, 1, &n);
        static __wasi_ciovec_t many_iovs[2000];
        static __wasi_subscription_t many_subs[5000];
        static __wasi_event_t many_events[5000];
        int iovs_many = __wasi_fd_write(1, many_iovs, 2000, &n);
        int subs_many = __wasi_poll_oneoff(many_subs, many_events, 5000, &n);
        snprintf(out, sizeof out, "[%d, %d, %d, %d, %d, %d, %d]", iov_far, buf_far, bad_fd, no_subs, subs_far,
                 iovs_many, subs_many);
        return wasmfaas_ok_str(out);
    }
    if (len == 4 && memcmp(event, "spam", 4) == 0) {
        static char line[1024];
        memset(line, 'x', sizeof line - 1);
        line[sizeof line - 1] = '\n';
        for (int i = 0; i < 300; i++) fwrite(line, 1, sizeof line, stdout);
        fflush(stdout);
        return wasmfaas_ok_str("spammed");
    }
    char text[32];
    size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
    memcpy(text, event, n);
    text[n] = '\0';
    long ms = strtol(text, NULL, 10);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
    return wasmfaas_ok_str("slept");
}

WASMFAAS_HANDLER(handler)
