/* log.c - one line per event on stderr, journald priority prefixes. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A log line longer than this is cut: one event must stay one line. */
#define LOG_LINE_MAX 2048

/*
 * Logging is process-wide configuration set once by main before any work and
 * read-only afterwards, like OpenSMTPD's log.c.
 */
static enum log_priority log_max = LOG_PRIO_INFO;
static int log_prefix;

void log_init(enum log_priority max, int prefix)
{
    log_max = max;
    if (prefix < 0)
        prefix = getenv("JOURNAL_STREAM") != NULL;
    log_prefix = prefix;
}

void log_setmax(enum log_priority max)
{
    log_max = max;
}

const char *log_quoted(const char *s, char *out, size_t outlen)
{
    size_t n = 0;

    if (outlen < 3) {
        if (outlen)
            out[0] = '\0';
        return out;
    }
    out[n++] = '"';
    /* Room for an escaped character, the closing quote and the NUL. */
    for (; s && *s && n + 4 <= outlen; s++) {
        if (*s == '"' || *s == '\\')
            out[n++] = '\\';
        out[n++] = *s;
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

/* Control characters would split an event across journal lines. */
static void sanitize(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

void log_emit(enum log_priority prio, const char *module, int with_errno, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    int saved = errno;
    size_t used;
    va_list ap;

    if (prio > log_max)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    used = strlen(line);
    if (with_errno && used < sizeof(line))
        snprintf(line + used, sizeof(line) - used, ": %s", strerror(saved));
    sanitize(line);
    if (log_prefix)
        fprintf(stderr, "<%d>%s: %s\n", (int)prio, module, line);
    else
        fprintf(stderr, "reportd: %s: %s\n", module, line);
    errno = saved;
}
