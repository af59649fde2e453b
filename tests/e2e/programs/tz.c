/* Converts two fixed instants to local time under $TZ; expects Europe/Amsterdam's rules. */
#include <stdio.h>
#include <string.h>
#include <time.h>

static int check(time_t instant, int hour, long offset, const char *zone) {
    struct tm local;
    if (localtime_r(&instant, &local) == NULL) {
        printf("tz: FAIL localtime failed\n");
        return 0;
    }
    if (local.tm_hour != hour || local.tm_gmtoff != offset || strcmp(local.tm_zone, zone) != 0) {
        printf("tz: FAIL %lld gave %02d:00 %s (%+ld s), expected %02d:00 %s (%+ld s)\n",
               (long long)instant, local.tm_hour, local.tm_zone, local.tm_gmtoff, hour, zone, offset);
        return 0;
    }
    return 1;
}

int main(void) {
    tzset();
    /* 2024-01-15 12:00 UTC is 13:00 CET; 2024-07-01 12:00 UTC is 14:00 CEST. */
    if (!check(1705320000, 13, 3600, "CET") || !check(1719835200, 14, 7200, "CEST"))
        return 1;
    printf("tz: ok CET CEST\n");
    return 0;
}
