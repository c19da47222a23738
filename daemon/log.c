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
static int log_verbose;
static int log_prefix;

void log_init(int verbose, int prefix)
{
    log_verbose = verbose;
    if (prefix < 0)
        prefix = getenv("JOURNAL_STREAM") != NULL;
    log_prefix = prefix;
}

void log_setverbose(int verbose)
{
    log_verbose = verbose;
}

int log_getverbose(void)
{
    return log_verbose;
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

    if (prio == LOG_PRIO_DEBUG && !log_verbose)
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
