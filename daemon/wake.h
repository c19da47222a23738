/*
 * wake.h - noticing a producer's committed INSERT at once, without busy
 * polling.  A SQLite queue: inotify on the queue's directory.  In WAL mode
 * every commit appends to "<db>-wal", so a change to that file (or to the
 * database file, when a checkpoint writes it) wakes an idle daemon.  A
 * PostgreSQL queue: LISTEN on a connection of its own (pg_listen.h), to
 * which the insert trigger's NOTIFY comes.  Where neither can see the
 * writes (another host's writes over NFS, a lost connection),
 * queue.poll_interval is still the fallback.
 */
#ifndef REPORTD_WAKE_H
#define REPORTD_WAKE_H

#include "queue.h"
#include "util.h"

struct wake;

/* Watches the queue at place.  0, or -1 with err (the caller polls instead). */
int wake_open(struct wake **wp, const struct queue_place *place, char *err);
void wake_close(struct wake *w);
/* Readable when something happened in the directory, for the caller's poll(). */
int wake_fd(const struct wake *w);
/* Reads what happened: 1 when the database or its WAL changed (or a NOTIFY came), 0 otherwise. */
int wake_check(struct wake *w);

#endif
