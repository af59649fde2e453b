/* Writes, reads back and removes a file in /tmp, as any user may. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    static const char message[] = "written to /tmp\n";
    char path[] = "/tmp/slicer-XXXXXX";
    char buffer[sizeof message];
    int fd = mkstemp(path);
    if (fd < 0) {
        printf("tmp: FAIL cannot create a file in /tmp: %s\n", strerror(errno));
        return 1;
    }
    ssize_t written = write(fd, message, sizeof message - 1);
    ssize_t got = pread(fd, buffer, sizeof message - 1, 0);
    close(fd);
    unlink(path);
    if (written != (ssize_t)(sizeof message - 1) || got != written || memcmp(buffer, message, (size_t)got) != 0) {
        printf("tmp: FAIL the file in /tmp did not read back\n");
        return 1;
    }
    printf("tmp: ok\n");
    return 0;
}
