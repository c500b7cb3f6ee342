// Command: exits with the status read from stdin (non-zero exit is Runtime.ExitError), saying so on stderr first.
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    int status = 0;
    if (scanf("%d", &status) != 1) status = 0;
    fprintf(stderr, "exiting with %d\n", status);
    exit(status);
}
