/* Needs only the C library and its loader. */
#include <stdio.h>

int main(void) {
    printf("hello: ok\n");
    return 0;
}
