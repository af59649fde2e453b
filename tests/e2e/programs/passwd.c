/* Looks up the running user in /etc/passwd through the C library's NSS. */
#include <stdio.h>
#include <unistd.h>
#include <pwd.h>

int main(void) {
    uid_t uid = getuid();
    struct passwd *entry = getpwuid(uid);
    if (entry == NULL) {
        printf("passwd: FAIL no entry for uid %u\n", (unsigned)uid);
        return 1;
    }
    printf("passwd: ok uid=%u name=%s home=%s\n", (unsigned)uid, entry->pw_name, entry->pw_dir);
    return 0;
}
