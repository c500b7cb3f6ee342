// Command: reads "STATUS [N]" from stdin, writes a line and N bytes of 'y' to stdout, says on stderr that it exits,
// and exits with STATUS (non-zero is Runtime.ExitError, and then stdout is no response but part of the log).
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    int status = 0;
    long extra = 0;
    if (scanf("%d %ld", &status, &extra) < 1) status = 0;
    printf("result so far for %d\n", status);
    for (long i = 0; i < extra; i++) putchar('y');
    fflush(stdout);
    fprintf(stderr, "exiting with %d\n", status);
    exit(status);
}
