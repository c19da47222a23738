/*
 * pg_listen.h - waking on a PostgreSQL queue's inserts: a connection of its
 * own that LISTENs on the channel the queue's insert trigger NOTIFYs (one
 * notification per INSERT statement).  A session is needed for that: the
 * connection must not go through a pooler in transaction mode.
 */
#ifndef REPORTD_PG_LISTEN_H
#define REPORTD_PG_LISTEN_H

#include "queue.h"

/* The channel queue_pg.c's trigger notifies. */
#define PG_LISTEN_CHANNEL "reportd_signups"

struct pg_listen;

/* Connects and LISTENs.  0, or -1 with err. */
int pg_listen_open(struct pg_listen **lp, const struct queue_place *place, char *err);
void pg_listen_close(struct pg_listen *l);
/* The connection's socket, for poll(). */
int pg_listen_fd(const struct pg_listen *l);
/*
 * Reads what came: 1 when a notification did (or the connection broke, so
 * one may have been missed: it is opened again on the next call), 0 otherwise.
 */
int pg_listen_check(struct pg_listen *l);

#endif
