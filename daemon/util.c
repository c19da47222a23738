/* util.c - error strings, diagnostics, durations, clocks, files, UTF-8, processes. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

int errf(char *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, ERRLEN, fmt, ap);
    va_end(ap);
    return -1;
}

void diag_init(struct diag *d)
{
    buf_init(&d->text);
    d->count = 0;
}

void diag_free(struct diag *d)
{
    buf_free(&d->text);
    d->count = 0;
}

UTIL_PRINTF(3, 0)
static void diag_vadd(struct diag *d, const char *prefix, const char *fmt, va_list ap)
{
    char line[ERRLEN];

    vsnprintf(line, sizeof(line), fmt, ap);
    buf_puts(&d->text, prefix);
    buf_puts(&d->text, line);
    buf_putc(&d->text, '\n');
    d->count++;
}

void diag_add(struct diag *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diag_vadd(d, "", fmt, ap);
    va_end(ap);
}

void diag_at(struct diag *d, const char *file, unsigned long line, unsigned long column,
             const char *fmt, ...)
{
    char prefix[ERRLEN];
    va_list ap;

    snprintf(prefix, sizeof(prefix), "%s:%lu:%lu: ", file, line, column);
    va_start(ap, fmt);
    diag_vadd(d, prefix, fmt, ap);
    va_end(ap);
}

static const struct {
    const char *unit;
    int64_t ms;
} duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", (int64_t)60 * 1000},
    {"h", (int64_t)3600 * 1000},
    {"d", (int64_t)86400 * 1000},
};

int parse_duration_ms(const char *s, int64_t *ms)
{
    int64_t total = 0;
    const char *p = s;

    if (*p == '\0')
        return -1;
    while (*p) {
        int64_t n = 0, unit = 0;
        size_t i, ulen = 0;

        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9') {
            if (n > INT64_MAX / 10 - 9)
                return -1;
            n = n * 10 + (*p++ - '0');
        }
        /* "ms" must win over "m": try the longest unit spelling first. */
        for (i = 0; i < NELEM(duration_units); i++) {
            size_t l = strlen(duration_units[i].unit);

            if (strncmp(p, duration_units[i].unit, l) == 0 && l > ulen &&
                (p[l] == '\0' || (p[l] >= '0' && p[l] <= '9'))) {
                unit = duration_units[i].ms;
                ulen = l;
            }
        }
        if (unit == 0 || n > INT64_MAX / unit || total > INT64_MAX - n * unit)
            return -1;
        total += n * unit;
        p += ulen;
    }
    *ms = total;
    return 0;
}

void format_duration_ms(int64_t ms, char *out, size_t outlen)
{
    size_t i, used = 0;

    if (ms <= 0) {
        snprintf(out, outlen, "0s");
        return;
    }
    out[0] = '\0';
    for (i = NELEM(duration_units); i-- > 0 && ms > 0;) {
        int64_t n = ms / duration_units[i].ms;
        int w;

        if (n == 0)
            continue;
        w = snprintf(out + used, used < outlen ? outlen - used : 0, "%lld%s", (long long)n,
                     duration_units[i].unit);
        if (w < 0 || (size_t)w >= outlen - used)
            return;
        used += (size_t)w;
        ms -= n * duration_units[i].ms;
    }
}

int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t monotonic_ms(void)
{
    return monotonic_us() / 1000;
}

int64_t monotonic_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void format_time_ms(int64_t ms, char *out, size_t outlen)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, outlen, "@%lld", (long long)(ms / 1000));
}

int read_file(const char *path, size_t max, char **data, size_t *len, char *err)
{
    FILE *f;
    struct buf b;
    char chunk[8192];
    size_t n;

    f = fopen(path, "rb");
    if (f == NULL)
        return errf(err, "%s: %s", path, strerror(errno));
    buf_init(&b);
    buf_reserve(&b, 0);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b.len + n > max) {
            fclose(f);
            buf_free(&b);
            return errf(err, "%s: larger than the limit of %zu bytes", path, max);
        }
        buf_append(&b, chunk, n);
    }
    if (ferror(f)) {
        int e = errno;

        fclose(f);
        buf_free(&b);
        return errf(err, "%s: read: %s", path, strerror(e));
    }
    fclose(f);
    if (buf_failed(&b)) {
        buf_free(&b);
        return errf(err, "%s: out of memory", path);
    }
    *len = b.len;
    *data = buf_steal(&b);
    if (*data == NULL)
        return errf(err, "%s: out of memory", path);
    return 0;
}

/*
 * Reports are mostly ASCII: the first byte from p with its high bit set, or
 * end, found sixteen bytes at a time (the byte's high bit is what movemask
 * collects), or else eight.
 */
#if defined(__SSE2__) && defined(__GNUC__)
static const unsigned char *skip_ascii(const unsigned char *p, const unsigned char *end)
{
    while (end - p >= 16) {
        unsigned mask =
            (unsigned)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)p));

        if (mask != 0)
            return p + __builtin_ctz(mask);
        p += 16;
    }
    while (p < end && *p < 0x80)
        p++;
    return p;
}
#else
static const unsigned char *skip_ascii(const unsigned char *p, const unsigned char *end)
{
    uint64_t w;

    for (; (size_t)(end - p) >= sizeof(w); p += sizeof(w)) {
        memcpy(&w, p, sizeof(w));
        if ((w & UINT64_C(0x8080808080808080)) != 0)
            break;
    }
    while (p < end && *p < 0x80)
        p++;
    return p;
}
#endif

int utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;

    while (p < end) {
        unsigned c;
        size_t n, i;
        unsigned cp;

        p = skip_ascii(p, end);
        if (p == end)
            break;
        c = *p;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= n)
            return 0;
        for (i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

char *xstrdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/*
 * /proc/PID/stat field 22: when the process started, in clock ticks since
 * boot.  With the pid it names one process for as long as the system runs.
 */
#define PROC_STAT_MAX         1024
#define PROC_STAT_START_FIELD 22
/* Fields after the ")" that closes the command name start at field 3. */
#define PROC_STAT_FIRST_AFTER_NAME 3

int process_start_time(pid_t pid, unsigned long long *ticks)
{
    char path[64], text[PROC_STAT_MAX], *p, *end;
    ssize_t n;
    int fd, field;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    /* The command name may hold spaces and parentheses: count from the last ")". */
    p = strrchr(text, ')');
    if (p == NULL)
        return -1;
    p++;
    for (field = PROC_STAT_FIRST_AFTER_NAME; field <= PROC_STAT_START_FIELD; field++) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            return -1;
        if (field == PROC_STAT_START_FIELD)
            break;
        while (*p != ' ' && *p != '\0')
            p++;
    }
    errno = 0;
    *ticks = strtoull(p, &end, 10);
    return errno || end == p ? -1 : 0;
}

int thread_make_batch(void)
{
    struct sched_param none = {0};

    return pthread_setschedparam(pthread_self(), SCHED_BATCH, &none);
}
