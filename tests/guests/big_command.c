// Command: writes as many bytes of 'x' to stdout as the decimal number on stdin (for the response size limit).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char text[32] = {0};
    fread(text, 1, sizeof text - 1, stdin);
    long n = strtol(text, NULL, 10);
    static char chunk[65536];
    memset(chunk, 'x', sizeof chunk);
    while (n > 0) {
        size_t now = n < (long)sizeof chunk ? (size_t)n : sizeof chunk;
        fwrite(chunk, 1, now, stdout);
        n -= (long)now;
    }
    fprintf(stderr, "wrote\n");
    return 0;
}
