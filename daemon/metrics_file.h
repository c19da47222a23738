/*
 * metrics_file.h - the daemon's metrics file (metrics.path) for
 * node_exporter's textfile collector: rewritten whole every
 * METRICS_INTERVAL_MS and when the daemon stops, never seen half-written.
 */
#ifndef REPORTD_METRICS_FILE_H
#define REPORTD_METRICS_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"
#include "util.h"

/*
 * node_exporter reads the file at each scrape, commonly every 15 to 60
 * seconds: fresher is waste, and each write reads the whole history.
 */
#define METRICS_INTERVAL_MS 10000
/*
 * Reading a large queue's metrics takes a while (0.2 s for 100,000 sent
 * signups, see README): the next write waits at least this many times as
 * long as the last took, so metrics never cost more than 1/50 (2%) of the
 * daemon's time, whatever the size of the queue.
 */
#define METRICS_MAX_SHARE 50
/*
 * node_exporter runs as its own user: the file carries no personal data,
 * so it is readable by all, whatever the daemon's umask (UMask=0007).
 */
#define METRICS_FILE_MODE 0644

struct metrics_writer {
    int64_t next_ms;         /* monotonic: when the next write is due; 0 now */
    char last_error[ERRLEN]; /* the failure last logged, "" after a success */
};

/*
 * Writes text to path atomically: a temporary file in the same directory,
 * fsync, rename over path.  0, or -1 with err naming the file.
 */
int metrics_write_file(const char *path, const char *text, size_t len, char *err);

/*
 * Called every round of the daemon: when a write is due (or force), reads
 * the queue's metrics and writes them to path.  path NULL or "": off.  A
 * failure is logged when it first happens (and not again while it lasts);
 * it never stops the daemon.
 */
void metrics_writer_tick(struct metrics_writer *w, struct queue *q, const char *path, int force);

/* When (monotonic) the next write is due: INT64_MAX when path is NULL or "" (off). */
int64_t metrics_writer_next(const struct metrics_writer *w, const char *path);

#endif
