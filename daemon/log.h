/*
 * log.h - logging in the manner of OpenSMTPD's log.h.
 *
 * log_warn() appends the errno text, log_warnx() does not.  Every line goes
 * to stderr as one event, prefixed with the module that logged it; under
 * systemd (JOURNAL_STREAM set) each line starts with the "<N>" syslog
 * priority that journald reads.  Each .c file defines LOG_MODULE before it
 * includes this header.
 */
#ifndef REPORTD_LOG_H
#define REPORTD_LOG_H

#include <stddef.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* syslog(3) priorities, as journald reads them from "<N>". */
enum log_priority {
    LOG_PRIO_ERR = 3,
    LOG_PRIO_WARNING = 4,
    LOG_PRIO_NOTICE = 5,
    LOG_PRIO_INFO = 6,
    LOG_PRIO_DEBUG = 7,
};

/*
 * Lines less urgent than max are dropped (the daemon logs from info, the
 * command-line tools from warning, -v means debug).  prefix: -1 auto (on
 * when $JOURNAL_STREAM says stderr is the journal), 0 off, 1 on.
 */
void log_init(enum log_priority max, int prefix);
void log_setmax(enum log_priority max);

/* A quoted value in a key="value" line longer than this is cut. */
#define LOG_VALUE_MAX 1024

/*
 * Writes s into out as "s", escaping " and \ so that text from producers or
 * servers cannot forge key=value fields, and writing control characters and
 * bytes that are not UTF-8 as \xNN (a backslash, x, two hex digits): one
 * event stays one line of valid UTF-8 that still says which bytes it got.
 * Valid UTF-8 stays as it is.  A value too long for out is cut between
 * characters.  Returns out.  log_emit escapes the whole line the same way
 * (" and \ aside), so a value logged without log_quoted is safe too.
 */
const char *log_quoted(const char *s, char *out, size_t outlen);

void log_emit(enum log_priority prio, const char *module, int with_errno, const char *fmt, ...)
    LOG_PRINTF(4, 5);
/*
 * Logs each of the NUL-terminated lines in lines[0..len), as log_emit would
 * log "%s" with it, in as few writes as they fit: a commit's log lines
 * (queue.c) come dozens at a time.
 */
void log_emit_lines(enum log_priority prio, const char *module, const char *lines, size_t len);

#ifndef LOG_MODULE
#define LOG_MODULE "reportd"
#endif

#define log_warn(...)   log_emit(LOG_PRIO_WARNING, LOG_MODULE, 1, __VA_ARGS__)
#define log_warnx(...)  log_emit(LOG_PRIO_WARNING, LOG_MODULE, 0, __VA_ARGS__)
#define log_crit(...)   log_emit(LOG_PRIO_ERR, LOG_MODULE, 1, __VA_ARGS__)
#define log_critx(...)  log_emit(LOG_PRIO_ERR, LOG_MODULE, 0, __VA_ARGS__)
#define log_notice(...) log_emit(LOG_PRIO_NOTICE, LOG_MODULE, 0, __VA_ARGS__)
#define log_info(...)   log_emit(LOG_PRIO_INFO, LOG_MODULE, 0, __VA_ARGS__)
#define log_debug(...)  log_emit(LOG_PRIO_DEBUG, LOG_MODULE, 0, __VA_ARGS__)

#endif
