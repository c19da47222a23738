/* log.c - one line per event on stderr, journald priority prefixes. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* A log line longer than this is cut: one event must stay one line. */
#define LOG_LINE_MAX 2048
/* Lines logged together go out in writes of at most this (a pipe's atomic PIPE_BUF is 4096). */
#define LOG_BATCH_MAX 4096

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

/* Bytes of the well-formed UTF-8 character at p, or 0 when p does not start one. */
static size_t utf8_char_at(const char *p)
{
    unsigned char c = (unsigned char)*p;
    size_t n;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    return strnlen(p, n) == n && utf8_valid(p, n) ? n : 0;
}

/* How many bytes from s stand for themselves: printable ASCII, less " and \ in a quoted value. */
static size_t plain_run(const char *s, int quote)
{
    size_t k;

    for (k = 0;; k++) {
        unsigned char c = (unsigned char)s[k];

        if (c < 0x20 || c >= 0x7f || (quote && (c == '"' || c == '\\')))
            return k;
    }
}

/*
 * Copies s into out from *n on, stopping while there is still room for keep
 * more bytes.  Control characters (which would split an event across
 * journal lines or drive a terminal) and bytes that are not UTF-8 become
 * \xNN, byte by byte, so that one event stays one line of valid text that
 * still says which bytes it got; other UTF-8 stays as it is.  quote also
 * escapes " and \, as a quoted value needs.
 */
static void escape_into(const char *s, int quote, char *out, size_t outlen, size_t *n, size_t keep)
{
    static const char hex[] = "0123456789abcdef";

    while (s && *s) {
        size_t run = plain_run(s, quote), len, escaped, need, i;
        unsigned char c = (unsigned char)*s;
        int c1, backslash;

        /* Most of a line is plain: copied in one piece, as much as there is room for. */
        if (run > 0) {
            size_t room = *n + keep < outlen ? outlen - keep - *n : 0;
            size_t take = run < room ? run : room;

            memcpy(out + *n, s, take);
            *n += take;
            s += take;
            if (take < run)
                break;
            continue;
        }
        len = c >= 0x80 ? utf8_char_at(s) : 1;
        /* C1 controls (U+0080-U+009F: \xc2\x80-\xc2\x9f) drive terminals as C0 ones do. */
        c1 = c == 0xc2 && len == 2 && (unsigned char)s[1] <= 0x9f;
        escaped = c1 ? 2 : (c < 0x20 || c == 0x7f || len == 0) ? 1 : 0;
        backslash = quote && (c == '"' || c == '\\');
        need = escaped ? 4 * escaped : backslash ? 2 : len;
        if (*n + need + keep > outlen)
            break;
        for (i = 0; i < escaped; i++) {
            unsigned char b = (unsigned char)s[i];

            out[(*n)++] = '\\';
            out[(*n)++] = 'x';
            out[(*n)++] = hex[b >> 4];
            out[(*n)++] = hex[b & 15];
        }
        if (escaped) {
            s += escaped;
            continue;
        }
        if (backslash)
            out[(*n)++] = '\\';
        memcpy(out + *n, s, len);
        *n += len;
        s += len;
    }
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
    /* Keep room for the closing quote and the NUL. */
    escape_into(s, 1, out, outlen, &n, 2);
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

/*
 * line as the whole output line, into out; its length (cut to fit).  Values
 * logged without log_quoted (errors quoting input, replies) get the same
 * escapes.
 */
static size_t format_line(enum log_priority prio, const char *module, const char *line, char *out,
                          size_t outlen)
{
    char safe[LOG_LINE_MAX];
    size_t n = 0;
    int w;

    escape_into(line, 0, safe, sizeof(safe), &n, 1);
    safe[n] = '\0';
    if (log_prefix)
        w = snprintf(out, outlen, "<%d>%s: %s\n", (int)prio, module, safe);
    else
        w = snprintf(out, outlen, "reportd: %s: %s\n", module, safe);
    if (w < 0)
        return 0;
    if ((size_t)w >= outlen) {
        /* Cut, but still one line. */
        out[outlen - 2] = '\n';
        return outlen - 1;
    }
    return (size_t)w;
}

void log_emit(enum log_priority prio, const char *module, int with_errno, const char *fmt, ...)
{
    char line[LOG_LINE_MAX], out[LOG_LINE_MAX + 64];
    int saved = errno;
    size_t used, n;
    va_list ap;

    if (prio > log_max)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    used = strlen(line);
    if (with_errno && used < sizeof(line))
        snprintf(line + used, sizeof(line) - used, ": %s", strerror(saved));
    n = format_line(prio, module, line, out, sizeof(out));
    fwrite(out, 1, n, stderr);
    errno = saved;
}

void log_emit_lines(enum log_priority prio, const char *module, const char *lines, size_t len)
{
    char out[LOG_BATCH_MAX], one[LOG_LINE_MAX + 64];
    size_t used = 0, off = 0;
    int saved = errno;

    if (prio > log_max)
        return;
    while (off < len) {
        const char *line = lines + off;
        size_t n = format_line(prio, module, line, one, sizeof(one));

        off += strlen(line) + 1;
        if (used + n > sizeof(out)) {
            fwrite(out, 1, used, stderr);
            used = 0;
        }
        memcpy(out + used, one, n);
        used += n;
    }
    if (used > 0)
        fwrite(out, 1, used, stderr);
    errno = saved;
}
