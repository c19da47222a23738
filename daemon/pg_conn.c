/* pg_conn.c - a libpq connection to the queue's database (see pg_conn.h). */
#define LOG_MODULE "queue"

#include "pg_conn.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "secret.h"

/* A notice (a migration's "already exists, skipping") is not a warning of ours. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int pg_connect(PGconn **cp, const struct queue_place *pl, const char *name, char *err)
{
    /* dbname with expand_dbname parses the URL; the later keys override its parts. */
    const char *keys[] = {"dbname", "connect_timeout", "application_name", "options", NULL, NULL};
    const char *values[] = {pl->url, PG_CONNECT_TIMEOUT_S, "reportd", "-c TimeZone=UTC", NULL,
                            NULL};
    char *password = NULL, *msg;
    PGconn *c;

    *cp = NULL;
    if (pl->password_file != NULL && *pl->password_file != '\0') {
        if (secret_read_file("queue.password_file", pl->password_file, &password, err) == -1)
            return -1;
        keys[4] = "password";
        values[4] = password;
    }
    c = PQconnectdbParams(keys, values, 1);
    secret_free(password);
    if (c == NULL)
        return errf(err, "%s: cannot connect: out of memory", name);
    if (PQstatus(c) != CONNECTION_OK) {
        msg = PQerrorMessage(c);
        errf(err, "%s: cannot connect: %.*s", name, (int)strcspn(msg, "\n"), msg);
        PQfinish(c);
        return -1;
    }
    PQsetNoticeProcessor(c, on_notice, NULL);
    *cp = c;
    return 0;
}
