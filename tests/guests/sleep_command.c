// Command: sleeps for the number of milliseconds on stdin (nanosleep: WASI poll_oneoff), then prints "slept".
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(void) {
    char text[32] = {0};
    fread(text, 1, sizeof text - 1, stdin);
    long ms = strtol(text, NULL, 10);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) != 0) {
    }
    fputs("slept", stdout);
    fputs("stderr line\n", stderr);
    return 0;
}
