// Command: copies stdin to stdout (event in, response out) and logs "cat: N bytes" to stderr.
#include <stdio.h>

int main(void) {
    static char buf[65536];
    size_t total = 0, n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
        if (fwrite(buf, 1, n, stdout) != n) return 1;
        total += n;
    }
    if (ferror(stdin) || fflush(stdout) != 0) return 1;
    fprintf(stderr, "cat: %zu bytes\n", total);
    return 0;
}
