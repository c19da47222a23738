/* pg_listen.c - LISTEN for the queue's insert notifications (see pg_listen.h). */
#define LOG_MODULE "queue"

#include "pg_listen.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg_conn.h"

struct pg_listen {
    PGconn *conn;
    struct queue_place place; /* copies: a reload frees the config's */
    char *url, *password_file;
};

static int listen_on(struct pg_listen *l, char *err)
{
    PGresult *res;
    int ok;

    if (pg_connect(&l->conn, &l->place, queue_place_name(&l->place), err) == -1)
        return -1;
    res = PQexec(l->conn, "LISTEN " PG_LISTEN_CHANNEL);
    ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        errf(err, "%s: LISTEN: %s", queue_place_name(&l->place), PQresultErrorMessage(res));
    PQclear(res);
    if (!ok || PQsetnonblocking(l->conn, 1) == -1) {
        if (ok)
            errf(err, "%s: LISTEN: cannot make the connection non-blocking",
                 queue_place_name(&l->place));
        PQfinish(l->conn);
        l->conn = NULL;
        return -1;
    }
    return 0;
}

int pg_listen_open(struct pg_listen **lp, const struct queue_place *place, char *err)
{
    struct pg_listen *l = calloc(1, sizeof(*l));

    *lp = NULL;
    if (l == NULL)
        return errf(err, "out of memory");
    l->url = strdup(place->url);
    l->password_file = place->password_file ? strdup(place->password_file) : NULL;
    l->place = (struct queue_place){NULL, l->url, l->password_file};
    if (l->url == NULL || (place->password_file && l->password_file == NULL)) {
        errf(err, "out of memory");
        pg_listen_close(l);
        return -1;
    }
    if (listen_on(l, err) == -1) {
        pg_listen_close(l);
        return -1;
    }
    *lp = l;
    return 0;
}

void pg_listen_close(struct pg_listen *l)
{
    if (l == NULL)
        return;
    PQfinish(l->conn);
    free(l->url);
    free(l->password_file);
    free(l);
}

int pg_listen_fd(const struct pg_listen *l)
{
    return l->conn ? PQsocket(l->conn) : -1;
}

int pg_listen_check(struct pg_listen *l)
{
    char err[ERRLEN];
    PGnotify *n;
    int woke = 0;

    if (l->conn == NULL || PQconsumeInput(l->conn) == 0 || PQstatus(l->conn) != CONNECTION_OK) {
        /* A lost connection may have lost a notification too: look, and listen again. */
        PQfinish(l->conn);
        l->conn = NULL;
        if (listen_on(l, err) == -1)
            log_warnx("%s; new signups are noticed every queue.poll_interval until it is back",
                      err);
        return 1;
    }
    while ((n = PQnotifies(l->conn)) != NULL) {
        woke = 1;
        PQfreemem(n);
    }
    return woke;
}
