/*
 * pg_conn.h - connecting to the PostgreSQL queue (queue.url) with libpq,
 * the password from queue.password_file passed beside the URL, never
 * written into it.  Shared by the backend (queue_pg*.c) and the wake-up
 * listener (pg_listen.c).
 */
#ifndef REPORTD_PG_CONN_H
#define REPORTD_PG_CONN_H

#include <libpq-fe.h>

#include "queue.h"

/* libpq waits this long for a connection before it gives up. */
#define PG_CONNECT_TIMEOUT_S "10"

/* *cp gets a connection in UTC, with notices logged.  0, or -1 with err (named by name). */
int pg_connect(PGconn **cp, const struct queue_place *pl, const char *name, char *err);

#endif
