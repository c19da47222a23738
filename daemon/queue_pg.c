/*
 * queue_pg.c - the PostgreSQL backend (libpq).  Placeholder until the
 * backend lands: opening a queue.url fails with a message saying so.
 */
#include "queue_backend.h"

static int pg_open(struct queue *q, const struct queue_place *pl, int readonly, char *err)
{
    return errf(err, "%s: PostgreSQL queues are not supported by this build", q->name);
}

const struct queue_ops queue_pg_ops = {.open = pg_open};
