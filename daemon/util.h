/*
 * util.h - the small pieces every module shares: error strings, collected
 * diagnostics, durations and clocks.
 *
 * Errors are values in reportd: a function that can fail returns -1 and
 * writes one line of context into a caller-supplied char[ERRLEN]; only main
 * decides whether to exit.  Loaders that should report every problem at once
 * (config, roles data, templates) add lines to a struct diag instead.
 */
#ifndef REPORTD_UTIL_H
#define REPORTD_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

/* One error line: long enough for a path, a position, a key and a value. */
#define ERRLEN 1024

#define UTIL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define UTIL_UNUSED       __attribute__((unused))
#define NELEM(a)          (sizeof(a) / sizeof((a)[0]))

/* sysexits(3) codes, spelled out so no header is needed. */
enum {
    EXIT_USAGE = 64,    /* EX_USAGE */
    EXIT_DATAERR = 65,  /* EX_DATAERR */
    EXIT_NOINPUT = 66,  /* EX_NOINPUT */
    EXIT_SOFTWARE = 70, /* EX_SOFTWARE */
    EXIT_OSERR = 71,    /* EX_OSERR */
    EXIT_IOERR = 74,    /* EX_IOERR */
    EXIT_TEMPFAIL = 75, /* EX_TEMPFAIL */
    EXIT_CONFIG = 78,   /* EX_CONFIG */
};

/* Formats into err (ERRLEN bytes) and returns -1, for "return errf(...)". */
int errf(char *err, const char *fmt, ...) UTIL_PRINTF(2, 3);

/* Diagnostics collected by a loader: one line each, in the order found. */
struct diag {
    struct buf text;
    int count;
};

void diag_init(struct diag *d);
void diag_free(struct diag *d);
void diag_add(struct diag *d, const char *fmt, ...) UTIL_PRINTF(2, 3);
/* "file:line:column: message", line and column counted from 1. */
void diag_at(struct diag *d, const char *file, unsigned long line, unsigned long column,
             const char *fmt, ...) UTIL_PRINTF(5, 6);

/*
 * Parses "500ms", "30s", "5m", "2h", "5d" (or a sum like "1h30m") into
 * milliseconds.  A bare number is refused: a unit-less timeout is a guess.
 */
int parse_duration_ms(const char *s, int64_t *ms);
/* Formats milliseconds the way parse_duration_ms reads them ("1h30m"). */
void format_duration_ms(int64_t ms, char *out, size_t outlen);

/* Wall clock in milliseconds since the epoch, and a monotonic clock. */
int64_t now_ms(void);
int64_t monotonic_ms(void);
/* The same clock in microseconds, for measuring short intervals. */
int64_t monotonic_us(void);
/* When process pid started (ticks since boot, /proc): 0, or -1 when it cannot be read. */
int process_start_time(pid_t pid, unsigned long long *ticks);
/*
 * Makes the calling thread a batch thread (SCHED_BATCH): its wake-ups do
 * not preempt the thread running in the middle of its work.  A hint only:
 * 0, or the error number (the unit's system-call filter refuses it, and
 * sets CPUSchedulingPolicy=batch for the whole service instead).
 */
int thread_make_batch(void);
/* RFC 3339 UTC ("2026-11-24T21:13:38Z") for a Unix time in milliseconds. */
void format_time_ms(int64_t ms, char *out, size_t outlen);

/* Reads a whole file; *data is NUL-terminated.  -1 with err on failure. */
int read_file(const char *path, size_t max, char **data, size_t *len, char *err);

/* Checks s is well-formed UTF-8 (no overlongs, no surrogates). */
int utf8_valid(const char *s, size_t len);

char *xstrdup_or_null(const char *s);

#endif
